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
from yorisoi.infra.recorders import INSERT_FUNCTION, SpaceNotUpgradedError, ordering_lock_key
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


def test_a_space_without_the_function_refuses_writes_until_upgraded(world):
    # No fallback to the library's insert: its LOCK TABLE would not order against
    # the function's advisory lock, so projections could pass over a late commit.
    settings = world.services.settings
    with _owner(settings) as conn:
        conn.execute(sql.SQL("DROP FUNCTION {}.{}").format(
            sql.Identifier(f"t_{CITY_A}"), sql.Identifier(INSERT_FUNCTION)))
    fresh = TenantRuntime(settings, CITY_A, world.services.key_provider)
    try:
        before = _events(fresh)
        with acting_as(STAFF), pytest.raises(SpaceNotUpgradedError) as refused:
            fresh.casework.record_consultation(_command())
        assert "tenant upgrade" in str(refused.value)
        assert _events(fresh) == before  # nothing of the command was stored
    finally:
        fresh.close()
    world.services.directory.upgrade_spaces([CITY_A])
    upgraded = TenantRuntime(settings, CITY_A, world.services.key_provider)
    try:
        with acting_as(STAFF):
            first = upgraded.casework.record_consultation(_command())
        assert _events(upgraded) == before + 9
        assert upgraded.casework.recorder._function_ok is True
        assert first.case_id is not None
    finally:
        upgraded.close()


def test_the_ordering_lock_is_an_advisory_lock_of_the_space_not_a_table_lock(world, rt):
    # A table lock would conflict with the ROW EXCLUSIVE lock Citus holds on a moving
    # tenant's tables; the function must take no lock on the events table beyond the
    # insert's own ROW EXCLUSIVE.
    settings = world.services.settings
    with _owner(settings) as conn:
        body = conn.execute(
            "SELECT prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND p.proname = %s",
            (f"t_{CITY_A}", INSERT_FUNCTION)).fetchone()[0]
    assert "LOCK TABLE" not in body.upper()
    assert str(ordering_lock_key(f"t_{CITY_A}")) in body
    with _owner(settings) as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (ordering_lock_key(f"t_{CITY_A}"),))
        with _owner(settings) as other:
            other.execute("BEGIN")
            other.execute("SET LOCAL lock_timeout = '200ms'")
            # A row-level writer of the table (as during a move) is not blocked ...
            other.execute(sql.SQL("LOCK TABLE {}.{} IN ROW EXCLUSIVE MODE").format(
                sql.Identifier(f"t_{CITY_A}"), sql.Identifier(rt.casework.recorder.events_table_name)))
            other.execute("ROLLBACK")
        # ... while an insert waits for the ordering lock (and gives up at its lock_timeout).
        with _owner(settings) as waiter:
            waiter.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                waiter.execute(sql.SQL("SELECT * FROM {}.{}(ARRAY[%s]::uuid[], ARRAY[1]::int8[],"
                                       " ARRAY['x']::text[], ARRAY['\\x00']::bytea[],"
                                       " ARRAY[]::text[], ARRAY[]::uuid[], ARRAY[]::int8[])").format(
                    sql.Identifier(f"t_{CITY_A}"), sql.Identifier(INSERT_FUNCTION)), (uuid4(),))
        holder.execute("ROLLBACK")


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
