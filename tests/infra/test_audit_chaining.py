"""The ledgers are kept in the background: by the embedded server's lifespan and by the worker."""

from __future__ import annotations

import time
from typing import Any

from audit_world import CITY_A, counts, ledger, log_reads
from fastapi.testclient import TestClient
from world import build_world

from yorisoi.infra.audit_ledger_store import PLATFORM_LEDGER, ledger_transaction
from yorisoi.infra.http.app import create_app
from yorisoi.infra.worker import run_worker


def _platform_entries(services: Any) -> int:
    with ledger_transaction(services.directory.platform.database, write=False) as cur:
        return int(cur.execute("SELECT COUNT(*) AS n FROM {s}audit_ledger").fetchone()["n"])


def _checkpoints(services: Any, tenant: str) -> list[str]:
    root = services.settings.data_dir / "audit-checkpoints" / tenant
    return sorted(p.name for p in root.glob("*.json")) if root.is_dir() else []


def _until(condition: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_the_embedded_server_chains_reads_and_checkpoints_on_its_own(sqlite_settings):
    # A newcomer's instance: SQLite, no worker, the development environment.
    world = build_world(sqlite_settings.model_copy(update={"environment": "development"}))
    services = world.services
    try:
        with TestClient(create_app(services.settings, services)):
            with services.runtimes.lease(CITY_A) as rt:
                log_reads(rt, 5)  # what reads write; no command follows to chain them
                assert _until(lambda: len(ledger(rt)) == sum(counts(rt)))
            assert _until(lambda: _checkpoints(services, CITY_A) != [])
            assert _until(lambda: _checkpoints(services, PLATFORM_LEDGER) != [])
            assert _platform_entries(services) > 0
    finally:
        services.close()


def test_the_app_leaves_chaining_to_the_worker_in_tests_and_on_postgresql(world):
    services = world.services  # environment "test" (both backends)
    with TestClient(create_app(services.settings, services)):
        with services.runtimes.lease(CITY_A) as rt:
            log_reads(rt, 2)
            time.sleep(0.5)
            assert ledger(rt) == []


def test_the_worker_chains_access_rows_that_no_event_announced(world):
    services = world.services
    with services.runtimes.lease(CITY_A) as rt:
        calls = {"n": 0}

        def stop() -> bool:
            calls["n"] += 1
            if calls["n"] == 2:  # the worker is running: a request reads and logs
                log_reads(rt, 3)
            return len(ledger(rt)) == 3 or calls["n"] > 200

        run_worker(services, poll_seconds=0.05, chain_seconds=0.0, stop=stop)
        assert len(ledger(rt)) == 3
    assert _platform_entries(services) > 0
