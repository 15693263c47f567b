"""The app's HTTP middleware: the request's HTTP span and access-log line, the rate
limiter, and the request guard (body size, sound JSON).

Plain ASGI classes, not Starlette's ``BaseHTTPMiddleware``: that one runs the rest of the
app in a task of its own and copies the response through a memory stream, which cost
~0.5 ms of a ~8 ms GraphQL request (docs/benchmarks.md).  Here the app runs in the
request's own task, so the span stays the current one for everything below it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from typing import Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from opentelemetry import trace
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yorisoi.infra.http.request_bodies import (
    BodyLimits,
    BodyProblem,
    is_json,
    json_problem,
    too_large,
)
from yorisoi.infra.identity import (
    AuthenticationError,
    LookupUnavailable,
    bearer_token,
    verify_token,
)
from yorisoi.infra.rate_limits import (
    MESSAGE,
    MESSAGE_JA,
    Probe,
    RateLimiter,
    Refusal,
    keys_for,
)
from yorisoi.tenants.access import Principal
from yorisoi.tenants.registry import registry_request

_log = logging.getLogger("yorisoi.http")
_tracer = trace.get_tracer("yorisoi.http")

# Paths charged to the rate limits: the APIs, and the links whose token is the
# credential (guessing one is a request per guess).  Health checks, docs and the
# development issuer's keys are not.
# The console's pages too: its callers are charged by the person signed in (the
# session cookie's token), so an office behind one address does not share a bucket;
# only the sign-in pages fall to the address's.  Its static files are not charged.
RATE_LIMITED = ("/graphql", "/api/", "/agency-packets/", "/public/", "/files/", "/disclosures/",
                "/console")
NOT_RATE_LIMITED = ("/console/static/",)


async def _principal(request: Request) -> Principal | None:
    """The verified principal of the request's bearer token, or None.

    Verified, never merely decoded: buckets keyed by unverified claims would let
    anyone drain another user's or tenant's bucket with forged tokens.  A token
    that fails here fails again in the handler, which answers 401/503 as usual.
    """
    header = request.headers.get("authorization")
    if not header:
        return await _console_principal(request)
    return await _bearer_principal(request, header)


async def _bearer_principal(request: Request, header: str) -> Principal | None:
    services = request.app.state.services
    try:
        token = await verify_token(services, bearer_token(header))
    except AuthenticationError:
        return None
    except Exception as error:  # noqa: BLE001 - the handler meets it again and answers it
        _log.warning("token check for rate limits failed: %s", type(error).__name__)
        return None
    principal = Principal.from_token(token)
    # The GraphQL context reuses it for this very header (one verification per request).
    request.state.verified_principal = (header, principal)
    return principal


def _console_of(request: Request) -> Any:
    """The console's state, for a console page (None for anything else)."""
    console = getattr(request.app.state, "console", None)
    return console if console is not None and request.url.path.startswith("/console") \
        else None


def _session_token(request: Request) -> str | None:
    """The token of a console page's live session, if there is one."""
    console = _console_of(request)
    session = console.current(request)[0] if console is not None else None
    return session.token if session is not None else None


def _unchecked_session(request: Request) -> tuple[Any, Any]:
    """(the console, a console page's session before its sign-out check) or Nones."""
    console = _console_of(request)
    return console, console.unchecked(request) if console is not None else None


def _with_sign_out_check(version: Probe, sign_out: Probe | None) -> Probe:
    """The registry's version and the session's sign-out check as one probe (one row:
    the check always answers a row, the version may be missing)."""
    if sign_out is None:
        return version
    return (f"SELECT v.*, r.revoked FROM ({sign_out[0]}) AS r LEFT JOIN ({version[0]}) AS v"
            f" ON TRUE", (*sign_out[1], *version[1]))


async def _console_principal(request: Request) -> Principal | None:
    """The principal of a console request's live session (its token verified again)."""
    session_token = _session_token(request)
    if session_token is None:
        return None
    try:
        token = await verify_token(request.app.state.services, session_token)
    except AuthenticationError:
        return None
    except Exception as error:  # noqa: BLE001 - the page meets it again and answers it
        _log.warning("session check for rate limits failed: %s", type(error).__name__)
        return None
    return Principal.from_token(token)


