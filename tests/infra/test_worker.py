"""The projection worker wakes on the tenant's NOTIFY (PostgreSQL) or polls (SQLite)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from world import CITY_A, NPO

from yorisoi.domain.households import Child, Guardian
from yorisoi.infra.clock import japan_today
from yorisoi.infra.worker import run_worker
from yorisoi.projections.case_queries import CaseScope
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import acting_as
from yorisoi.tenants.access import Principal, authorize


def _record_without_catch_up(world) -> str:
    principal = Principal("w1", "contractor", NPO, ("specialist",), ("a-hiroba",))
    grant = authorize(principal, "consultation.record", CITY_A, world.services.directory.registry,
                      site_id="a-hiroba")
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(grant.acting):
        recorded = rt.casework.record_consultation(RecordConsultation(
            municipality_code=CITY_A, site_id="a-hiroba", contract_id=grant.contract_id,
            occurred_on=japan_today() - timedelta(days=1), channel="phone", themes=["health"],
            asked="夜泣き", wishes="", direction="",
            consent=NewConsent("架空 一郎", "父", japan_today() - timedelta(days=1)),
            household=NewHousehold(guardians=[Guardian("架空 一郎", "父")],
                                   children=[Child("架空 二郎", japan_today() - timedelta(days=200))],
                                   pregnancy=None)))
    return str(recorded.case_id)


def test_worker_projects_new_events_without_being_asked(world):
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(world.services,),
                              kwargs={"poll_seconds": 0.1, "stop": stop.is_set}, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)  # the worker is listening
        case_id = _record_without_catch_up(world)
        deadline = time.monotonic() + 10
        found = None
        while found is None and time.monotonic() < deadline:
            with world.services.runtimes.lease(CITY_A) as rt:
                found = rt.cases.get(CaseScope(), case_id)
            time.sleep(0.05)
        assert found is not None and found.consultation_count == 1
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
