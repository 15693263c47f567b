"""The resource directory over GraphQL, on SQLite and PostgreSQL: staff keep it, anyone searches it."""

from __future__ import annotations

from typing import Any

from world import CITY_A, CITY_B, NPO, gql

from yorisoi.infra.clock import japan_today
from yorisoi.projections.resource_directory import (
    ResourceDirectoryQueries,
    ResourceDirectoryView,
)
from yorisoi.projections.runner import Projector

RESULT = """
  __typename
  ... on ResourceChanged { resource { id name published version lastVerifiedOn findings owner
                                      hours { day opens closes } } }
  ... on UserError { code message messageJa }
  ... on ValidationError { fieldErrors { field code messageJa } }
"""
REGISTER = "mutation($input: RegisterResourceInput!) { registerResource(input: $input) {" + RESULT + "} }"
UPDATE = "mutation($input: UpdateResourceInput!) { updateResource(input: $input) {" + RESULT + "} }"
VERIFY = "mutation($input: VerifyResourceInput!) { verifyResource(input: $input) {" + RESULT + "} }"
PUBLISH = "mutation($input: PublishResourceInput!) { publishResource(input: $input) {" + RESULT + "} }"
UNPUBLISH = ("mutation($input: PublishResourceInput!) { unpublishResource(input: $input) {"
             + RESULT + "} }")
