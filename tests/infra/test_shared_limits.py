"""Limits that hold across processes: two app instances (two ``Services`` on one database,
as two API processes would be) share rate-limit buckets and console sign-outs.

On PostgreSQL and on SQLite (the platform file every process of an embedded deployment
opens).  The clock is injected and shared by both instances, so refills need no sleeps.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from yorisoi.infra.http.app import create_app
from yorisoi.infra.identity import IssuerRegistration
from yorisoi.infra.rate_limits import RATE_LIMIT_TABLE, Rate, SharedRateLimiter
from yorisoi.infra.wiring.bootstrap import OPERATOR, Services
from yorisoi.services.context import acting_as

CONSOLE_DIR = Path(__file__).parents[1] / "console"


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def two_processes(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One provisioned world; two Services and two apps over its database."""
    from world import build_world

    from yorisoi.infra.settings import Settings

    data_dir = tmp_path_factory.mktemp(f"shared-{request.param}")
    dbname = None
    common = {"data_dir": data_dir, "environment": "test", "rate_limits": True}
    if request.param == "sqlite":
        settings = Settings(backend="sqlite", **common)
    else:
        cluster = request.getfixturevalue("pg_cluster")
        dbname = cluster.create_database(f"t_shared_{uuid.uuid4().hex[:12]}")
        settings = Settings(
            backend="postgres", pg_host=cluster.host, pg_port=cluster.port, pg_dbname=dbname,
            pg_user=cluster.app_user, pg_password=cluster.app_password,
            pg_admin_user=cluster.owner_user, pg_admin_password=cluster.owner_password,
            **common)
    world = build_world(settings)
    second = Services(world.services.settings)
    apps = [create_app(world.services.settings, world.services),
            create_app(second.settings, second)]
    try:
        with TestClient(apps[0], base_url="http://127.0.0.1", follow_redirects=False) as a, \
                TestClient(apps[1], base_url="http://127.0.0.1", follow_redirects=False) as b:
            yield {"world": world, "apps": apps, "clients": (a, b), "backend": request.param}
    finally:
        second.close()
        world.services.close()
        if dbname is not None:
            request.getfixturevalue("pg_cluster").drop_database(dbname)


def _limiters(env: dict[str, Any], principal: Rate, tenant: Rate) -> Clock:
    """Each app gets its own shared limiter (its own Services' database), one clock."""
    clock = Clock()
    for app in env["apps"]:
        services = app.state.services
        app.state.rate_limiter = SharedRateLimiter(
            principal=principal, tenant=tenant, clock=clock, settings=services.settings,
            database=lambda s=services: s.directory.platform.database)
    return clock


def _ask(client: TestClient, headers: dict[str, str]) -> Any:
    return client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)


def _headers(env: dict[str, Any], subject: str, tenant: str = "131016") -> dict[str, str]:
    return env["world"].headers("municipality", tenant, subject=subject,
                                roles=("municipal_supervisor",))


def test_the_apps_build_the_shared_limiter_by_default(two_processes) -> None:
    settings = two_processes["world"].services.settings
    assert settings.rate_limit_store == "database"
    fresh = create_app(settings, two_processes["world"].services)
    assert isinstance(fresh.state.rate_limiter, SharedRateLimiter)


def test_a_principal_limit_holds_across_two_processes(two_processes) -> None:
    env = two_processes
    clock = _limiters(env, principal=Rate(1.0, 4), tenant=Rate(1e6, 10**6))
    a, b = env["clients"]
    headers = _headers(env, f"busy-{uuid.uuid4().hex[:6]}")
    answers = [_ask(client, headers) for client in (a, b, a, b)]
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    # Per process, each has had only two: the fifth and sixth are refused by both.
    for client in (a, b):
        refused = _ask(client, headers)
        assert refused.status_code == 429, refused.text
        assert refused.json()["detail"]["limit"] == "principal"
        assert int(refused.headers["Retry-After"]) >= 1
    # A colleague of the same tenant is not affected.
    assert _ask(b, _headers(env, f"calm-{uuid.uuid4().hex[:6]}")).status_code == 200
    # One second later one token is back, usable from either process once.
    clock.now += 1.0
    assert _ask(b, headers).status_code == 200
    assert _ask(a, headers).status_code == 429