class RateLimitMiddleware:
    """Charges rate-limited paths to their buckets; answers 429 when one is empty.

    Before routing: a refused request parses, verifies nothing further and touches no
    tenant data.  The limiter is read from ``app.state.rate_limiter`` on every request
    (tests swap in one with an injected clock; None turns the limits off).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(RATE_LIMITED) \
                or scope["path"].startswith(NOT_RATE_LIMITED):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        limiter: RateLimiter | None = request.app.state.rate_limiter
        if limiter is None:
            await self.app(scope, receive, send)
            return
        client = request.client.host if request.client else None
        refusal = await _charged_on_a_guess(request, limiter, client)
        if refusal is _NO_GUESS:
            principal = await _principal(request)
            # The shared limiter's round trip must not block the event loop (every other
            # request of this process would wait on it): awaited where it can be.
            take_async = getattr(limiter, "take_async", None)
            keys = keys_for(principal, client)
            refusal = await take_async(**keys) if take_async is not None \
                else limiter.take(**keys)
        if refusal is not None:
            await _refused(refusal, request)(scope, receive, send)
            return
        await self.app(scope, receive, send)


_NO_GUESS: Any = object()  # the guess could not be made: verify first, then charge


async def _charged_on_a_guess(request: Request, limiter: Any,
                              client: str | None) -> Refusal | None:
    """Charge a bearer token's buckets and check the registry in one platform statement.

    Verifying a token needs the registry checked for this request (one platform round
    trip) and the buckets' keys need the verified token (another).  So: verify against
    the registry as this process last saw it (memory only), charge those buckets with a
    statement that also reads the registry's version, and keep the guess only if the
    version it was made at is still current.  Otherwise verify again, now checked, and
    if the principal differs give the tokens back and charge the right buckets.  A
    forged token fails the guess's signature check and charges nothing of anyone's.

    The token is the bearer token, or a console page's session token — whose check
    against sign-outs made by other processes rides along the same statement (a signed
    out session is then charged like any request without a live session).

    ``_NO_GUESS`` when no guess can be made (no token, an issuer not in memory, a token
    the guess refuses — its refusal is left to the full check — or a limiter or
    registry that cannot carry the check along).
    """
    take_probing = getattr(limiter, "take_probing_async", None) \
        if getattr(limiter, "can_probe", False) else None
    services = request.app.state.services
    registry = getattr(getattr(services, "directory", None), "registry", None)
    probe = registry.version_probe() if registry is not None and take_probing else None
    if probe is None:
        return _NO_GUESS
    header = request.headers.get("authorization")
    epochs: list[int] = []

    def as_last_seen(issuer: str) -> Any:
        registration, epoch = registry.cached_issuer(issuer)
        epochs.append(epoch)
        return registration

    console, session = None, None
    try:
        if header:
            raw: str | None = bearer_token(header)
        else:
            console, session = _unchecked_session(request)
            raw = session.token if session is not None else None
        if raw is None:
            return _NO_GUESS
        token = services.verifier.verify_offline(raw, as_last_seen)
    except (AuthenticationError, LookupUnavailable):
        return _NO_GUESS
    except Exception as error:  # noqa: BLE001 - the full check meets it and answers it
        _log.warning("token guess for rate limits failed: %s", type(error).__name__)
        return _NO_GUESS
    guessed = Principal.from_token(token)
    keys = keys_for(guessed, client)
    if session is not None:
        probe = _with_sign_out_check(probe, console.revocation_probe(request, session.sid))
    refusal, probed = await take_probing(probe, **keys)
    signed_out = False
    if session is not None and probed is not None and "revoked" in probed:
        signed_out = bool(probed["revoked"])
        console.note_revocation(request, session.sid, signed_out)
    checked = registry.observed(probed["position"], probed["tx"]) if probed else None
    if checked is not None and epochs and checked == epochs[-1] and not signed_out:
        if header:  # the GraphQL context reuses it for this very header
            request.state.verified_principal = (header, guessed)
        return refusal
    # The registry moved since the guess (or could not be read along), or the session was
    # signed out elsewhere: the full check (no principal for a signed-out session).
    principal = await _principal(request)
    if principal is not None and keys_for(principal, client) == keys:
        return refusal
    # Charged on the guess (probed None: the store was down, nothing charged; a refusal
    # already gave its tokens back): give them back before charging the right buckets.
    if refusal is None and probed is not None:
        await asyncio.to_thread(limiter.refund, **keys)
    return await limiter.take_async(**keys_for(principal, client))


def _refused(refusal: Refusal, request: Request) -> Response:
    """429: the typed JSON error, or the console's error page for a console page."""
    headers = {"Retry-After": refusal.retry_after_header}
    if _console_of(request) is not None:
        from yorisoi.infra.console.web import PageError, error_response

        response = error_response(request, PageError(429, MESSAGE, MESSAGE_JA, "rate_limited"))
        response.headers.update(headers)
        return response
    return JSONResponse(status_code=429, content=refusal.body(), headers=headers)


