"""Provisioning on PostgreSQL: schema per municipality, immutable events, powerless app role."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest
from psycopg import sql

from yorisoi.domain.households import Guardian, Pregnancy
from yorisoi.infra.clock import japan_today
from yorisoi.infra.keys import build_key_provider
from yorisoi.projections.case_queries import CaseScope
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.tenants.provisioning import Provisioner
from yorisoi.tenants.runtime import TenantRuntime

pytestmark = pytest.mark.postgres

CITY_A, CITY_B = "131016", "141003"
EVENTS = "casework_events"
STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")


def _record(settings, key_provider, code: str, asked: str = "相談") -> None:
    rt = TenantRuntime(settings, code, key_provider)
    try:
        with acting_as(STAFF):
            rt.casework.record_consultation(RecordConsultation(
                municipality_code=code, site_id="a-counter", contract_id=None,
                occurred_on=japan_today() - timedelta(days=1), channel="visit",
                themes=["pregnancy_birth"], asked=asked, wishes="", direction="",
                consent=NewConsent("架空 花子", "母", japan_today() - timedelta(days=1)),
                household=NewHousehold(guardians=[Guardian("架空 花子", "母")], children=[],
                                       pregnancy=Pregnancy(japan_today() + timedelta(days=90)))))
    finally:
        rt.close()


@pytest.fixture
def provisioned(pg_settings):
    key_provider = build_key_provider(pg_settings)
    provisioner = Provisioner(pg_settings, key_provider)
    provisioner.init_platform()
    assert provisioner.create_municipality_space(CITY_A) == "t_131016"
    assert provisioner.create_municipality_space(CITY_B) == "t_141003"
    return provisioner, key_provider


def _tables(conn, schema: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        (schema,)).fetchall()}


def _count(conn, schema: str) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
        sql.Identifier(schema), sql.Identifier(EVENTS))).fetchone()[0]


def test_provisioning_twice_changes_nothing_and_keeps_recorded_events(
        provisioned, pg_settings, pg_cluster, pg_database):
    provisioner, key_provider = provisioned
    _record(pg_settings, key_provider, CITY_A)
    with pg_cluster.connect(pg_database, "owner") as conn:
        before = {s: _tables(conn, s) for s in ("platform", "t_131016", "t_141003")}
        # A new household's record with its consent, and the year's first reception number
        # (its counter starts, then assigns): 9 events.
        assert _count(conn, "t_131016") == 9
    provisioner.init_platform()
    assert provisioner.create_municipality_space(CITY_A) == "t_131016"
    assert provisioner.create_municipality_space(CITY_A) == "t_131016"
    with pg_cluster.connect(pg_database, "owner") as conn:
        assert {s: _tables(conn, s) for s in before} == before
        assert _count(conn, "t_131016") == 9
        triggers = conn.execute(
            "SELECT count(*) FROM information_schema.triggers WHERE event_object_schema = %s"
            " AND event_object_table = %s AND trigger_name = 'events_immutable'",
            ("t_131016", EVENTS)).fetchone()[0]
        assert triggers == 2  # one trigger, listed once for UPDATE and once for DELETE
    # The tenant key survived re-provisioning: old events still decrypt.
    rt = TenantRuntime(pg_settings, CITY_A, key_provider)
    try:
        rt.catch_up()
        (case,) = rt.cases.page(CaseScope(), first=5).cases
        household = rt.cases.households([case.household_id])[case.household_id]
        assert household.guardians == [{"name": "架空 花子", "relationship": "母", "reading": None,
                                       "phone": None}]
    finally:
        rt.close()


def test_each_municipality_has_its_own_schema_events_table_and_sequence(
        provisioned, pg_settings, pg_cluster, pg_database):
    _, key_provider = provisioned
    with pg_cluster.connect(pg_database, "owner") as conn:
        for schema in ("t_131016", "t_141003"):
            assert {EVENTS, "household_keys", "case_view", "household_view",
                    "consultation_view", "projection_positions"} <= _tables(conn, schema)
        sequences = conn.execute(
            "SELECT schemaname, sequencename FROM pg_sequences"
            " WHERE schemaname IN ('t_131016', 't_141003') AND sequencename LIKE %s"
            " ORDER BY schemaname", (f"{EVENTS}%",)).fetchall()
        assert [s for s, _ in sequences] == ["t_131016", "t_141003"]
        assert len({name for _, name in sequences}) == 1  # same name, separate schemas
    _record(pg_settings, key_provider, CITY_A)
    _record(pg_settings, key_provider, CITY_A)
    _record(pg_settings, key_provider, CITY_B)
    with pg_cluster.connect(pg_database, "owner") as conn:
        ids = {schema: [r[0] for r in conn.execute(sql.SQL(
            "SELECT notification_id FROM {}.{} ORDER BY notification_id").format(
                sql.Identifier(schema), sql.Identifier(EVENTS))).fetchall()]
            for schema in ("t_131016", "t_141003")}
    # One log and one position per tenant: each numbers its own events from 1.
    # 7 events per new household with consent, and its reception number (the year's first
    # also starts the counter): 9 + 8 here, 9 there.
    assert ids["t_131016"] == list(range(1, 18))
    assert ids["t_141003"] == list(range(1, 10))


def _as_app(pg_cluster, pg_database):
    return pg_cluster.connect(pg_database, "app", autocommit=True)


def test_app_role_cannot_change_or_delete_a_stored_event(provisioned, pg_settings, pg_cluster,
                                                          pg_database):
    _, key_provider = provisioned
    _record(pg_settings, key_provider, CITY_A)
    with _as_app(pg_cluster, pg_database) as conn:
        # Neither UPDATE nor DELETE is granted (inserts are ordered by an advisory lock).
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE t_131016.casework_events SET topic = topic")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE t_131016.casework_events SET state = '\\x00'::bytea"
                         " WHERE notification_id = 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM t_131016.casework_events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE t_131016.casework_events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE t_131016.casework_events DISABLE TRIGGER events_immutable")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET session_replication_role = replica")  # would skip triggers
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TRIGGER events_immutable ON t_131016.casework_events")
        assert conn.execute("SELECT count(*) FROM t_131016.casework_events").fetchone()[0] == 9
    # The trigger holds even for the owner role that ran the DDL.
    with pg_cluster.connect(pg_database, "owner", autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="stored events are immutable"):
            conn.execute("DELETE FROM t_131016.casework_events")
        with pytest.raises(psycopg.errors.RaiseException, match="stored events are immutable"):
            conn.execute("UPDATE t_131016.casework_events SET originator_version = 99")


def test_app_role_cannot_create_alter_or_drop_tables(provisioned, pg_cluster, pg_database):
    with _as_app(pg_cluster, pg_database) as conn:
        for statement in (
            "CREATE TABLE t_131016.smuggled (id int)",
            "CREATE TABLE platform.smuggled (id int)",
            "CREATE TABLE public.smuggled (id int)",
            "DROP TABLE t_131016.casework_events",
            "DROP TABLE t_131016.household_keys",
            "DROP TABLE platform.tenants",
            "ALTER TABLE t_131016.case_view ADD COLUMN note text",
            "DROP SCHEMA t_141003 CASCADE",
            "CREATE SCHEMA t_999999",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_app_role_owns_no_table_sequence_schema_or_function(provisioned, pg_cluster, pg_database):
    with _as_app(pg_cluster, pg_database) as conn:
        owned = conn.execute(
            "SELECT (SELECT count(*) FROM pg_class WHERE relowner = 'yorisoi_app'::regrole)"
            " + (SELECT count(*) FROM pg_namespace WHERE nspowner = 'yorisoi_app'::regrole)"
            " + (SELECT count(*) FROM pg_proc WHERE proowner = 'yorisoi_app'::regrole)"
        ).fetchone()[0]
        assert owned == 0
        owners = {r[0] for r in conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables"
            " WHERE schemaname IN ('platform', 't_131016', 't_141003')").fetchall()}
        assert owners == {"yorisoi_owner"}


def test_app_role_cannot_connect_to_a_database_it_was_not_granted(pg_cluster):
    other = f"t_other_{date.today():%Y%m%d}_{id(pg_cluster) % 100000}"
    with pg_cluster.connect("postgres", "superuser", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER yorisoi_owner").format(
            sql.Identifier(other)))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
            sql.Identifier(other)))
    try:
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            pg_cluster.connect(other, "app").close()
    finally:
        pg_cluster.drop_database(other)


def test_tenant_schemas_are_unrelated_no_foreign_keys_across_schemas(provisioned, pg_cluster,
                                                                       pg_database):
    with pg_cluster.connect(pg_database, "owner") as conn:
        cross = conn.execute(
            "SELECT count(*) FROM pg_constraint c JOIN pg_class a ON a.oid = c.conrelid"
            " JOIN pg_class b ON b.oid = c.confrelid WHERE c.contype = 'f'"
            " AND a.relnamespace <> b.relnamespace").fetchone()[0]
        assert cross == 0


def test_app_role_cannot_erase_or_undo_the_proof_of_disposal(provisioned, pg_settings,
                                                             pg_cluster, pg_database):
    _, key_provider = provisioned
    _record(pg_settings, key_provider, CITY_A)
    with _as_app(pg_cluster, pg_database) as conn:
        household_id, wrapped = conn.execute(
            "SELECT household_id, wrapped_key FROM t_131016.household_keys").fetchone()
        # Destroying a key needs the approved disposal batch that names it
        # (tests/tenants/test_key_destruction_guard.py); a stray UPDATE is refused.
        with pytest.raises(psycopg.errors.Error), conn.transaction():
            conn.execute("UPDATE t_131016.household_keys SET wrapped_key = NULL,"
                         " destroyed_at = now()::text WHERE household_id = %s", (household_id,))
        with pytest.raises(psycopg.errors.Error), conn.transaction():
            conn.execute("DELETE FROM t_131016.household_keys WHERE household_id = %s",
                         (household_id,))
        assert conn.execute("SELECT wrapped_key FROM t_131016.household_keys"
                            " WHERE household_id = %s", (household_id,)).fetchone()[0] == wrapped


def test_platform_tables_force_row_level_security(provisioned, pg_cluster, pg_database):
    with pg_cluster.connect(pg_database, "owner") as conn:
        rows = conn.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'platform'"
            " AND c.relname IN ('tenants', 'sites', 'contracts', 'identity_providers')"
        ).fetchall()
    assert len(rows) == 4
    assert all(rls and forced for _, rls, forced in rows), rows
