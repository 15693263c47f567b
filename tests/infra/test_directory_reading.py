"""The directory finds an entry by its reading: ほいく, ホイク and ﾎｲｸ find 保育園 (both backends)."""

from __future__ import annotations

from typing import Any

from world import CITY_A, gql

REGISTER = """
mutation($input: RegisterResourceInput!) { registerResource(input: $input) {
  __typename ... on ResourceChanged { resource { id reading } }
  ... on ValidationError { fieldErrors { field code } } ... on UserError { code } } }
"""
PUBLISH = """
mutation($input: PublishResourceInput!) { publishResource(input: $input) { __typename } }
"""
STAFF_SEARCH = """
query($q: String) { resources(municipalityCode: "131016", q: $q) {
  totalCount edges { node { name reading } } } }
"""


def admin(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="admin-1", roles=("municipal_admin",))


def register(client: Any, world: Any, name: str, reading: str | None) -> dict[str, Any]:
    attributes = {"name": name, "kind": "education_childcare", "subkind": "nursery",
                  "operatorKind": "public", "fee": "free", "reading": reading}
    body = gql(client, REGISTER, {"input": {"municipalityCode": CITY_A,
                                            "attributes": attributes}}, admin(world))
    result = body["data"]["registerResource"]
    if result["__typename"] == "ResourceChanged":
        gql(client, PUBLISH, {"input": {"municipalityCode": CITY_A,
                                        "resourceId": result["resource"]["id"]}}, admin(world))
    return result


def test_the_reading_finds_the_entry_in_any_kana(client, world):
    made = register(client, world, "神田架空保育園", "カンダカクウホイクエン")
    assert made["resource"]["reading"] == "かんだかくうほいくえん"
    register(client, world, "ひろば（読みなし）", None)
    for query in ("ほいく", "ホイク", "ﾎｲｸ", "ほいくえん", "かんだ"):
        response = client.get(f"/public/municipalities/{CITY_A}/resources",
                              params={"q": query})
        assert response.status_code == 200
        assert [i["name"] for i in response.json()["items"]] == ["神田架空保育園"], query
    staff = gql(client, STAFF_SEARCH, {"q": "ﾎｲｸ"}, admin(world))
    assert staff["data"]["resources"]["edges"] == [
        {"node": {"name": "神田架空保育園", "reading": "かんだかくうほいくえん"}}]


def test_a_reading_is_kana_only(client, world):
    refused = register(client, world, "神田架空保育園", "保育園")
    assert refused["__typename"] in ("ValidationError", "UserError"), refused
    text = repr(refused)
    assert "resource_reading_invalid" in text or "invalid" in text
