"""closeCase, reopenCase and markCouncilCase end to end, on SQLite and PostgreSQL.

Cases are opened through the casework application (a household and its case,
saved together); every command under test goes through GraphQL with real
development-issuer tokens.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from world import CITY_A, consultation_input, gql, head, npo, open_case, run, supervisor

from yorisoi.domain.cases import Case
from yorisoi.infra.clock import japan_today

CHANGE = """
  __typename
  ... on CaseChanged { case { id status openedOn closedOn closureReason councilCase version } }
  ... on UserError { code message messageJa }
  ... on ValidationError { fieldErrors { field code messageJa } }
  ... on ConflictError { retryable currentVersion }
"""
CLOSE = "mutation($input: CloseCaseInput!) { closeCase(input: $input) {" + CHANGE + "} }"
REOPEN = "mutation($input: ReopenCaseInput!) { reopenCase(input: $input) {" + CHANGE + "} }"
COUNCIL = ("mutation($input: MarkCouncilCaseInput!) { markCouncilCase(input: $input) {"
           + CHANGE + "} }")
RECORD_ON_CASE = """
mutation($input: RecordConsultationInput!) {
  recordConsultation(input: $input) {
    __typename
    ... on UserError { code }
    ... on ValidationError { fieldErrors { field code messageJa } }
  }
}
"""
WRITE_NOTE = """
mutation($input: WriteSupportNoteInput!) {
  writeSupportNote(input: $input) {
    __typename
    ... on SupportNoteSaved { note { id } }
    ... on ValidationError { fieldErrors { field code messageJa } }
  }
}
"""


def days_ago(n: int) -> str:
    return (japan_today() - timedelta(days=n)).isoformat()


def close(client: Any, headers: dict[str, str], case_id: str, **overrides: Any) -> dict[str, Any]:
    fields = {"caseId": case_id, "closedOn": days_ago(2), "reason": "support_completed"}
    return run(client, CLOSE, headers, **{**fields, **overrides})


def refused(result: dict[str, Any], code: str) -> None:
    assert result["__typename"] == "ValidationError", result
    assert [e["code"] for e in result["fieldErrors"]] == [code], result
    assert all(e["messageJa"] for e in result["fieldErrors"])


# --------------------------------------------------------------------------- scenarios


def test_closing_keeps_the_exact_date_and_reason_and_reopening_clears_them(client, world):
    case_id = open_case(world)
    closed = close(client, npo(world), case_id)
    assert closed["__typename"] == "CaseChanged", closed
    case = closed["case"]
    assert (case["status"], case["closedOn"], case["closureReason"]) == (
        "closed", days_ago(2), "support_completed")
    assert case["version"] == 2

    reopened = run(client, REOPEN, npo(world), caseId=case_id, reopenedOn=days_ago(1),
                   expectedVersion=2)
    assert reopened["__typename"] == "CaseChanged", reopened
    assert (reopened["case"]["status"], reopened["case"]["closedOn"],
            reopened["case"]["closureReason"]) == ("active", None, None)


def test_recording_a_consultation_or_a_note_on_a_closed_case_is_refused(client, world):
    case_id = open_case(world)
    assert close(client, npo(world), case_id)["__typename"] == "CaseChanged"
    before = head(world)

    body = gql(client, RECORD_ON_CASE, {"input": consultation_input(caseId=case_id,
                                                                    household=None)}, npo(world))
    assert "errors" not in body, body
    refused(body["data"]["recordConsultation"], "case_closed")

    note = run(client, WRITE_NOTE, npo(world), caseId=case_id, writtenOn=days_ago(0),
               kind="progress", body="電話で様子を確認")
    refused(note, "case_closed")
    assert head(world) == before


@pytest.mark.parametrize(("closed_on", "field"), [
    (-1, "closedOn"),  # tomorrow
    (11, "closedOn"),  # the day before the case was opened
])
def test_closing_in_the_future_or_before_opening_is_refused(client, world, closed_on, field):
    case_id = open_case(world, opened_days_ago=10)
    before = head(world)
    result = close(client, npo(world), case_id, closedOn=days_ago(closed_on))
    refused(result, "case_closure_date_invalid")
    assert result["fieldErrors"][0]["field"] == field
    assert head(world) == before


def test_unknown_closure_reason_or_malformed_date_is_refused(client, world):
    case_id = open_case(world)
    before = head(world)
    refused(close(client, npo(world), case_id, reason="bored"), "case_closure_reason_unknown")
    refused(close(client, npo(world), case_id, closedOn="2025-W01-1"), "invalid_input")
    assert head(world) == before


def test_stale_expected_version_is_refused_and_nothing_is_written(client, world):
    case_id = open_case(world)
    assert run(client, COUNCIL, supervisor(world), caseId=case_id, councilCase=True,
               expectedVersion=1)["__typename"] == "CaseChanged"
    before = head(world)
    stale = close(client, npo(world), case_id, expectedVersion=1)
    # One conflict voice: retryable, with the version to retry with.
    assert (stale["__typename"], stale["code"], stale["retryable"], stale["currentVersion"]) == (
        "ConflictError", "stale_version", True, 2), stale
    assert head(world) == before
    assert close(client, npo(world), case_id, expectedVersion=2)["__typename"] == "CaseChanged"


def test_council_flag_is_recorded_once_and_cleared(client, world):
    case_id = open_case(world)
    marked = run(client, COUNCIL, supervisor(world), caseId=case_id, councilCase=True)
    assert marked["case"]["councilCase"] is True and marked["case"]["version"] == 2
    before = head(world)
    again = run(client, COUNCIL, supervisor(world), caseId=case_id, councilCase=True)
    assert again["case"]["version"] == 2  # already flagged: nothing to record
    assert head(world) == before
    cleared = run(client, COUNCIL, supervisor(world), caseId=case_id, councilCase=False)
    assert cleared["case"]["councilCase"] is False and cleared["case"]["version"] == 3


def test_reopening_an_open_case_is_refused(client, world):
    case_id = open_case(world)
    before = head(world)
    refused(run(client, REOPEN, npo(world), caseId=case_id, reopenedOn=days_ago(0)),
            "case_not_closed")
    assert head(world) == before


def test_contractor_cannot_close_another_contracts_or_a_direct_case(client, world):
    foreign = open_case(world, contract_id="contract-a-kaze")  # an ended contract's case
    direct = open_case(world, site_id="a-counter", contract_id=None)
    before = head(world)
    for case_id in (foreign, direct):
        result = close(client, npo(world), case_id)
        assert result["__typename"] == "NotFoundError", result
        assert result["code"] == "case_not_found"
    assert head(world) == before
    # The municipality itself may close either.
    assert close(client, supervisor(world), direct)["__typename"] == "CaseChanged"
    with world.services.runtimes.lease(CITY_A) as rt:
        assert rt.casework.repository.get(UUID(foreign)).status == Case.OPENED


def test_role_without_case_management_is_not_authorized(client, world):
    case_id = open_case(world)
    before = head(world)
    admin = world.headers("municipality", CITY_A, roles=("municipal_admin",))
    result = close(client, admin, case_id)
    assert result["__typename"] == "NotAuthorizedError", result
    assert result["code"] == "role_not_permitted"
    assert head(world) == before
