"""Disposal purges a household's blind-index tokens: the family is no longer found.

The index key lives among the household keys (wrapped by the tenant key), so
the tenant-key rotation that ends every disposal re-wraps it: the families
that remain are still found afterwards, and after a rebuild too.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from yorisoi.domain.cases import Case
from yorisoi.domain.households import Child, Guardian, Household
from yorisoi.domain.retention import RECORD_CLASSES
from yorisoi.infra.clock import japan_today
from yorisoi.projections.case_queries import CaseScope
from yorisoi.projections.case_search import CaseFilter
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.disposal import Disposal
from yorisoi.tenants.runtime import TenantRuntime

CITY = "131016"
STAFF = ActingContext(user_id="a-specialist", role="specialist",
                      organisation_kind="municipality", organisation_id=CITY, site_id="a-counter")
PROPOSER = ActingContext(user_id="a-records-officer", role="municipal_supervisor",
                         organisation_kind="municipality", organisation_id=CITY)
APPROVER = ActingContext(user_id="a-records-chief", role="municipal_admin",
                         organisation_kind="municipality", organisation_id=CITY)


def _closed_family(rt: TenantRuntime, name: str, reading: str, phone: str) -> tuple[str, str]:
    with acting_as(STAFF):
        household = Household.register(
            guardians=[Guardian(f"{name} 花子", "母", reading=f"{reading} ハナコ", phone=phone)],
            children=[Child(f"{name} 太郎", date(2017, 5, 1), reading=f"{reading} タロウ")],
            pregnancy=None, today=japan_today())
        case = Case(household_id=household.id, municipality_code=CITY, site_id="a-counter",
                    contract_id=None, opened_on=date(2018, 5, 1))
        rt.casework.save(household, case)
        rt.casework.close_case(case.id, closed_on=date(2019, 6, 1), reason="support_completed",
                               expected_version=None, writable_contract_ids=None)
    rt.catch_up()
    return str(case.id), str(household.id)


def _found(rt: TenantRuntime, text: str) -> list[str]:
    return [c.case_id for c in rt.cases.page(CaseScope(), first=20,
                                             filter=CaseFilter(text=text)).cases]


def test_a_disposed_family_is_no_longer_found(world):
    with world.services.runtimes.lease(CITY) as rt:
        gone_case, gone = _closed_family(rt, "廃棄", "ハイキ", "090-1111-2222")
        kept_case, _ = _closed_family(rt, "保存", "ホゾン", "090-3333-4444")
        assert _found(rt, "はいき") == [gone_case]
        assert _found(rt, "09011112222") == [gone_case]
        with acting_as(APPROVER):
            rt.casework.set_retention_schedule(
                effective_from=japan_today(), two_person_approval=True,
                years={name: 1 for name in RECORD_CLASSES})
        disposal = Disposal(rt, world.services.objects, world.services.signer)
        with acting_as(PROPOSER):
            batch = disposal.propose([gone])
        with acting_as(APPROVER):
            rt.casework.approve_disposal(batch.id, expected_version=None)
            disposal.run(batch.id)
        with rt.casework.database.transaction(write=False) as cur:
            left = cur.execute("SELECT COUNT(*) AS n FROM {s}household_index_token"
                               " WHERE household_id = %s", (gone,)).fetchone()
        assert int(left["n"]) == 0
        assert _found(rt, "はいき") == []
        assert _found(rt, "廃棄") == []
        assert _found(rt, "090-1111-2222") == []
        # The rotation re-wrapped the index key: the others are still found, after a rebuild too.
        rt.casework.keyring._cache.clear()
        fresh = TenantRuntime(world.services.settings, CITY, world.services.key_provider)
        try:
            assert _found(fresh, "ほぞん") == [kept_case]
            projector = next(p for p in fresh.projectors if p.view.name == "household_index")
            projector.rebuild()
            assert _found(fresh, "ほぞん") == [kept_case]
            assert _found(fresh, "はいき") == []
            assert fresh.casework.keyring.for_reading(UUID(gone)) is None
        finally:
            fresh.close()
