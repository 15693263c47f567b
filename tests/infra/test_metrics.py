"""Metrics: every metric docs/metrics.md names exists after a little traffic over the demo
data, and no label value holds a name or free text from it; /metrics is off by default
and needs its token when one is set; OTLP export reaches a collector."""

from __future__ import annotations

import ast
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from yorisoi.infra.demo import MUNICIPALITY, SPECIALIST, SUPERVISOR, demo_token, load_demo
from yorisoi.infra.http.app import create_app
from yorisoi.infra.rate_limits import Rate, RateLimiter
from yorisoi.infra.settings import Settings
from yorisoi.infra.wiring.bootstrap import Services, init_platform

ROOT = Path(__file__).parents[2]
TOKEN = "scrape-token-for-tests"
# What a label value may look like: codes, templates, methods, classes, numbers.
SAFE_LABEL = re.compile(r"[A-Za-z0-9_.:{}/+\-]*")


def documented_metrics() -> list[str]:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    names = re.findall(r"^\| `(yorisoi_[a-z_]+)`", text, flags=re.MULTILINE)
    assert len(names) >= 8, names
    return names


def demo_texts() -> list[str]:
    """Every string literal of the demo data with a character outside ASCII: names,
    readings, addresses, free text (and some labels, which are harmless to include)."""
    tree = ast.parse((ROOT / "infra" / "demo" / "__init__.py").read_text(encoding="utf-8"))
    found = {node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and any(ord(c) > 127 for c in node.value) and len(node.value) >= 2}
    assert len(found) > 20
    return sorted(found)


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Services]]:
    settings = Settings(backend="sqlite", data_dir=tmp_path_factory.mktemp("metrics"),
                        environment="test", metrics_endpoint=True, metrics_token=TOKEN)
    init_platform(settings)
    services = Services(settings)
    try:
        load_demo(services)
        app = create_app(settings, services)
        with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
            yield client, services
    finally:
        services.close()


def scrape(client: TestClient) -> dict[str, Any]:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(answer.text)}


def _traffic(client: TestClient, services: Services) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "console"))
    from console_steps import sign_in

    headers = {"Authorization": f"Bearer {demo_token(services, SUPERVISOR)}"}
    found = client.post("/graphql", headers=headers, json={"query": (
        'query { cases(filter: {text: "しけん"}) { totalCount edges { node {'
        " receptionNumber household { guardians { name reading } } } } } }")})
    assert found.status_code == 200 and found.json()["data"]["cases"]["totalCount"] >= 1
    specialist = {"Authorization": f"Bearer {demo_token(services, SPECIALIST)}"}
    assert client.post("/graphql", headers=specialist,
                       json={"query": "{ __typename }"}).status_code == 200
    # Names in a path no route knows, and in a query string.
    assert client.get("/console/m/131016/cases/試験花子").status_code in (303, 404)
    assert client.get("/public/municipalities/131016/resources?q=試験 花子").status_code == 200
    assert client.get("/api/no-such-thing/架空 花子").status_code == 404
    sign_in(client, "municipality", MUNICIPALITY, SUPERVISOR.subject, "municipal_supervisor")
    assert client.get(f"/console/m/{MUNICIPALITY}/cases?q=しけん").status_code == 200
    # A bug: an endpoint that raises (added for this test) answers 500.
    async def broken() -> None:
        raise RuntimeError("架空 花子")  # a message with a name: never a label

    client.app.add_api_route("/api/test-broken/{case_id}", broken)
    with TestClient(client.app, raise_server_exceptions=False) as plain:
        assert plain.get("/api/test-broken/試験").status_code == 500
    # A refusal: a limiter with a burst of one for the rest of this test.
    client.app.state.rate_limiter = RateLimiter(principal=Rate(0.001, 1), tenant=Rate(1e6, 10**6))
    codes = [client.post("/graphql", headers=headers, json={"query": "{ __typename }"}
                         ).status_code for _ in range(3)]
    client.app.state.rate_limiter = None
    assert 429 in codes, codes


