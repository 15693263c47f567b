"""Projection catch-up, beside a raw paged read of the same notification log (same run).

Figures (each ``projector events/s ÷ raw read events/s``):

* ``Projector.catch_up()`` from zero with a cold household-key cache (a worker that
  starts on a municipality, or a new view): a fresh ``TenantRuntime`` per round, the
  view emptied and its position set to 0 beforehand (not timed).
* ``Projector.rebuild()`` on a warm runtime (empties the view, replays the whole log).

Baseline: as the application role, with the library's connection settings,
``SELECT notification_id, originator_id, originator_version, topic, state FROM <events>
WHERE notification_id > %s ORDER BY notification_id LIMIT 500`` in a loop, one
transaction per page, fetching every row (the whole log read 5 times per round, so the
baseline's ~0.1 s is not mostly noise).

The log is M events of a realistic mix, recorded through the application's mapper
(personal fields encrypted): per household ``Household.Registered``, ``Case.Opened`` and
four consultations (``Case.ConsultationNoted`` + ``Consultation.Recorded``) = 10 events.

    .venv/bin/python bench/bench_projection.py [--m 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
from typing import Any

from common import (
    ASKED,
    DIRECTION,
    WISHES,
    Pair,
    acting_context,
    configure_production_telemetry,
    new_household,
    print_table,
    provision,
    raw_connect,
    settle,
    timed,
    yesterday,
)

PROJECTION_CODE = "141003"  # its own municipality: a log holding only these events
CONSULTATIONS_PER_CASE = 4
EVENTS_PER_HOUSEHOLD = 2 + 2 * CONSULTATIONS_PER_CASE
HOUSEHOLDS_PER_SAVE = 50
PAGE = 500
RAW_REPEATS = 5  # a raw read is ~50× quicker: repeat it so its timing is not all noise


def record_events(app: Any, m: int) -> int:
    """Record about ``m`` events in the service's shapes, many aggregates per save."""
    from yorisoi.domain.cases import Case
    from yorisoi.domain.consultations import Consultation
    from yorisoi.domain.households import Household
    from yorisoi.infra.clock import japan_today
    from yorisoi.services.context import acting_as

    today, occurred = japan_today(), yesterday()
    households = max(1, round(m / EVENTS_PER_HOUSEHOLD))
    themes = list(app.allowed_themes())[:2]
    with acting_as(acting_context()):
        done = 0
        while done < households:
            batch: list[Any] = []
            for _ in range(min(HOUSEHOLDS_PER_SAVE, households - done)):
                h = new_household()
                household = Household.register(guardians=h.guardians, children=h.children,
                                               pregnancy=None, today=today)
                case = Case(household_id=household.id, municipality_code=PROJECTION_CODE,
                            site_id="b-hiroba", contract_id=None, opened_on=occurred)
                batch += [household, case]
                for _ in range(CONSULTATIONS_PER_CASE):
                    c = Consultation.record(
                        case_id=case.id, household_id=household.id, site_id="b-hiroba",
                        contract_id=None, occurred_on=occurred, channel="visit",
                        themes=themes, asked=ASKED, wishes=WISHES, direction=DIRECTION,
                        today=today, allowed_themes=app.allowed_themes())
                    case.note_consultation(c.id)
                    batch.append(c)
            app.save(*batch)
            done += HOUSEHOLDS_PER_SAVE
    return households * EVENTS_PER_HOUSEHOLD


class RawPagedRead:
    def __init__(self, conn: Any, table: str, *, binary: bool = False) -> None:
        self.conn = conn
        # The baseline is psycopg's default (text) read; --raw-binary measures
        # against the quicker binary read the projector itself uses.
        self.binary = binary
        self.sql = ("SELECT notification_id, originator_id, originator_version, topic, state"
                    f" FROM {table} WHERE notification_id > %s"
                    " ORDER BY notification_id LIMIT %s")

    def read_all(self) -> int:
        position, total = 0, 0
        while True:
            with self.conn.transaction():
                rows = self.conn.execute(self.sql, (position, PAGE),
                                         binary=self.binary).fetchall()
            total += len(rows)
            if len(rows) < PAGE:
                return total
            position = rows[-1]["notification_id"]

    def run(self) -> int:
        return sum(self.read_all() for _ in range(RAW_REPEATS))