def test_a_tenant_limit_holds_across_processes_and_a_refusal_takes_nothing(
        two_processes) -> None:
    env = two_processes
    clock = _limiters(env, principal=Rate(0.001, 3), tenant=Rate(1.0, 4))
    a, b = env["clients"]
    tenant = "141003"
    one, two = (_headers(env, f"staff-{uuid.uuid4().hex[:6]}", tenant) for _ in range(2))
    assert [_ask(c, h).status_code for c, h in ((a, one), (b, two), (a, two), (b, one))] \
        == [200] * 4
    refused = _ask(a, one)
    assert refused.status_code == 429 and refused.json()["detail"]["limit"] == "tenant"
    # The tenant refused it, so `one` kept its third token: with one tenant token back,
    # `one` is admitted (its own bucket still had one), then refused by its own limit.
    clock.now += 1.0
    assert _ask(b, one).status_code == 200
    clock.now += 1.0
    assert _ask(a, one).status_code == 429
    assert _ask(a, one).json()["detail"]["limit"] == "principal"


def test_buckets_name_no_one_and_full_ones_are_forgotten(two_processes) -> None:
    env = two_processes
    clock = _limiters(env, principal=Rate(10.0, 5), tenant=Rate(1e6, 10**6))
    a, _ = env["clients"]
    subject = f"private-subject-{uuid.uuid4().hex[:6]}"
    assert _ask(a, _headers(env, subject)).status_code == 200
    db = env["world"].services.directory.platform.database
    rows = db.select(f"SELECT bucket FROM {{s}}{RATE_LIMIT_TABLE}")
    assert rows and not any(subject in row["bucket"] or "131016" in row["bucket"]
                            for row in rows)
    # An hour on, every bucket is full again: the next request's purge deletes them.
    clock.now += 3600
    limiter = env["apps"][0].state.rate_limiter
    limiter._next_purge = 0.0
    assert _ask(a, _headers(env, f"later-{uuid.uuid4().hex[:6]}")).status_code == 200
    left = db.select(f"SELECT bucket FROM {{s}}{RATE_LIMIT_TABLE}")
    assert len(left) <= 2, left  # only the request just made (principal and tenant)


def test_an_unreachable_store_admits_and_says_so_once(caplog) -> None:
    def down() -> Any:
        raise OSError("connection refused")

    limiter = SharedRateLimiter(principal=Rate(1.0, 1), tenant=Rate(1.0, 1), database=down)
    from yorisoi.infra.metrics import metrics, note_outage

    try:
        with caplog.at_level("WARNING", logger="yorisoi.rate_limits"):
            assert all(limiter.take(principal=f"x:{i}", tenant="t") is None for i in range(3))
        assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
        assert metrics().outages["database"] == 1  # the outage gauge says so too
    finally:
        note_outage("database", False)  # this process's gauge, for the tests after this one


def test_a_session_signed_out_on_one_process_is_refused_on_the_other(
        two_processes) -> None:
    import sys

    sys.path.insert(0, str(CONSOLE_DIR))
    from console_steps import csrf_of, sign_in

    from yorisoi.infra.console.session import SESSION_COOKIE

    env = two_processes
    _limiters(env, principal=Rate(1e6, 10**6), tenant=Rate(1e6, 10**6))
    a, b = env["clients"]
    a.cookies.clear()
    b.cookies.clear()
    sign_in(a, "municipality", "131016", f"signed-{uuid.uuid4().hex[:6]}", "municipal_supervisor")
    cookie = a.cookies.get(SESSION_COOKIE)
    page = "/console/m/131016/cases"
    # The cookie opens the other process's pages as well (one sealing key)...
    b.cookies.set(SESSION_COOKIE, cookie)
    assert b.get(page).status_code == 200
    # ...until it is signed out on the first one.
    form = a.get(page)
    assert form.status_code == 200
    out = a.post("/console/logout", data={"csrf": csrf_of(form.text)})
    assert out.status_code == 303
    replay = b.get(page)
    assert replay.status_code == 303, replay.text
    assert replay.headers["location"].startswith("/console/login")
    a.cookies.set(SESSION_COOKIE, cookie)
    assert a.get(page).status_code == 303


