"""What an outage answers, in process and fast: the circuit held open, the errors classified.

The slow stories (``test_outages.py``, ``test_crashes.py``) stop PostgreSQL and kill
processes; here the process's "database is down" circuit is opened by hand on the
session's cluster, so each kind of request shows its 503 in milliseconds, and the
pieces (classification, backoff, signals, the key check of /readyz) are checked
one by one.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import PoolTimeout
from world import CASES, CITY_A, CITY_B, RECORD, build_world, consultation_input, npo, supervisor

from yorisoi.infra import outages
from yorisoi.infra.http.app import create_app
from yorisoi.infra.http.readiness import Readiness
from yorisoi.infra.outages import ServiceUnavailableError, database_circuit, outage_of
from yorisoi.infra.worker import Backoff, StopFlag, ending_on_signals
from yorisoi.tenants.spaces import municipality_space

INTERNAL = ("pool", "psycopg", "operationalerror", "connection", "traceback", "unexpected error")


@pytest.fixture
def pg_world(pg_settings: Any) -> Iterator[Any]:
    # No background probe during the test: it would close the circuit held open here.
    world = build_world(pg_settings.model_copy(update={"readiness_probe_seconds": 3600.0}))
    try:
        yield world
    finally:
        world.services.close()


@pytest.fixture
def held_open(pg_world: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The circuit of the world's database, open (no trial request let through)."""
    monkeypatch.setattr(outages.POLICY, "probe_seconds", 3600.0)
    circuit = database_circuit(pg_world.services.settings)

    def hold() -> Any:
        circuit.failed(None)
        return circuit

    yield hold
    circuit.succeeded()


def _unavailable(response: Any) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert not any(word in response.text.lower() for word in INTERNAL), response.text
    return response.json()


@pytest.mark.postgres
def test_every_kind_of_request_answers_503_at_once_while_the_database_is_down(pg_world,
                                                                               held_open):
    app = create_app(pg_world.services.settings, pg_world.services)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        written = client.post("/graphql", json={"query": RECORD, "variables": {
            "input": consultation_input()}}, headers=npo(pg_world))
        assert written.json()["data"]["recordConsultation"]["__typename"] == \
            "ConsultationRecorded"

        held_open()
        started = time.monotonic()
        mutation = _unavailable(client.post(
            "/graphql", json={"query": RECORD, "variables": {"input": consultation_input()}},
            headers={**npo(pg_world), "Idempotency-Key": "k-1"}))
        (error,) = mutation["errors"]
        assert error["extensions"]["code"] == "service_unavailable"
        assert error["extensions"]["retryable"] is True
        assert error["extensions"]["messageJa"].startswith("ただいま")
        query = _unavailable(client.post("/graphql", json={
            "query": CASES, "variables": {"code": CITY_A, "first": 5}},
            headers=supervisor(pg_world)))
        assert query["errors"][0]["extensions"]["code"] == "service_unavailable"
        rest = _unavailable(client.get(
            f"/api/municipalities/{CITY_A}/cases/{'0' * 8}-0000-4000-8000-{'0' * 12}"
            "/attachments/x", headers=npo(pg_world)))
        assert rest["detail"]["code"] == "service_unavailable"
        assert rest["detail"]["messageJa"]
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "unavailable"
        # Far below the pool's old 10 s, and below the 1 s pool wait: nothing waited.
        assert time.monotonic() - started < 5.0
        assert client.get("/healthz").status_code == 200  # alive, only not ready

        database_circuit(pg_world.services.settings).succeeded()
        again = client.post("/graphql", json={
            "query": RECORD, "variables": {"input": consultation_input()}},
            headers={**npo(pg_world), "Idempotency-Key": "k-1"})
        assert again.status_code == 200
        assert again.json()["data"]["recordConsultation"]["__typename"] == \
            "ConsultationRecorded"


def test_the_console_shows_its_own_503_page(sqlite_settings):
    from starlette.requests import Request

    from yorisoi.infra.http.middleware import unavailable_response

    app = create_app(sqlite_settings)  # the console is mounted when the app is made
    request = Request({"type": "http", "method": "GET", "path": "/console/m/131016/cases",
                       "headers": [], "query_string": b"", "app": app})
    page = unavailable_response(request, ServiceUnavailableError(retry_after=2))
    assert page.status_code == 503
    assert page.headers["retry-after"] == "2"
    text = page.body.decode()
    assert "一時的に利用できません" in text and "しばらくしてから" in text
    assert not any(word in text.lower() for word in INTERNAL)