def reset_view(cluster: Any, space: str, *, every_view: bool = False) -> None:
    """Empty the case view (or every read model) and put its position at 0 (owner, untimed)."""
    from yorisoi.projections.case_view import CASE_VIEW_TABLES
    from yorisoi.projections.tenant_views import TENANT_VIEWS, tenant_view_tables

    tables = ", ".join(f'"{space}".{t}'
                       for t in (tenant_view_tables() if every_view else CASE_VIEW_TABLES))
    names = [v.name for v in TENANT_VIEWS] if every_view else ["case_view"]
    with cluster.connect("owner", autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables}")
        conn.execute(f'UPDATE "{space}".projection_positions SET position = 0'
                     " WHERE name = ANY(%s)", (names,))


def run(cluster: Any, world: Any, *, m: int = 20000, rounds: int = 3,
        raw_binary: bool = False) -> list[Pair]:
    app = world.runtime.casework
    recorded = record_events(app, m)
    table = f'"{world.space}".{app.recorder.events_table_name}'
    raw_conn = raw_connect(cluster)
    catch_up = Pair("Projector.catch_up() from zero, cold key cache", "events/s",
                    target=0.12, note=f"{recorded} events, batch {PAGE}")
    rebuild = Pair("Projector.rebuild(), warm", "events/s", target=0.12,
                   note=f"{recorded} events, batch {PAGE}; includes emptying the view")
    every_views = Pair("TenantRuntime read models catch_up() from zero, cold keys", "events/s",
                       target=0.12)
    raw = RawPagedRead(raw_conn, table, binary=raw_binary)
    try:
        assert raw.read_all() == recorded  # warm-up: the log is in PostgreSQL's buffers
        warm_rt = None
        for i in range(rounds):
            reset_view(cluster, world.space)
            runtime = world.fresh_runtime()
            runtime.case_projector.status()  # a pooled connection, not a warm key cache
            settle()
            if i % 2 == 0:
                s = timed(runtime.case_projector.catch_up)
                settle()
                r = timed(raw.run)
            else:
                r = timed(raw.run)
                settle()
                s = timed(runtime.case_projector.catch_up)
            assert s[0] == recorded and r[0] == RAW_REPEATS * recorded, (s, r, recorded)
            catch_up.add(s, r)
            if warm_rt is not None:
                warm_rt.close()
            warm_rt = runtime

            settle()
            if i % 2 == 0:
                s = timed(warm_rt.case_projector.rebuild)
                settle()
                r = timed(raw.run)
            else:
                r = timed(raw.run)
                settle()
                s = timed(warm_rt.case_projector.rebuild)
            assert s[0] == recorded
            rebuild.add(s, r)
        if warm_rt is not None:
            warm_rt.close()

        # Every read model of the municipality, as TenantRuntime.catch_up runs them
        # after each command (without the audit chain, which bench_audit measures).
        for i in range(rounds):
            reset_view(cluster, world.space, every_view=True)
            runtime = world.fresh_runtime()
            runtime.case_projector.status()
            views = len(runtime.projectors)

            def every() -> int:
                runtime.read_models.catch_up()
                return recorded
            settle()
            if i % 2 == 0:
                s = timed(every)
                settle()
                r = timed(raw.run)
            else:
                r = timed(raw.run)
                settle()
                s = timed(every)
            every_views.add(s, r)
            runtime.close()
        every_views.note = (f"{recorded} events, {views} read models, batch {PAGE};"
                            " rate = log events per second")
    finally:
        raw_conn.close()
    return [catch_up, rebuild, every_views]


def main() -> None:
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m", type=int, default=20000, help="events in the log")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-telemetry", action="store_true")
    parser.add_argument("--durable", action="store_true")
    parser.add_argument("--raw-binary", action="store_true",
                        help="baseline reads in binary (bytea as bytes), as the projector does")
    args = parser.parse_args()
    configure_production_telemetry(not args.no_telemetry)
    with throwaway_cluster(durable=args.durable) as cluster:
        world = provision(cluster.settings(), PROJECTION_CODE)
        try:
            pairs = run(cluster, world, m=args.m, rounds=args.rounds,
                        raw_binary=args.raw_binary)
        finally:
            world.close()
    print(f"municipality {PROJECTION_CODE}, m={args.m}, rounds={args.rounds}"
          + (", binary raw read" if args.raw_binary else ""))
    print_table(pairs)


if __name__ == "__main__":
    main()
