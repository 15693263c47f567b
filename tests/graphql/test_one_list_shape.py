"""One list shape: every connection answers ``edges { cursor node }``, ``nodes``, ``pageInfo``
and ``totalCount``; every ``first`` outside 1..100 is the typed ``page_size_invalid`` error.

Both walks read the schema, so a new list field or connection is covered (or fails
here) without anyone remembering to add it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from world import CITY_A, gql, record, supervisor

from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    get_named_type,
)
from graphql.pyutils import Undefined
from yorisoi.graphql.schema import build_schema

SCHEMA = build_schema(production=False)._schema

# Fields with ``first`` that are not on Query, and how to reach them with a given ``first``.
NESTED = {
    ("Case", "timeline"): ("query($first: Int!) { cases(first: 1) { edges { node {"
                           " timeline(first: $first) { totalCount } } } } }"),
}
# The one list that always allowed more than 100 (a worklist answered whole, no cursor).
LIMITS = {"disposalDue": 500}

REGISTER_AGENCY = """
mutation R($input: RegisterAgencyInput!) { registerAgency(input: $input) {
  __typename ... on AgencyRegistered { agency { id } } ... on UserError { code } } }
"""
AGENCIES = """
query A($first: Int!, $after: String) {
  agencies(municipalityCode: "131016", first: $first, after: $after) {
  totalCount edges { cursor node { id name } } nodes { id name }
  pageInfo { hasNextPage endCursor } } }
"""
CASES_BOTH = """
query C($first: Int!, $after: String) { cases(first: $first, after: $after) {
  totalCount edges { cursor node { id } } nodes { id } pageInfo { hasNextPage endCursor } } }
"""
TENANTS = """
query T($first: Int!, $after: String) { platformTenants(first: $first, after: $after) {
  totalCount edges { cursor node { municipalityCode } } nodes { municipalityCode }
  pageInfo { hasNextPage endCursor } } }
