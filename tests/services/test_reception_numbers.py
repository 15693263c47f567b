"""Reception numbers (受付番号): sequential per fiscal year, restarting in April, never shared."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from functools import partial

from world import CITY_A, consultation_command, gql, npo, record, supervisor

from yorisoi.domain.reception_numbers import (
    fiscal_year_of,
    format_reception_number,
    parse_reception_number,
)
from yorisoi.infra.clock import japan_today
from yorisoi.projections.case_queries import CaseScope
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.tenants.runtime import TenantRuntime
from yorisoi.tenants.spaces import municipality_space

STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
_command = partial(consultation_command, site_id="a-counter", contract_id=None)


def _opened_on(day: date):  # noqa: ANN202 - RecordConsultation
    return _command(occurred_on=day, consent=NewConsent(
        given_by="架空 花子", relationship="母", given_on=day, scope="相談記録の作成"))


def test_numbers_name_the_reiwa_fiscal_year_and_typed_forms_are_understood():
    assert fiscal_year_of(date(2026, 3, 31)) == 2025 and fiscal_year_of(date(2026, 4, 1)) == 2026
    assert format_reception_number(2026, 123) == "R8-000123"
    for typed in ("R8-000123", "r8-123", "Ｒ８－０００１２３", "令和8年度-123", "R8 ‐ 123"):
        assert parse_reception_number(typed) == "R8-000123", typed
    for not_a_number in ("R8", "8-123", "R0-1", "R8-0", "R8-1234567", "case 1"):
        assert parse_reception_number(not_a_number) is None, not_a_number


def test_numbers_are_sequential_per_fiscal_year_and_restart_in_april(world):
    this_april = date(fiscal_year_of(japan_today()), 4, 1)
    days = [this_april - timedelta(days=2), this_april - timedelta(days=1), this_april,
            this_april - timedelta(days=3), min(this_april + timedelta(days=1), japan_today())]
    last_year = this_april.year - 1 - 2018
    this_year = this_april.year - 2018
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        numbers = [rt.casework.record_consultation(_opened_on(day)).reception_number
                   for day in days]
        # A consultation on an existing case keeps the case's number, and takes none.
        again = rt.casework.record_consultation(_command(
            case_id=rt.casework.record_consultation(_command()).case_id, household=None,
            consent=None))
        after = rt.casework.record_consultation(_command())
        rt.catch_up()
        stored = {r.reception_number for r in rt.cases.page(CaseScope(), first=100).cases}
    assert numbers == [f"R{last_year}-000001", f"R{last_year}-000002", f"R{this_year}-000001",
                       f"R{last_year}-000003", f"R{this_year}-000002"]
    assert again.reception_number == f"R{this_year}-000003"
    assert after.reception_number == f"R{this_year}-000004"
    # The case view carries the number of every case.
    assert stored == {*numbers, f"R{this_year}-000003", f"R{this_year}-000004"}


def test_concurrent_openings_never_share_a_number(world):
    writers = 6
    runtimes = [TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
                for _ in range(writers)]
    start = threading.Barrier(writers)
    numbers: list[str] = []
    failures: list[BaseException] = []

    def open_one(rt: TenantRuntime) -> None:
        try:
            with acting_as(STAFF):
                start.wait()
                numbers.append(rt.casework.record_consultation(_command()).reception_number)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=open_one, args=(rt,)) for rt in runtimes]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for rt in runtimes:
            rt.close()
    assert not failures, failures
    year = fiscal_year_of(japan_today())
    assert sorted(numbers) == [format_reception_number(year, n) for n in range(1, writers + 1)]


CASE_NUMBER = "query($id: ID!) { case(id: $id) { receptionNumber } }"
ON_CASE = """mutation R($input: RecordConsultationInput!) { recordConsultation(input: $input) {
  __typename ... on ConsultationRecorded { case { id receptionNumber consultationCount } }
  ... on UserError { code } } }"""


def test_a_reception_number_is_accepted_as_case_id(client, world):
    first = record(client, npo(world))
    case_id = first["case"]["id"]
    number = gql(client, CASE_NUMBER, {"id": case_id}, supervisor(world))["data"]["case"][
        "receptionNumber"]
    assert parse_reception_number(number) == number
    # The case query takes the number as it takes the id.
    by_number = gql(client, "query($id: ID!) { case(id: $id) { id } }", {"id": number},
                    supervisor(world))["data"]["case"]
    assert by_number == {"id": case_id}
    typed = number.replace("R", "令和").replace("-", "年度-")  # 令和8年度-000001
    for given in (number, typed.translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))):
        body = gql(client, ON_CASE, {"input": {**_existing(), "caseId": given}}, npo(world))
        result = body["data"]["recordConsultation"]
        assert result["__typename"] == "ConsultationRecorded", body
        assert result["case"]["id"] == case_id and result["case"]["receptionNumber"] == number
    # A number nobody was given, and one outside the caller's reach, read as no such case.
    year = number.split("-")[0]
    body = gql(client, ON_CASE, {"input": {**_existing(), "caseId": f"{year}-999999"}},
               npo(world))
    assert body["data"]["recordConsultation"] == {"__typename": "NotFoundError",
                                                  "code": "case_not_found"}


def _existing() -> dict[str, object]:
    from world import consultation_input

    data = consultation_input()
    del data["household"], data["consent"]
    return data


def test_upgrade_adds_the_column_to_a_space_provisioned_before_it(world):
    with world.services.runtimes.lease(CITY_A) as rt:
        db = rt.casework.database
        schema = db.schema
    admin_drop(world, schema)
    assert world.services.directory.upgrade_spaces([CITY_A]) == [CITY_A]
    rt = TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
    try:
        with acting_as(STAFF):
            done = rt.casework.record_consultation(_command())
        rt.catch_up()
        found = rt.cases.get(CaseScope(), str(done.case_id))
        assert found is not None and found.reception_number == done.reception_number
    finally:
        rt.close()
    # Running it again changes nothing (the column is there now).
    assert world.services.directory.upgrade_spaces([CITY_A]) == [CITY_A]


def admin_drop(world, schema: str | None) -> None:  # noqa: ANN001
    """Make the space look provisioned before the column existed."""
    settings = world.services.settings
    if settings.backend == "sqlite":
        import sqlite3

        path = settings.sqlite_dir / f"{municipality_space(CITY_A)}.sqlite"
        with sqlite3.connect(path) as conn:
            conn.execute("DROP INDEX IF EXISTS case_view_reception")
            conn.execute("ALTER TABLE case_view DROP COLUMN reception_number")
        return
    import psycopg

    with psycopg.connect(host=settings.pg_host, port=settings.pg_port, dbname=settings.pg_dbname,
                         user=settings.pg_admin_user,
                         password=settings.pg_admin_password.get_secret_value(),
                         autocommit=True) as conn:
        conn.execute(f'DROP INDEX IF EXISTS "{schema}".case_view_reception')
        conn.execute(f'ALTER TABLE "{schema}".case_view DROP COLUMN reception_number')


def test_cases_opened_before_numbers_still_load_without_one(world, monkeypatch):
    """A v1 Case.Opened (no reception_number) is upcast when read, and projects as None."""
    from yorisoi.domain.cases import Case
    from yorisoi.domain.households import Guardian, Household

    household = Household.register(guardians=[Guardian("架空 花子", "母")], children=[],
                                   pregnancy=None, today=japan_today(),
                                   outside_target_reason="祖母からの相談")
    case = Case(household_id=household.id, municipality_code=CITY_A, site_id="a-counter",
                contract_id=None, opened_on=japan_today())
    (opened,) = case._pending_events
    del opened.__dict__["reception_number"]
    monkeypatch.setattr(Case.Opened, "class_version", 1)
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        stored = rt.casework.mapper.to_stored_event(opened)
        assert b"class_version" not in stored.state and b"reception_number" not in stored.state
        rt.casework.save(household, case)
        monkeypatch.undo()
        rt.casework.mapper._classes = None  # class versions are looked up once per topic
        assert rt.casework.repository.get(case.id).reception_number is None
        rt.catch_up()
        found = rt.cases.get(CaseScope(), str(case.id))
    assert found is not None and found.reception_number is None
