"""The audit ledger: every stored event and access-log row chained once, in order; tampering found.

Tampering is done as an attacker with database access would: as the
superuser, with triggers off (``session_replication_role = replica``), on
the real PostgreSQL cluster.  Each case checks that verification passed
before the change and names the place after it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from audit_world import CITY_A, attacker, counts, ledger, log_reads, record
from key_destruction import destroy_key
from world import build_world

from yorisoi.infra.access_log_store import AccessEntry, AccessLogStore
from yorisoi.infra.signing import canonical_json
from yorisoi.services.audit_ledger import AuditChainer, event_bytes, genesis_hash
from yorisoi.services.audit_verify import VerificationReport, online_source, verify
from yorisoi.tenants.runtime import TenantRuntime


def check(rt: TenantRuntime, public_pem: str) -> VerificationReport:
    return verify(online_source(rt.casework.database, CITY_A, lambda: [], batch_size=7),
                  public_pem)


def test_every_event_and_access_row_enters_the_chain_once_in_order(world):
    with world.services.runtimes.lease(CITY_A) as rt:
        record(rt, 2)
        log_reads(rt, 3)
        rt.catch_up_and_chain()
        rows = ledger(rt)
        events, access = counts(rt)
        assert [r["sequence"] for r in rows] == list(range(1, events + access + 1))
        for kind in ("event", "access"):
            ids = [r["source_id"] for r in rows if r["kind"] == kind]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert rt.ledger.chain() == 0  # nothing new: nothing added
        log_reads(rt, 2)
        assert rt.ledger.chain() == 2
        report = check(rt, world.services.signer.public_pem)
    assert report.ok, report.problems
    assert report.entries_verified == events + access + 2
    assert report.pending == {"event": 0, "access": 0}


def test_the_chain_format_is_what_the_documentation_says(world):
    with world.services.runtimes.lease(CITY_A) as rt:
        record(rt)
        rt.catch_up_and_chain()
        first = ledger(rt)[0]
        with rt.casework.database.transaction(write=False) as cur:
            key = "notification_id" if rt.casework.database.dialect == "postgres" else "rowid"
            event = cur.execute(f"SELECT {key} AS id, * FROM {{events}} WHERE {key} = %s",
                                (first["source_id"],)).fetchone()
    # Recomputed from the documented recipe, not through the ledger's own helpers.
    genesis = hashlib.sha256(
        b'{"ledger":"yorisoi-audit-ledger/1","tenant":"131016"}').hexdigest()
    assert genesis == genesis_hash(CITY_A) == first["prev_hash"]
    assert hashlib.sha256(event_bytes(event)).hexdigest() == first["source_sha256"]
    body = {"chainedAt": first["chained_at"], "kind": "event", "sequence": 1,
            "source": first["source_id"], "sourceSha256": first["source_sha256"]}
    assert hashlib.sha256(bytes.fromhex(genesis) + canonical_json(body)).hexdigest() \
        == first["entry_hash"]


def test_the_application_role_cannot_change_or_remove_ledger_rows(world):
    with world.services.runtimes.lease(CITY_A) as rt:
        record(rt)
        rt.catch_up_and_chain()
        for statement in ("UPDATE {s}audit_ledger SET kind = 'access' WHERE sequence = 1",
                          "DELETE FROM {s}audit_ledger WHERE sequence = 1"):
            with pytest.raises(Exception, match="append-only|permission denied"):
                with rt.casework.database.transaction() as cur:
                    cur.execute(statement)
        assert len(ledger(rt)) == counts(rt)[0]


def test_a_disposal_leaves_the_chain_verifiable(world):
    with world.services.runtimes.lease(CITY_A) as rt:
        (recorded,) = record(rt)
        log_reads(rt, 2, household_id=str(recorded.household_id))
        rt.catch_up_and_chain()
        before = ledger(rt)
        assert destroy_key(rt, recorded.household_id) is True
        record(rt)  # the chain goes on after the disposal
        rt.catch_up_and_chain()
        report = check(rt, world.services.signer.public_pem)
        assert ledger(rt)[:len(before)] == before
    assert report.ok, report.problems
    assert report.entries_verified > len(before)


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_world(pg_settings):
    built = build_world(pg_settings)
    yield built
    built.services.close()


@pytest.fixture
def chained(pg_world) -> Iterator[TenantRuntime]:
    with pg_world.services.runtimes.lease(CITY_A) as rt:
        record(rt, 3)
        log_reads(rt, 4)
        rt.catch_up_and_chain()
        assert check(rt, pg_world.services.signer.public_pem).ok
        yield rt


def _nth(rows: list[dict[str, Any]], kind: str, n: int) -> dict[str, Any]:
    return [r for r in rows if r["kind"] == kind][n]


FLIP_STATE = ("UPDATE {events} SET state = set_byte(state, 40, get_byte(state, 40) # 1)"
              " WHERE notification_id = %s")
FLIP_ACTOR = ("UPDATE {access} SET actor = convert_from(set_byte(convert_to(actor, 'UTF8'), 0,"
              " get_byte(convert_to(actor, 'UTF8'), 0) # 1), 'UTF8') WHERE entry_id = %s")


@pytest.mark.parametrize("case", ["event_byte", "access_byte", "ledger_row_deleted",
                                  "event_row_deleted", "ledger_rows_swapped"])
def test_tampering_is_found_and_named(case, chained, pg_world, pg_cluster, pg_database):
    rt = chained
    rows = ledger(rt)
    schema = f'"{rt.space}"'
    tables = {"events": f"{schema}.{rt.casework.database.events_table}",
              "access": f"{schema}.access_log", "ledger": f"{schema}.audit_ledger"}
    event, access = _nth(rows, "event", 4), _nth(rows, "access", 1)
    with attacker(pg_cluster, pg_database) as db:
        if case == "event_byte":
            db.execute(FLIP_STATE.format(**tables), (event["source_id"],))
            expected = ("source_changed", event["sequence"], "event", event["source_id"])
        elif case == "access_byte":
            db.execute(FLIP_ACTOR.format(**tables), (access["source_id"],))
            expected = ("source_changed", access["sequence"], "access", access["source_id"])
        elif case == "ledger_row_deleted":
            db.execute(f"DELETE FROM {tables['ledger']} WHERE sequence = %s", (event["sequence"],))
            expected = ("entry_missing", event["sequence"], None, None)
        elif case == "event_row_deleted":
            db.execute(f"DELETE FROM {tables['events']} WHERE notification_id = %s",
                       (event["source_id"],))
            expected = ("source_missing", event["sequence"], "event", event["source_id"])
        else:
            a, b = rows[2], rows[5]
            for old, new in ((a["sequence"], -1), (b["sequence"], a["sequence"]),
                             (-1, b["sequence"])):
                db.execute(f"UPDATE {tables['ledger']} SET sequence = %s WHERE sequence = %s",
                           (new, old))
            expected = ("prev_hash", a["sequence"], b["kind"], b["source_id"])
    report = check(rt, pg_world.services.signer.public_pem)
    assert not report.ok
    first = report.problems[0]
    assert (first.code, first.sequence, first.kind, first.source_id) == expected, first
    assert report.entries_verified == expected[1] - 1  # everything before it still holds
    assert f"sequence {expected[1]}" in first.place()


def test_concurrent_chainers_never_fork_the_chain(pg_world):
    settings, keys = pg_world.services.settings, pg_world.services.key_provider
    runtimes = [TenantRuntime(settings, CITY_A, keys) for _ in range(3)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def chain_forever(rt: TenantRuntime) -> None:
        try:
            while not stop.is_set():
                rt.ledger.chain()
                time.sleep(0.005)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=chain_forever, args=(rt,)) for rt in runtimes[1:]]
    try:
        for thread in threads:
            thread.start()
        for _ in range(6):
            record(runtimes[0])
            log_reads(runtimes[0], 3)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        runtimes[0].ledger.chain()
        rows = ledger(runtimes[0])
        events, access = counts(runtimes[0])
        report = check(runtimes[0], pg_world.services.signer.public_pem)
    finally:
        stop.set()
        for rt in runtimes:
            rt.close()
    assert errors == []
    assert [r["sequence"] for r in rows] == list(range(1, events + access + 1))
    assert report.ok, report.problems


def test_an_access_row_committed_late_is_waited_for_not_skipped(pg_world, pg_cluster,
                                                                pg_database):
    """PostgreSQL hands out entry ids before commit: the chainer must not pass an open one."""
    with pg_world.services.runtimes.lease(CITY_A) as rt:
        log_reads(rt, 1)
        rt.catch_up_and_chain()
        chainer = AuditChainer(rt.casework.database, CITY_A)  # waits GAP_SETTLE_SECONDS
        with pg_cluster.connect(pg_database, "app") as slow:  # a transaction still open
            slow.execute(f'INSERT INTO "{rt.space}".access_log (recorded_at, actor, role,'
                         " organisation_kind, organisation_id, household_id, record_kind,"
                         " record_id, fields, basis, channel) VALUES ('t', 'slow', 'specialist',"
                         " 'municipality', '131016', 'h-2', 'consultation', 'c-9', '[]',"
                         " 'grant', 'graphql')")
            log_reads(rt, 2)  # committed after the open one took its id
            assert chainer.chain() == 0  # stops at the gap rather than passing over it
            slow.commit()
        assert chainer.chain() == 3
        access_ids = [r["source_id"] for r in ledger(rt) if r["kind"] == "access"]
        assert access_ids == sorted(access_ids) and len(access_ids) == 4
        assert check(rt, pg_world.services.signer.public_pem).ok


def test_a_rolled_back_id_is_passed_once_settled_and_a_row_forged_there_is_found(
        pg_world, pg_cluster, pg_database):
    with pg_world.services.runtimes.lease(CITY_A) as rt:
        log_reads(rt, 1)
        with rt.casework.database.transaction(write=False) as cur:
            first = cur.execute("SELECT MAX(entry_id) AS m FROM {s}access_log").fetchone()["m"]
        with pytest.raises(RuntimeError):
            with rt.casework.database.transaction() as cur:
                AccessLogStore(rt.casework.database).append(
                    [AccessEntry("t", "x", "specialist", "municipality", CITY_A, None, "h",
                                 "consultation", "c", (), "grant", None, None, None, "graphql")],
                    cur)
                raise RuntimeError("the request failed")  # its entry id is never used
        log_reads(rt, 1)
        assert AuditChainer(rt.casework.database, CITY_A, gap_settle_seconds=0).chain() == 2
        assert check(rt, pg_world.services.signer.public_pem).ok
        with attacker(pg_cluster, pg_database) as db:
            db.execute(f'INSERT INTO "{rt.space}".access_log SELECT %s, recorded_at, actor, role,'
                       " organisation_kind, organisation_id, contract_id, household_id,"
                       " record_kind, record_id, fields, basis, basis_ref, request_id, trace_id,"
                       f' channel FROM "{rt.space}".access_log WHERE entry_id = %s',
                       (first + 1, first))
        report = check(rt, pg_world.services.signer.public_pem)
    assert [(p.code, p.kind, p.source_id) for p in report.problems] == [
        ("unchained", "access", first + 1)]
