"""Two worker processes share the tenants: neither queues behind the other, nothing is missed.

Each worker (here: a thread with services of its own, as a separate process
would have) takes a turn per notified tenant, skipping a tenant the other
holds and coming back to it.  With both running while events are written to
two municipalities, every view of both reaches the head of the log and every
event is chained into the tenant's audit ledger.
"""

from __future__ import annotations

import threading
import time

from datetime import timedelta

import pytest
from view_rows import view_positions
from world import CITY_A, consultation_command

from yorisoi.infra.clock import japan_today
from yorisoi.infra.wiring.bootstrap import Services
from yorisoi.infra.worker import run_worker
from yorisoi.services.context import ActingContext, acting_as

STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")


def _record_without_catch_up(world) -> None:  # noqa: ANN001
    with world.services.runtimes.lease(CITY_A, current=False) as rt, acting_as(STAFF):
        rt.casework.record_consultation(consultation_command(
            site_id="a-counter", contract_id=None,
            occurred_on=japan_today() - timedelta(days=1)))

pytestmark = pytest.mark.parametrize("backend_settings", ["postgres"], indirect=True)


def _head_and_chained(world) -> tuple[int, set[int], int]:  # noqa: ANN001
    with world.services.runtimes.lease(CITY_A, current=False) as rt:
        head = rt.case_projector.status().head
        positions = set(view_positions(rt).values())
        with rt.casework.database.transaction(write=False) as cur:
            chained = cur.execute("SELECT COUNT(*) AS n FROM {s}audit_ledger"
                                  " WHERE kind = 'event'").fetchone()["n"]
    return head, positions, int(chained)


def test_two_workers_share_the_tenants_and_miss_nothing(world):
    stop = threading.Event()
    others = [Services(world.services.settings) for _ in range(2)]
    threads = [threading.Thread(target=run_worker, args=(services,),
                                kwargs={"poll_seconds": 0.1, "chain_seconds": 0.2,
                                        "stop": stop.is_set}, daemon=True)
               for services in others]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)  # both are listening
        for _ in range(6):
            _record_without_catch_up(world)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            head, positions, chained = _head_and_chained(world)
            if positions == {head} and chained >= head:
                break
            time.sleep(0.1)
        assert positions == {head}, (positions, head)
        assert chained >= head  # every event in the ledger (ids may have gaps: ≥)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        for services in others:
            services.close()
    assert not any(t.is_alive() for t in threads)
