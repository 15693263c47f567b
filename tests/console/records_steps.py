"""Steps shared by the records-management tests: a family served years ago, a schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from world import CITY_A

from yorisoi.domain.households import Child, Guardian
from yorisoi.domain.retention import RECORD_CLASSES
from yorisoi.infra.clock import japan_today
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as

CITY_STAFF = ActingContext(user_id="a-city-specialist", role="specialist",
                           organisation_kind="municipality", organisation_id=CITY_A,
                           site_id="a-counter")
RECORDS_OFFICER = ActingContext(user_id="a-records-officer", role="municipal_supervisor",
                                organisation_kind="municipality", organisation_id=CITY_A)


@dataclass(frozen=True)
class Family:
    case_id: str
    household_id: str
    number: str  # 受付番号


def old_family(world, guardian: str = "旧例 洋子", closed_on: date | None = date(2019, 6, 1),
               opened_on: date = date(2019, 5, 10)) -> Family:  # noqa: ANN001
    """A family served at the city's counter years ago (its case closed), with consent."""
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(CITY_STAFF):
        recorded = rt.casework.record_consultation(RecordConsultation(
            municipality_code=CITY_A, site_id="a-counter", contract_id=None,
            occurred_on=opened_on, channel="visit", themes=["childcare_place"],
            asked="保育園の入園について", wishes="4月入園", direction="窓口を案内",
            household=NewHousehold(guardians=[Guardian(guardian, "母")],
                                   children=[Child("旧例 陽太", date(2017, 9, 1))],
                                   pregnancy=None),
            consent=NewConsent(guardian, "母", opened_on, "相談記録の作成")))
        if closed_on is not None:
            rt.casework.close_case(recorded.case_id, closed_on=closed_on,
                                   reason="support_completed", expected_version=None,
                                   writable_contract_ids=None)
        rt.catch_up()
        number = rt.casework.repository.get(recorded.case_id).reception_number
    return Family(str(recorded.case_id), str(recorded.household_id), number)


def schedule(world, *, years: int | None = 1, two_person: bool = True) -> None:  # noqa: ANN001
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(RECORDS_OFFICER):
        rt.casework.set_retention_schedule(effective_from=japan_today(),
                                           two_person_approval=two_person,
                                           years={name: years for name in RECORD_CLASSES})


def officer(client, subject: str = "a-supervisor") -> None:  # noqa: ANN001
    from console_steps import sign_in

    sign_in(client, "municipality", CITY_A, subject, "municipal_supervisor")
