"""The audit chain covers everything, always: the registry, the access log's tail, a fresh instance.

A single-byte change anywhere in a municipality's events, its access log or the
platform's registry events is found by ``audit verify`` (the same sources the
CLI builds: ``services/audit_verify.ledger_sources``), on SQLite and PostgreSQL.  Changes
are made as someone with access to the database would: on PostgreSQL as the
superuser with triggers off, on SQLite by opening the file and dropping the
append-only triggers.  Each change is undone before the next, and the ledger
is shown to verify again, so every case proves its own byte.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from audit_world import CITY_A, log_reads, record
from world import CITY_B

from yorisoi.infra.access_log_store import COLUMNS as ACCESS_COLUMNS
from yorisoi.infra.audit_ledger_store import PLATFORM_LEDGER, ledger_transaction
from yorisoi.infra.checkpoints import checkpoint_store
from yorisoi.infra.worker.audit_chaining import LedgerKeeper
from yorisoi.services.audit_ledger import AuditChainer
from yorisoi.services.audit_verify import VerificationReport, ledger_sources, online_source, verify


@pytest.fixture
def attacker_connect(world, request) -> Callable[[], Any]:
    """How someone with database access connects: PostgreSQL's superuser (triggers off)."""
    if world.services.settings.backend != "postgres":
        return lambda: None
    cluster, database = (request.getfixturevalue("pg_cluster"),
                         request.getfixturevalue("pg_database"))

    def connect() -> Any:
        conn = cluster.connect(database, "superuser", autocommit=True)
        conn.execute("SET session_replication_role = replica")
        return conn
    return connect


@pytest.fixture
def chained(world) -> Iterator[Any]:
    """A municipality with events and reads, its registry and its own ledger all chained."""
    with world.services.runtimes.lease(CITY_A) as rt:
        record(rt, 2)
        log_reads(rt, 3)
    assert LedgerKeeper(world.services).keep() > 0
    yield world


def report(world: Any, tenant: str | None = CITY_A) -> VerificationReport:
    services = world.services
    if tenant is None:
        return verify(ledger_sources(services, None), services.signer.public_pem)
    with services.runtimes.lease(tenant) as rt:
        return verify(ledger_sources(services, rt), services.signer.public_pem)


def platform_ledger(world: Any) -> list[dict[str, Any]]:
    db = world.services.directory.platform.database
    with ledger_transaction(db, write=False) as cur:
        return cur.execute("SELECT * FROM {s}audit_ledger ORDER BY sequence").fetchall()


# --------------------------------------------------------------------------- the registry


def test_the_registry_is_chained_with_the_tenants_each_entry_concerns(chained):
    rows = platform_ledger(chained)
    db = chained.services.directory.platform.database
    with db.transaction(write=False, lookup="platform") as cur:
        events = cur.execute("SELECT COUNT(*) AS n FROM {events}").fetchone()["n"]
    assert [r["sequence"] for r in rows] == list(range(1, events + 1))
    scopes = [r["scope"] for r in rows]
    assert '["131016","contractor:npo-hidamari"]' in scopes  # the contract of A with the NPO
    assert '["141003"]' in scopes and '["platform"]' in scopes
    whole = report(chained, None)
    assert whole.ok, whole.problems
    assert whole.sources_checked == events and whole.checkpoints_verified == 1
    own = report(chained)
    assert own.ok, own.problems
    assert own.registry is not None and own.registry.ok
    # A checks its own entries, its contractors' and the platform's — not B's.
    assert 0 < own.registry.sources_checked < events
    assert own.as_dict()["registry"]["concerning"] == CITY_A


def test_a_registry_entry_is_checked_by_the_municipalities_it_concerns_only(
        chained, attacker_connect):
    rows = platform_ledger(chained)
    b_only = next(r for r in rows if r["scope"] == '["141003"]')
    with tamper(chained, "platform", attacker_connect) as change:
        change("event", b_only["source_id"], "state", 40)
        assert not report(chained, None).ok  # the whole registry: found
        assert not report(chained, CITY_B).ok  # B depends on it: found
        a = report(chained, CITY_A)  # not A's entry: its links hold, its bytes are B's business
        assert a.ok, a.registry.problems if a.registry else a.problems


