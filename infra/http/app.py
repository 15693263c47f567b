"""The FastAPI application: GraphQL at /graphql, REST beside it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from yorisoi.graphql.context import get_context
from yorisoi.graphql.persisted import PersistedQueries, PersistedQueryRouter
from yorisoi.graphql.schema import build_schema
from yorisoi.infra.console import mount_console
from yorisoi.infra.console.routes_print import router as console_print_router
from yorisoi.infra.http.agency_packets import router as agency_packets_router
from yorisoi.infra.http.disclosures import router as disclosures_router
from yorisoi.infra.http.middleware import (
    HttpSpanMiddleware,
    OutageMiddleware,
    RateLimitMiddleware,
    RequestGuardMiddleware,
    quiet_uvicorn_logs,
)
from yorisoi.infra.http.offline_assets import graphiql_html, mount_offline_assets
from yorisoi.infra.http.public_directory import router as public_directory_router
from yorisoi.infra.http.readiness import Readiness
from yorisoi.infra.http.request_bodies import BodyLimits
from yorisoi.infra.http.rest import router as rest_router
from yorisoi.infra.http.staff_files import router as staff_files_router
from yorisoi.infra.metrics import MetricsMiddleware, mount_metrics
from yorisoi.infra.rate_limits import limiter_for
from yorisoi.infra.settings import Settings
from yorisoi.infra.telemetry import configure_telemetry
from yorisoi.infra.wiring.bootstrap import Services
from yorisoi.infra.worker.audit_chaining import keep_ledgers

_log = logging.getLogger("yorisoi.http")


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the app; ``services`` may be passed in (tests, the serve command)."""
    configure_telemetry()
    production = settings.environment == "production"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services or Services(settings)
        # /readyz answers from this prober's last verdict, at once (infra/http/readiness.py).
        app.state.readiness = Readiness(app.state.services).start()
        # The embedded server has no worker: it chains and checkpoints its own audit ledgers.
        ledger_keeper = keep_ledgers(app.state.services)
        try:
            yield
        finally:
            app.state.readiness.stop()
            if ledger_keeper is not None:
                await ledger_keeper.stop()
            if services is None:
                app.state.services.close()

    # FastAPI's own tracing records raw paths and query strings (GraphQL
    # variables, if someone sends a GET): off; our middleware spans instead.
    app = FastAPI(title="Yorisoi", version="0.1.0", lifespan=lifespan,
                  # /docs: Swagger UI from files in the repository (mount_offline_assets).
                  docs_url=None, redoc_url=None,
                  openapi_url=None if production else "/openapi.json",
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    if services is not None:
        app.state.services = services
    # Tests swap in a limiter with an injected clock.  Shared by every process of the
    # deployment (the platform database) unless YORISOI_RATE_LIMIT_STORE=memory.
    app.state.rate_limiter = limiter_for(settings, lambda: app.state.services)

    # Added first, so it runs inside the span (Starlette wraps in reverse order):
    # span, then rate limits, then the body checks (a refused request reads no body).
    app.add_middleware(RequestGuardMiddleware, limits=BodyLimits.from_settings(settings))
    app.add_middleware(RateLimitMiddleware)
    # Outside the rate limits (their store is the database too), inside the span: an
    # outage answers 503 with Retry-After, typed and bilingual, never internal text.
    app.add_middleware(OutageMiddleware)
    app.add_middleware(HttpSpanMiddleware)
    # Outermost: requests, latency and errors by route template and tenant (docs/metrics.md),
    # 429s and 413s included; GET /metrics when YORISOI_METRICS_ENDPOINT is on.
    app.add_middleware(MetricsMiddleware)
    mount_metrics(app, settings)
    quiet_uvicorn_logs()

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
        # The type and the route template: the message and the path can carry values.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        _log.error("unhandled %s on %s %s", type(exc).__name__, request.method, route)
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
        persisted=persisted, ide_html=graphiql_html))

    # On the event loop, never the thread pool (which an outage may have filled).
    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """Readiness from the last background probe: database, keys, object storage."""
        readiness: Readiness | None = getattr(request.app.state, "readiness", None)
        if readiness is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        status, body = readiness.answer()
        return JSONResponse(body, status_code=status)

    app.include_router(rest_router)  # after /readyz above: rest.py's own is shadowed
    app.include_router(agency_packets_router)
    app.include_router(disclosures_router)
    app.include_router(public_directory_router)
    app.include_router(staff_files_router)
    # The console's printable views (A4), before the console's own routes.
    app.include_router(console_print_router)
    mount_console(app, settings)  # the staff console under /console (HTML)
    # GraphiQL's and Swagger UI's scripts, served here: no CDN (LGWAN has no internet).
    mount_offline_assets(app, docs=not production)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        # People who open the server's address land in the console (it signs them in).
        return RedirectResponse("/console", status_code=303)

    return app