def test_outages_are_told_from_the_requests_own_errors():
    refused = psycopg.OperationalError("connection failed: Connection refused")
    assert outage_of(refused) == "database"
    shutting = psycopg.errors.AdminShutdown("terminating connection")
    assert outage_of(shutting) == "database"
    assert outage_of(PoolTimeout("couldn't get a connection after 1.00 sec")) == "database"
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = refused
    assert outage_of(wrapped) == "database"
    # A lock timeout or a cancelled statement is the request's own, not an outage.
    assert outage_of(psycopg.errors.LockNotAvailable("lock timeout")) is None
    assert outage_of(psycopg.errors.QueryCanceled("canceling statement")) is None
    assert outage_of(ValueError("bad input")) is None
    from botocore.exceptions import EndpointConnectionError

    from yorisoi.infra.storage import StorageError

    stored = StorageError("S3 put_object failed: EndpointConnectionError")
    stored.__cause__ = EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    assert outage_of(stored) == "object_storage"


def test_the_circuit_logs_an_outage_once_and_lets_one_trial_through(monkeypatch, caplog):
    monkeypatch.setattr(outages.POLICY, "probe_seconds", 0.2)
    circuit = outages.Circuit("database")
    caplog.set_level(logging.WARNING, logger="yorisoi.outages")
    circuit.admit()  # closed: nothing happens
    for _ in range(5):
        circuit.failed(psycopg.OperationalError("connection failed: secret-host"))
    with pytest.raises(ServiceUnavailableError):
        circuit.admit()
    time.sleep(0.25)
    circuit.admit()  # the trial
    with pytest.raises(ServiceUnavailableError):
        circuit.admit()  # the others meanwhile
    circuit.succeeded()
    circuit.succeeded()
    circuit.admit()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in line for line in lines) == 1
    assert sum("reachable again" in line for line in lines) == 1
    assert not any("secret-host" in line for line in lines)  # the kind, never the text


def test_the_workers_backoff_grows_with_jitter_to_its_cap_and_logs_once(caplog):
    caplog.set_level(logging.WARNING, logger="yorisoi.worker")
    backoff = Backoff(first=0.5, cap=4.0, rng=random.Random(7))
    waits = [backoff.failed(psycopg.OperationalError("down")) for _ in range(8)]
    for n, wait in enumerate(waits):
        ceiling = min(4.0, 0.5 * 2 ** n)
        assert ceiling / 2 <= wait <= ceiling
    assert len(set(waits)) > 4  # jittered, not one fixed step
    backoff.succeeded()
    backoff.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("unavailable" in line for line in lines) == 1
    assert sum("recovered after" in line for line in lines) == 1


def test_sigterm_asks_the_worker_to_stop_and_waits_end_early():
    flag = StopFlag()
    with ending_on_signals(flag):
        os.kill(os.getpid(), signal.SIGTERM)
        started = time.monotonic()
        assert flag.wait(30.0) is True
        assert time.monotonic() - started < 5.0
    assert flag()
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back


def test_readiness_names_the_municipality_whose_key_is_missing(sqlite_settings):
    world = build_world(sqlite_settings)
    try:
        readiness = Readiness(world.services, interval=3600)
        assert readiness.probe().ready
        provider = world.services.key_provider
        key_file = provider._path(municipality_space(CITY_B))
        kept = key_file.read_bytes()
        key_file.unlink()
        verdict = readiness.probe()
        assert not verdict.ready
        assert verdict.body() == {"status": "unavailable",
                                  "checks": {"database": "ok", "keys": "missing",
                                             "storage": "ok"},
                                  "tenantsWithoutKey": [CITY_B]}
        key_file.write_bytes(kept)
        assert readiness.probe().ready
    finally:
        world.services.close()


def test_one_tenants_failure_does_not_hold_the_others_back(sqlite_settings, monkeypatch, caplog):
    from yorisoi.infra import worker

    world = build_world(sqlite_settings)
    try:
        done: list[str] = []
        catch_up = worker.catch_up

        def broken_for_a(services: Any, code: str) -> int:
            if code == CITY_A:
                raise KeyError("a bad row")
            done.append(code)
            return catch_up(services, code)

        monkeypatch.setattr(worker, "catch_up", broken_for_a)
        caplog.set_level(logging.ERROR, logger="yorisoi.worker")
        worker.catch_up_all(world.services, skip_failed=True)
        assert done == [CITY_B]
        assert any(CITY_A in r.getMessage() and "KeyError" in r.getMessage()
                   for r in caplog.records)
        assert not any("a bad row" in r.getMessage() for r in caplog.records)
        with pytest.raises(KeyError):  # `worker --once` and the tests still see it
            worker.catch_up_all(world.services)
    finally:
        world.services.close()