def test_a_database_that_is_down_costs_one_connect_a_second(tmp_path, monkeypatch) -> None:
    import socket

    import psycopg

    from yorisoi.infra.db import Database
    from yorisoi.infra.settings import Settings

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(backend="postgres", pg_port=port, data_dir=tmp_path,
                        environment="test")
    platform = Database(None, "postgres", "platform", "platform")
    limiter = SharedRateLimiter(principal=Rate(1.0, 1), tenant=Rate(1.0, 1),
                                database=lambda: platform, settings=settings)
    attempts: list[int] = []
    connect = psycopg.connect

    def counted(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        return connect(*args, **kwargs)

    monkeypatch.setattr(psycopg, "connect", counted)
    # Every request is admitted; only the first tries to connect (then one a second).
    assert [limiter.take(principal=f"p:{i}", tenant="t") for i in range(5)] == [None] * 5
    assert len(attempts) == 1


def _tokens(env: dict[str, Any], limit: str, key: str) -> float | None:
    from yorisoi.infra.rate_limits import _bucket_id

    db = env["world"].services.directory.platform.database
    rows = db.select(f"SELECT tokens FROM {{s}}{RATE_LIMIT_TABLE} WHERE bucket = %s",
                     [_bucket_id(limit, key)])
    return float(rows[0]["tokens"]) if rows else None


def _remembered(env: dict[str, Any], registration: Any) -> None:
    """Put ``registration`` in the first app's registry memory, as if read before a change
    that the database has since seen (what a registration changed or withdrawn by
    another process leaves behind)."""
    registry = env["apps"][0].state.services.directory.registry
    with registry._lock:
        registry._answers[("issuer", registration.issuer)] = registration


def _moved(env: dict[str, Any]) -> None:
    """Another process changes the registry (its version moves)."""
    with acting_as(OPERATOR):
        env["apps"][1].state.services.directory.provision_contractor(
            contractor_id=f"npo-{uuid.uuid4().hex[:8]}", name="NPO法人 つぎ")


@pytest.fixture
def guessing(two_processes) -> Iterator[tuple[dict[str, Any], TestClient]]:
    """The first app with the issuer of 141003 in memory, on PostgreSQL (SQLite caches
    nothing, so nothing is guessed there)."""
    env = two_processes
    if env["backend"] != "postgres":
        pytest.skip("the registry is cached on PostgreSQL only")
    clock = _limiters(env, principal=Rate(0.001, 5), tenant=Rate(0.001, 50))
    # Later than every other test's clock (these run last in the module): buckets the
    # others left half-empty have long refilled.
    clock.now += 1e6
    a, _ = env["clients"]
    assert _ask(a, _headers(env, f"warm-{uuid.uuid4().hex[:6]}", "141003")).status_code == 200
    yield env, a


def test_a_guess_on_a_stale_registration_charges_the_right_tenant(guessing) -> None:
    """The token is verified against the registry as this process last saw it, and its
    buckets charged by the statement that reads the registry's version.  When the
    version moved and the full check names another principal, the guess's tokens go
    back and the right buckets are charged."""
    env, a = guessing
    dev = env["world"].services.dev_issuer
    subject = f"guessed-{uuid.uuid4().hex[:6]}"
    headers = _headers(env, subject, "141003")
    right, wrong = f"municipality:141003:{subject}", f"municipality:131016:{subject}"
    wrong_tenant = _tokens(env, "tenant", "municipality:131016")
    stale = dev.registration_for("municipality", "141003")
    _remembered(env, IssuerRegistration(  # the issuer as once registered for another city
        issuer=stale.issuer, audience=stale.audience, tenant_kind="municipality",
        tenant_id="131016", jwks=stale.jwks))
    _moved(env)
    assert _ask(a, headers).status_code == 200
    assert _tokens(env, "principal", wrong) == 5.0  # given back
    assert _tokens(env, "tenant", "municipality:131016") == (wrong_tenant or 50.0)
    assert _tokens(env, "principal", right) == 4.0
    # From here on the registry is current: verified, charged once, one statement.
    assert _ask(a, headers).status_code == 200
    assert _tokens(env, "principal", right) == 3.0


def test_a_guess_on_a_withdrawn_issuer_charges_the_address(guessing) -> None:
    """A token whose issuer this process remembers but the registry no longer has is
    answered 401 and charged to its address, like any token that fails its check."""
    env, a = guessing
    dev = env["world"].services.dev_issuer
    ghost = f"npo-ghost-{uuid.uuid4().hex[:6]}"
    subject = f"ghost-staff-{uuid.uuid4().hex[:6]}"
    headers = env["world"].headers("contractor", ghost, subject=subject, roles=("specialist",))
    _remembered(env, dev.registration_for("contractor", ghost))
    address = _tokens(env, "client", "testclient")
    _moved(env)
    refused = _ask(a, headers)
    assert refused.status_code == 401, refused.text
    assert refused.json()["detail"]["code"] == "issuer_unknown"
    assert _tokens(env, "principal", f"contractor:{ghost}:{subject}") == 5.0  # given back
    assert _tokens(env, "tenant", f"contractor:{ghost}") == 50.0
    assert _tokens(env, "client", "testclient") == (address or 5.0) - 1.0


def test_a_console_page_is_charged_to_its_person_with_the_registry_checked_along(
        guessing, monkeypatch) -> None:
    """A console page's session token is guessed like a bearer token: one platform
    statement charges the person's buckets, checks the registry for the page and checks
    the session against sign-outs made by other processes."""
    import sys

    sys.path.insert(0, str(CONSOLE_DIR))
    from console_steps import csrf_of, sign_in

    from yorisoi.infra.console.session import SESSION_COOKIE
    from yorisoi.infra.session_revocations import SessionRevocations

    env, a = guessing
    b = env["clients"][1]
    subject = f"console-{uuid.uuid4().hex[:6]}"
    person = f"municipality:141003:{subject}"
    a.cookies.clear()
    b.cookies.clear()
    sign_in(a, "municipality", "141003", subject, "municipal_supervisor")
    page = "/console/m/141003/cases"
    assert a.get(page).status_code == 200
    registry = env["apps"][0].state.services.directory.registry
    checks: list[str] = []
    version, is_revoked = registry._current_version, SessionRevocations.is_revoked
    monkeypatch.setattr(registry, "_current_version",
                        lambda: checks.append("version") or version())
    monkeypatch.setattr(SessionRevocations, "is_revoked",
                        lambda self, sid: checks.append("sign-out") or is_revoked(self, sid))
    before = _tokens(env, "principal", person)
    assert before is not None
    form = a.get(page)
    assert form.status_code == 200
    assert _tokens(env, "principal", person) == before - 1
    assert checks == []  # the version and the sign-out check came with the charge

    # Signed out through the other process: the cookie replayed here is refused, and the
    # charge made on the guess goes back — the address pays, as for any anonymous page.
    cookie = a.cookies.get(SESSION_COOKIE)
    b.cookies.set(SESSION_COOKIE, cookie)
    assert b.post("/console/logout", data={"csrf": csrf_of(form.text)}).status_code == 303
    address, left = _tokens(env, "client", "testclient"), _tokens(env, "principal", person)
    checks.clear()  # (the other process, its registry cold, checked the sign-out itself)
    replay = a.get(page)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/console/login")
    assert _tokens(env, "principal", person) == left
    assert _tokens(env, "client", "testclient") == (address or 5.0) - 1.0
    assert checks == []
    a.cookies.clear()
    b.cookies.clear()
