"""The PostgreSQL event insert: one call that re-checks household keys, and reads ahead.

``PostgresTenantRecorder`` inserts through the space's ``yorisoi_insert_events``
function (key check under FOR SHARE, the library's ordering lock, the tenant's
NOTIFY, the insert); the mapper may then seal with a cached household key.
These tests run against the throwaway cluster with the real application.
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql
from key_destruction import destroy_key

from yorisoi.domain.cases import Case
from yorisoi.domain.households import Child, Guardian
from yorisoi.infra.clock import japan_today
from yorisoi.infra.recorders import INSERT_FUNCTION
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.personal_data import HouseholdKeyDestroyedError
from yorisoi.tenants.runtime import TenantRuntime

pytestmark = pytest.mark.parametrize("backend_settings", ["postgres"], indirect=True)

CITY_A = "131016"
STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")


def _command(case_id=None) -> RecordConsultation:  # noqa: ANN001
    day = japan_today() - timedelta(days=1)
    return RecordConsultation(
        municipality_code=CITY_A, site_id="a-counter", contract_id=None, occurred_on=day,
        channel="phone", themes=["development"], asked="架空の相談", wishes="", direction="",
        case_id=case_id,
        household=None if case_id else NewHousehold(
            guardians=[Guardian("架空 花子", "母")], children=[Child("架空 太郎", date(2024, 1, 1))],
            pregnancy=None),
        consent=None if case_id else NewConsent("架空 花子", "母", day, "相談記録の作成"))


def _events(rt: TenantRuntime) -> int:
    with rt.casework.database.transaction(write=False) as cur:
        return int(cur.execute("SELECT COUNT(*) AS n FROM {events}").fetchone()["n"])


def _owner(settings):  # noqa: ANN001, ANN202
    return psycopg.connect(host=settings.pg_host, port=settings.pg_port, dbname=settings.pg_dbname,
                           user=settings.pg_admin_user,
                           password=settings.pg_admin_password.get_secret_value(),
                           autocommit=True)


@pytest.fixture
def rt(world):
    with world.services.runtimes.lease(CITY_A) as runtime:
        yield runtime


def test_an_insert_checks_keys_so_events_are_sealed_with_the_cached_key(rt):
    with acting_as(STAFF):
        first = rt.casework.record_consultation(_command())
    assert rt.casework.recorder._function_ok is True
    assert rt.casework.keyring.keys_checked_on_insert is True
    keyring = rt.casework.keyring
    reads = []
    original = keyring.store.wrapped
    keyring.store.wrapped = lambda household_id: reads.append(household_id) or original(
        household_id)
    try:
        with acting_as(STAFF):
            rt.casework.record_consultation(_command(first.case_id))
    finally:
        keyring.store.wrapped = original
    assert reads == []  # sealed with the cached key: the insert itself checked the key row


def test_an_insert_is_refused_when_the_key_was_destroyed_after_it_was_cached(world, rt):
    with acting_as(STAFF):
        first = rt.casework.record_consultation(_command())
    other = TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
    try:
        with acting_as(STAFF):
            other.casework.record_consultation(_command(first.case_id))  # caches the key
        assert destroy_key(rt, first.household_id)
        before = _events(rt)  # (on PostgreSQL the disposal batch adds its own events)
        assert other.casework.keyring._cached(first.household_id) is not None
        with acting_as(STAFF), pytest.raises(HouseholdKeyDestroyedError) as refused:
            other.casework.record_consultation(_command(first.case_id))
        assert refused.value.args == (first.household_id,)
        assert _events(rt) == before  # nothing of the command was stored
    finally:
        other.close()


def test_events_without_personal_fields_do_not_wait_for_any_key(world, rt):
    with acting_as(STAFF):
        first = rt.casework.record_consultation(_command())
        destroy_key(rt, first.household_id)
        case = rt.casework.repository.get(first.case_id)
        case.close(closed_on=japan_today(), reason="support_completed", today=japan_today())
        rt.casework.save(case)  # Case events carry no personal field
    assert rt.casework.repository.get(first.case_id).status == Case.CLOSED


def test_a_space_without_the_function_falls_back_to_the_library_insert(world):
    settings = world.services.settings
    with _owner(settings) as conn:
        conn.execute(sql.SQL("DROP FUNCTION {}.{}").format(
            sql.Identifier(f"t_{CITY_A}"), sql.Identifier(INSERT_FUNCTION)))
    fresh = TenantRuntime(settings, CITY_A, world.services.key_provider)
    try:
        before = _events(fresh)
        with acting_as(STAFF):
            first = fresh.casework.record_consultation(_command())
            fresh.casework.record_consultation(_command(first.case_id))
        stored = _events(fresh)
        # A new household's first record (with the reception counter's two), then one more.
        assert stored == before + 9 + 2
        assert fresh.casework.recorder._function_ok is False
        assert fresh.casework.keyring.keys_checked_on_insert is False
        destroy_key(fresh, first.household_id)
        stored = _events(fresh)  # with the disposal batch's own events
        # Without the check at insert, the key row is read before every write again.
        with acting_as(STAFF), pytest.raises(HouseholdKeyDestroyedError):
            fresh.casework.record_consultation(_command(first.case_id))
        assert _events(fresh) == stored  # nothing of the refused command
    finally:
        fresh.close()


def test_read_ahead_serves_a_read_once_and_never_after_a_write(rt):
    recorder = rt.casework.recorder
    with acting_as(STAFF):
        first = rt.casework.record_consultation(_command())
    whole = len(recorder.select_events(first.case_id))
    recorder.read_ahead([first.case_id])  # outside a scope: nothing is kept
    with recorder.reading_ahead():
        recorder.read_ahead([first.case_id, uuid4()])
        assert len(recorder.select_events(first.case_id)) == whole  # served from the read
        with acting_as(STAFF):
            rt.casework.record_consultation(_command(first.case_id))  # a write in the scope
        assert len(recorder.select_events(first.case_id)) == whole + 1
        recorder.read_ahead([first.case_id])
        with acting_as(STAFF):
            case = rt.casework.repository.get(first.case_id)
            case.mark_council_case(council_case=True)
            rt.casework.save(case)  # drops what was read ahead
        assert len(recorder.select_events(first.case_id)) == whole + 2