def test_each_documented_metric_exists_and_labels_hold_no_personal_text(demo_app) -> None:
    client, services = demo_app
    _traffic(client, services)
    families = scrape(client)
    for name in documented_metrics():
        # The parser names a counter family without its _total suffix.
        family = families.get(name) or families.get(name.removesuffix("_total"))
        assert family is not None, f"{name} is documented but not exported"
        assert family.samples, f"{name} has no sample after traffic"
    texts = demo_texts()
    for family in families.values():
        for sample in family.samples:
            for label, value in sample.labels.items():
                assert SAFE_LABEL.fullmatch(value), (family.name, label, value)
                assert not any(text in value for text in texts), (family.name, label, value)
    errors = families["yorisoi_http_server_errors"].samples
    assert any(s.labels["route"] == "/api/test-broken/{case_id}" and s.labels["status"] == "500"
               for s in errors), errors
    requests = families["yorisoi_http_server_requests"].samples
    routes = {s.labels["route"] for s in requests}
    assert "/graphql" in routes and "unmatched" in routes, routes
    assert any(r.startswith("/console/m/{code}") for r in routes), routes
    # The tenant is the code the request worked for, not the principal's subject.
    assert {s.labels["tenant"] for s in requests if s.labels["route"] == "/graphql"} \
        >= {MUNICIPALITY}
    refusals = families["yorisoi_rate_limit_refusals"].samples
    assert any(s.labels["limit"] == "principal" and s.labels["tenant"] == MUNICIPALITY
               and s.value >= 1 for s in refusals), refusals
    pools = families["yorisoi_db_pool_connections"].samples
    assert {s.labels["state"] for s in pools} >= {"used", "idle", "max"}
    lag = families["yorisoi_projection_lag"].samples
    assert any(s.labels["tenant"] == MUNICIPALITY for s in lag), lag


def test_metrics_need_their_token(demo_app) -> None:
    client, _ = demo_app
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, refused.text
        detail = refused.json()["detail"]
        assert detail["code"] == "metrics_token_required" and detail["messageJa"]


def test_metrics_are_off_by_default(tmp_path: Path) -> None:
    settings = Settings(backend="sqlite", data_dir=tmp_path, environment="test")
    assert not settings.metrics_endpoint and not settings.metrics_otlp_endpoint
    app = create_app(settings, services=None)
    assert not any(getattr(r, "path", "") == "/metrics" for r in app.routes)


def test_metrics_are_pushed_over_otlp_to_a_collector() -> None:
    from yorisoi.infra.metrics import _Metrics

    received: list[bytes] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/metrics"
        metrics = _Metrics(otlp_endpoint=endpoint, otlp_interval=3600)
        metrics.requests.add(1, {"route": "/graphql", "method": "POST", "status": "2xx",
                                 "tenant": "131016"})
        assert metrics.provider.force_flush(timeout_millis=30_000)
        metrics.provider.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    assert received and any(b"yorisoi.http.server.requests" in body for body in received)


def test_a_worker_reports_its_tenants_lags_on_a_port_of_its_own(demo_app) -> None:
    import socket
    import urllib.request

    from yorisoi.infra.metrics import worker_metrics

    _, services = demo_app
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    worker = Services(services.settings.model_copy(update={"metrics_worker_port": port}))
    try:
        with worker.runtimes.lease(MUNICIPALITY):
            pass  # the worker has this tenant open, as after a catch-up
        server = worker_metrics(worker)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                text = r.read().decode()
        finally:
            server.shutdown()
            server.server_close()
    finally:
        worker.close()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("yorisoi_projection_lag", "yorisoi_audit_chain_lag",
                 "yorisoi_db_pool_connections"):
        assert any(s.labels.get("tenant") == MUNICIPALITY for s in families[name].samples), name


def test_the_outage_gauge_follows_the_readiness_probe(demo_app) -> None:
    from types import SimpleNamespace

    client, _ = demo_app
    state = client.app.state
    kept = getattr(state, "readiness", None)
    state.readiness = SimpleNamespace(verdict=SimpleNamespace(checks={
        "database": "ok", "keys": "unavailable", "storage": "ok"}))
    try:
        outage = {s.labels["dependency"]: s.value
                  for s in scrape(client)["yorisoi_outage"].samples}
    finally:
        state.readiness = kept
    assert outage["key_provider"] == 1 and outage["object_storage"] == 0, outage
    after = {s.labels["dependency"]: s.value for s in scrape(client)["yorisoi_outage"].samples}
    assert after["key_provider"] == 0, after
