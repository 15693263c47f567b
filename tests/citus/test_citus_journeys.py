"""The main GraphQL journeys on Citus, with the two municipalities on different workers.

Open a case (a first consultation), record a further consultation on it, read the
case list — for CITY_A (its contractor's specialist) on one worker and CITY_B (its
own staff) on the other; then isolation: through the API, and in the database on
every node (a role granted one municipality's schema reads nothing of another's,
neither through the coordinator nor from the shards on a worker).
"""

from __future__ import annotations

import secrets

import psycopg
import pytest
from psycopg import sql
from world import CASES, CITY_A, CITY_B, consultation_input, gql, npo, record


def _journey(client, headers, reader, code: str, site: str) -> None:
    opened = record(client, headers, municipalityCode=code, siteId=site)
    assert opened["__typename"] == "ConsultationRecorded", opened
    case_id = opened["case"]["id"]
    again = gql(client, """
        mutation Record($input: RecordConsultationInput!) { recordConsultation(input: $input) {
          __typename ... on ConsultationRecorded { case { id consultationCount } } } }""",
                {"input": {k: v for k, v in consultation_input(
                    municipalityCode=code, siteId=site, caseId=case_id).items()
                    if k not in ("household", "consent", "confirmNewHousehold")}}, headers)
    assert again["data"]["recordConsultation"]["case"] == {"id": case_id,
                                                           "consultationCount": 2}, again
    listed = gql(client, CASES, {"code": code, "first": 50}, reader)
    assert "errors" not in listed, listed
    cases = {edge["node"]["id"]: edge["node"] for edge in listed["data"]["cases"]["edges"]}
    assert case_id in cases
    assert [c["asked"] for c in cases[case_id]["consultations"]] == [
        consultation_input()["asked"]] * 2


def test_journeys_on_both_workers(citus_world, citus_client):
    world = citus_world.world
    _journey(citus_client, npo(world),
             world.headers("municipality", CITY_A, subject="a-sv", roles=("municipal_supervisor",)),
             CITY_A, "a-hiroba")
    b_staff = world.headers("municipality", CITY_B, subject="b-staff", roles=("specialist",))
    _journey(citus_client, b_staff,
             world.headers("municipality", CITY_B, subject="b-sv", roles=("municipal_supervisor",)),
             CITY_B, "b-hiroba")


def test_a_municipality_reads_nothing_of_another_through_the_api(citus_world, citus_client):
    world = citus_world.world
    a_supervisor = world.headers("municipality", CITY_A, subject="a-sv",
                                 roles=("municipal_supervisor",))
    body = gql(citus_client, CASES, {"code": CITY_B, "first": 50}, a_supervisor)
    assert body.get("data") is None or body["data"]["cases"] is None
    assert body["errors"]


def _shards(conn, space: str) -> list[str]:
    conn.execute("SET citus.override_table_visibility = off")
    return [r[0] for r in conn.execute(
        "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace = to_regnamespace(%s)"
        " AND c.relkind = 'r' AND c.relname ~ '_[0-9]+$'", (space,)).fetchall()]


def test_a_role_of_one_municipality_cannot_read_another_on_any_node(citus_world):
    cw = citus_world
    role, password = "t_131016_reader", secrets.token_hex(12)
    with cw.owner() as owner, cw.superuser() as su:
        su.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)))
        su.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(cw.dbname), sql.Identifier(role)))
        # Like every role that queries distributed tables: the nodes' password for it.
        for node in cw.cluster.nodes:
            with cw.superuser(node) as conn:
                conn.execute("INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo)"
                             " VALUES (0, %s, %s)", (role, f"password={password}"))
        owner.execute(sql.SQL("GRANT USAGE ON SCHEMA t_131016 TO {}").format(sql.Identifier(role)))
        owner.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA t_131016 TO {}").format(
            sql.Identifier(role)))

    def connect(node):
        return psycopg.connect(host=node.host, port=node.port, dbname=cw.dbname, user=role,
                               password=password, autocommit=True)

    coordinator = cw.cluster.coordinator
    with connect(coordinator) as conn:
        conn.execute("SELECT count(*) FROM t_131016.casework_events").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM t_141003.casework_events")
    checked = 0
    for node in cw.cluster.worker_nodes:
        with cw.superuser(node) as su:
            foreign = _shards(su, "t_141003")
        with connect(node) as conn:
            for shard in foreign:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"SELECT 1 FROM {shard} LIMIT 1")
                checked += 1
    assert checked > 10  # CITY_B's tables, on the worker that holds them


def test_events_stay_immutable_on_the_worker(citus_world):
    cw = citus_world
    with cw.owner() as conn:
        assert conn.execute("SELECT count(*) FROM t_131016.casework_events").fetchone()[0] > 0
        with pytest.raises(psycopg.Error, match="stored events are immutable"):
            conn.execute("UPDATE t_131016.casework_events SET topic = topic")


def test_the_worker_channel_wakes_for_a_tenant_on_a_worker(citus_world, citus_client):
    """``yorisoi worker`` listens on the coordinator: a write to a tenant on a worker notifies it."""
    cw = citus_world
    with cw.cluster.coordinator.connect(cw.dbname, "app", autocommit=True) as listener:
        listener.execute("LISTEN yorisoi_events")
        b_staff = cw.world.headers("municipality", CITY_B, subject="b-staff",
                                   roles=("specialist",))
        assert record(citus_client, b_staff, municipalityCode=CITY_B,
                      siteId="b-hiroba")["__typename"] == "ConsultationRecorded"
        payloads = {n.payload for n in listener.notifies(timeout=30, stop_after=1)}
    assert payloads == {"t_141003"}