NEIGHBOUR = """
mutation($input: NeighbourInput!) { declareNeighbour(input: $input) {
  __typename ... on NeighboursChanged { neighbourCodes } ... on UserError { code messageJa } } }
"""
PUBLIC = """
query($code: String!, $q: String, $kind: String, $day: String, $fee: String, $n: Boolean!,
      $first: Int! = 20, $after: String) {
  publicResources(municipalityCode: $code, q: $q, kind: $kind, day: $day, fee: $fee,
                  includeNeighbours: $n, first: $first, after: $after) {
    totalCount edges { cursor node { name municipalityCode } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
STAFF = """
query($code: String, $q: String) {
  resources(municipalityCode: $code, q: $q) { totalCount edges { node { name published owner } } }
}
"""


def admin(world: Any, code: str = CITY_A) -> dict[str, str]:
    return world.headers("municipality", code, subject="admin-1", roles=("municipal_admin",))


def head(world: Any, code: str = CITY_A) -> int:
    with world.services.runtimes.lease(code) as rt:
        return rt.casework.recorder.max_notification_id() or 0


def attrs(name: str, **overrides: Any) -> dict[str, Any]:
    fields = {"name": name, "kind": "education_childcare", "subkind": "nursery",
              "address": "一番町1-1", "area": "ichibancho", "operatorKind": "private",
              "hours": [{"day": "mon", "opens": "07:30", "closes": "18:30"}],
              "content": "0〜5歳児の保育", "form": "facility", "fee": "paid"}
    fields.update(overrides)
    return fields


def run(client: Any, document: str, headers: dict[str, str], code: str = CITY_A,
        **input: Any) -> dict[str, Any]:
    body = gql(client, document, {"input": {"municipalityCode": code, **input}}, headers)
    assert "errors" not in body, body
    (result,) = body["data"].values()
    return result


def register(client: Any, world: Any, name: str, *, publish: bool = True, code: str = CITY_A,
             **overrides: Any) -> str:
    result = run(client, REGISTER, admin(world, code), code, attributes=attrs(name, **overrides))
    assert result["__typename"] == "ResourceChanged", result
    rid = result["resource"]["id"]
    if publish:
        assert run(client, PUBLISH, admin(world, code), code,
                   resourceId=rid)["resource"]["published"] is True
    return rid


def public(client: Any, code: str = CITY_A, *, neighbours: bool = False,
           **variables: Any) -> dict[str, Any]:
    body = gql(client, PUBLIC, {"code": code, "n": neighbours, **variables})  # no token
    assert "errors" not in body, body
    return body["data"]["publicResources"]


def names(page: dict[str, Any]) -> list[str]:
    return [e["node"]["name"] for e in page["edges"]]


# --------------------------------------------------------------------------- search


def test_the_public_finds_published_entries_by_partial_japanese_text_without_a_token(client, world):
    register(client, world, "ひまわり保育園")
    register(client, world, "さくら保育園", fee="free")
    register(client, world, "第２こども園", kind="education_childcare", subkind="nintei_kodomoen",
             content="一時預かりもある保育")
    register(client, world, "ひまわり小児科", kind="medical", subkind="clinic", content="小児科の診療",
             hours=[{"day": "sat", "opens": "09:00", "closes": "12:00"}])
    register(client, world, "ひまわり下書き園", publish=False)
    register(client, world, "ひまわり保育園", code=CITY_B)  # another municipality's

    assert names(public(client, q="ひまわり")) == ["ひまわり保育園", "ひまわり小児科"]
    assert names(public(client, q="ヒマワリ")) == ["ひまわり保育園", "ひまわり小児科"]
    assert names(public(client, q="ﾋﾏﾜﾘ 保育")) == ["ひまわり保育園"]
    assert set(names(public(client, q="保育"))) == {"ひまわり保育園", "さくら保育園",
                                                   "第２こども園"}  # names and content
    assert names(public(client, q="第2")) == ["第２こども園"]
    assert names(public(client, q="一時預かり")) == ["第２こども園"]
    assert names(public(client, q="%")) == [] and names(public(client, q="_")) == []
    assert names(public(client, kind="medical")) == ["ひまわり小児科"]
    assert names(public(client, day="sat")) == ["ひまわり小児科"]
    assert names(public(client, fee="free")) == ["さくら保育園"]
    assert public(client)["totalCount"] == 4  # the draft is never served


def test_public_pages_are_keyset_pages_with_a_total(client, world):
    for name in ("あ園", "い園", "う園", "え園", "お園"):
        register(client, world, name)
    first = public(client, first=2)
    assert first["totalCount"] == 5 and names(first) == ["あ園", "い園"]
    assert first["pageInfo"]["hasNextPage"]
    second = public(client, first=2, after=first["pageInfo"]["endCursor"])
    third = public(client, first=2, after=second["pageInfo"]["endCursor"])
    assert names(second) == ["う園", "え園"] and names(third) == ["お園"]
    assert not third["pageInfo"]["hasNextPage"]


def test_bad_public_parameters_and_unknown_municipalities_are_typed_errors(client, world):
    for variables in ({"kind": "shop"}, {"day": "someday"}, {"fee": "cheap"},
                      {"after": "not-a-cursor"}):
        body = gql(client, PUBLIC, {"code": CITY_A, "n": False, **variables})
        (error,) = body["errors"]
        assert error["extensions"]["code"] in ("invalid_input", "cursor_invalid")
        assert error["extensions"]["messageJa"]
    for code in ("999999", "abc", NPO):
        body = gql(client, PUBLIC, {"code": code, "n": False})
        assert body["errors"][0]["extensions"]["code"] == "municipality_not_found"


# --------------------------------------------------------------------------- neighbours


def test_neighbours_published_entries_come_only_when_asked_and_declared(client, world):
    register(client, world, "ひまわり保育園")
    register(client, world, "横浜ひまわり園", code=CITY_B)
    register(client, world, "横浜ひまわり下書き", code=CITY_B, publish=False)

    assert names(public(client, q="ひまわり", neighbours=True)) == ["ひまわり保育園"]  # undeclared
    declared = run(client, NEIGHBOUR, admin(world), neighbourCode=CITY_B)
    assert declared == {"__typename": "NeighboursChanged", "neighbourCodes": [CITY_B]}
    assert names(public(client, q="ひまわり")) == ["ひまわり保育園"]
    both = public(client, q="ひまわり", neighbours=True)
    assert names(both) == ["ひまわり保育園", "横浜ひまわり園"] and both["totalCount"] == 2
    # One-way: B did not declare A.
    assert names(public(client, CITY_B, q="ひまわり", neighbours=True)) == ["横浜ひまわり園"]


def test_declaring_a_neighbour_is_for_the_municipalitys_own_staff(client, world):
    npo = world.headers("contractor", NPO, roles=("specialist",), sites=("a-hiroba",))
    assert run(client, NEIGHBOUR, npo, neighbourCode=CITY_B)["code"] == "municipality_only"
    assert run(client, NEIGHBOUR, admin(world), neighbourCode=CITY_A)["code"] == "validation_failed"
    assert run(client, NEIGHBOUR, admin(world), neighbourCode="999999")["code"] == \
        "validation_failed"
    other = run(client, NEIGHBOUR, admin(world, CITY_B), CITY_A, neighbourCode=CITY_B)
    assert other["code"] == "municipality_not_permitted"


# --------------------------------------------------------------------------- staff


def test_staff_see_drafts_owners_and_versions_and_keep_the_entry_current(client, world):
    rid = register(client, world, "ひまわり保育園", publish=False)
    listed = gql(client, STAFF, {"q": "ひまわり"}, admin(world))["data"]["resources"]
    assert listed["edges"] == [{"node": {"name": "ひまわり保育園", "published": False,
                                         "owner": "admin-1"}}]
    updated = run(client, UPDATE, admin(world), resourceId=rid, expectedVersion=1,
                  attributes=attrs("ひまわり保育園 分園", owner="kosodate-ka"))
    assert updated["resource"]["version"] == 2 and updated["resource"]["owner"] == "kosodate-ka"
    today = japan_today().isoformat()
    verified = run(client, VERIFY, admin(world), resourceId=rid, verifiedOn=today)
    assert verified["resource"]["lastVerifiedOn"] == today
    assert verified["resource"]["findings"] == []
    published = run(client, PUBLISH, admin(world), resourceId=rid)
    assert names(public(client, q="分園")) == ["ひまわり保育園 分園"]
    assert run(client, UNPUBLISH, admin(world), resourceId=rid,
               expectedVersion=published["resource"]["version"])["resource"]["published"] is False
    assert public(client, q="分園")["totalCount"] == 0


def test_refused_changes_are_typed_and_write_nothing(client, world):
    rid = register(client, world, "ひまわり保育園")
    before = head(world)
    site_manager = world.headers("municipality", CITY_A, roles=("site_manager",))
    cases = [
        (REGISTER, admin(world), {"attributes": attrs("x", kind="shop")}, "validation_failed"),
        (REGISTER, admin(world), {"attributes": attrs("x" * 101)}, "validation_failed"),
        (REGISTER, admin(world), {"attributes": attrs("x", hours=[
            {"day": "mon", "opens": "18:00", "closes": "09:00"}])}, "validation_failed"),
        (REGISTER, site_manager, {"attributes": attrs("x")}, "role_not_permitted"),
        (REGISTER, admin(world, CITY_B), {"attributes": attrs("x")},
         "municipality_not_permitted"),
        (UPDATE, admin(world), {"resourceId": rid, "expectedVersion": 1,
                                "attributes": attrs("y")}, "stale_version"),
        (VERIFY, admin(world), {"resourceId": rid, "verifiedOn": "2099-01-01"},
         "validation_failed"),
        (PUBLISH, admin(world), {"resourceId": "not-an-id"}, "validation_failed"),
        (PUBLISH, admin(world), {"resourceId": "00000000-0000-0000-0000-000000000000"},
         "resource_not_found"),
    ]
    for document, headers, input, code in cases:
        result = run(client, document, headers, **input)
        got = result["code"] if result["code"] != "validation_failed" else "validation_failed"
        if code == "stale_version":  # the one retryable conflict, not a field error
            assert result["__typename"] == "ConflictError", result
        assert got == code, (code, result)
        assert result["messageJa"]
    assert head(world) == before


def test_without_a_token_only_the_published_directory_answers(client, world):
    register(client, world, "ひまわり保育園")
    for query in ("{ cases { totalCount } }", "{ myTasks { totalCount } }",
                  '{ referrals(caseId: "00000000-0000-0000-0000-000000000000") { id } }',
                  "{ resources { totalCount } }"):
        body = gql(client, query)
        assert body["data"] is None or all(v is None for v in body["data"].values()), body
        assert body["errors"][0]["extensions"]["code"] == "token_missing", body
    before = head(world)
    result = run(client, REGISTER, {}, attributes=attrs("x"))
    assert result["__typename"] == "NotAuthorizedError" and head(world) == before
    assert public(client)["totalCount"] == 1


# --------------------------------------------------------------------------- rebuild


def test_rebuilding_the_directory_gives_exactly_the_live_rows(client, world):
    rid = register(client, world, "ひまわり保育園")
    register(client, world, "さくら保育園", publish=False)
    run(client, UPDATE, admin(world), resourceId=rid, attributes=attrs("ひまわり園", fee="free"))
    run(client, UNPUBLISH, admin(world), resourceId=rid)
    with world.services.runtimes.lease(CITY_A) as rt:
        queries = ResourceDirectoryQueries(rt.casework.database)
        live = queries.rows()
        projector = Projector(rt.casework.database, rt.casework.mapper,
                              ResourceDirectoryView(rt.casework.keyring))
        assert projector.rebuild() > 0
        assert queries.rows() == live
    assert len(live) == 2
