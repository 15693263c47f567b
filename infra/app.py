"""The FastAPI application: GraphQL at /graphql, REST beside it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import trace
from starlette.exceptions import HTTPException as StarletteHTTPException

from yorisoi.graphql.context import get_context
from yorisoi.graphql.persisted import PersistedQueries, PersistedQueryRouter
from yorisoi.graphql.schema import build_schema
from yorisoi.infra.bootstrap import Services
from yorisoi.infra.console import mount_console
from yorisoi.infra.disclosure_links import router as disclosure_links_router
from yorisoi.infra.identity import AuthenticationError, bearer_token
from yorisoi.infra.public_directory import router as public_directory_router
from yorisoi.infra.rate_limits import RateLimiter, keys_for
from yorisoi.infra.referral_packets import router as referral_packets_router
from yorisoi.infra.rest import router as rest_router
from yorisoi.infra.settings import Settings
from yorisoi.infra.staff_files import router as staff_files_router
from yorisoi.infra.telemetry import configure_telemetry
from yorisoi.tenants.access import Principal

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
    verifier = request.app.state.services.verifier
    try:
        token = await asyncio.to_thread(verifier.verify, bearer_token(header))
    except AuthenticationError:
        return None
    except Exception as error:  # noqa: BLE001 - the handler meets it again and answers it
        _log.warning("token check for rate limits failed: %s", type(error).__name__)
        return None
    principal = Principal.from_token(token)
    # The GraphQL context reuses it for this very header (one verification per request).
    request.state.verified_principal = (header, principal)
    return principal


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the app; ``services`` may be passed in (tests, the serve command)."""
    configure_telemetry()
    production = settings.environment == "production"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services or Services(settings)
        try:
            yield
        finally:
            if services is None:
                app.state.services.close()

    # FastAPI's own tracing records raw paths and query strings (GraphQL
    # variables, if someone sends a GET): off; our middleware spans instead.
    app = FastAPI(title="Yorisoi", version="0.1.0", lifespan=lifespan,
                  docs_url=None if production else "/docs", redoc_url=None,
                  openapi_url=None if production else "/openapi.json",
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    if services is not None:
        app.state.services = services
    # Tests swap in a limiter with an injected clock.
    app.state.rate_limiter = (RateLimiter.from_settings(settings)
                              if settings.rate_limits_enabled else None)

    @app.middleware("http")
    async def rate_limit(request: Request, call_next):  # noqa: ANN001, ANN202
        # Before routing: a refused request parses, verifies nothing further and
        # touches no tenant data.  (Registered before http_span, so it runs inside it.)
        limiter: RateLimiter | None = request.app.state.rate_limiter
        if limiter is None or not request.url.path.startswith(RATE_LIMITED):
            return await call_next(request)
        principal = await _principal(request)
        client = request.client.host if request.client else None
        refusal = limiter.take(**keys_for(principal, client))
        if refusal is not None:
            return JSONResponse(status_code=429, content=refusal.body(),
                                headers={"Retry-After": refusal.retry_after_header})
        return await call_next(request)

    @app.middleware("http")
    async def http_span(request: Request, call_next):  # noqa: ANN001, ANN202
        # Route template, not the raw path: paths and query strings can carry ids
        # or, in a GET GraphQL request, variables.
        with _tracer.start_as_current_span("HTTP " + request.method) as span:
            request.state.span = span
            response = await call_next(request)
            route = request.scope.get("route")
            span.set_attribute("http.request.method", request.method)
            span.set_attribute("http.route", getattr(route, "path", "unmatched"))
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the submitted input back; we name fields only.
        fields = [".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": {
            "code": "validation_failed", "fields": fields,
            "message": "Some values are missing or not valid.",
            "messageJa": "入力内容に不足または誤りがあります。"}})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Our own errors carry a bilingual detail already; the framework's do not.
        detail = exc.detail
        if not isinstance(detail, dict):
            detail = {"code": "not_found" if exc.status_code == 404 else "http_error",
                      "message": str(detail),
                      "messageJa": "見つかりません。" if exc.status_code == 404
                      else "リクエストを処理できませんでした。"}
        return JSONResponse(status_code=exc.status_code, content={"detail": detail},
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.error("unhandled %s on %s", type(exc).__name__, request.method)
        return JSONResponse(status_code=500, content={"detail": {
            "code": "internal_error", "message": "Something went wrong on our side.",
            "messageJa": "システム内部でエラーが発生しました。"}})

    schema = build_schema(production=production, max_depth=settings.graphql_max_depth)
    persisted = PersistedQueries.load(settings.graphql_persisted_queries,
                                      settings.graphql_persisted_queries_path)
    # The router's own path (not an include prefix), so spans see the route "/graphql".
    app.include_router(PersistedQueryRouter(
        schema, path="/graphql", context_getter=get_context,
        graphql_ide=None if production else "graphiql", allow_queries_via_get=False,
        persisted=persisted))
    app.include_router(rest_router)
    app.include_router(referral_packets_router)
    app.include_router(disclosure_links_router)
    app.include_router(public_directory_router)
    app.include_router(staff_files_router)
    mount_console(app, settings)  # the staff console under /console (HTML)
    return app
