"""Provisioning on Citus: ``platform`` stays on the coordinator, each municipality is distributed.

Nothing relies on a database-wide setting: with schema sharding switched on for the
whole database (a misconfiguration), ``tenant upgrade`` still leaves ``platform`` a
plain schema; a municipality provisioned before Citus becomes distributed on upgrade.
"""

from __future__ import annotations

import pytest
from world import CITY_A, CITY_B, record

from yorisoi.infra.wiring.bootstrap import OPERATOR, Services
from yorisoi.services.context import acting_as
from yorisoi.tenants.citus import CitusNotInstalledError
from yorisoi.tenants.placement import placements


def _distributed(cw) -> set[str]:
    with cw.owner() as conn:
        return {r[0] for r in conn.execute(
            "SELECT schemaid::regnamespace::text FROM pg_dist_schema").fetchall()}


def _triggers_on_shards(cw, node, space: str) -> set[str]:
    with cw.superuser(node) as conn:
        return {r[0] for r in conn.execute(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE c.relnamespace = to_regnamespace(%s) AND NOT t.tgisinternal",
            (space,)).fetchall()}


def test_platform_stays_on_the_coordinator_and_municipalities_are_distributed(citus_world,
                                                                            citus_client):
    cw = citus_world
    # A record in one city, so its log has a last event to report and the other's is empty.
    record(citus_client, cw.world.headers("municipality", CITY_A, subject="placement-1"))
    assert {"t_131016", "t_141003"} <= _distributed(cw)
    assert "platform" not in _distributed(cw)
    found = {p.municipality_code: p for p in placements(cw.settings, [CITY_A, CITY_B])}
    workers = [f"{h}:{p}" for h, p in cw.cluster.workers]
    assert {found[CITY_A].node, found[CITY_B].node} <= set(workers)  # never the coordinator
    assert all(p.distributed and p.size_bytes > 0 for p in found.values())
    # Every space's last event, read for all of them by one statement across the workers,
    # is the one its own log holds.
    from yorisoi.tenants.placement import _last_event, owner_connection

    with owner_connection(cw.settings) as conn:
        assert {code: p.last_event for code, p in found.items()} == {
            code: _last_event(conn, p.space) for code, p in found.items()}
    assert found[CITY_A].last_event > 0
    # The immutability triggers are on the shards, on the node that holds them.
    (node_a, _) = cw.cluster.worker_nodes
    assert {"events_immutable", "household_keys_guard"} <= _triggers_on_shards(
        cw, node_a, "t_131016")
    with cw.superuser(node_a) as conn:
        conn.execute("SET citus.override_table_visibility = off")  # show the shards
        shard = conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace ="
            " to_regnamespace('t_131016') AND c.relname LIKE 'casework_events\\_%'"
            " AND c.relkind = 'r' AND c.relname <> 'casework_events'").fetchone()[0]
        shard_triggers = {r[0] for r in conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            (shard,)).fetchall()}
    assert any(t.startswith("events_immutable") for t in shard_triggers)


def test_upgrade_never_distributes_platform_even_with_sharding_on_database_wide(citus_world):
    cw = citus_world
    with cw.superuser() as conn:
        conn.execute(f"ALTER DATABASE {cw.dbname} SET citus.enable_schema_based_sharding = on")
    try:
        services = Services(cw.settings)  # new sessions: they read the database's setting
        try:
            services.directory.upgrade_spaces()
            with acting_as(OPERATOR):
                services.directory.provision_municipality(code="271004", name="大阪市",
                                                          prefecture="大阪府")
        finally:
            services.close()
    finally:
        with cw.superuser() as conn:
            conn.execute(f"ALTER DATABASE {cw.dbname} RESET citus.enable_schema_based_sharding")
    assert "platform" not in _distributed(cw)
    assert "t_271004" in _distributed(cw)


def test_a_space_provisioned_before_citus_is_distributed_by_upgrade(citus_world):
    cw = citus_world
    before = Services(cw.settings.model_copy(update={"pg_citus": "off"}))
    try:
        with acting_as(OPERATOR):
            before.directory.provision_municipality(code="011002", name="札幌市",
                                                    prefecture="北海道")
    finally:
        before.close()
    assert "t_011002" not in _distributed(cw)
    (plain,) = placements(cw.settings, ["011002"])
    assert plain.node == "coordinator" and not plain.distributed

    services = Services(cw.settings)
    try:
        services.directory.upgrade_spaces(["011002"])
    finally:
        services.close()
    assert "t_011002" in _distributed(cw)
    (moved,) = placements(cw.settings, ["011002"])
    assert moved.distributed and moved.node != "coordinator"


def test_citus_on_without_the_extension_is_refused(citus, tmp_path):
    from yorisoi.infra.keys import build_key_provider
    from yorisoi.tenants.provisioning import Provisioner

    dbname = citus.coordinator.create_database("yorisoi_plain")  # no extension in it
    try:
        settings = citus.settings(dbname, tmp_path, pg_citus="on")
        with pytest.raises(CitusNotInstalledError) as refused:
            Provisioner(settings, build_key_provider(settings)).init_platform()
        assert refused.value.message_ja
        # auto: plain PostgreSQL, provisioning works as everywhere else.
        auto = settings.model_copy(update={"pg_citus": "auto"})
        Provisioner(auto, build_key_provider(auto)).init_platform()
    finally:
        citus.coordinator.drop_database(dbname)
