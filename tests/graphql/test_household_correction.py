"""Correcting a household's people: a new event keeps the original; views, rebuilds, DSRs follow."""

from __future__ import annotations

import uuid
from typing import Any

from world import CITY_A, CITY_B, gql, npo, record, run, supervisor
from key_destruction import destroy_key

from yorisoi.infra.clock import japan_today

CORRECT = """
mutation C($input: CorrectHouseholdInput!) {
  correctHousehold(input: $input) {
    __typename
    ... on HouseholdCorrected { changedFields household { guardians { name relationship }
                                children { name birthDate } } }
    ... on UserError { code message messageJa }
    ... on ValidationError { fieldErrors { field code } }
    ... on ConflictError { retryable currentVersion }
  }
}
"""
CASE = "query($id: ID!) { case(id: $id) { household { guardians { name } children { name } } } }"
PEOPLE = {"guardians": [{"name": "架空 華子", "relationship": "母"}],
          "children": [{"name": "架空 たろう", "birthDate": "2024-05-01"}]}


def _case(client: Any, world: Any) -> str:
    result = record(client, npo(world))
    assert result["__typename"] == "ConsultationRecorded", result
    return result["case"]["id"]


def _correct(client: Any, headers: dict[str, str], case_id: str, **overrides: Any) -> dict:
    body = gql(client, CORRECT, {"input": {"municipalityCode": CITY_A, "caseId": case_id,
                                           "household": PEOPLE, "reason": "氏名の誤記",
                                           **overrides}}, headers)
    assert "errors" not in body, body
    return body["data"]["correctHousehold"]


def test_a_correction_changes_the_view_and_keeps_the_original_in_the_log(client, world):
    case_id = _case(client, world)
    corrected = _correct(client, npo(world), case_id)
    assert corrected["__typename"] == "HouseholdCorrected", corrected
    assert corrected["changedFields"] == ["guardians"]
    assert corrected["household"]["guardians"] == [{"name": "架空 華子", "relationship": "母"}]
    assert gql(client, CASE, {"id": case_id}, supervisor(world))["data"]["case"]["household"][
        "guardians"] == [{"name": "架空 華子"}]
    with world.services.runtimes.lease(CITY_A) as rt:
        case = rt.casework.repository.get(uuid.UUID(case_id))
        original = rt.casework.repository.get(case.household_id, version=1)
        assert [g.name for g in original.guardians] == ["架空 花子"]
        # A rebuild of the views gives what the live view shows.
        before = rt.cases.households([str(case.household_id)])
        for projector in rt.projectors:
            projector.rebuild()
        assert rt.cases.households([str(case.household_id)]) == before


def test_bad_corrections_are_typed_errors_and_write_nothing(client, world):
    case_id = _case(client, world)
    assert _correct(client, npo(world), case_id, reason=" ")["fieldErrors"] == [
        {"field": "reason", "code": "invalid_input"}]
    unchanged = {"guardians": [{"name": "架空 花子", "relationship": "母"}],
                 "children": [{"name": "架空 たろう", "birthDate": "2024-05-01"}]}
    assert _correct(client, npo(world), case_id, household=unchanged)["fieldErrors"] == [
        {"field": "household", "code": "household_correction_unchanged"}]
    future = {"guardians": [], "children": [{"name": "架空 たろう", "birthDate": "2999-01-01"}]}
    assert _correct(client, npo(world), case_id, household=future)["fieldErrors"][0]["code"] == (
        "birth_date_in_future")
    stale = _correct(client, npo(world), case_id, expectedVersion=7)
    assert (stale["__typename"], stale["code"], stale["retryable"], stale["currentVersion"]) == (
        "ConflictError", "stale_version", True, 1), stale
    other = world.headers("municipality", CITY_B, roles=("municipal_supervisor",))
    assert _correct(client, other, case_id)["code"] == "municipality_not_permitted"
    assert gql(client, CASE, {"id": case_id}, supervisor(world))["data"]["case"]["household"][
        "guardians"] == [{"name": "架空 花子"}]


def test_a_disposed_household_cannot_be_corrected(client, world):
    case_id = _case(client, world)
    with world.services.runtimes.lease(CITY_A) as rt:
        case = rt.casework.repository.get(uuid.UUID(case_id))
        destroy_key(rt, case.household_id)
    refused = _correct(client, npo(world), case_id)
    assert refused["fieldErrors"] == [{"field": "caseId", "code": "household_disposed"}]
    assert "架空" not in str(refused)


def test_a_correction_request_is_carried_out_and_linked(client, world):
    case_id = _case(client, world)
    request_fields = "id status corrections { recordKind changedFields }"

    def step(name: str, input_type: str, **fields: Any) -> dict:
        document = (f"mutation M($input: {input_type}!) {{ {name}(input: $input) {{ __typename"
                    f" ... on DataSubjectRequestChanged {{ request {{ {request_fields} }} }}"
                    " ... on UserError { code } ... on ValidationError { fieldErrors { code } }"
                    " } }")
        return run(client, document, supervisor(world), **fields)

    received = step("receiveDataSubjectRequest", "ReceiveDataSubjectRequestInput",
                    caseId=case_id, kind="correction", identificationMethod="counter_photo_id",
                    requesterRelationship="self", receivedOn=japan_today().isoformat())
    request_id = received["request"]["id"]
    step("startDataSubjectRequest", "DataSubjectRequestStepInput", requestId=request_id,
         on=japan_today().isoformat())
    done = step("correctHouseholdForRequest", "CorrectHouseholdForRequestInput",
                requestId=request_id, household=PEOPLE, reason="本人からの訂正請求")
    assert done["__typename"] == "DataSubjectRequestChanged", done
    assert done["request"]["corrections"] == [{"recordKind": "household",
                                               "changedFields": ["guardians"]}]
    assert gql(client, CASE, {"id": case_id}, supervisor(world))["data"]["case"]["household"][
        "guardians"] == [{"name": "架空 華子"}]
