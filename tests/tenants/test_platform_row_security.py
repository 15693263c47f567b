"""The database backstop: row-level security on the ``platform`` tables.

Code that forgets to declare a tenant reads nothing — as the application role
and, because of FORCE, as the owner too; a transaction that declares tenant A
reads A's rows only, and the declaration ends with the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from world import CITY_A, CITY_B, NPO, World, build_world

import yorisoi.infra.db
from yorisoi.infra.wiring.bootstrap import OPERATOR
from yorisoi.services.context import acting_as
from yorisoi.tenants.neighbours import NEIGHBOUR_TABLES, declare_neighbour
from yorisoi.tenants.registry import REGISTRY_TABLES

PLATFORM_TABLES = (*REGISTRY_TABLES, *NEIGHBOUR_TABLES)
SOURCE_ROOT = Path(yorisoi.infra.db.__file__).resolve().parents[1]


@pytest.fixture
def world(pg_settings) -> Iterator[World]:
    world = build_world(pg_settings)
    directory = world.services.directory
    with acting_as(OPERATOR):
        declare_neighbour(directory, municipality_code=CITY_A, neighbour_code=CITY_B)
        declare_neighbour(directory, municipality_code=CITY_B, neighbour_code=CITY_A)
    try:
        yield world
    finally:
        world.services.close()


def _counts(cur) -> dict[str, int]:
    return {t: cur.execute(f"SELECT count(*) FROM platform.{t}").fetchone()[0]
            for t in PLATFORM_TABLES}


def _tenants_seen(cur, table: str) -> set[str]:
    return {r[0] for r in cur.execute(f"SELECT tenant_id FROM platform.{table}").fetchall()}


@pytest.mark.postgres
def test_app_code_that_forgets_the_tenant_reads_no_platform_row(world, pg_cluster, pg_database):
    with pg_cluster.connect(pg_database, "app") as conn, conn.transaction():
        assert _counts(conn) == dict.fromkeys(PLATFORM_TABLES, 0)
    # The same through the application's own door, with no scope declared.
    with world.services.directory.platform.database.transaction(write=False) as cur:
        assert {t: cur.execute(f"SELECT count(*) AS n FROM {{s}}{t}").fetchone()["n"]
                for t in PLATFORM_TABLES} == dict.fromkeys(PLATFORM_TABLES, 0)


@pytest.mark.postgres
def test_a_transaction_for_tenant_a_reads_only_a_rows_and_the_setting_ends_with_it(
        world, pg_cluster, pg_database):
    with pg_cluster.connect(pg_database, "app") as conn:
        with conn.transaction():
            conn.execute("SELECT set_config('yorisoi.tenant', %s, true)", (CITY_A,))
            assert _tenants_seen(conn, "contracts") == {CITY_A}
            assert _tenants_seen(conn, "sites") == {CITY_A}
            assert _tenants_seen(conn, "neighbours") == {CITY_A}
            assert {r[0] for r in conn.execute(
                "SELECT site_id FROM platform.sites").fetchall()} == {"a-hiroba", "a-counter"}
            # Nor may it write a row for another tenant.
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute("INSERT INTO platform.neighbours VALUES (%s, %s)",
                             (CITY_B, "999999"))
        with conn.transaction():
            conn.execute("SELECT set_config('yorisoi.tenant', %s, true)", (CITY_B,))
            assert _tenants_seen(conn, "sites") == {CITY_B}
            assert _tenants_seen(conn, "contracts") == set()  # B has signed none
            assert _tenants_seen(conn, "neighbours") == {CITY_B}
        # The next transaction on the same (pooled) connection inherits nothing.
        with conn.transaction():
            assert _counts(conn) == dict.fromkeys(PLATFORM_TABLES, 0)
    database = world.services.directory.platform.database
    with database.transaction(write=False, tenant=CITY_A) as cur:
        assert {r["tenant_id"] for r in cur.execute(
            "SELECT tenant_id FROM {s}contracts").fetchall()} == {CITY_A}
    with database.transaction(write=False) as cur:
        assert cur.execute("SELECT count(*) AS n FROM {s}contracts").fetchone()["n"] == 0


@pytest.mark.postgres
def test_platform_lookups_declare_themselves_and_still_answer(world):
    registry = world.services.directory.registry
    assert {c.municipality_code for c in registry.contracts(contractor_id=NPO)} == {CITY_A}
    assert registry.site(CITY_B, "b-hiroba") is not None
    assert [t.tenant_id for t in registry.municipalities()] == [CITY_A, CITY_B]
    assert {c.contract_id for c in registry.contract_for_site(CITY_A, "a-hiroba")} == {
        "contract-a-kaze", "contract-a-npo"}
    assert registry.contract_for_site(CITY_B, "a-hiroba") == []


@pytest.mark.postgres
def test_force_subjects_even_the_table_owner_to_the_policy(world, pg_cluster, pg_database):
    with acting_as(OPERATOR):  # a row in every platform table, explicit grants included
        world.services.directory.grant_access(
            municipality_code=CITY_A, subject_kind="municipality", subject_tenant=CITY_A,
            subject="a-auditor", role="compliance_auditor", site_ids=[],
            starts_on=date(2026, 4, 1), ends_on=None, reason="年次監査")
    with pg_cluster.connect(pg_database, "owner") as conn:
        with conn.transaction():
            assert _counts(conn) == dict.fromkeys(PLATFORM_TABLES, 0)
        with conn.transaction():
            conn.execute("SELECT set_config('yorisoi.lookup', 'platform', true)")
            assert all(_counts(conn).values())


def test_no_session_level_setting_of_the_tenant_anywhere_in_the_source():
    session_set = re.compile(r"\bSET\s+(?:SESSION\s+)?yorisoi\.", re.IGNORECASE)
    session_config = re.compile(r"set_config\(\s*'yorisoi\.[a-z_]+'\s*,[^,]+,\s*false",
                                re.IGNORECASE)
    offenders = [
        str(path.relative_to(SOURCE_ROOT)) for path in SOURCE_ROOT.rglob("*.py")
        if ".venv" not in path.parts and path.resolve() != Path(__file__).resolve()
        and (session_set.search(text := path.read_text(encoding="utf-8"))
             or session_config.search(text))
    ]
    assert offenders == []
    # The one place that declares a scope does it transaction-locally.
    assert "set_config(%s, %s, true)" in Path(yorisoi.infra.db.__file__).read_text()


@pytest.mark.postgres
def test_a_nested_lookup_widens_the_scope_for_its_block_only(world):
    database = world.services.directory.platform.database

    def sites(cur) -> set[str]:
        return {r["tenant_id"] for r in cur.execute("SELECT tenant_id FROM {s}sites").fetchall()}

    with database.transaction(write=False, tenant=CITY_A) as outer:
        assert sites(outer) == {CITY_A}
        with database.transaction(write=False, lookup="platform") as inner:
            assert sites(inner) == {CITY_A, CITY_B}
        assert sites(outer) == {CITY_A}


@pytest.mark.postgres
def test_the_registry_event_log_is_read_only_under_the_platform_lookup(world, pg_cluster,
                                                                       pg_database):
    """platform_events under the same row-level security as the tables built from it."""
    with pg_cluster.connect(pg_database, "app") as conn:
        with conn.transaction():
            assert conn.execute("SELECT count(*) FROM platform.platform_events").fetchone()[0] == 0
            conn.execute("SELECT set_config('yorisoi.tenant', %s, true)", (CITY_A,))
            assert conn.execute("SELECT count(*) FROM platform.platform_events").fetchone()[0] == 0
        with conn.transaction():
            conn.execute("SELECT set_config('yorisoi.lookup', 'platform', true)")
            assert conn.execute("SELECT count(*) FROM platform.platform_events").fetchone()[0] > 0
    # A tenant-scoped transaction of the registry's own database (whose pool declares the
    # lookup for its sessions) still reads none of the log, nor another tenant's rows.
    platform = world.services.directory.platform
    with platform.database.transaction(write=False, tenant=CITY_A) as cur:
        assert cur.execute("SELECT count(*) AS n FROM {s}platform_events").fetchone()["n"] == 0
