"""Commands through the service layer, each beside a raw psycopg baseline from the same run.

Figures (each ``service ops/s ÷ raw ops/s``):

* ``record_consultation`` on an existing case: get the case → new Consultation →
  save (2 events: ``Case.ConsultationNoted`` and ``Consultation.Recorded``, the latter
  with its personal fields sealed under the household key).  Baseline: one commit
  inserting the same two rows.
* ``note_consultation`` (the pure single-event command): get the case →
  ``Case.note_consultation`` → save (1 event).  Baseline: one row per commit.
* ``record_consultation`` for a new household (7 events with its consent, a new household key).
  Baseline: one commit inserting the same four rows.

The baseline inserts the very bytes the service stored (fresh originator ids) into a
table shaped like the library's events table, in the same database, as the same role,
with the same connection settings (4× as many commits as the service side per round, so
its shorter timing is not mostly noise).  Cases are used round-robin, ~10 commands each, so a
case holds 2–12 events while measured (as a real case does), not thousands.

    .venv/bin/python bench/bench_commands.py [--n 2000] [--rounds 10]

Service and baseline alternate in short rounds (who goes first alternates too); the
ratio reported is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import itertools
import uuid
from typing import Any

from common import (
    CITY,
    Pair,
    acting_context,
    configure_production_telemetry,
    consultation,
    create_raw_table,
    new_household,
    print_table,
    provision,
    raw_connect,
    settle,
    split,
    stored_samples,
    timed,
)

WARMUP = 5
RAW_FACTOR = 4  # the baseline is ~5× quicker: run it 4× as often so its timing is not all noise
COMMANDS_PER_CASE = 10


def note_consultation(app: Any, case_id: uuid.UUID) -> None:
    """The single-event command, run as the service runs its commands (``run_command``)."""

    def body() -> None:
        case = app.repository.get(case_id)
        case.note_consultation(uuid.uuid4())
        app.save(case)

    app.run_command("command.note_consultation", body)


class RawInserter:
    """Commits rows of given (topic, state) bytes, one transaction per 'command'."""

    def __init__(self, conn: Any, table: str, rows: list[tuple[str, bytes]]) -> None:
        self.conn = conn
        self.rows = rows
        values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
        self.sql = (f"INSERT INTO {table} (originator_id, originator_version, topic, state)"
                    f" VALUES {values}")

    def commit_one(self) -> None:
        oid = uuid.uuid4()
        params: list[Any] = []
        for version, (topic, state) in enumerate(self.rows, start=1):
            params += (oid, version, topic, state)
        with self.conn.transaction():
            self.conn.execute(self.sql, params)

    def run(self, count: int) -> int:
        for _ in range(count):
            self.commit_one()
        return count


def _rows(samples: dict[str, list[tuple[str, bytes]]], *names: str) -> list[tuple[str, bytes]]:
    return [samples[name][-1] for name in names]


def run(cluster: Any, world: Any, *, n: int = 2000, rounds: int = 10) -> list[Pair]:
    from yorisoi.services.context import acting_as

    app = world.runtime.casework
    cases_each = max(1, n // COMMANDS_PER_CASE)
    raw_conn = raw_connect(cluster)
    try:
        with acting_as(acting_context()):
            # Warm-up: pools, prepared statements, key cache; and samples of stored bytes.
            warm = [app.record_consultation(consultation(household=new_household())).case_id
                    for _ in range(WARMUP)]
            for case_id in warm:
                app.record_consultation(consultation(case_id))
                note_consultation(app, case_id)
            samples = stored_samples(cluster, world.space, app.recorder.events_table_name)
            raw = {
                "new": RawInserter(raw_conn, create_raw_table(cluster, "cmd_new"), _rows(
                    samples, "Household.Registered", "Case.Opened", "Case.ConsultationNoted",
                    "Consultation.Recorded")),
                "record": RawInserter(raw_conn, create_raw_table(cluster, "cmd_record"), _rows(
                    samples, "Case.ConsultationNoted", "Consultation.Recorded")),
                "note": RawInserter(raw_conn, create_raw_table(cluster, "cmd_note"), _rows(
                    samples, "Case.ConsultationNoted")),
            }
            for inserter in raw.values():
                inserter.run(WARMUP)

            new_pair = Pair("record_consultation, new household (7 events with consent)", "ops/s",
                            note="opens household + case; creates and wraps a household key")
            record_pair = Pair("record_consultation, existing case (2 events)", "ops/s",
                               target=0.5)
            note_pair = Pair("note_consultation, existing case (1 event)", "ops/s",
                             target=0.5)
            record_cases: list[uuid.UUID] = []
            note_cases: list[uuid.UUID] = []

            def open_cases(count: int) -> int:
                for i in range(count):
                    case_id = app.record_consultation(
                        consultation(household=new_household())).case_id
                    (record_cases if i % 2 == 0 else note_cases).append(case_id)
                return count

            def measure(pair: Pair, service: Any, baseline: RawInserter, count: int,
                        round_no: int) -> None:
                settle()
                if round_no % 2 == 0:  # alternate who goes first
                    s = timed(lambda: service(count))
                    settle()
                    r = timed(lambda: baseline.run(RAW_FACTOR * count))
                else:
                    r = timed(lambda: baseline.run(RAW_FACTOR * count))
                    settle()
                    s = timed(lambda: service(count))
                pair.add(s, r)

            for i, count in enumerate(split(2 * cases_each, rounds)):
                measure(new_pair, open_cases, raw["new"], count, i)

            record_cycle = itertools.cycle(record_cases)
            note_cycle = itertools.cycle(note_cases)

            def record(count: int) -> int:
                for _ in range(count):
                    app.record_consultation(consultation(next(record_cycle)))
                return count

            def note(count: int) -> int:
                for _ in range(count):
                    note_consultation(app, next(note_cycle))
                return count

            for i, count in enumerate(split(n, rounds)):
                measure(record_pair, record, raw["record"], count, i)
                measure(note_pair, note, raw["note"], count, i)
    finally:
        raw_conn.close()
    sizes = {name: len(rows[-1][1]) for name, rows in samples.items()}
    for pair, names in ((new_pair, ("Household.Registered", "Case.Opened",
                                    "Case.ConsultationNoted", "Consultation.Recorded")),
                        (record_pair, ("Case.ConsultationNoted", "Consultation.Recorded")),
                        (note_pair, ("Case.ConsultationNoted",))):
        detail = ", ".join(f"{name} {sizes[name]} B" for name in names)
        pair.note = (pair.note + "; " if pair.note else "") + "stored state: " + detail
    return [record_pair, note_pair, new_pair]


def main() -> None:
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="commands per figure")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--no-telemetry", action="store_true",
                        help="leave OpenTelemetry's no-op provider in place")
    parser.add_argument("--durable", action="store_true", help="fsync and synchronous commit on")
    args = parser.parse_args()
    configure_production_telemetry(not args.no_telemetry)
    with throwaway_cluster(durable=args.durable) as cluster:
        world = provision(cluster.settings())
        try:
            pairs = run(cluster, world, n=args.n, rounds=args.rounds)
        finally:
            world.close()
    print(f"municipality {CITY}, n={args.n}, rounds={args.rounds}")
    print_table(pairs)


if __name__ == "__main__":
    main()
