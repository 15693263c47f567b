"""The per-tenant runtime cache: cost follows active tenants, not registered ones."""

from __future__ import annotations

import threading
import time

import pytest

from yorisoi.projections.case_queries import CaseScope
from yorisoi.tenants.runtime import TenantRuntime, TenantRuntimes

CITY_A, CITY_B = "131016", "141003"
pg_only = pytest.mark.parametrize("backend_settings", ["postgres"], indirect=True)
sqlite_only = pytest.mark.parametrize("backend_settings", ["sqlite"], indirect=True)


def _runtimes(world, **update: object) -> TenantRuntimes:
    settings = world.services.settings.model_copy(update=update)
    return TenantRuntimes(settings, world.services.key_provider)


def _query(rt: TenantRuntime) -> int:
    return rt.cases.page(CaseScope(), first=5).total_count


def _app_connections(pg_cluster, dbname: str) -> int:
    with pg_cluster.connect("postgres", "superuser") as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'yorisoi_app'"
            " AND datname = %s", (dbname,)).fetchone()[0]


def _settles_at(pg_cluster, dbname: str, expected: int, timeout: float = 5.0) -> int:
    """The app role's connection count, once it reaches ``expected`` (a backend exits async)."""
    deadline = time.monotonic() + timeout
    while (count := _app_connections(pg_cluster, dbname)) != expected:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return count


def _is_closed(rt: TenantRuntime) -> bool:
    try:
        _query(rt)
    except Exception:  # noqa: BLE001 - any failure means the runtime is closed
        return True
    return False


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


@pg_only
def test_idle_tenant_holds_no_connection_or_thread_once_swept(world, pg_cluster, pg_database):
    runtimes = _runtimes(world, tenant_idle_seconds=0.01, max_active_tenants=1)
    baseline = _app_connections(pg_cluster, pg_database)
    threads_before = _threads()
    try:
        with runtimes.lease(CITY_A) as rt:
            assert _query(rt) == 0
            assert _app_connections(pg_cluster, pg_database) == baseline + 1
            assert _threads() - threads_before  # the open pool runs its worker threads
        time.sleep(0.05)
        runtimes.sweep()
        assert runtimes.active() == []
        assert rt.evicted and _is_closed(rt)
        assert _settles_at(pg_cluster, pg_database, baseline) == baseline
        deadline = time.monotonic() + 5
        while _threads() - threads_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not (_threads() - threads_before), _threads() - threads_before
    finally:
        runtimes.close()


@pg_only
def test_leasing_another_tenant_closes_the_idle_one_and_its_connection(world, pg_cluster,
                                                                       pg_database):
    runtimes = _runtimes(world, tenant_idle_seconds=0.01, max_active_tenants=1)
    baseline = _app_connections(pg_cluster, pg_database)
    try:
        with runtimes.lease(CITY_A) as first:
            _query(first)
        time.sleep(0.05)
        with runtimes.lease(CITY_B) as second:
            _query(second)
            assert runtimes.active() == [CITY_B]
            assert _is_closed(first)
            assert _settles_at(pg_cluster, pg_database, baseline + 1) == baseline + 1
    finally:
        runtimes.close()
    assert _settles_at(pg_cluster, pg_database, baseline) == baseline


@sqlite_only
def test_max_active_tenants_bounds_open_runtimes_evicting_the_least_recently_used(world):
    runtimes = _runtimes(world, tenant_idle_seconds=3600, max_active_tenants=2)
    d = world.services.directory
    from yorisoi.infra.wiring.bootstrap import OPERATOR
    from yorisoi.services.context import acting_as

    with acting_as(OPERATOR):
        d.provision_municipality(code="271004", name="大阪市", prefecture="大阪府")
    try:
        seen = {}
        for code in (CITY_A, CITY_B, CITY_A, "271004"):
            with runtimes.lease(code) as rt:
                _query(rt)
                seen.setdefault(code, rt)
            assert len(runtimes.active()) <= 2
        # CITY_B was least recently used when the third tenant arrived.
        assert runtimes.active() == [CITY_A, "271004"]
        assert _is_closed(seen[CITY_B]) and not _is_closed(seen[CITY_A])
        # Leasing CITY_B again opens a new runtime over the same data.
        with runtimes.lease(CITY_B) as again:
            assert again is not seen[CITY_B]
            assert _query(again) == 0
        assert runtimes.active() == ["271004", CITY_B]
    finally:
        runtimes.close()
    assert all(_is_closed(rt) for rt in seen.values())


@sqlite_only
def test_same_tenant_leased_twice_shares_one_runtime(world):
    runtimes = _runtimes(world)
    try:
        with runtimes.lease(CITY_A) as a1, runtimes.lease(CITY_A) as a2:
            assert a1 is a2 and a1.leases == 2
        assert a1.leases == 0 and not _is_closed(a1)
    finally:
        runtimes.close()


@pytest.mark.parametrize("backend_settings", ["sqlite", "postgres"], indirect=True)
def test_runtime_leased_by_a_request_is_not_closed_while_leased_even_if_evicted(world):
    runtimes = _runtimes(world, tenant_idle_seconds=0.01, max_active_tenants=1)
    try:
        with runtimes.lease(CITY_A) as first:
            _query(first)
            with runtimes.lease(CITY_B) as second:
                _query(second)
                assert runtimes.active() == [CITY_B]
                assert first.evicted
                assert not _is_closed(first)  # the request still uses it
            time.sleep(0.05)
            runtimes.sweep()  # even a sweep leaves a leased runtime alone
            assert not _is_closed(first)
            assert _query(first) == 0
        # Released: now it closes.
        assert _is_closed(first)
    finally:
        runtimes.close()


@sqlite_only
def test_leased_runtime_is_not_swept_as_idle(world):
    runtimes = _runtimes(world, tenant_idle_seconds=0.01, max_active_tenants=5)
    try:
        with runtimes.lease(CITY_A) as rt:
            time.sleep(0.05)
            runtimes.sweep()
            assert runtimes.active() == [CITY_A]
            assert not rt.evicted and not _is_closed(rt)
        time.sleep(0.05)
        runtimes.sweep()
        assert runtimes.active() == [] and _is_closed(rt)
    finally:
        runtimes.close()


@sqlite_only
def test_closing_the_cache_closes_idle_runtimes_and_defers_leased_ones(world):
    runtimes = _runtimes(world)
    with runtimes.lease(CITY_B) as idle:
        _query(idle)
    with runtimes.lease(CITY_A) as busy:
        runtimes.close()
        assert _is_closed(idle)
        assert not _is_closed(busy)
    assert _is_closed(busy)
