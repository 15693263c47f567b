"""Metrics an operator on call watches: OpenTelemetry instruments, read by Prometheus or OTLP.

What is measured (docs/metrics.md lists each metric with its meaning and labels):
requests, their latency and server errors by route template and tenant; rate-limit
refusals; read-model (projection) lag and audit-chain lag per tenant; connection-pool
use; the outage state of each dependency.

Labels are route templates (``/console/m/{code}/cases/{case_id}``, never a path with
its ids), methods, status classes, limits, dependency names and tenant codes
(``131016``, ``npo-hidamari``, ``platform``).  A tenant label that is not shaped like
a code is recorded as ``other``: nothing a person typed can become a label.

One meter provider per process, made on first use.  It always has a Prometheus
reader on a registry of its own (collected only when ``/metrics`` is asked, which
``YORISOI_METRICS_ENDPOINT=true`` turns on, optionally behind
``YORISOI_METRICS_TOKEN``), and an OTLP reader when ``YORISOI_METRICS_OTLP_ENDPOINT``
names a collector.  Gauges that need the database (lags, pools) are read at
collection, for the tenants this process has open; a worker process reports its own
figures with ``note_projection_lag`` / ``note_audit_chain_lag``.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_log = logging.getLogger("yorisoi.metrics")

# The dependencies whose outage state is a metric (0 up, 1 down).
DEPENDENCIES = ("database", "key_provider", "object_storage")
# Request latency buckets in seconds: a page is ~10 ms, a slow report a few seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# The readiness prober's checks and the dependency each one is about.
_READINESS_CHECKS = {"database": "database", "keys": "key_provider",
                     "storage": "object_storage"}
_MUNICIPALITY = re.compile(r"[0-9]{6}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_lock = threading.Lock()
_state: _Metrics | None = None


def tenant_label(value: Any) -> str:
    """A tenant code as a label: a municipality code, a contractor id, ``platform``;
    ``t_131016`` (a space) becomes ``131016``; anything else ``other``; none ``-``."""
    if value is None or value == "":
        return "-"
    text = str(value)
    text = text.removeprefix("t_")
    if _MUNICIPALITY.fullmatch(text) or _SLUG.fullmatch(text):
        return text
    return "other"


class _Metrics:
    """The process's provider, instruments and the figures gauges report."""

    def __init__(self, otlp_endpoint: str = "", otlp_interval: float = 60.0) -> None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=True)
        readers: list[Any] = [PrometheusMetricReader(registry=self.registry,
                                                     disable_target_info=True,
                                                     scope_info_enabled=False)]
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            readers.append(PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=otlp_endpoint),
                export_interval_millis=otlp_interval * 1000))
        self.provider = MeterProvider(metric_readers=readers, views=[
            View(instrument_type=Histogram, instrument_name="yorisoi.http.server.duration",
                 aggregation=ExplicitBucketHistogramAggregation(LATENCY_BUCKETS))])
        meter = self.provider.get_meter("yorisoi")
        self.requests = meter.create_counter(
            "yorisoi.http.server.requests", unit="{request}",
            description="HTTP requests answered, by route template, method, status class"
                        " and tenant")
        self.duration = meter.create_histogram(
            "yorisoi.http.server.duration", unit="s",
            description="Time to answer an HTTP request, by route template, method and tenant")
        self.errors = meter.create_counter(
            "yorisoi.http.server.errors", unit="{request}",
            description="HTTP requests answered with a 5xx status (503 included)")
        self.refusals = meter.create_counter(
            "yorisoi.rate_limit.refusals", unit="{request}",
            description="Requests refused by a rate limit (429), by limit and tenant")
        meter.create_observable_gauge(
            "yorisoi.projection.lag", [self._projection_lag], unit="{event}",
            description="Events stored but not yet in a read model, by tenant and view")
        meter.create_observable_gauge(
            "yorisoi.audit.chain.lag", [self._audit_chain_lag], unit="{entry}",
            description="Events and access-log entries not yet chained into the tenant's"
                        " audit ledger")
        meter.create_observable_gauge(
            "yorisoi.db.pool.connections", [self._pool_connections], unit="{connection}",
            description="Connections of each open pool, by state: used, idle, max, waiting")
        meter.create_observable_gauge(
            "yorisoi.outage", [self._outage], unit="1",
            description="1 while a dependency (database, key provider, object storage)"
                        " is found unreachable, else 0")
        self.services: weakref.WeakSet[Any] = weakref.WeakSet()
        self.noted_projection_lag: dict[tuple[str, str], int] = {}
        self.noted_chain_lag: dict[str, int] = {}
        self.outages: dict[str, int] = dict.fromkeys(DEPENDENCIES, 0)

    # -- gauges read at collection ------------------------------------------------

    def watched_services(self) -> list[Any]:
        """The ``Services`` watched: given directly (a worker) or an app's (its lifespan
        makes them after the app is built)."""
        found = []
        for source in list(self.services):
            services = getattr(getattr(source, "state", None), "services", None) or source
            if hasattr(services, "runtimes") and services not in found:
                found.append(services)
        return found

    def _each_runtime(self) -> Iterator[tuple[Any, Any]]:
        """(services, runtime) for every tenant open in a watched process's cache."""
        for services in self.watched_services():
            for code in services.runtimes.active():
                try:
                    with services.runtimes.lease(code) as runtime:
                        yield services, runtime
                except Exception as error:  # noqa: BLE001 - a gauge never fails a scrape
                    _log.warning("metrics: tenant unreadable (%s)", type(error).__name__)

    def _projection_lag(self, options: CallbackOptions) -> Iterable[Observation]:
        figures = dict(self.noted_projection_lag)
        for _, runtime in self._each_runtime():
            for projector in runtime.projectors:
                status = projector.status()
                figures[(runtime.municipality_code, status.name)] = status.lag
        return [Observation(lag, {"tenant": tenant_label(tenant), "view": view})
                for (tenant, view), lag in figures.items()]

    def _audit_chain_lag(self, options: CallbackOptions) -> Iterable[Observation]:
        from yorisoi.infra.audit_ledger_store import AuditLedgerStore, ledger_transaction

        figures = dict(self.noted_chain_lag)
        for _, runtime in self._each_runtime():
            db = runtime.casework.database
            with ledger_transaction(db, write=False) as cur:
                state = AuditLedgerStore(db).state(cur)
            figures[runtime.municipality_code] = (
                max(0, state["event_head"] - state["event"])
                + max(0, state["access_head"] - state["access"]))
        return [Observation(lag, {"tenant": tenant_label(tenant)})
                for tenant, lag in figures.items()]

    def _pool_connections(self, options: CallbackOptions) -> Iterable[Observation]:
        found: list[Observation] = []
        for services in self.watched_services():
            pools = [("platform", services.directory.platform.database.datastore)]
            pools += [(runtime.municipality_code, runtime.casework.database.datastore)
                      for _, runtime in self._each_runtime_of(services)]
            for tenant, datastore in pools:
                for state, value in pool_figures(datastore).items():
                    found.append(Observation(value, {"tenant": tenant_label(tenant),
                                                     "state": state}))
        return found

    def _each_runtime_of(self, services: Any) -> Iterator[tuple[Any, Any]]:
        for watched, runtime in self._each_runtime():
            if watched is services:
                yield watched, runtime

    def _outage(self, options: CallbackOptions) -> Iterable[Observation]:
        states = dict(self.outages)
        # An app's readiness prober (infra/http/readiness.py) holds the last verdict per check.
        for source in list(self.services):
            readiness = getattr(getattr(source, "state", None), "readiness", None)
            checks = getattr(getattr(readiness, "verdict", None), "checks", None) or {}
            for check, dependency in _READINESS_CHECKS.items():
                if checks.get(check, "ok") not in ("ok", "starting"):
                    states[dependency] = 1
        return [Observation(down, {"dependency": name}) for name, down in states.items()]


