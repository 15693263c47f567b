"""cases(filter:) through GraphQL: search by name, reading, phone, birth date and case number.

Families are recorded with recordConsultation (with readings and a phone);
the search is asked as a specialist (the need to know), refused for a role
that reads personal fields masked, and logged without its text.
"""

from __future__ import annotations

import json

from world import CITY_A, consultation_input, gql, npo, supervisor

from yorisoi.infra.access_log_store import AccessLogStore
from yorisoi.projections.case_queries import CaseScope

SEARCH = """
query Search($filter: CaseFilter, $first: Int! = 20, $after: String) {
  cases(municipalityCode: "131016", filter: $filter, first: $first, after: $after) {
    totalCount
    edges { node { id status siteId household { guardians { name } } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
RECORD = """
mutation Record($input: RecordConsultationInput!) {
  recordConsultation(input: $input) {
    __typename
    ... on ConsultationRecorded { case { id } }
    ... on UserError { code }
    ... on ValidationError { fieldErrors { field code } }
  }
}
"""
FAMILIES = {
    "takahashi": {"guardians": [{"name": "髙橋 美咲", "relationship": "母",
                                 "reading": "タカハシ ミサキ", "phone": "090-1234-5678"}],
                  "children": [{"name": "髙橋 陽翔", "reading": "たかはし はると",
                                "birthDate": "2024-04-01"}]},
    "yoshida": {"guardians": [{"name": "𠮷田 恵子", "relationship": "母",
                               "reading": "ヨシダ ケイコ", "phone": "03-3333-4444"}],
                "children": [{"name": "𠮷田 蓮", "reading": "よしだ れん",
                              "birthDate": "2023-11-20"}]},
}
SECRETS = ("髙橋", "高橋", "たかはし", "タカハシ", "ﾀｶﾊｼ", "09012345678", "090-1234-5678",
           "2024-04-01", "令和6年4月1日", "吉田", "𠮷田")


def _record(client, world, household: dict) -> str:
    body = gql(client, RECORD, {"input": consultation_input(household=household)}, npo(world))
    result = body["data"]["recordConsultation"]
    assert result["__typename"] == "ConsultationRecorded", result
    return result["case"]["id"]


def _search(client, headers, **filter_) -> dict:
    return gql(client, SEARCH, {"filter": filter_}, headers)


def _ids(body: dict) -> list[str]:
    assert "errors" not in body, body
    return [e["node"]["id"] for e in body["data"]["cases"]["edges"]]


def test_specialists_find_families_by_every_kind_of_value(client, world):
    cases = {name: _record(client, world, h) for name, h in FAMILIES.items()}
    staff = npo(world)
    for text in ("たかはし", "ﾀｶﾊｼ", "ハルト", "高橋", "髙橋 陽翔", "090-1234-5678", "09012345678",
                 "令和6年4月1日", "R6.4.1", "2024/4/1", "2024-04-01", cases["takahashi"][:8]):
        body = _search(client, staff, text=text)
        assert _ids(body) == [cases["takahashi"]], text
        assert body["data"]["cases"]["totalCount"] == 1
    assert _ids(_search(client, staff, text="吉田")) == [cases["yoshida"]]
    assert _ids(_search(client, staff, text="すずき")) == []
    # The other filters alone, and with a search.
    assert sorted(_ids(_search(client, staff, siteId="a-hiroba"))) == sorted(cases.values())
    assert _ids(_search(client, staff, text="吉田", status="closed")) == []
    assert _ids(_search(client, staff, text="吉田", theme="development")) == [cases["yoshida"]]
    assert _ids(_search(client, staff, text="吉田", theme="money")) == []
    assert sorted(_ids(_search(client, staff, staff="npo-staff-1"))) == sorted(cases.values())
    assert _ids(_search(client, staff, staff="someone-else")) == []
    assert sorted(_ids(_search(client, staff, openedFrom="令和6年4月1日"))) == sorted(
        cases.values())
    assert sorted(_ids(_search(client, staff, hasOverdueTasks=False))) == sorted(cases.values())


def test_keyset_pages_and_count_follow_the_filter(client, world):
    made = [_record(client, world, {
        "guardians": [{"name": f"高橋 花{i}", "relationship": "母", "reading": "たかはし はな"}],
        "children": [{"name": f"高橋 子{i}", "birthDate": "2024-05-01"}]}) for i in range(5)]
    _record(client, world, FAMILIES["yoshida"])
    seen, after = [], None
    while True:
        body = gql(client, SEARCH, {"filter": {"text": "たかはし"}, "first": 2, "after": after},
                   npo(world))
        assert body["data"]["cases"]["totalCount"] == 5
        seen += _ids(body)
        info = body["data"]["cases"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert sorted(seen) == sorted(made) and len(seen) == 5


def test_a_role_without_the_need_to_know_may_not_search_by_a_personal_value(client, world):
    case_id = _record(client, world, FAMILIES["takahashi"])
    admin = world.headers("municipality", CITY_A, subject="a-admin", roles=("municipal_admin",))
    body = _search(client, admin, text="たかはし")
    assert body["data"] is None or body["data"]["cases"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "search_not_permitted"
    assert "messageJa" in error["extensions"]
    # Other filters, and a case number, still work for that role.
    assert _ids(_search(client, admin, siteId="a-hiroba")) == [case_id]
    assert _ids(_search(client, admin, text=case_id[:8])) == [case_id]


def test_bad_filters_answer_typed_errors_without_echoing_them(client, world):
    staff = npo(world)
    for filter_, code in (({"openedFrom": "髙橋"}, "invalid_input"),
                          ({"status": "たかはし"}, "invalid_input"),
                          ({"theme": "高橋"}, "invalid_input"),
                          ({"text": "たかはし" * 30}, "invalid_input"),
                          ({"staff": "a\u0000b"}, "invalid_input"),
                          ({"siteId": "a-hiroba\u0000"}, "invalid_input")):
        body = _search(client, staff, **filter_)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == code, body
        text = json.dumps(body, ensure_ascii=False)
        assert "髙橋" not in text and "高橋" not in text and "たかはし" not in text


def test_a_search_is_logged_as_a_read_without_its_text(client, world):
    case_id = _record(client, world, FAMILIES["takahashi"])
    _record(client, world, FAMILIES["yoshida"])
    assert len(_ids(_search(client, supervisor(world), text="たかはし 2024-04-01"))) == 1
    with world.services.runtimes.lease(CITY_A) as rt:
        rows = AccessLogStore(rt.casework.database).rows()
        household_id = rt.cases.get(CaseScope(), case_id).household_id
    searches = [r for r in rows if r["record_kind"] == "case_search"]
    summary = [r for r in searches if r["household_id"] == ""]
    assert len(summary) == 1
    fields = summary[0]["fields"]
    fields = json.loads(fields) if isinstance(fields, str) else fields
    assert sorted(fields) == ["birth_date", "name_or_reading", "results:1"]
    assert summary[0]["actor"] == "a-supervisor"
    assert [r["household_id"] for r in searches if r["household_id"]] == [household_id]
    dump = json.dumps(rows, ensure_ascii=False, default=str)
    for secret in SECRETS:
        assert secret not in dump


def test_the_reception_number_finds_its_case(client, world):
    case_id = _record(client, world, FAMILIES["takahashi"])
    _record(client, world, FAMILIES["yoshida"])
    body = gql(client, 'query($id: ID!) { case(id: $id, municipalityCode: "131016")'
               " { receptionNumber } }", {"id": case_id}, npo(world))
    number = body["data"]["case"]["receptionNumber"]
    assert number and number.startswith("R")
    era, serial = number[1:].split("-")
    for typed in (number, number.lower(), f"Ｒ{era}－{serial}", f"R{era}-{int(serial)}"):
        assert _ids(_search(client, npo(world), text=typed)) == [case_id], typed
    admin = world.headers("municipality", CITY_A, subject="a-admin", roles=("municipal_admin",))
    assert _ids(_search(client, admin, text=number)) == [case_id]  # not a personal value