def test_a_missing_key_file_answers_503_not_a_masked_bug(sqlite_settings):
    world = build_world(sqlite_settings)
    try:
        app = create_app(world.services.settings, world.services)
        key_file = world.services.key_provider._path(municipality_space(CITY_A))
        kept = key_file.read_bytes()
        with TestClient(app) as client:
            key_file.unlink()
            try:
                body = _unavailable(client.post("/graphql", json={
                    "query": RECORD, "variables": {"input": consultation_input()}},
                    headers=npo(world)))
                assert body["errors"][0]["extensions"]["code"] == "service_unavailable"
                deadline = time.monotonic() + 30  # the next background probe names it
                while client.get("/readyz").json().get("tenantsWithoutKey") != [CITY_A]:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            finally:
                key_file.write_bytes(kept)
            written = client.post("/graphql", json={
                "query": RECORD, "variables": {"input": consultation_input()}},
                headers=npo(world))
            assert written.json()["data"]["recordConsultation"]["__typename"] == \
                "ConsultationRecorded"
    finally:
        world.services.close()


@pytest.mark.postgres
def test_no_connection_killed_by_the_server_is_handed_out(pg_world, pg_cluster, caplog):
    app = create_app(pg_world.services.settings, pg_world.services)
    settings = pg_world.services.settings
    caplog.set_level(logging.WARNING, logger="yorisoi.outages")
    with TestClient(app) as client:
        def cases() -> Any:
            return client.post("/graphql", json={
                "query": CASES, "variables": {"code": CITY_A, "first": 5}},
                headers=supervisor(pg_world))

        assert cases().status_code == 200  # the pools hold connections now
        with pg_cluster.connect(settings.pg_dbname, "superuser", autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE usename = %s AND datname = %s AND pid <> pg_backend_pid()",
                (settings.pg_user, settings.pg_dbname)).fetchone()[0]
        assert killed >= 1
        for _ in range(3):
            answer = cases()
            assert answer.status_code == 200, answer.text
            assert "errors" not in answer.json(), answer.text
    assert not database_circuit(settings).is_open
    assert not any("unreachable" in r.getMessage() for r in caplog.records)


def _console_sign_in(client: Any, kind: str, org: str, subject: str, role: str,
                     sites: tuple[str, ...] = ()) -> None:
    """The console's round trip through the development issuer's pages (as a person does)."""
    import re
    from urllib.parse import parse_qs, urlsplit

    authorize = client.get(f"/console/login/start?kind={kind}&org={org}").headers["location"]
    page = client.get(authorize)
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    chosen = client.post(urlsplit(authorize).path, data={
        **params, "csrf": csrf, "subject": subject, "role": role, "sites": ",".join(sites)})
    assert client.get(chosen.headers["location"]).status_code == 303


@pytest.mark.postgres
def test_a_console_page_answers_its_503_page_while_the_database_is_down(pg_world, held_open):
    app = create_app(pg_world.services.settings, pg_world.services)
    # A browser on the loopback address (the console's cookies are for it).
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        _console_sign_in(client, "contractor", "npo-hidamari", "npo-staff-1", "specialist",
                         ("a-hiroba",))
        assert client.get(f"/console/m/{CITY_A}/cases").status_code == 200
        held_open()
        page = client.get(f"/console/m/{CITY_A}/cases")
        assert page.status_code == 503, page.text[:500]
        assert int(page.headers["retry-after"]) >= 1
        assert page.headers["content-type"].startswith("text/html")
        assert "一時的に利用できません" in page.text
        assert not any(word in page.text.lower() for word in INTERNAL)


def test_readiness_logs_a_failing_check_once_and_its_return(sqlite_settings, monkeypatch,
                                                             caplog):
    world = build_world(sqlite_settings)
    try:
        readiness = Readiness(world.services, interval=3600)
        caplog.set_level(logging.WARNING, logger="yorisoi.readiness")

        def down(key: str) -> bool:
            raise ConnectionError("http://secret-endpoint:9000 refused")

        monkeypatch.setattr(world.services.objects, "exists", down)
        verdicts = [readiness.probe() for _ in range(3)]
        assert all(v.body()["checks"]["storage"] == "unavailable" for v in verdicts)
        monkeypatch.undo()
        assert readiness.probe().ready
        lines = [r.getMessage() for r in caplog.records]
        assert lines == ["readiness: object storage did not answer (ConnectionError)",
                         "readiness: storage ok again"]
    finally:
        world.services.close()
