"""Issuing the annual report, beside a raw paged read of the same event log (same run).

Figures (each ``log events/s while issuing ÷ raw read events/s``):

* ``issue_report`` (annual form): read the topics the reports count from the start of
  the log to its head, a page of 2,000 at a time, decode them with personal fields
  withheld, fold them into count cells, render the form, write CSV and .xlsx, hash
  them and record the ``IssuedReport`` event.
* ``reproduce`` of that issued report: the same fold up to its recorded position,
  rendered with the recorded layout and labels.

Baseline: as the application role, ``SELECT notification_id, originator_id,
originator_version, topic, state FROM <events> WHERE notification_id > %s ORDER BY
notification_id LIMIT 2000`` in a loop (binary, as the fold reads), one transaction per
page, fetching every row of the whole log.  Rate = events in the log per second, for both.

The log: per household ``Household.Registered``, ``Case.Opened`` and four consultations
(``Case.ConsultationNoted`` + ``Consultation.Recorded``, the first of the year flagged, an
age band each) = 10 events, recorded through the application's mapper (personal fields
encrypted), 50 households per save.  Recording 1,000,000 events takes a while; ``--m``
sets the size.

    .venv/bin/python bench/bench_reports.py [--m 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
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

REPORTS_CODE = "272035"  # its own municipality: a log holding only these events (not
# 271004: run_all gives that one to the GraphQL load benchmark in the same cluster)
CONSULTATIONS_PER_CASE = 4
EVENTS_PER_HOUSEHOLD = 2 + 2 * CONSULTATIONS_PER_CASE
HOUSEHOLDS_PER_SAVE = 50
PAGE = 2000  # the fold's page (services/report_figures.PAGE)
CHANNELS = ("visit", "phone", "outreach", "online")


def record_events(app: Any, m: int, site_id: str) -> int:
    """Record about ``m`` events in the service's shapes, many aggregates per save."""
    from yorisoi.domain.cases import Case
    from yorisoi.domain.consultations import Consultation
    from yorisoi.domain.households import Household
    from yorisoi.infra.clock import japan_today
    from yorisoi.services.context import acting_as

    today, occurred = japan_today(), yesterday()
    households = max(1, round(m / EVENTS_PER_HOUSEHOLD))
    allowed = app.allowed_themes()
    themes = list(allowed)[:2]
    started, done = time.perf_counter(), 0
    with acting_as(acting_context()):
        while done < households:
            batch: list[Any] = []
            for i in range(min(HOUSEHOLDS_PER_SAVE, households - done)):
                h = new_household()
                household = Household.register(guardians=h.guardians, children=h.children,
                                               pregnancy=None, today=today)
                case = Case(household_id=household.id, municipality_code=REPORTS_CODE,
                            site_id=site_id, contract_id=None, opened_on=occurred)
                batch += [household, case]
                for k in range(CONSULTATIONS_PER_CASE):
                    c = Consultation.record(
                        case_id=case.id, household_id=household.id, site_id=site_id,
                        contract_id=None, occurred_on=occurred,
                        channel=CHANNELS[(done + i + k) % len(CHANNELS)], themes=themes,
                        asked=ASKED, wishes=WISHES, direction=DIRECTION, today=today,
                        allowed_themes=allowed, age_band="age_1_2",
                        first_in_fiscal_year=k == 0, case_new_in_fiscal_year=True)
                    case.note_consultation(c.id)
                    batch.append(c)
            app.save(*batch)
            done += HOUSEHOLDS_PER_SAVE
            if done % 5000 == 0:
                print(f"  recorded {done * EVENTS_PER_HOUSEHOLD:,} events"
                      f" ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return households * EVENTS_PER_HOUSEHOLD


class RawPagedRead:
    def __init__(self, conn: Any, table: str) -> None:
        self.conn = conn
        self.sql = ("SELECT notification_id, originator_id, originator_version, topic, state"
                    f" FROM {table} WHERE notification_id > %s"
                    " ORDER BY notification_id LIMIT %s")

    def run(self) -> int:
        position, total = 0, 0
        while True:
            with self.conn.transaction():
                rows = self.conn.execute(self.sql, (position, PAGE), binary=True).fetchall()
            total += len(rows)
            if len(rows) < PAGE:
                return total
            position = rows[-1]["notification_id"]


def run(cluster: Any, world: Any, directory: Any, *, m: int = 100_000,
        rounds: int = 3) -> list[Pair]:
    from yorisoi.infra.wiring.bootstrap import OPERATOR
    from yorisoi.infra.clock import japan_today
    from yorisoi.services.context import acting_as
    from yorisoi.services.reports_issue import issue_report, reproduce

    site = "osaka-hiroba"
    with acting_as(OPERATOR):
        directory.register_site(municipality_code=REPORTS_CODE, site_id=site, name="ひろば",
                                site_type="kihon")
    app = world.runtime.casework
    print(f"recording ~{m:,} events …", file=sys.stderr)
    recorded = record_events(app, m, site)
    today = japan_today()
    fy = today.year if today.month >= 4 else today.year - 1
    table = f'"{world.space}".{app.recorder.events_table_name}'
    raw_conn = raw_connect(cluster)
    raw = RawPagedRead(raw_conn, table)
    issuing = Pair("issue the annual report (fold, render, files, record)", "events/s",
                   note=f"{recorded:,} events in the log, page {PAGE}; vs a raw paged read")
    reproducing = Pair("reproduce an issued report (fold to its position, render)",
                       "events/s", note=f"{recorded:,} events")
    registry = directory.registry
    try:
        raw.run()  # warm-up: the log is in PostgreSQL's buffers
        for i in range(rounds):
            log = raw.run()  # the log grows by one event per issue

            def issue(log: int = log) -> int:
                with acting_as(acting_context()):
                    report, files = issue_report(app, registry, REPORTS_CODE, "annual", fy)
                issue.report = report  # type: ignore[attr-defined]
                assert files.report.table("monthly").rows[-1][1] == (
                    recorded // EVENTS_PER_HOUSEHOLD * CONSULTATIONS_PER_CASE)
                return log

            def again(log: int = log) -> int:
                files = reproduce(app, issue.report)  # type: ignore[attr-defined]
                assert files.csv_sha256 == issue.report.csv_sha256  # type: ignore[attr-defined]
                return log

            settle()
            pairs = [(issue, issuing), (again, reproducing)]
            for fn, pair in pairs:
                settle()
                if i % 2 == 0:
                    s = timed(fn)
                    settle()
                    r = timed(raw.run)
                else:
                    r = timed(raw.run)
                    settle()
                    s = timed(fn)
                pair.add(s, r)
    finally:
        raw_conn.close()
    return [issuing, reproducing]


def main() -> None:
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m", type=int, default=100_000, help="events in the log")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-telemetry", action="store_true")
    parser.add_argument("--durable", action="store_true")
    args = parser.parse_args()
    configure_production_telemetry(not args.no_telemetry)
    with throwaway_cluster(durable=args.durable) as cluster:
        pairs = run_in(cluster, cluster.settings(), m=args.m, rounds=args.rounds)
    print(f"municipality {REPORTS_CODE}, m={args.m}, rounds={args.rounds}")
    print_table(pairs)


def run_in(cluster: Any, settings: Any, *, m: int, rounds: int) -> list[Pair]:
    """For run_all: its own municipality and registry directory, closed afterwards."""
    from yorisoi.tenants.directory import TenantDirectory

    world = provision(settings, REPORTS_CODE)
    directory = TenantDirectory(world.settings, world.key_provider)
    try:
        return run(cluster, world, directory, m=m, rounds=rounds)
    finally:
        directory.close()
        world.close()


if __name__ == "__main__":
    main()