def pool_figures(datastore: Any) -> dict[str, int]:
    """used / idle / max / waiting connections of a datastore's pool (either backend)."""
    pool = getattr(datastore, "pool", None)
    if pool is None:
        return {}
    stats = getattr(pool, "get_stats", None)
    if stats is not None:  # psycopg_pool
        figures = stats()
        size, idle = figures.get("pool_size", 0), figures.get("pool_available", 0)
        return {"used": size - idle, "idle": idle, "max": figures.get("pool_max", 0),
                "waiting": figures.get("requests_waiting", 0)}
    try:  # eventsourcing's own pool (SQLite)
        return {"used": int(pool.num_in_use), "idle": int(pool.num_in_pool),
                "max": int(pool.pool_size + pool.max_overflow), "waiting": 0}
    except (AttributeError, TypeError):
        return {}


def metrics(settings: Any | None = None) -> _Metrics:
    """The process's metrics, made on first use (OTLP as the first caller's settings say)."""
    global _state
    if _state is None:
        with _lock:
            if _state is None:
                endpoint = getattr(settings, "metrics_otlp_endpoint", "") or ""
                interval = float(getattr(settings, "metrics_otlp_interval_seconds", 60.0))
                _state = _Metrics(endpoint, interval)
    return _state


# -- what other modules report -------------------------------------------------------


