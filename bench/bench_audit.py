"""The audit ledger: verification rates (online and offline) and the chain's cost per command.

Figures:

* ``verify, online`` — ``services.audit_verify.verify`` over the database (ledger rows,
  the events and access-log rows they chain, one checkpoint): entries/s ÷ raw hashing
  entries/s.
* ``verify, offline`` — the same over an export file (``yorisoi audit export``), no database.
* ``command + catch_up, with the ledger`` — ``record_consultation`` on an existing case and
  ``TenantRuntime.catch_up()`` (views *and* chain) ÷ the same with the views only: what
  chaining adds to every GraphQL mutation.

Baseline of the two verification figures: the same bytes hashed in a tight loop, in memory
(``sha256(source bytes)`` and ``sha256(prev ‖ canonical entry)`` per entry, entries already
serialised): the floor any verifier in Python pays.  Printed once (not a ratio): the rate of
``AuditChainer.chain()`` from an empty ledger.

The ledger holds M events (consultations of new households through the service) plus M/2
access-log rows.

    .venv/bin/python bench/bench_audit.py [--m 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import (
    CITY,
    Pair,
    acting_context,
    configure_production_telemetry,
    consultation,
    new_household,
    print_table,
    provision,
    settle,
    timed,
)

RAW_REPEATS = 5
COMMANDS_PER_ROUND = 40
CASES = 40


def fill(world: Any, m: int) -> tuple[int, int]:
    """At least ``m`` events and m/2 access-log rows; returns (events, access rows)."""
    from yorisoi.infra.access_log_store import AccessEntry, AccessLogStore
    from yorisoi.services.context import acting_as

    app = world.runtime.casework
    db = app.database
    with db.transaction(write=False) as cur:
        events = int(cur.execute("SELECT COUNT(*) AS n FROM {events}").fetchone()["n"])
    with acting_as(acting_context()):
        while events < m:
            app.record_consultation(consultation(household=new_household()))
            with db.transaction(write=False) as cur:
                events = int(cur.execute("SELECT COUNT(*) AS n FROM {events}").fetchone()["n"])
    now = datetime.now(UTC).isoformat()
    store = AccessLogStore(db)
    rows = [AccessEntry(now, "bench-specialist-0001", "specialist", "contractor", "npo-hidamari",
                        "contract-a-npo", f"household-{i % 997}", "consultation",
                        f"consultation-{i}", ("asked", "wishes", "direction"), "grant", None,
                        f"req-{i // 20}", None, "graphql") for i in range(events // 2)]
    for start in range(0, len(rows), 500):
        store.append(rows[start:start + 500])
    return events, len(rows)


def _raw_items(source: Any) -> list[tuple[bytes, bytes]]:
    from yorisoi.infra.signing import canonical_json

    return [(data, canonical_json(entry.body())) for entry, data in source.entries]


def _raw_hash(items: list[tuple[bytes, bytes]], genesis: str) -> int:
    for _ in range(RAW_REPEATS):
        prev = bytes.fromhex(genesis)
        for data, body in items:
            hashlib.sha256(data).digest()
            prev = hashlib.sha256(prev + body).digest()
    return RAW_REPEATS * len(items)


def run(cluster: Any, world: Any, *, m: int = 20000, rounds: int = 3) -> list[Pair]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from yorisoi.infra.checkpoints import Checkpointer, LocalCheckpointStore
    from yorisoi.infra.signing import PlatformSigner
    from yorisoi.services.audit_export import read_export, write_export
    from yorisoi.services.audit_ledger import genesis_hash
    from yorisoi.services.audit_verify import online_source, verify
    from yorisoi.services.context import acting_as

    rt, code = world.runtime, world.code
    db = rt.casework.database
    events, access = fill(world, m)
    for projector in rt.projectors:
        projector.catch_up()  # the views are not what is measured here
    chained, seconds = timed(rt.ledger.chain)
    print(f"AuditChainer.chain() from empty: {chained:,} entries in {seconds:.2f} s"
          f" ({chained / seconds:,.0f} entries/s)", file=sys.stderr)

    signer = PlatformSigner(Ed25519PrivateKey.generate())
    folder = Path(tempfile.mkdtemp(prefix="yorisoi-bench-audit-"))
    checkpointer = Checkpointer(LocalCheckpointStore(folder / "checkpoints"), signer)
    checkpointer.store.ensure()
    checkpointer.checkpoint(db, code)
    export = folder / "ledger.jsonl"
    write_export(online_source(db, code, lambda: checkpointer.copies(code)), signer.public_pem,
                 export)
    items = _raw_items(read_export(export)[0])
    genesis = genesis_hash(code)

    def online() -> int:
        report = verify(online_source(db, code, lambda: checkpointer.copies(code)),
                        signer.public_pem)
        assert report.ok and report.checkpoints_verified == 1, report.problems
        return report.entries_verified

    def offline() -> int:
        source, carried = read_export(export)
        report = verify(source, carried)
        assert report.ok, report.problems
        return report.entries_verified

    note = f"{chained} entries ({events} events, {access} access-log rows), one checkpoint"
    online_pair = Pair("audit verify, online (database)", "entries/s", note=note +
                       "; baseline: sha256 of the same bytes in memory")
    offline_pair = Pair("audit verify, offline (export file)", "entries/s", note=note)
    online(), offline()  # warm-up
    for i in range(rounds):
        settle()
        sides = [lambda: timed(online), lambda: timed(offline),
                 lambda: timed(lambda: _raw_hash(items, genesis))]
        if i % 2:
            sides.reverse()
        results = [side() for side in sides]
        s_online, s_offline, raw = results if i % 2 == 0 else results[::-1]
        online_pair.add(s_online, raw)
        offline_pair.add(s_offline, raw)

    # The chain's cost per command: catch_up with the ledger ÷ with the views only.
    # Cases round-robin, so none grows to hundreds of events while measured.
    with acting_as(acting_context()):
        case_ids = [rt.casework.record_consultation(
            consultation(household=new_household())).case_id for _ in range(CASES)]
    rt.catch_up()
    turn = iter(range(10**9))

    def commands() -> tuple[float, float]:
        """Seconds spent in (command + views) and in chaining, over the same commands."""
        views = chain = 0.0
        with acting_as(acting_context()):
            for _ in range(COMMANDS_PER_ROUND):
                start = time.perf_counter()
                rt.casework.record_consultation(consultation(case_ids[next(turn) % CASES]))
                for projector in rt.projectors:
                    projector.catch_up()
                middle = time.perf_counter()
                rt.ledger.chain()
                chain += time.perf_counter() - middle
                views += middle - start
        return views, chain

    command_pair = Pair("command + catch_up, with the ledger", "ops/s",
                        note="record_consultation on an existing case, then catch_up (views"
                        " and chain); baseline: the same commands' time without the chain")
    commands()  # warm-up
    for _ in range(max(rounds, 4)):
        settle()
        views, chain = commands()
        command_pair.add((COMMANDS_PER_ROUND, views + chain), (COMMANDS_PER_ROUND, views))
    rt.ledger.chain()
    return [online_pair, offline_pair, command_pair]


def main() -> None:
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m", type=int, default=20000, help="events in the ledger")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-telemetry", action="store_true")
    args = parser.parse_args()
    configure_production_telemetry(not args.no_telemetry)
    started = time.perf_counter()
    with throwaway_cluster() as cluster:
        world = provision(cluster.settings(), CITY)
        try:
            pairs = run(cluster, world, m=args.m, rounds=args.rounds)
        finally:
            world.close()
    print(f"municipality {CITY}, m={args.m}, rounds={args.rounds},"
          f" {time.perf_counter() - started:.0f} s")
    print_table(pairs)


if __name__ == "__main__":
    main()