def test_moving_a_contract_end_date_by_one_byte_fails_verification(chained, attacker_connect):
    db = chained.services.directory.platform.database
    with db.transaction(write=False, lookup="platform") as cur:
        key = "notification_id" if db.dialect == "postgres" else "rowid"
        row = cur.execute(f"SELECT {key} AS id, state FROM {{events}} WHERE topic LIKE"
                          " %s ORDER BY 1 LIMIT 1", ("%Contract.Signed",)).fetchone()
    state = bytes(row["state"])
    at = state.index(b'"ends_on"')
    at = state.index(b'"_data_":"', at) + len(b'"_data_":"') + 9  # the day's last digit
    with tamper(chained, "platform", attacker_connect) as change:
        change("event", int(row["id"]), "state", at)
        for tenant in (None, CITY_A):
            found = report(chained, tenant)
            problems = found.problems if tenant is None else found.registry.problems
            assert not found.ok and problems[0].code == "source_changed"
    assert report(chained).ok


# --------------------------------------------------------------------------- coverage


def test_unchained_access_rows_past_the_grace_period_are_a_finding(world):
    with world.services.runtimes.lease(CITY_A) as rt:
        record(rt)
        rt.catch_up_and_chain()
        log_reads(rt, 4)  # a read logs rows; nothing chains them on the request path
        db, pem = rt.casework.database, world.services.signer.public_pem
        fresh = verify(online_source(db, CITY_A, lambda: []), pem)
        assert fresh.ok and fresh.pending["access"] == 4  # seconds old: not yet a finding
        late = verify(online_source(db, CITY_A, lambda: [], grace=timedelta(0)), pem)
        assert [(p.code, p.kind) for p in late.problems] == [("unchained_tail", "access")]
        assert "4 access sources" in late.problems[0].detail
        LedgerKeeper(world.services).keep()  # chains them, and signs the first checkpoint
        store = checkpoint_store(world.services.settings, world.services)
        after = verify(online_source(db, CITY_A, lambda: store.copies(CITY_A),
                                     grace=timedelta(0)), pem)
        assert after.ok and after.checkpoints_verified == 1, after.problems


def test_the_keeper_chains_only_what_is_behind_and_writes_the_first_checkpoints(world):
    keeper = LedgerKeeper(world.services)
    keeper.keep()
    assert keeper.behind() == []
    with world.services.runtimes.lease(CITY_B) as rt:
        log_reads(rt, 2)
    assert keeper.behind() == [CITY_B]
    assert keeper.keep() == 2
    assert keeper.behind() == []
    assert report(world, CITY_A).ok  # nothing recorded yet: an empty ledger, its registry signed
    for tenant in (CITY_B, None):
        found = report(world, tenant)
        assert found.ok and found.checkpoints_verified == 1, found.problems


def test_the_registry_ledger_is_append_only_and_hidden_outside_a_platform_lookup(chained):
    db = chained.services.directory.platform.database
    for statement in ("UPDATE {s}audit_ledger SET scope = '[]' WHERE sequence = 1",
                      "DELETE FROM {s}audit_ledger WHERE sequence = 1"):
        with pytest.raises(Exception, match="append-only|permission denied"):
            with ledger_transaction(db) as cur:
                cur.execute(statement)
    if db.dialect == "postgres":  # row-level security: no scope declared, no rows
        with db.transaction(write=False) as cur:
            assert cur.execute("SELECT COUNT(*) AS n FROM {s}audit_ledger").fetchone()["n"] == 0
        with db.transaction(write=False, tenant=CITY_A) as cur:
            assert cur.execute("SELECT COUNT(*) AS n FROM {s}audit_ledger").fetchone()["n"] == 0
    assert len(platform_ledger(chained)) > 0


# --------------------------------------------------------------------------- every byte


