"""Eight writers on one case: every command lands, none is refused, nothing is lost.

Commands read the case, decide and write; two that read the same version
collide at the insert (the loser's read went stale).  After the first
collision the attempts queue on the case's advisory lock
(``TenantApplication.serialised``): each then reads what the one before it
wrote, so eight concurrent specialists — in separate runtimes, as separate
server processes would be — all succeed.
"""

from __future__ import annotations

import threading
from functools import partial

import pytest
from world import consultation_command

from yorisoi.services.context import ActingContext, acting_as
from yorisoi.tenants.runtime import TenantRuntime

pytestmark = pytest.mark.parametrize("backend_settings", ["postgres"], indirect=True)

CITY_A = "131016"
STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
_command = partial(consultation_command, site_id="a-counter", contract_id=None, wishes="",
                   direction="")
WRITERS, EACH = 8, 3


def test_eight_writers_on_one_case_all_land_and_none_is_refused(world):
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        first = rt.casework.record_consultation(_command())
    runtimes = [TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
                for _ in range(WRITERS)]
    start, failures, written = threading.Barrier(WRITERS), [], []

    def writer(runtime: TenantRuntime) -> None:
        start.wait()
        for _ in range(EACH):
            try:
                with acting_as(STAFF):
                    written.append(runtime.casework.record_consultation(
                        _command(case_id=first.case_id, household=None, consent=None))
                        .consultation_id)
            except Exception as error:  # noqa: BLE001 - every refusal is a failure here
                failures.append(repr(error))

    threads = [threading.Thread(target=writer, args=(r,)) for r in runtimes]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    finally:
        for r in runtimes:
            r.close()
    assert failures == []
    assert len(written) == WRITERS * EACH
    with world.services.runtimes.lease(CITY_A) as rt:
        case = rt.casework.repository.get(first.case_id)
    # No lost update: every consultation is noted on the case exactly once.
    assert case.consultation_ids[1:] == [c for c in case.consultation_ids[1:] if c in written]
    assert sorted(map(str, case.consultation_ids[1:])) == sorted(map(str, written))
