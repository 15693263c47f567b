"""Disposing of one household with 1,000 events and its read-model rows (issue 9, target 5).

Each round records a fresh household — ``Household.Registered``, ``Case.Opened``, about 330
consultations (``Case.ConsultationNoted`` + ``Consultation.Recorded``, personal fields
sealed) and 330 support notes, then ``Case.Closed`` dated in 2019 — about 1,000 events,
projected into every read model (case view, timeline, …), with three objects under its
household prefix.  Beside it the municipality holds ``--others`` live households, whose
keys the tenant-key rotation re-wraps.  A batch with that one household is proposed and
approved (not timed); then ``Disposal.run`` is timed end to end: the views caught up,
eligibility checked, key destroyed, every read model purged, objects deleted, the
disposal event, the tenant key rotated (every live household key re-wrapped, the old
version retired) and the certificate signed and stored write-once.

The target is an absolute one (under one second), unlike the ratio figures: the phases
are printed too, so the part that grows with the municipality (the rotation) is visible.

    .venv/bin/python bench/bench_disposal.py [--events 1000] [--others 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from typing import Any
from uuid import UUID

from common import (
    ASKED,
    CITY,
    DIRECTION,
    WISHES,
    acting_context,
    configure_production_telemetry,
    new_household,
    provision,
    settle,
)

PER_SAVE = 100


def record_household(app: Any, objects: Any, space: str, events: int) -> str:
    """One closed household of about ``events`` events; returns its id."""
    from yorisoi.domain.cases import Case
    from yorisoi.domain.consultations import Consultation
    from yorisoi.domain.households import Household
    from yorisoi.domain.support_notes import SupportNote
    from yorisoi.infra.clock import japan_today
    from yorisoi.services.context import acting_as
    from yorisoi.services.disposal import household_prefix

    today, occurred = japan_today(), date(2018, 5, 1)
    with acting_as(acting_context()):
        h = new_household()
        household = Household.register(guardians=h.guardians, children=h.children,
                                       pregnancy=None, today=today)
        case = Case(household_id=household.id, municipality_code=CITY, site_id="a-hiroba",
                    contract_id=None, opened_on=occurred)
        app.save(household, case)
        remaining = events - 3  # registered, opened, closed
        while remaining > 0:
            batch: list[Any] = []
            while remaining > 0 and len(batch) < PER_SAVE:
                if remaining >= 2:
                    c = Consultation.record(
                        case_id=case.id, household_id=household.id, site_id="a-hiroba",
                        contract_id=None, occurred_on=occurred, channel="visit",
                        themes=["development"], asked=ASKED, wishes=WISHES,
                        direction=DIRECTION, today=today, allowed_themes=app.allowed_themes())
                    case.note_consultation(c.id)
                    batch.append(c)
                    remaining -= 2
                if remaining >= 1:
                    batch.append(SupportNote.write(
                        case_id=case.id, household_id=household.id, site_id="a-hiroba",
                        contract_id=None, written_on=occurred, kind="progress", body=WISHES,
                        today=today))
                    remaining -= 1
            app.save(case, *batch)
        case.close(closed_on=date(2019, 6, 1), reason="support_completed", today=today)
        app.save(case)
    for i in range(3):
        objects.put(f"{household_prefix(space, str(household.id))}/attachments/{i}", b"x" * 4096,
                    content_type="application/pdf")
    return str(household.id)


def record_others(app: Any, n: int) -> None:
    """``n`` live households (two events each): keys the rotation must re-wrap."""
    from yorisoi.domain.cases import Case
    from yorisoi.domain.households import Household
    from yorisoi.infra.clock import japan_today
    from yorisoi.services.context import acting_as

    today = japan_today()
    with acting_as(acting_context()):
        for start in range(0, n, 200):
            batch: list[Any] = []
            for _ in range(min(200, n - start)):
                h = new_household()
                household = Household.register(guardians=h.guardians, children=h.children,
                                               pregnancy=None, today=today)
                batch += [household, Case(household_id=household.id, municipality_code=CITY,
                                          site_id="a-hiroba", contract_id=None, opened_on=today)]
            app.save(*batch)


def run(world: Any, *, events: int, others: int, rounds: int) -> dict[str, Any]:
    from yorisoi.domain.retention import RECORD_CLASSES
    from yorisoi.infra.clock import japan_today
    from yorisoi.infra.signing import PlatformSigner
    from yorisoi.infra.storage import build_object_store
    from yorisoi.services.context import ActingContext, acting_as
    from yorisoi.services.disposal import Disposal

    rt = world.runtime
    objects = build_object_store(world.settings)
    signer = PlatformSigner.from_keys_dir(world.settings.keys_dir)
    officer = ActingContext(user_id="bench-records-chief", role="municipal_admin",
                            organisation_kind="municipality", organisation_id=CITY)
    record_others(rt.casework, others)
    with acting_as(officer):
        rt.casework.set_retention_schedule(effective_from=japan_today(), two_person_approval=False,
                                           years={name: 1 for name in RECORD_CLASSES})
    totals: list[float] = []
    phases: dict[str, list[float]] = {}
    rows_purged: list[int] = []
    for _ in range(rounds):
        household_id = record_household(rt.casework, objects, world.space, events)
        rt.catch_up()
        rows_purged.append(count_rows(rt, household_id))
        disposal = Disposal(rt, objects, signer)
        with acting_as(officer):
            batch = disposal.propose([household_id])
            rt.casework.approve_disposal(batch.id, expected_version=None)
            marks: list[tuple[str, float]] = []
            settle()
            start = time.perf_counter()
            disposal.run(batch.id, lambda _h, step: marks.append((step, time.perf_counter())))
            end = time.perf_counter()
        totals.append(end - start)
        previous = start
        for step, moment in marks + [("completed", end)]:
            phases.setdefault(step, []).append(moment - previous)
            previous = moment
        assert rt.casework.keyring.for_reading(UUID(household_id)) is None
    return {"events": events, "others": others, "rounds": rounds,
            "read_model_rows": statistics.median(rows_purged),
            "seconds": [round(t, 4) for t in totals], "median": statistics.median(totals),
            "phases": {k: statistics.median(v) for k, v in phases.items()}}


def count_rows(rt: Any, household_id: str) -> int:
    """The household's read-model rows (what the purge touches)."""
    total = 0
    with rt.casework.database.transaction(write=False) as cur:
        for table in ("household_view", "consultation_view", "timeline_view",
                      "retention_record_view"):
            total += int(cur.execute(f"SELECT COUNT(*) AS n FROM {{s}}{table}"
                                     " WHERE household_id = %s", (household_id,)
                                     ).fetchone()["n"])
    return total


def main() -> None:
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--others", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-telemetry", action="store_true")
    parser.add_argument("--durable", action="store_true")
    args = parser.parse_args()
    configure_production_telemetry(not args.no_telemetry)
    with throwaway_cluster(durable=args.durable) as cluster:
        world = provision(cluster.settings(), CITY)
        try:
            result = run(world, events=args.events, others=args.others, rounds=args.rounds)
        finally:
            world.close()
    print(f"dispose one household: {result['events']} events, {result['read_model_rows']:.0f}"
          f" read-model rows, {result['others']} other live households, {args.rounds} rounds")
    print(f"  end to end: median {result['median']:.3f} s (rounds {result['seconds']});"
          f" target < 1 s: {'met' if result['median'] < 1 else 'NOT met'}")
    for phase, seconds in result["phases"].items():
        print(f"  {phase:24} {seconds * 1000:8.1f} ms (median)")


if __name__ == "__main__":
    main()
