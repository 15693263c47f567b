"""The public directory over REST, on SQLite and PostgreSQL: no login, published entries only."""

from __future__ import annotations

from typing import Any

from world import CITY_A, CITY_B, gql

REGISTER = """
mutation($input: RegisterResourceInput!) { registerResource(input: $input) {
  __typename ... on ResourceChanged { resource { id } } } }
"""
PUBLISH = """
mutation($input: PublishResourceInput!) { publishResource(input: $input) { __typename } }
"""
NEIGHBOUR = """
mutation($input: NeighbourInput!) { declareNeighbour(input: $input) { __typename } }
"""


def admin(world: Any, code: str = CITY_A) -> dict[str, str]:
    return world.headers("municipality", code, subject="admin-1", roles=("municipal_admin",))


def register(client: Any, world: Any, name: str, *, code: str = CITY_A, publish: bool = True,
             **overrides: Any) -> None:
    attributes = {"name": name, "kind": "education_childcare", "subkind": "nursery",
                  "operatorKind": "public", "fee": "free",
                  "hours": [{"day": "tue", "opens": "09:00", "closes": "17:00"}], **overrides}
    body = gql(client, REGISTER, {"input": {"municipalityCode": code, "attributes": attributes}},
               admin(world, code))
    rid = body["data"]["registerResource"]["resource"]["id"]
    if publish:
        gql(client, PUBLISH, {"input": {"municipalityCode": code, "resourceId": rid}},
            admin(world, code))


def search(client: Any, code: str = CITY_A, **params: Any) -> Any:
    return client.get(f"/public/municipalities/{code}/resources", params=params)


def test_the_public_searches_published_entries_by_partial_names_on_both_backends(client, world):
    register(client, world, "ひまわり保育園")
    register(client, world, "市立第３保育所", fee="paid")
    register(client, world, "ひまわり下書き", publish=False)
    register(client, world, "ひまわり横浜園", code=CITY_B)

    response = search(client, q="ヒマワリ")
    assert response.status_code == 200
    body = response.json()
    assert [i["name"] for i in body["items"]] == ["ひまわり保育園"]
    assert body["totalCount"] == 1
    item = body["items"][0]
    assert item["hours"] == [{"day": "tue", "opens": "09:00", "closes": "17:00"}]
    assert "owner" not in item and "published" not in item  # staff fields stay private
    assert {i["name"] for i in search(client, q="保育").json()["items"]} == {
        "ひまわり保育園", "市立第３保育所"}
    assert [i["name"] for i in search(client, q="第3").json()["items"]] == ["市立第３保育所"]
    assert [i["name"] for i in search(client, fee="paid", day="tue").json()["items"]] == [
        "市立第３保育所"]
    assert search(client, day="wed").json()["totalCount"] == 0


def test_neighbours_are_included_only_when_asked_and_declared(client, world):
    register(client, world, "ひまわり保育園")
    register(client, world, "ひまわり横浜園", code=CITY_B)
    assert search(client, q="ひまわり", includeNeighbours="true").json()["totalCount"] == 1
    gql(client, NEIGHBOUR, {"input": {"municipalityCode": CITY_A, "neighbourCode": CITY_B}},
        admin(world))
    assert search(client, q="ひまわり").json()["totalCount"] == 1
    both = search(client, q="ひまわり", includeNeighbours="true").json()
    assert [(i["name"], i["municipalityCode"]) for i in both["items"]] == [
        ("ひまわり保育園", CITY_A), ("ひまわり横浜園", CITY_B)]


def test_unknown_municipalities_are_a_plain_404_and_bad_parameters_typed_422s(client, world):
    for code in ("999999", "npo-hidamari", "..%2F"):
        response = search(client, code)
        assert response.status_code == 404, code
        assert response.json()["detail"]["code"] in ("municipality_not_found", "not_found")
    for params, field in (({"kind": "shop"}, "kind"), ({"day": "funday"}, "day"),
                          ({"fee": "cheap"}, "fee"), ({"after": "junk"}, "after"),
                          ({"q": "あ" * 101}, "q")):
        response = search(client, **params)
        assert response.status_code == 422, params
        detail = response.json()["detail"]
        assert detail["field"] == field and detail["messageJa"]
        assert str(next(iter(params.values()))) not in response.text
    assert search(client, first=0).status_code == 422


def test_the_endpoint_is_documented_in_openapi(client, world):
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/public/municipalities/{code}/resources"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {
        "code", "q", "kind", "area", "day", "fee", "includeNeighbours", "first", "after"}
    assert "PublicResourcePage" in str(operation["responses"]["200"])
    assert "404" in operation["responses"] and "422" in operation["responses"]
