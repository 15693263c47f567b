"""writeSupportNote, correctSupportNote and Case.timeline end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from world import CITY_A, gql, head, npo, open_case, run, supervisor
from key_destruction import destroy_key

from yorisoi.infra.clock import japan_today

RESULT = """
  __typename
  ... on SupportNoteSaved { note { id caseId writtenOn kind body corrected version }
                            case { id status } }
  ... on UserError { code message messageJa }
  ... on ValidationError { fieldErrors { field code messageJa } }
"""
WRITE = "mutation($input: WriteSupportNoteInput!) { writeSupportNote(input: $input) {" + RESULT + "} }"
CORRECT = ("mutation($input: CorrectSupportNoteInput!) { correctSupportNote(input: $input) {"
           + RESULT + "} }")
TIMELINE = """
query($id: ID!, $code: String, $first: Int!, $after: String) {
  case(id: $id, municipalityCode: $code) {
    timeline(first: $first, after: $after) {
      totalCount
      edges { cursor node { id kind occurredOn summary actor actorRole corrected noteKind
                            recordVersion } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
BODY = "電話で様子を確認。保育園の見学を希望"


def days_ago(n: int) -> str:
    return (japan_today() - timedelta(days=n)).isoformat()


def write(client: Any, headers: dict[str, str], case_id: str, **overrides: Any) -> dict[str, Any]:
    fields = {"caseId": case_id, "writtenOn": days_ago(1), "kind": "contact", "body": BODY}
    return run(client, WRITE, headers, **{**fields, **overrides})


def written(client: Any, headers: dict[str, str], case_id: str, **overrides: Any) -> dict:
    result = write(client, headers, case_id, **overrides)
    assert result["__typename"] == "SupportNoteSaved", result
    return result["note"]


def correct(client: Any, headers: dict[str, str], case_id: str, note_id: str,
            **overrides: Any) -> dict[str, Any]:
    fields = {"caseId": case_id, "noteId": note_id, "body": BODY + "（二か所）",
              "reason": "見学先の数を追記"}
    return run(client, CORRECT, headers, **{**fields, **overrides})


def timeline(client: Any, headers: dict[str, str], case_id: str, first: int = 20,
             after: str | None = None) -> dict[str, Any]:
    body = gql(client, TIMELINE, {"id": case_id, "code": CITY_A, "first": first,
                                  "after": after}, headers)
    assert "errors" not in body, body
    return body["data"]["case"]["timeline"]


def refused(result: dict[str, Any], code: str, field: str | None = None) -> None:
    assert result["__typename"] == "ValidationError", result
    assert [e["code"] for e in result["fieldErrors"]] == [code], result
    if field is not None:
        assert result["fieldErrors"][0]["field"] == field
    assert all(e["messageJa"] for e in result["fieldErrors"])


# --------------------------------------------------------------------------- scenarios


def test_npo_writes_a_note_and_the_municipality_reads_it_on_the_timeline(client, world):
    case_id = open_case(world)
    note = written(client, npo(world), case_id)
    assert (note["caseId"], note["writtenOn"], note["kind"], note["body"]) == (
        case_id, days_ago(1), "contact", BODY)
    assert (note["corrected"], note["version"]) == (False, 1)

    page = timeline(client, supervisor(world), case_id)
    assert page["totalCount"] == 2
    newest, opened = (edge["node"] for edge in page["edges"])
    assert (newest["id"], newest["kind"], newest["summary"]) == (note["id"], "support_note", BODY)
    assert (newest["actor"], newest["actorRole"], newest["noteKind"]) == (
        "npo-staff-1", "specialist", "contact")
    assert (opened["kind"], opened["summary"]) == ("case_opened", None)


def test_correction_keeps_the_original_and_marks_the_timeline_entry(client, world):
    case_id = open_case(world)
    note = written(client, npo(world), case_id)
    result = correct(client, npo(world), case_id, note["id"], expectedVersion=1)
    assert result["__typename"] == "SupportNoteSaved", result
    assert (result["note"]["body"], result["note"]["corrected"], result["note"]["version"]) == (
        BODY + "（二か所）", True, 2)

    entry = timeline(client, supervisor(world), case_id)["edges"][0]["node"]
    assert (entry["summary"], entry["corrected"], entry["recordVersion"]) == (
        BODY + "（二か所）", True, 2)
    with world.services.runtimes.lease(CITY_A) as rt:
        stored = list(rt.casework.recorder.select_events(UUID(note["id"])))
        assert rt.casework.mapper.to_domain_event(stored[0]).body == BODY


def test_stale_or_unchanged_correction_is_refused_and_nothing_is_written(client, world):
    case_id = open_case(world)
    note = written(client, npo(world), case_id)
    assert correct(client, npo(world), case_id, note["id"])["__typename"] == "SupportNoteSaved"
    before = head(world)
    stale = correct(client, npo(world), case_id, note["id"], body="別の内容", expectedVersion=1)
    assert (stale["__typename"], stale["code"]) == ("ConflictError", "stale_version"), stale
    refused(correct(client, npo(world), case_id, note["id"], body=BODY + "（二か所）"),
            "support_note_correction_unchanged", "body")
    refused(correct(client, npo(world), case_id, note["id"], reason="  "),
            "invalid_input", "reason")
    assert head(world) == before


def test_invalid_notes_are_refused_and_nothing_is_written(client, world):
    case_id = open_case(world)
    before = head(world)
    refused(write(client, npo(world), case_id, writtenOn=days_ago(-1)),
            "support_note_date_in_future", "writtenOn")
    refused(write(client, npo(world), case_id, kind="gossip"), "support_note_kind_unknown", "kind")
    refused(write(client, npo(world), case_id, body=" "), "invalid_input", "body")
    refused(write(client, npo(world), case_id, writtenOn="yesterday"), "invalid_input",
            "writtenOn")
    too_long = "あ" * (world.services.settings.max_text_length + 1)
    refused(write(client, npo(world), case_id, body=too_long), "invalid_input", "body")
    assert head(world) == before


def test_note_of_another_case_or_unknown_note_is_not_found(client, world):
    first, second = open_case(world), open_case(world)
    note = written(client, npo(world), first)
    before = head(world)
    for case_id, note_id in ((second, note["id"]), (first, str(uuid4())), (first, first)):
        result = correct(client, npo(world), case_id, note_id)
        assert result["__typename"] == "NotFoundError", result
        assert result["code"] == "support_note_not_found" and result["messageJa"]
    refused(correct(client, npo(world), first, "not-an-id"), "invalid_input", "noteId")
    assert head(world) == before


def test_contractor_cannot_write_on_a_case_outside_its_contracts(client, world):
    direct = open_case(world, site_id="a-counter", contract_id=None)
    foreign = open_case(world, contract_id="contract-a-kaze")
    before = head(world)
    for case_id in (direct, foreign):
        result = write(client, npo(world), case_id)
        assert result["__typename"] == "NotFoundError", result
        assert result["code"] == "case_not_found"
    admin = world.headers("municipality", CITY_A, roles=("municipal_admin",))
    result = write(client, admin, direct)
    assert (result["__typename"], result["code"]) == ("NotAuthorizedError", "role_not_permitted")
    assert head(world) == before
    assert written(client, supervisor(world), direct)["body"] == BODY


def test_timeline_pages_newest_first_with_total_count(client, world):
    case_id = open_case(world)
    for n in range(4):
        written(client, npo(world), case_id, writtenOn=days_ago(n), body=f"記録{n}")
    seen, after = [], None
    while True:
        page = timeline(client, npo(world), case_id, first=2, after=after)
        assert page["totalCount"] == 5
        seen += [edge["node"]["summary"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["記録0", "記録1", "記録2", "記録3", None]
    body = gql(client, TIMELINE, {"id": case_id, "code": CITY_A, "first": 2, "after": "bad"},
               npo(world))
    assert body["errors"][0]["extensions"]["code"] == "cursor_invalid"


def test_disposed_household_timeline_keeps_entries_without_summaries(client, world):
    case_id = open_case(world)
    written(client, npo(world), case_id)
    with world.services.runtimes.lease(CITY_A) as rt:
        household_id = rt.casework.repository.get(UUID(case_id)).household_id
        assert destroy_key(rt, household_id)
    page = timeline(client, supervisor(world), case_id)
    assert page["totalCount"] == 2
    assert [e["node"]["summary"] for e in page["edges"]] == [None, None]
    assert page["edges"][0]["node"]["kind"] == "support_note"
