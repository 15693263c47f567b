"""The database lets a household key go only with the approved disposal batch that names it.

Probed as the application role (``yorisoi_app``) on PostgreSQL, with plain SQL:
a stray ``UPDATE … SET wrapped_key = NULL`` is refused, and so is every way of
forging the authorisation; the real disposal still destroys the key.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from world import CITY_A, build_world

from yorisoi.domain.households import Child, Guardian
from yorisoi.domain.retention import RECORD_CLASSES
from yorisoi.infra.clock import japan_today
from yorisoi.infra.household_keys import KeyDestructionRefusedError
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.disposal import Disposal

SPACE = f"t_{CITY_A}"
PROPOSER = ActingContext(user_id="a-records-officer", role="municipal_supervisor",
                         organisation_kind="municipality", organisation_id=CITY_A)
APPROVER = ActingContext(user_id="a-records-chief", role="municipal_admin",
                         organisation_kind="municipality", organisation_id=CITY_A)
STAFF = ActingContext(user_id="a-specialist", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
REFUSED = "destroyed only by an approved disposal batch"


@pytest.fixture
def pg_world(pg_settings: Any) -> Any:
    built = build_world(pg_settings)
    yield built
    built.services.close()


def _household(rt: Any) -> UUID:
    with acting_as(STAFF):
        recorded = rt.casework.record_consultation(RecordConsultation(
            municipality_code=CITY_A, site_id="a-counter", contract_id=None,
            occurred_on=date(2018, 5, 1), channel="visit", themes=["development"],
            asked="相談", wishes="", direction="",
            household=NewHousehold(guardians=[Guardian("鍵 花子", "母")],
                                   children=[Child("鍵 たろう", date(2017, 5, 1))],
                                   pregnancy=None),
            consent=NewConsent("鍵 花子", "母", date(2018, 5, 1), "相談記録の作成")))
        rt.casework.close_case(recorded.case_id, closed_on=date(2019, 6, 1),
                               reason="support_completed", expected_version=None,
                               writable_contract_ids=None)
    rt.catch_up()
    return recorded.household_id


def _schedule(rt: Any) -> None:
    with acting_as(APPROVER):
        rt.casework.set_retention_schedule(effective_from=japan_today(), two_person_approval=True,
                                           years={name: 1 for name in RECORD_CLASSES})
    rt.catch_up()


def _as_app(pg_cluster: Any, world: Any) -> psycopg.Connection:
    return pg_cluster.connect(world.services.settings.pg_dbname, "app")


def _refused(conn: psycopg.Connection, statement: str, params: tuple = (),
             needle: str = "") -> str:
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(statement, params)
    conn.rollback()
    if needle:
        assert needle in str(raised.value), raised.value
    return str(raised.value)


def _live(world: Any, household_id: UUID) -> bool:
    with world.services.runtimes.lease(CITY_A) as rt:
        row = rt.casework.keyring.store.row(household_id)
    return row is not None and row["wrapped_key"] is not None


@pytest.mark.postgres
def test_a_stray_update_by_the_application_role_is_refused(pg_world, pg_cluster):
    with pg_world.services.runtimes.lease(CITY_A) as rt:
        household = _household(rt)
    with _as_app(pg_cluster, pg_world) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == pg_cluster.app_user
        for statement in (
                f"UPDATE {SPACE}.household_keys SET wrapped_key = NULL,"
                " destroyed_at = now()::text WHERE household_id = %s",
                f"UPDATE {SPACE}.household_keys SET wrapped_key = NULL WHERE household_id = %s"):
            _refused(conn, statement, (str(household),), REFUSED)
        # Every key at once, too.
        _refused(conn, f"UPDATE {SPACE}.household_keys SET wrapped_key = NULL", (), REFUSED)
    assert _live(pg_world, household)
    # The application's own call without a batch is refused the same way, with a typed error.
    with pg_world.services.runtimes.lease(CITY_A) as rt:
        with pytest.raises(KeyDestructionRefusedError) as raised:
            rt.casework.keyring.destroy(household)
        assert raised.value.code == "key_destruction_unauthorised"
        assert raised.value.message_ja
    assert _live(pg_world, household)


@pytest.mark.postgres
def test_forged_authorisations_are_refused(pg_world, pg_cluster):
    with pg_world.services.runtimes.lease(CITY_A) as rt:
        household, other = _household(rt), _household(rt)
        _schedule(rt)
        disposal = Disposal(rt, pg_world.services.objects, pg_world.services.signer)
        with acting_as(PROPOSER):
            proposed = disposal.propose([str(household)])  # proposed, not approved
            approved = disposal.propose([str(household)])
        with acting_as(APPROVER):
            rt.casework.approve_disposal(approved.id, expected_version=None)
    insert = (f"INSERT INTO {SPACE}.disposal_authorisations (batch_id, household_id,"
              " proposed_by, approved_by, txid) VALUES (%s, %s, %s, %s, %s)")
    with _as_app(pg_cluster, pg_world) as conn:
        unknown = "no such disposal batch"
        _refused(conn, insert, (str(uuid4()), str(household), "x", "y", 0), unknown)
        _refused(conn, insert, ("not-a-uuid", str(household), "x", "y", 0), unknown)
        _refused(conn, insert, (str(proposed.id), str(household), "x", "y", 0), "not approved")
        _refused(conn, insert, (str(approved.id), str(other), "x", "y", 0),
                 "does not name this household")

        # A valid authorisation committed in one transaction does not license an
        # update in another: the guard wants this transaction's own authorisation.
        conn.execute(insert, (str(approved.id), str(household), "forged", "forged", 0))
        row = conn.execute(f"SELECT proposed_by, approved_by, txid FROM {SPACE}."
                           "disposal_authorisations WHERE household_id = %s",
                           (str(household),)).fetchone()
        assert row[:2] == ("a-records-officer", "a-records-chief")  # from the batch, not the writer
        assert row[2] != 0
        conn.commit()
        _refused(conn, f"UPDATE {SPACE}.household_keys SET wrapped_key = NULL"
                 " WHERE household_id = %s", (str(household),), REFUSED)
        # The authorisation cannot be moved to another transaction, another household or removed.
        for statement in (f"UPDATE {SPACE}.disposal_authorisations SET txid = txid_current()",
                          f"UPDATE {SPACE}.disposal_authorisations SET household_id = %s",
                          f"DELETE FROM {SPACE}.disposal_authorisations"):
            _refused(conn, statement, (str(other),) if "%s" in statement else ())
        # Another household's key is not covered by this household's authorisation.
        _refused(conn, f"UPDATE {SPACE}.household_keys SET wrapped_key = NULL"
                 " WHERE household_id = %s", (str(other),), REFUSED)
    assert _live(pg_world, household) and _live(pg_world, other)


@pytest.mark.postgres
def test_the_real_disposal_destroys_the_key_with_its_authorisation(pg_world):
    with pg_world.services.runtimes.lease(CITY_A) as rt:
        household, kept = _household(rt), _household(rt)
        _schedule(rt)
        disposal = Disposal(rt, pg_world.services.objects, pg_world.services.signer)
        with acting_as(PROPOSER):
            batch = disposal.propose([str(household)])
        with acting_as(APPROVER):
            rt.casework.approve_disposal(batch.id, expected_version=None)
            assert disposal.run(batch.id).disposed == [str(household)]
        [authorisation] = rt.casework.keyring.store.authorisations(household)
        assert authorisation["batch_id"] == str(batch.id)
        assert (authorisation["proposed_by"], authorisation["approved_by"]) == (
            "a-records-officer", "a-records-chief")
        assert rt.casework.keyring.store.authorisations(kept) == []
    assert not _live(pg_world, household) and _live(pg_world, kept)


@pytest.mark.postgres
def test_tenant_upgrade_installs_the_guard_in_an_existing_space(pg_world, pg_cluster):
    """A space provisioned before the guard existed gets it from `yorisoi tenant upgrade`."""
    database = pg_world.services.settings.pg_dbname
    with pg_cluster.connect(database, "owner") as owner:
        owner.execute(f"DROP TRIGGER household_keys_guard ON {SPACE}.household_keys")
        owner.execute(f"DROP TABLE {SPACE}.disposal_authorisations")
        owner.commit()
    with pg_world.services.runtimes.lease(CITY_A) as rt:
        household = _household(rt)
    pg_world.services.directory.upgrade_spaces([CITY_A])
    with _as_app(pg_cluster, pg_world) as conn:
        _refused(conn, f"UPDATE {SPACE}.household_keys SET wrapped_key = NULL"
                 " WHERE household_id = %s", (str(household),), REFUSED)
    assert _live(pg_world, household)
