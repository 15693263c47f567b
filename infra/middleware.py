"""The app's HTTP middleware: the rate limiter and the request's HTTP span.

Plain ASGI classes, not Starlette's ``BaseHTTPMiddleware``: that one runs the rest of the
app in a task of its own and copies the response through a memory stream, which cost
~0.5 ms of a ~8 ms GraphQL request (docs/benchmarks.md).  Here the app runs in the
request's own task, so the span stays the current one for everything below it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi.responses import JSONResponse
from opentelemetry import trace
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yorisoi.infra.identity import (
    AuthenticationError,
    LookupUnavailable,
    VerifiedToken,
    bearer_token,
)
from yorisoi.infra.rate_limits import RateLimiter, keys_for
from yorisoi.tenants.access import Principal
from yorisoi.tenants.registry import registry_request

_log = logging.getLogger("yorisoi.http")
_tracer = trace.get_tracer("yorisoi.http")

# Paths charged to the rate limits: the APIs, and the links whose token is the
# credential (guessing one is a request per guess).  Health checks, docs and the
# development issuer's keys are not.
# (The console is not here: its callers carry a session cookie, not a bearer token, and
# an office behind one address would share the anonymous bucket.)
RATE_LIMITED = ("/graphql", "/api/", "/agency-packets/", "/public/", "/files/", "/disclosures/")


async def _principal(request: Request) -> Principal | None:
    """The verified principal of the request's bearer token, or None.

    Verified, never merely decoded: buckets keyed by unverified claims would let
    anyone drain another user's or tenant's bucket with forged tokens.  A token
    that fails here fails again in the handler, which answers 401/503 as usual.
    """
    header = request.headers.get("authorization")
    if not header:
        return None
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


async def verify_token(services: Any, token: str) -> VerifiedToken:
    """Verify on the event loop when memory answers (the registry checked for this
    request, a token seen before, cached keys); otherwise in a thread (reads, fetches).

    The same answer as ``services.verifier.verify`` either way (AuthenticationError
    included)."""
    registry = getattr(getattr(services, "directory", None), "registry", None)
    if registry is not None:
        try:
            if await registry.checked_for_request():
                return services.verifier.verify_offline(token, registry.issuer_in_memory)
        except LookupUnavailable:
            pass
    return await asyncio.to_thread(services.verifier.verify, token)


class RateLimitMiddleware:
    """Charges rate-limited paths to their buckets; answers 429 when one is empty.

    Before routing: a refused request parses, verifies nothing further and touches no
    tenant data.  The limiter is read from ``app.state.rate_limiter`` on every request
    (tests swap in one with an injected clock; None turns the limits off).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(RATE_LIMITED):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        limiter: RateLimiter | None = request.app.state.rate_limiter
        if limiter is None:
            await self.app(scope, receive, send)
            return
        principal = await _principal(request)
        client = request.client.host if request.client else None
        refusal = limiter.take(**keys_for(principal, client))
        if refusal is not None:
            response = JSONResponse(status_code=429, content=refusal.body(),
                                    headers={"Retry-After": refusal.retry_after_header})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


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
        with _tracer.start_as_current_span("HTTP " + method) as span, registry_request():
            scope.setdefault("state", {})["span"] = span  # request.state.span
            await self.app(scope, receive, send_noting_status)
            route = scope.get("route")
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", getattr(route, "path", "unmatched"))
            if status:
                span.set_attribute("http.response.status_code", status[0])