class RequestTooLarge(StarletteHTTPException):
    """Raised by a counted body stream past its limit (the app's handler answers 413)."""

    def __init__(self, limit: int) -> None:
        self.problem = too_large(limit)
        super().__init__(413, detail=self.problem.body()["detail"])


class RequestGuardMiddleware:
    """Bodies within their size limit, and JSON bodies sound, before any handler reads them.

    A declared ``Content-Length`` over the limit is refused unread.  A JSON body (or one
    without a content type, which FastAPI reads as JSON) is read here, checked
    (``infra/request_bodies.json_problem``) and handed on unchanged; any other body
    (forms, multipart uploads) streams through a counter that stops it at the limit.
    """

    def __init__(self, app: ASGIApp, limits: BodyLimits | None = None) -> None:
        self.app = app
        self.limits = limits or BodyLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        content_type = headers.get("content-type", "")
        limit = self.limits.for_content_type(content_type)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _problem(too_large(limit), scope)(scope, receive, send)
            return
        if is_json(content_type) and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            try:
                body = await _read_body(receive, limit)
            except RequestTooLarge as error:
                await _problem(error.problem, scope)(scope, receive, send)
                return
            problem = json_problem(body, self.limits.json_depth)
            if problem is not None:
                await _problem(problem, scope)(scope, receive, send)
                return
            receive = _replayed(body, receive)
        else:
            receive = _counted(receive, limit)
        started: list[bool] = []

        async def send_noting_start(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(True)
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except RequestTooLarge as error:  # past every handler (a route that re-raised it)
            if started:
                raise
            await _problem(error.problem, scope)(scope, receive, send)


def _problem(problem: BodyProblem, scope: Scope) -> Response:
    """The typed JSON error, or the console's error page (with its navigation) for a page."""
    if scope.get("path", "").startswith("/console") and scope.get("app") is not None and \
            getattr(scope["app"].state, "console", None) is not None:
        from yorisoi.infra.console.web import PageError, error_response

        detail = problem.body()["detail"]
        return error_response(Request(scope), PageError(
            problem.status, detail["message"], detail["messageJa"], detail["code"]))
    return JSONResponse(status_code=problem.status, content=problem.body())


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away: what came is all there is
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replayed(body: bytes, receive: Receive) -> Receive:
    """The body read once, then whatever the connection says (a disconnect)."""
    pending = [body]

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay


def _counted(receive: Receive, limit: int) -> Receive:
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise RequestTooLarge(limit)
        return message

    return counted


# The access log: a child of uvicorn's, so ``yorisoi serve`` prints it with uvicorn's own
# handler and format, while uvicorn's line (the raw path and query string: the
# console's search text, a disclosure link's token) is dropped (``quiet_uvicorn_logs``).
access_log = logging.getLogger("uvicorn.access.yorisoi")
# Parameter names are logged when they look like names; anything else is not.
_PARAMETER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")


class _NoRawAccessLog(logging.Filter):
    """Drops the records uvicorn logs itself (ours come from a child logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "uvicorn.access"


class _ExceptionWithoutMessage(logging.Filter):
    """An exception's type and stack (code lines), never its message.

    Starlette re-raises an unhandled exception after the 500 is sent, and uvicorn logs
    it with ``exc_info``: the message can quote a value (``ValueError(f"… {name}")``,
    a database error's ``DETAIL: Key (…)=(…)``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, stack = record.exc_info
            record.msg = (f"{record.getMessage().rstrip()}\n"
                          + "".join(traceback.format_tb(stack))
                          + f"{kind.__name__} (message withheld: it may quote request data)")
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_uvicorn_logs() -> None:
    """Install the filters on uvicorn's access and error loggers once (idempotent)."""
    for name, kind in (("uvicorn.access", _NoRawAccessLog),
                       ("uvicorn.error", _ExceptionWithoutMessage)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())


def logged_target(template: str, query_string: bytes) -> str:
    """The route template and the names of the query parameters, never their values."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    names = sorted({name if _PARAMETER_NAME.fullmatch(name) else "-" for name, _ in pairs})
    return template + ("?" + "&".join(names) if names else "")


class HttpSpanMiddleware:
    """One ``HTTP <method>`` span per request, named by route template, not raw path.

    It also marks the request for the registry's cache (tenants/registry.py): the
    registry's version is read once per request, by its first lookup.

    Paths and query strings can carry ids or, in a GET GraphQL request, variables, so
    only the method, the route template and the status code are recorded.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        status: list[int] = []

        async def send_noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        # One request, one check of the registry's version (token, tenant, grants).
        # An exception is kept by its type only (telemetry.scrubbed, yorisoi.error.type).
        with _tracer.start_as_current_span("HTTP " + method, record_exception=False) as span, \
                registry_request():
            scope.setdefault("state", {})["span"] = span  # request.state.span
            try:
                await self.app(scope, receive, send_noting_status)
            except BaseException as error:
                span.set_attribute("yorisoi.error.type", type(error).__name__)
                raise
            finally:
                template = getattr(scope.get("route"), "path", "unmatched")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", template)
                if status:
                    span.set_attribute("http.response.status_code", status[0])
                client = scope.get("client")
                access_log.info('%s - "%s %s HTTP/%s" %d',
                                f"{client[0]}:{client[1]}" if client else "-", method,
                                logged_target(template, scope.get("query_string", b"")),
                                scope.get("http_version", "1.1"), status[0] if status else 500)


class OutageMiddleware:
    """Answers an outage with 503 and ``Retry-After``, fast and without internal text.

    Two ways a request meets one: an exception that escapes the app (a REST route,
    the GraphQL context's token check, a console page) is answered here — JSON with
    the typed bilingual error, GraphQL's error shape on ``/graphql``, the console's
    error page under ``/console``; or a GraphQL operation answered it itself, with
    errors (a field: ``service_unavailable`` from the executor; an extension, such as
    the access log written after a read: masked as "Unexpected error."), and then the
    status becomes 503 with ``Retry-After`` and masked errors become the typed one.
    Nothing of the exception's own text is sent or logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from yorisoi.infra.outages import noting_outages, unavailable

        started = False
        held: list[Message] = []  # a GraphQL answer after an outage, until it is complete

        async def send_marking_outage(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if noted and scope["path"] == "/graphql":
                    held.append(message)
                    return
            elif held:
                held.append(message)
                if not message.get("more_body", False):
                    for answer in _graphql_outage_answer(held, noted[0]):
                        await send(answer)
                return
            await send(message)

        with noting_outages() as noted:
            try:
                await self.app(scope, receive, send_marking_outage)
            except Exception as error:
                down = unavailable(error)
                if down is None or started:
                    raise
                # Each outage is logged once where it begins (infra/outages.Circuit).
                _log.debug("answered 503: %s unavailable on %s %s", down.dependency,
                           scope.get("method"), _route_of(scope))
                await unavailable_response(Request(scope), down)(scope, receive, send)


def _graphql_outage_answer(held: list[Message], down: Any) -> list[Message]:
    """The held GraphQL answer as a 503 (when it has errors), masked errors made typed."""
    import json

    start, body = held[0], b"".join(m.get("body", b"") for m in held[1:])
    try:
        answer = json.loads(body)
        errors = answer.get("errors") if isinstance(answer, dict) else None
    except ValueError:
        errors = None
    if not errors:  # the outage was met and overcome (or it is no JSON answer): as it is
        return [start, {"type": "http.response.body", "body": body}]
    typed = {"code": down.code, "messageJa": down.message_ja, "retryable": True,
             "retryAfterSeconds": down.retry_after}
    for error in errors:
        if isinstance(error, dict) and not (error.get("extensions") or {}).get("code"):
            error["message"], error["extensions"] = down.message, typed
    body = json.dumps(answer, ensure_ascii=False).encode()
    headers = [(k, v) for k, v in start.get("headers", [])
               if k.lower() not in (b"retry-after", b"content-length")]
    headers += [(b"retry-after", str(down.retry_after).encode()),
                (b"content-length", str(len(body)).encode())]
    return [{**start, "status": 503, "headers": headers},
            {"type": "http.response.body", "body": body}]


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", "unmatched")


def unavailable_response(request: Request, down: Any) -> Response:
    """The 503 for ``down`` (a ``ServiceUnavailableError``) in the shape the caller reads."""
    headers = {"Retry-After": str(down.retry_after)}
    path = request.url.path
    if _console_of(request) is not None:
        from yorisoi.infra.console.web import unavailable_page

        response = unavailable_page(request, down.message, down.message_ja)
        response.headers.update(headers)
        return response
    body = {"code": down.code, "message": down.message, "messageJa": down.message_ja,
            "retryable": True, "retryAfterSeconds": down.retry_after}
    if path == "/graphql":
        extensions = {k: v for k, v in body.items() if k != "message"}
        return JSONResponse(status_code=503, headers=headers, content={
            "data": None, "errors": [{"message": down.message, "extensions": extensions}]})
    return JSONResponse(status_code=503, content={"detail": body}, headers=headers)