def watch(source: Any) -> None:
    """Report the open tenants (lags, pools) of ``source`` — a ``Services``, or an app
    whose ``state.services`` they are — at each collection."""
    metrics().services.add(source)


def worker_metrics(services: Any) -> Any:
    """A worker process's metrics (``yorisoi worker`` calls this once at start).

    Its open tenants' lags and pools are reported (it has no HTTP traffic); OTLP as
    the settings say; and, when ``YORISOI_METRICS_WORKER_PORT`` is set, Prometheus's
    text at ``http://<YORISOI_METRICS_WORKER_HOST>:<port>/metrics`` (no token: bind
    it to an address only the scraper reaches).  Returns that server (None without).
    """
    settings = services.settings
    m = metrics(settings)
    watch(services)
    port = int(getattr(settings, "metrics_worker_port", 0) or 0)
    if port:
        from prometheus_client import start_http_server

        server, _ = start_http_server(
            port, addr=getattr(settings, "metrics_worker_host", "127.0.0.1"), registry=m.registry)
        return server
    return None


def rate_limit_refused(limit: str, tenant: str | None) -> None:
    """One request refused by ``limit`` (principal, tenant or client)."""
    code = tenant.split(":", 1)[-1] if tenant else None
    metrics().refusals.add(1, {"limit": limit, "tenant": tenant_label(code)})


def note_projection_lag(tenant: str, view: str, lag: int) -> None:
    """A worker's figure: ``lag`` events of ``tenant`` not yet in ``view``."""
    metrics().noted_projection_lag[(tenant, view)] = max(0, int(lag))


def note_audit_chain_lag(tenant: str, entries: int) -> None:
    """A worker's figure: ``entries`` sources of ``tenant`` not yet chained."""
    metrics().noted_chain_lag[tenant] = max(0, int(entries))


def note_outage(dependency: str, down: bool) -> None:
    """The outage state of ``dependency`` (database, key_provider, object_storage)."""
    if dependency in DEPENDENCIES:
        metrics().outages[dependency] = 1 if down else 0


# -- the HTTP side -------------------------------------------------------------------


def request_tenant(scope: Scope) -> str:
    """The tenant a request worked for: the municipality it touched (GraphQL, REST, the
    console's ``{code}``), else its verified principal's organisation, else none."""
    state = scope.get("state") or {}
    tenant = state.get("metrics_tenant")
    if tenant is None:
        code = (scope.get("path_params") or {}).get("code")
        if isinstance(code, str) and _MUNICIPALITY.fullmatch(code):
            tenant = code
    if tenant is None:
        verified = state.get("verified_principal")
        principal = verified[1] if isinstance(verified, tuple) and len(verified) == 2 else None
        tenant = getattr(principal, "tenant_id", None)
    return tenant_label(tenant)


class MetricsMiddleware:
    """Counts and times every HTTP request by route template, method, status and tenant."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.metrics = metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = []

        async def send_noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            code = status[0] if status else 500
            route = getattr(scope.get("route"), "path", "unmatched")
            labels = {"route": route, "method": scope["method"],
                      "tenant": request_tenant(scope)}
            self.metrics.duration.record(time.perf_counter() - started, labels)
            self.metrics.requests.add(1, {**labels, "status": f"{code // 100}xx"})
            if code >= 500:
                self.metrics.errors.add(1, {**labels, "status": str(code)})


def exposition(m: _Metrics | None = None) -> bytes:
    """The Prometheus text exposition of this process's metrics."""
    from prometheus_client import generate_latest

    return generate_latest((m or metrics()).registry)


def mount_metrics(app: Any, settings: Any) -> None:
    """The app's metrics (OTLP as configured), and ``GET /metrics`` (Prometheus text)
    when ``settings.metrics_endpoint`` is on."""
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST

    # First: the provider takes its OTLP reader from these settings, and the gauges
    # follow this app's tenants whether or not /metrics is served.
    m = metrics(settings)
    watch(app)
    if not getattr(settings, "metrics_endpoint", False):
        return
    token = settings.metrics_token.get_secret_value()

    async def read_metrics(request: Request) -> Response:
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return JSONResponse(status_code=401, headers={"WWW-Authenticate": "Bearer"},
                                    content={"detail": {
                                        "code": "metrics_token_required",
                                        "message": "The metrics need their bearer token.",
                                        "messageJa": "メトリクスの参照にはトークンが必要です。"}})
        import asyncio

        # Gauges read the database: not on the event loop.
        body = await asyncio.to_thread(exposition, m)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", read_metrics, methods=["GET"], include_in_schema=False)