"""


def _connections() -> dict[str, GraphQLObjectType]:
    """Every object type that pages (has ``edges``) or is named a connection."""
    return {name: t for name, t in SCHEMA.type_map.items()
            if isinstance(t, GraphQLObjectType) and not name.startswith("__")
            and ("edges" in t.fields or name.endswith("Connection"))}


def test_every_connection_has_edges_nodes_page_info_and_total_count():
    connections = _connections()
    # The fourteen edge lists, the seven that had only nodes, and the two audit pages.
    assert len(connections) >= 21, sorted(connections)
    for name, t in connections.items():
        assert {"totalCount", "edges", "nodes", "pageInfo"} <= set(t.fields), name
        edge = get_named_type(t.fields["edges"].type)
        assert {"cursor", "node"} <= set(edge.fields), name
        assert str(edge.fields["cursor"].type) == "String!", name
        # ``nodes`` lists exactly what the edges carry, non-null, as Relay's edges do.
        node_type = get_named_type(edge.fields["node"].type)
        assert str(edge.fields["node"].type) == f"{node_type}!", name
        assert str(t.fields["nodes"].type) == f"[{node_type}!]!", name
        assert str(t.fields["totalCount"].type) == "Int!", name
        assert str(t.fields["pageInfo"].type) == "PageInfo!", name


def _paged_fields() -> list[tuple[str, str, Any]]:
    return [(type_name, field_name, field)
            for type_name, t in SCHEMA.type_map.items()
            if isinstance(t, GraphQLObjectType) and not type_name.startswith("__")
            for field_name, field in t.fields.items() if "first" in field.args]


def _dummy(arg_name: str, arg_type: Any) -> Any:
    base = arg_type.of_type if isinstance(arg_type, GraphQLNonNull) else arg_type
    assert not isinstance(base, (GraphQLList, GraphQLInputObjectType)), arg_name
    if arg_name == "municipalityCode":
        return CITY_A
    if base.name == "ID":
        return str(uuid.uuid4())
    return {"Int": 1, "Boolean": False}.get(base.name, "テスト")


def _root_document(name: str, field: Any) -> tuple[str, dict[str, Any]]:
    decls, args, variables = ["$first: Int!"], ["first: $first"], {}
    for arg_name, arg in field.args.items():
        if arg_name == "first" or not (isinstance(arg.type, GraphQLNonNull)
                                       and arg.default_value is Undefined):
            continue
        decls.append(f"${arg_name}: {arg.type}")
        args.append(f"{arg_name}: ${arg_name}")
        variables[arg_name] = _dummy(arg_name, arg.type)
    selection = "" if not isinstance(get_named_type(field.type), GraphQLObjectType) else (
        " { __typename }")
    return (f"query Q({', '.join(decls)}) {{ {name}({', '.join(args)}){selection} }}",
            variables)


@pytest.mark.parametrize("backend_settings", ["sqlite"], indirect=True)
def test_every_first_outside_its_range_is_the_typed_error_on_every_list_field(client, world):
    paged = _paged_fields()
    nested = {(t, f) for t, f, _ in paged if t != "Query"}
    assert nested == set(NESTED), "a list field with first outside Query: add it to NESTED"
    roots = [(f, field) for t, f, field in paged if t == "Query"]
    assert len(roots) >= 24, [f for f, _ in roots]
    assert record(client, world.headers("contractor", "npo-hidamari", subject="npo-staff-1",
                                        roles=("specialist",), sites=("a-hiroba",)),
                  )["__typename"] == "ConsultationRecorded"
    failures = []
    # The size is checked before anything else, so one caller suffices: even one who
    # may not read the list learns only that the size is wrong.
    headers = supervisor(world)
    for name, field in roots:
        document, variables = _root_document(name, field)
        limit = LIMITS.get(name, 100)
        for first in (0, -5, limit + 1):
            body = gql(client, document, {**variables, "first": first}, headers)
            codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]
            if codes != ["page_size_invalid"] or body["data"] is not None:
                failures.append((name, first, codes or body["data"]))
            else:
                assert body["errors"][0]["extensions"]["messageJa"], name
        # In range, the same call is not refused for its size.
        ok = gql(client, document, {**variables, "first": 1}, headers)
        assert "page_size_invalid" not in str(ok), (name, ok)
    for (type_name, field_name), document in NESTED.items():
        for first in (0, -5, 101):
            body = gql(client, document, {"first": first}, headers)
            codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]
            if codes != ["page_size_invalid"]:
                failures.append((f"{type_name}.{field_name}", first, codes))
    assert not failures, failures


def _page(client: Any, document: str, headers: dict[str, str], **variables: Any) -> dict:
    body = gql(client, document, variables, headers)
    assert "errors" not in body, body
    (page,) = body["data"].values()
    # nodes are the edges' nodes, in order; the end cursor is the last edge's cursor.
    assert page["nodes"] == [e["node"] for e in page["edges"]], page
    last = page["edges"][-1]["cursor"] if page["edges"] else None
    assert page["pageInfo"]["endCursor"] == last, page
    return page


def test_a_former_nodes_only_list_answers_edges_with_cursors_that_page(client, world):
    admin = world.headers("contractor", "npo-hidamari", subject="npo-staff-1",
                          roles=("specialist",), sites=("a-hiroba",))
    for name in ("保健センター", "子ども家庭支援センター", "児童相談所"):
        result = gql(client, REGISTER_AGENCY, {"input": {
            "municipalityCode": CITY_A, "name": name, "kind": "health_center",
            "onSystem": False, "contactEmail": "a@city.example.jp",
            "confidentialityBasis": "public_servant"}}, admin)["data"]["registerAgency"]
        assert result["__typename"] == "AgencyRegistered", result
    everything = _page(client, AGENCIES, admin, first=100)
    assert everything["totalCount"] == 3 and len(everything["edges"]) == 3
    first = _page(client, AGENCIES, admin, first=2)
    assert (first["totalCount"], len(first["edges"]), first["pageInfo"]["hasNextPage"]) == (
        3, 2, True)
    # Any edge's cursor pages on from that edge, not only the end cursor.
    after_one = _page(client, AGENCIES, admin, first=100, after=first["edges"][0]["cursor"])
    assert after_one["nodes"] == everything["nodes"][1:]
    rest = _page(client, AGENCIES, admin, first=2, after=first["pageInfo"]["endCursor"])
    assert rest["nodes"] == everything["nodes"][2:] and rest["pageInfo"]["hasNextPage"] is False
    assert rest["totalCount"] == 3


def test_an_edge_list_also_answers_nodes_and_tenants_page_by_edge_cursor(client, world):
    npo = world.headers("contractor", "npo-hidamari", subject="npo-staff-1",
                        roles=("specialist",), sites=("a-hiroba",))
    for _ in range(3):
        assert record(client, npo)["__typename"] == "ConsultationRecorded"
    cases = _page(client, CASES_BOTH, supervisor(world), first=2)
    assert cases["totalCount"] == 3 and len(cases["nodes"]) == 2
    rest = _page(client, CASES_BOTH, supervisor(world), first=2,
                 after=cases["pageInfo"]["endCursor"])
    assert len(rest["nodes"]) == 1
    assert {n["id"] for n in cases["nodes"] + rest["nodes"]} == {
        n["id"] for n in _page(client, CASES_BOTH, supervisor(world), first=100)["nodes"]}
    operator = world.headers("platform", "platform", roles=("platform_operator",))
    tenants = _page(client, TENANTS, operator, first=1)
    assert tenants["totalCount"] == 2 and tenants["pageInfo"]["hasNextPage"] is True
    second = _page(client, TENANTS, operator, first=1, after=tenants["edges"][0]["cursor"])
    assert [n["municipalityCode"] for n in tenants["nodes"] + second["nodes"]] == sorted(
        ["131016", "141003"])