def _positions(length: int, most: int = 8) -> list[int]:
    step = max(1, length // most)
    return sorted({*range(0, length, step), length - 1})


def test_a_single_byte_change_anywhere_is_detected(chained, attacker_connect):
    """Every chained column of events, access rows and registry events; many rows and bytes."""
    services = chained.services
    with services.runtimes.lease(CITY_A) as rt:
        tenant_db, space = rt.casework.database, rt.space
    platform_db = services.directory.platform.database
    cases: list[tuple[tuple[str | None, ...], str, str, int, str, int]] = []
    for where, db in ((space, tenant_db), (PLATFORM_LEDGER, platform_db)):
        rows = _ledger_rows(db)
        for entry in rows[:: max(1, len(rows) // 6)] + rows[-1:]:
            kind, source = entry["kind"], int(entry["source_id"])
            # Who must notice: the municipality for its own ledger; for the registry,
            # --platform always, and A when the entry concerns A.
            verifiers: tuple[str | None, ...] = (
                (CITY_A,) if where == space else
                (None, CITY_A) if CITY_A in (entry.get("scope") or "") else (None,))
            for column, value in _chained_columns(db, kind, source).items():
                size = len(value) if isinstance(value, bytes | str) else 1
                for at in (_positions(size) if column == "state" else sorted({0, size - 1})):
                    cases.append((verifiers, where, kind, source, column, at))
    assert {c[4] for c in cases} >= {*ACCESS_COLUMNS, "entry_id", "originator_id",
                                     "originator_version", "topic", "state"}
    assert len(cases) > 100
    for verifiers, where, kind, source, column, at in cases:
        with tamper(chained, where, attacker_connect) as change:
            change(kind, source, column, at)
            for tenant in verifiers:
                found = report(chained, tenant)
                assert not found.ok, (where, kind, source, column, at, tenant)
    assert report(chained).ok and report(chained, None).ok


def _ledger_rows(db: Any) -> list[dict[str, Any]]:
    with ledger_transaction(db, write=False) as cur:
        return cur.execute("SELECT * FROM {s}audit_ledger ORDER BY sequence").fetchall()


def _chained_columns(db: Any, kind: str, source: int) -> dict[str, Any]:
    """The stored values the ledger hashes for one source, by column."""
    postgres = db.dialect == "postgres"
    with ledger_transaction(db, write=False) as cur:
        if kind == "event":
            key = "notification_id" if postgres else "rowid"
            row = cur.execute(f"SELECT originator_id, originator_version, topic, state FROM"
                              f" {{events}} WHERE {key} = %s", (source,)).fetchone()
            return {"originator_id": str(row["originator_id"]),
                    "originator_version": row["originator_version"], "topic": row["topic"],
                    "state": bytes(row["state"]), key: source}
        row = cur.execute("SELECT * FROM {s}access_log WHERE entry_id = %s",
                          (source,)).fetchone()
        return {column: row[column] for column in ("entry_id", *ACCESS_COLUMNS)}


def _flip(value: Any, at: int, column: str) -> Any:
    """``value`` with one byte changed (text stays valid UTF-8; a key moves to a free id)."""
    if value is None:
        return "0"  # a column left empty filled in afterwards
    if column in {"entry_id", "notification_id", "rowid"}:
        return int(value) + 1_000_000
    if isinstance(value, int):
        return value + 1000  # not onto another version of the aggregate
    if isinstance(value, bytes):
        data = bytearray(value)
        data[at] ^= 1
        return bytes(data)
    data = bytearray(str(value).encode())
    ascii_at = next((i for i in [at, *range(len(data))] if data[i] < 0x80), at)
    data[ascii_at] ^= 1 if chr(data[ascii_at] ^ 1).isprintable() else 2
    return data.decode()


@contextmanager
def tamper(world: Any, space: str, attacker_connect: Callable[[], Any]
           ) -> Iterator[Callable[[str, int, str, int], None]]:
    """Change one stored value of ``space`` behind the application's back; undo it after."""
    settings = world.services.settings
    undo: list[tuple[str, Any, str, Any]] = []
    postgres = settings.backend == "postgres"
    events = "platform_events" if space == PLATFORM_LEDGER else "casework_events"
    if postgres:
        conn = attacker_connect()
        table = {"event": f'"{space}".{events}', "access": f'"{space}".access_log'}
        mark = "%s"
    else:
        conn = sqlite3.connect(settings.sqlite_dir / f"{space}.sqlite", isolation_level=None)
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                    " AND (tbl_name = 'stored_events' OR tbl_name = 'access_log')"
                                    ).fetchall():
            undo.append(("trigger", name, "", conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]))
            conn.execute(f"DROP TRIGGER {name}")
        table = {"event": "stored_events", "access": "access_log"}
        mark = "?"

    def key_of(kind: str) -> str:
        return "entry_id" if kind == "access" else ("notification_id" if postgres else "rowid")

    def change(kind: str, source: int, column: str, at: int) -> None:
        key = key_of(kind)
        original = conn.execute(f"SELECT {column} FROM {table[kind]} WHERE {key} = {mark}",
                                (source,)).fetchone()[0]
        if isinstance(original, memoryview):
            original = bytes(original)
        value = _flip(original if not isinstance(original, UUID) else str(original), at, column)
        if column == "originator_id" and postgres:
            value = _flip_uuid(str(original), at)
        conn.execute(f"UPDATE {table[kind]} SET {column} = {mark} WHERE {key} = {mark}",
                     (value, source))
        moved = value if column == key else source
        undo.append((table[kind], moved, column, (key, original)))

    try:
        yield change
    finally:
        for where, row_key, column, saved in reversed(undo):
            if where == "trigger":
                conn.execute(saved)
                continue
            key, original = saved
            conn.execute(f"UPDATE {where} SET {column} = {mark} WHERE {key} = {mark}",
                         (original, row_key))
        conn.close()


def _flip_uuid(text: str, at: int) -> str:
    digits = text.replace("-", "")
    i = at % len(digits)
    flipped = digits[:i] + format(int(digits[i], 16) ^ 1, "x") + digits[i + 1:]
    return str(UUID(flipped))


def test_build_world_names_the_chainer_of_the_registry(world):
    chainer = AuditChainer(world.services.directory.platform.database, PLATFORM_LEDGER)
    assert chainer.platform and chainer.chain() > 0 and chainer.chain() == 0


def test_an_existing_platform_gets_its_ledger_from_platform_init(world, attacker_connect):
    """A platform space from before this change: the keeper goes on; ``platform init`` adds it."""
    from yorisoi.infra.wiring.bootstrap import init_platform

    settings = world.services.settings
    if settings.backend == "postgres":
        conn = attacker_connect()
        conn.execute("DROP TABLE platform.audit_ledger, platform.audit_checkpoints")
    else:
        conn = sqlite3.connect(settings.sqlite_dir / "platform.sqlite", isolation_level=None)
        conn.execute("DROP TABLE audit_ledger")
        conn.execute("DROP TABLE audit_checkpoints")
    conn.close()
    with world.services.runtimes.lease(CITY_A) as rt:
        log_reads(rt, 2)
    keeper = LedgerKeeper(world.services)
    assert keeper.keep() == 2  # the registry fails (logged); the municipality is kept
    init_platform(settings)
    init_platform(settings)  # idempotent
    assert keeper.keep() > 0
    assert report(world, None).ok and report(world, CITY_A).ok


def test_a_ledger_that_stopped_growing_still_gets_its_hourly_checkpoint(world, monkeypatch):
    import yorisoi.infra.checkpoints as checkpoints

    keeper = LedgerKeeper(world.services)
    with world.services.runtimes.lease(CITY_A) as rt:
        log_reads(rt, 1)
        keeper.keep()  # chained and signed at once (the first checkpoint)
        log_reads(rt, 2)
        rt.ledger.chain()  # chained (so not behind), not yet signed
    assert keeper.behind() == []
    if world.services.settings.backend == "postgres":  # SQLite: every file is asked
        assert keeper.checkpoints_due(exclude=set()) == []
    later = checkpoints._now() + timedelta(hours=2)
    monkeypatch.setattr(checkpoints, "_now", lambda: later)
    assert CITY_A in keeper.checkpoints_due(exclude=set())
    keeper._swept = float("-inf")  # the minute's sweep is due
    keeper.keep()
    assert report(world).checkpoints_verified == 2
