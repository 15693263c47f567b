"""Provisioning: the only place that runs DDL.

A space's tables are created once, when the tenant is provisioned, by the
owner role; the application role that serves requests owns nothing and may
not alter a table.  (Running the library's CREATE TABLE at every start-up
races between processes: ``tuple concurrently updated``.)
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from yorisoi.infra.audit_ledger_store import platform_ledger_ddl
from yorisoi.infra.db import Database
from yorisoi.infra.household_keys import DISPOSAL_AUTHORISATIONS_DDL, HOUSEHOLD_KEYS_DDL
from yorisoi.infra.keys import TenantKeyProvider
from yorisoi.infra.rate_limits import RATE_LIMIT_TABLE, rate_limit_ddl
from yorisoi.infra.session_revocations import REVOCATIONS_TABLE, revocations_ddl
from yorisoi.infra.settings import Settings
from yorisoi.projections.runner import POSITIONS_DDL
from yorisoi.projections.tenant_views import tenant_view_ddl, tenant_view_tables
from yorisoi.services.casework import CaseworkApplication
from yorisoi.services.platform import PlatformApplication
from yorisoi.services.tenant_application import TenantApplication
from yorisoi.tenants.citus import (
    citus_active,
    create_schema,
    distribute_schema,
    space_ddl_preamble,
)
from yorisoi.tenants.neighbours import NEIGHBOUR_TABLES, NeighbourView
from yorisoi.tenants.registry import REGISTRY_TABLES, RegistryView
from yorisoi.tenants.space_tables import space_table_ddl, space_writable_tables
from yorisoi.tenants.spaces import PLATFORM_SPACE, event_store_env, municipality_space

_IMMUTABLE_EVENTS_PG = [
    "CREATE OR REPLACE FUNCTION {s}forbid_event_change() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'stored events are immutable'; END $$",
    "DROP TRIGGER IF EXISTS events_immutable ON {events}",
    "CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON {events}"
    " FOR EACH ROW EXECUTE FUNCTION {s}forbid_event_change()",
]
# The proof of disposal: a destroyed key stays destroyed, and its row stays.
_KEYS_GUARD_PG = [
    "CREATE OR REPLACE FUNCTION {s}guard_household_keys() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'household keys are never deleted'; END IF;"
    " IF OLD.wrapped_key IS NULL AND NEW.wrapped_key IS NOT NULL THEN"
    "  RAISE EXCEPTION 'a destroyed household key cannot come back'; END IF;"
    " IF OLD.destroyed_at IS NOT NULL AND NEW.destroyed_at IS DISTINCT FROM OLD.destroyed_at THEN"
    "  RAISE EXCEPTION 'the time of destruction is kept'; END IF;"
    # Destroyed only together with the approved batch that names the household:
    # its authorisation row, checked on insert, written by this very transaction.
    " IF OLD.wrapped_key IS NOT NULL AND NEW.wrapped_key IS NULL AND NOT EXISTS ("
    "  SELECT 1 FROM {s}disposal_authorisations a"
    "  WHERE a.household_id = NEW.household_id AND a.txid = txid_current()) THEN"
    "  RAISE EXCEPTION 'a household key is destroyed only by an approved disposal batch"
    " that names it' USING ERRCODE = 'YKD01'; END IF;"
    " RETURN NEW; END $$",
    "DROP TRIGGER IF EXISTS household_keys_guard ON {s}household_keys",
    "CREATE TRIGGER household_keys_guard BEFORE UPDATE OR DELETE ON {s}household_keys"
    " FOR EACH ROW EXECUTE FUNCTION {s}guard_household_keys()",
]
# An authorisation is the batch itself, read from the space's immutable event log:
# its proposal names the household, it was approved, by a second person where the
# batch (from its schedule version) requires two.  Who, when and which transaction
# are filled in here, not taken from the writer.
_DISPOSAL_AUTHORISATION_PG = [
    "CREATE OR REPLACE FUNCTION {s}check_disposal_authorisation() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ DECLARE proposed jsonb; approved jsonb; BEGIN"
    " IF TG_OP <> 'INSERT' THEN RAISE EXCEPTION 'disposal batch authorisations are kept'"
    " USING ERRCODE = 'YKD02';"
    " END IF;"
    " IF NEW.batch_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"
    " THEN RAISE EXCEPTION 'no such disposal batch'"
    " USING ERRCODE = 'YKD02'; END IF;"
    " SELECT convert_from(e.state, 'UTF8')::jsonb INTO proposed FROM {events} e"
    "  WHERE e.originator_id = NEW.batch_id::uuid AND e.originator_version = 1"
    "  AND e.topic = 'yorisoi.domain.disposal:DisposalBatch.Proposed';"
    " IF proposed IS NULL THEN RAISE EXCEPTION 'no such disposal batch'"
    " USING ERRCODE = 'YKD02'; END IF;"
    " IF NOT coalesce(proposed -> 'households' @> jsonb_build_array("
    "  jsonb_build_object('household_id', NEW.household_id)), false) THEN"
    "  RAISE EXCEPTION 'the disposal batch does not name this household'"
    " USING ERRCODE = 'YKD02'; END IF;"
    " SELECT convert_from(e.state, 'UTF8')::jsonb INTO approved FROM {events} e"
    "  WHERE e.originator_id = NEW.batch_id::uuid"
    "  AND e.topic = 'yorisoi.domain.disposal:DisposalBatch.Approved'"
    "  ORDER BY e.originator_version LIMIT 1;"
    " IF approved IS NULL THEN RAISE EXCEPTION 'the disposal batch is not approved'"
    " USING ERRCODE = 'YKD02'; END IF;"
    " IF coalesce(proposed ->> 'proposed_by', '') = ''"
    "  OR coalesce(approved ->> 'approved_by', '') = '' THEN"
    "  RAISE EXCEPTION 'the disposal batch lacks its proposer or approver'"
    " USING ERRCODE = 'YKD02'; END IF;"
    " IF coalesce((proposed ->> 'two_person_approval')::boolean, true)"
    "  AND approved ->> 'approved_by' = proposed ->> 'proposed_by' THEN"
    "  RAISE EXCEPTION 'the disposal batch needs a second person to approve it'"
    " USING ERRCODE = 'YKD02'; END IF;"
    " NEW.proposed_by := proposed ->> 'proposed_by';"
    " NEW.approved_by := approved ->> 'approved_by';"
    " NEW.authorised_at := now()::text; NEW.txid := txid_current();"
    " RETURN NEW; END $$",
    "DROP TRIGGER IF EXISTS disposal_authorisation_check ON {s}disposal_authorisations",
    "CREATE TRIGGER disposal_authorisation_check"
    " BEFORE INSERT OR UPDATE OR DELETE ON {s}disposal_authorisations"
    " FOR EACH ROW EXECUTE FUNCTION {s}check_disposal_authorisation()",
]
_KEYS_GUARD_SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS household_keys_no_delete BEFORE DELETE ON household_keys"
    " BEGIN SELECT RAISE(ABORT, 'household keys are never deleted'); END",
    "CREATE TRIGGER IF NOT EXISTS household_keys_no_revival BEFORE UPDATE ON household_keys"
    " WHEN OLD.wrapped_key IS NULL AND NEW.wrapped_key IS NOT NULL"
    " BEGIN SELECT RAISE(ABORT, 'a destroyed household key cannot come back'); END",
]
_IMMUTABLE_EVENTS_SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON {events}"
    " BEGIN SELECT RAISE(ABORT, 'stored events are immutable'); END",
    "CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON {events}"
    " BEGIN SELECT RAISE(ABORT, 'stored events are immutable'); END",
]


# The database backstop (DESIGN "Tenancy"): a platform row is visible, and may
# be written, only when the transaction declared its tenant or a platform-wide
# lookup (infra/db.py Database.transaction).  FORCE subjects the owner too, so
# code that forgets to declare a scope reads nothing rather than everything.
# (No views exist over these tables; any added must be security_invoker.)
_PLATFORM_SCOPE = ("tenant_id = current_setting('yorisoi.tenant', true)"
                   " OR current_setting('yorisoi.lookup', true) = 'platform'")


# The registry's event log: readable and writable only under the platform lookup, which
# the registry's own pool declares for its sessions (infra/db.declare_platform_lookup)
# and registry readers declare per transaction; anything else reads none of it.
_PLATFORM_EVENTS_SECURITY_PG = [
    "ALTER TABLE {s}platform_events ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE {s}platform_events FORCE ROW LEVEL SECURITY",
    "DROP POLICY IF EXISTS platform_lookup ON {s}platform_events",
    "CREATE POLICY platform_lookup ON {s}platform_events"
    " USING (current_setting('yorisoi.lookup', true) = 'platform')"
    " WITH CHECK (current_setting('yorisoi.lookup', true) = 'platform')",
]


def _platform_row_security_pg(tables: Iterable[str]) -> list[str]:
    statements: list[str] = []
    for table in tables:
        statements += [
            f"ALTER TABLE {{s}}{table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {{s}}{table} FORCE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS tenant_scope ON {{s}}{table}",
            f"CREATE POLICY tenant_scope ON {{s}}{table}"
            f" USING ({_PLATFORM_SCOPE}) WITH CHECK ({_PLATFORM_SCOPE})",
        ]
    return statements


class Provisioner:
    """Creates spaces (schemas or files) and their tables, and grants the app role."""

    def __init__(self, settings: Settings, key_provider: TenantKeyProvider) -> None:
        self.settings = settings
        self.key_provider = key_provider

    def _create_schema(self, space: str) -> bool:
        """Create the schema; returns whether the database runs Citus (tenants/citus.py)."""
        if self.settings.backend != "postgres":
            return False
        s = self.settings
        with psycopg.connect(host=s.pg_host, port=s.pg_port, dbname=s.pg_dbname,
                             user=s.pg_admin_user,
                             password=s.pg_admin_password.get_secret_value(),
                             autocommit=True) as conn:
            citus = citus_active(s, conn)
            create_schema(conn, space, citus=citus)
        return citus

    def _distribute(self, space: str) -> None:
        """On Citus, a municipality's schema provisioned before Citus becomes distributed."""
        s = self.settings
        with psycopg.connect(host=s.pg_host, port=s.pg_port, dbname=s.pg_dbname,
                             user=s.pg_admin_user,
                             password=s.pg_admin_password.get_secret_value(),
                             autocommit=True) as conn:
            distribute_schema(conn, space)

    def _grant(self, db: Database, space: str, writable: Iterable[str],
               extra: Iterable[sql.Composable] = ()) -> None:
        if db.dialect != "postgres":
            return
        app = sql.Identifier(self.settings.pg_user)
        schema = sql.Identifier(space)
        statements = [
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, app),
            sql.SQL("GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, app),
            sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, app),
            # Inserts are ordered by an advisory lock (infra/recorders.py), not the
            # library's LOCK TABLE, which needed UPDATE: taken back from spaces
            # provisioned before (the trigger refuses any change to an event anyway).
            sql.SQL("REVOKE UPDATE ON {}.{} FROM {}").format(
                schema, sql.Identifier(db.events_table), app),
        ]
        statements += [
            sql.SQL("GRANT UPDATE, DELETE ON {}.{} TO {}").format(schema, sql.Identifier(t), app)
            for t in writable
        ]
        statements += [statement.format(schema=schema, app=app) for statement in extra]
        with db.datastore.transaction(commit=True) as cur:
            for statement in statements:
                cur.execute(statement)

    def _build(self, app_class: type[TenantApplication], space: str, tenant: str,
               ddl: list[str], writable: Iterable[str],
               grants: Iterable[sql.Composable] = ()) -> None:
        citus = self._create_schema(space)
        app = app_class(event_store_env(self.settings, space, admin=True), tenant=tenant,
                        key_provider=self.key_provider)
        try:
            db = app.database
            immutable = (_IMMUTABLE_EVENTS_PG if db.dialect == "postgres"
                         else _IMMUTABLE_EVENTS_SQLITE)
            with db.transaction() as cur:
                for statement in [*space_ddl_preamble(space, citus=citus), POSITIONS_DDL,
                                  *ddl, *immutable]:
                    cur.execute(statement)
            self._grant(db, space, writable, grants)
        finally:
            app.close()
        if citus:
            self._distribute(space)

    def init_platform(self) -> None:
        """Create the platform space (registry events and lookup tables). Idempotent."""
        scoped = [*REGISTRY_TABLES, *NEIGHBOUR_TABLES]
        self._build(PlatformApplication, PLATFORM_SPACE, PLATFORM_SPACE,
                    [*RegistryView().ddl(), *NeighbourView.ddl(),
                     *(_platform_row_security_pg(scoped) + _PLATFORM_EVENTS_SECURITY_PG
                       if self.settings.backend == "postgres" else []),
                     # The registry's audit ledger (append-only, under row-level security).
                     *platform_ledger_ddl(self.settings.backend),
                     # State every API process shares: rate-limit buckets, signed-out
                     # console sessions (keyed digests only; no tenant data, no policy).
                     *rate_limit_ddl(self.settings.backend),
                     *revocations_ddl(self.settings.backend)],
                    [*scoped, "projection_positions", RATE_LIMIT_TABLE, REVOCATIONS_TABLE])

    def create_municipality_space(self, code: str) -> str:
        """Create a municipality's space and its tenant key. Idempotent."""
        space = municipality_space(code)
        self.key_provider.create_tenant_key(space)
        postgres = self.settings.backend == "postgres"
        self._build(CaseworkApplication, space, space,
                    [HOUSEHOLD_KEYS_DDL, DISPOSAL_AUTHORISATIONS_DDL, *tenant_view_ddl(),
                     *space_table_ddl("postgres" if postgres else "sqlite"),
                     *(_KEYS_GUARD_PG + _DISPOSAL_AUTHORISATION_PG if postgres
                       else _KEYS_GUARD_SQLITE)],
                    [*tenant_view_tables(), *space_writable_tables(), "projection_positions"],
                    # Keys: destroyed (wrapped_key set to NULL), never deleted.
                    [sql.SQL("GRANT UPDATE (wrapped_key, destroyed_at)"
                             " ON {schema}.household_keys TO {app}")])
        return space
