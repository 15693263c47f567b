"""Likely duplicates at registration: the visible candidate, the opaque notice, confirm-with-reason."""

from __future__ import annotations

import uuid
from typing import Any

from world import CITY_A, consultation_input, gql, npo

from yorisoi.domain.households import Household

DUPLICATE = """
mutation Record($input: RecordConsultationInput!) {
  recordConsultation(input: $input) {
    __typename
    ... on ConsultationRecorded { case { id receptionNumber } }
    ... on PossibleDuplicates { existsElsewhere message messageJa
      candidates { caseId receptionNumber siteName displayName reasons reasonsJa } }
    ... on UserError { code }
    ... on ValidationError { fieldErrors { field code } }
  }
}
"""
FAMILY = {"guardians": [{"name": "重複 花子", "relationship": "母", "phone": "090-1111-2222"}],
          "children": [{"name": "重複 たろう", "birthDate": "2024-06-01",
                        "reading": "チョウフク タロウ"}]}


def _record(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    data = consultation_input(**{"household": FAMILY, **overrides})
    if "confirmNewHousehold" not in overrides:
        del data["confirmNewHousehold"]  # the world confirms by default
    body = gql(client, DUPLICATE, {"input": data}, headers)
    assert "errors" not in body, body
    return body["data"]["recordConsultation"]


def municipal_specialist(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="a-specialist", roles=("specialist",))


def test_the_same_family_again_answers_the_visible_candidate_best_match_first(client, world):
    first = _record(client, npo(world))
    assert first["__typename"] == "ConsultationRecorded", first
    # Same reading and birth date (katakana typed as hiragana), and the same phone.
    again = _record(client, npo(world), household={
        "guardians": [{"name": "重複 はなこ", "relationship": "母", "phone": "09011112222"}],
        "children": [{"name": "重複 太郎", "birthDate": "2024-06-01",
                      "reading": "ちょうふく たろう"}]})
    assert again["__typename"] == "PossibleDuplicates", again
    (candidate,) = again["candidates"]
    assert candidate["caseId"] == first["case"]["id"]
    assert candidate["receptionNumber"] == first["case"]["receptionNumber"]
    assert candidate["siteName"] == "ひろば" and candidate["displayName"] == "重複 花子"
    assert candidate["reasons"] == ["reading_birth_date", "phone"]
    assert candidate["reasonsJa"][0] == "フリガナと生年月日が同じ"
    assert again["existsElsewhere"] is False and again["messageJa"]


def test_a_candidate_outside_the_callers_reach_is_only_an_opaque_notice(client, world):
    # Registered by the municipality at its own counter: outside the NPO's contract.
    first = _record(client, municipal_specialist(world), siteId="a-counter")
    assert first["__typename"] == "ConsultationRecorded", first
    again = _record(client, npo(world))
    assert again["__typename"] == "PossibleDuplicates", again
    assert again["candidates"] == [] and again["existsElsewhere"] is True
    assert "ask the municipality" in again["message"]
    # Nothing about it: no number, no name, no site.
    text = str(again)
    for detail in (first["case"]["id"], first["case"]["receptionNumber"], "重複 花子", "窓口"):
        assert detail not in text


def test_confirming_a_new_household_records_the_reason_in_the_event(client, world):
    assert _record(client, npo(world))["__typename"] == "ConsultationRecorded"
    refused = _record(client, npo(world), confirmNewHousehold={"reason": " "})
    assert refused["__typename"] == "ValidationError", refused
    assert refused["fieldErrors"] == [{"field": "confirmNewHousehold.reason",
                                       "code": "invalid_input"}]
    confirmed = _record(client, npo(world),
                        confirmNewHousehold={"reason": "双子の別世帯（同居の祖母の申し出）"})
    assert confirmed["__typename"] == "ConsultationRecorded", confirmed
    with world.services.runtimes.lease(CITY_A) as rt:
        case = rt.casework.repository.get(uuid.UUID(confirmed["case"]["id"]))
        household = rt.casework.repository.get(case.household_id)
        assert isinstance(household, Household)
        assert household.new_household_reason == "双子の別世帯（同居の祖母の申し出）"


def test_a_different_family_is_recorded_without_a_question(client, world):
    assert _record(client, npo(world))["__typename"] == "ConsultationRecorded"
    other = _record(client, npo(world), household={
        "guardians": [{"name": "別人 花子", "relationship": "母", "phone": "090-3333-4444"}],
        "children": [{"name": "別人 たろう", "birthDate": "2024-06-02"}]})
    assert other["__typename"] == "ConsultationRecorded", other
