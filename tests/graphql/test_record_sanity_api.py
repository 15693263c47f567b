"""Record sanity through the API, and 最終対応日 (lastActivityOn) moving on every activity.

On SQLite and PostgreSQL: impossible dates are typed field errors that write
nothing; the case list's last activity follows notes, referrals (drafted, later
steps), meetings and household corrections — never back — and a rebuild of the
view gives the rows the live view holds.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from world import CITY_A, NPO, consultation_input, gql, head, open_case, record, run

from yorisoi.domain.referrals import Referral
from yorisoi.domain.support_notes import SupportNote
from yorisoi.infra.clock import japan_today
from yorisoi.services.context import ActingContext, acting_as

RECORD = """
mutation($input: RecordConsultationInput!) { recordConsultation(input: $input) {
  __typename ... on ConsultationRecorded { case { id } }
  ... on UserError { code messageJa }
  ... on ValidationError { fieldErrors { field code messageJa } } } }
"""
SCHEDULE = """
mutation($input: ScheduleCaseMeetingInput!) { scheduleCaseMeeting(input: $input) {
  __typename ... on CaseMeetingChanged { meeting { id version } } ... on UserError { code } } }
"""
MINUTES = """
mutation($input: RecordMeetingMinutesInput!) { recordMeetingMinutes(input: $input) {
  __typename ... on UserError { code }
  ... on ValidationError { fieldErrors { field code messageJa } } } }
"""
WRITE_NOTE = """
mutation($input: WriteSupportNoteInput!) { writeSupportNote(input: $input) {
  __typename ... on UserError { code } } }
"""
CORRECT_HOUSEHOLD = """
mutation($input: CorrectHouseholdInput!) { correctHousehold(input: $input) {
  __typename ... on UserError { code } } }
"""
LAST = "query($id: ID!) { case(id: $id) { lastActivityOn } }"
TODAY = japan_today()


def _npo(world: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, subject="npo-staff-1", roles=("specialist",),
                         sites=("a-hiroba",))


def _supervisor(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, roles=("municipal_supervisor",))


def _days_ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def _field_errors(result: dict[str, Any]) -> list[tuple[str, str]]:
    assert result["__typename"] == "ValidationError", result
    assert all(e["messageJa"] for e in result["fieldErrors"])
    return [(e["field"], e["code"]) for e in result["fieldErrors"]]


def _at(days: int, hour: int) -> str:
    return f"{(TODAY + timedelta(days=days)).isoformat()}T{hour:02d}:00:00+09:00"


def _last(client: Any, world: Any, case_id: str) -> str:
    body = gql(client, LAST, {"id": case_id}, _supervisor(world))
    assert "errors" not in body, body
    return body["data"]["case"]["lastActivityOn"]


# --------------------------------------------------------------------------- sanity


def test_a_consultation_before_a_pregnancy_or_before_its_case_is_refused(client, world):
    headers = _npo(world)
    born = TODAY - timedelta(days=30)
    family = {"guardians": [{"name": "架空 花子", "relationship": "母"}],
              "children": [{"name": "架空 たろう", "birthDate": born.isoformat()}]}
    before = head(world)
    too_early = gql(client, RECORD, {"input": consultation_input(
        household=family, occurredOn=(born - timedelta(days=311)).isoformat())}, headers)
    assert _field_errors(too_early["data"]["recordConsultation"]) == [
        ("occurredOn", "consultation_before_pregnancy")]
    assert head(world) == before
    # During the pregnancy (here 300 days before the birth) is the service's own time.
    during = record(client, headers, household=family,
                    occurredOn=(born - timedelta(days=300)).isoformat(),
                    consent={"givenBy": "架空 花子", "relationship": "母",
                             "givenOn": (born - timedelta(days=300)).isoformat(),
                             "scope": "相談記録の作成"})
    assert during["__typename"] == "ConsultationRecorded", during
    case_id = during["case"]["id"]
    before = head(world)
    earlier = consultation_input(caseId=case_id, occurredOn=(born - timedelta(days=301)).isoformat())
    del earlier["household"], earlier["confirmNewHousehold"]
    refused = gql(client, RECORD, {"input": earlier}, headers)["data"]["recordConsultation"]
    assert _field_errors(refused) == [("occurredOn", "consultation_before_case_opened")]
    assert head(world) == before


def test_a_meeting_action_due_before_the_meeting_is_refused_with_its_path(client, world):
    headers = _npo(world)
    case_id = record(client, headers)["case"]["id"]
    meeting = run(client, SCHEDULE, headers, caseId=case_id, startsAt=_at(-1, 10),
                  endsAt=_at(-1, 11), place="ひろば",
                  internalParticipants=[{"userId": "npo-staff-1", "role": "specialist"}])
    assert meeting["__typename"] == "CaseMeetingChanged", meeting
    before = head(world)
    result = run(client, MINUTES, headers, meetingId=meeting["meeting"]["id"], wishes="入所",
                 stateAndIssues="疲労", supportGoals="4月入所", concreteSupport="見学同行",
                 actions=[{"ownerUserId": "npo-staff-1", "what": "見学", "dueOn": _days_ago(1)},
                          {"ownerUserId": "npo-staff-1", "what": "書類", "dueOn": _days_ago(2)}])
    assert _field_errors(result) == [("actions.1.dueOn", "meeting_action_due_before_meeting")]
    assert head(world) == before  # all or nothing: the valid first action is not kept either


# --------------------------------------------------------------------------- 最終対応日


def _staff() -> ActingContext:
    return ActingContext(user_id="seed", role="specialist", organisation_kind="municipality",
                         organisation_id=CITY_A, contract_id="contract-a-npo", site_id="a-hiroba")


def test_last_activity_follows_notes_referrals_meetings_and_corrections(client, world):
    headers = _npo(world)
    noted, referred, met, corrected = (open_case(world, opened_days_ago=30) for _ in range(4))
    assert _last(client, world, noted) == _days_ago(30)
    # A support note moves it to the day it was written.
    assert run(client, WRITE_NOTE, headers, caseId=noted, kind="contact", body="電話で確認",
               writtenOn=_days_ago(12))["__typename"] == "SupportNoteSaved"
    assert _last(client, world, noted) == _days_ago(12)
    # A meeting arranged today and a household corrected today: today.
    assert run(client, SCHEDULE, headers, caseId=met, startsAt=_at(3, 10), endsAt=_at(3, 11),
               place="ひろば", internalParticipants=[{"userId": "npo-staff-1",
                                                      "role": "specialist"}],
               )["__typename"] == "CaseMeetingChanged"
    assert _last(client, world, met) == TODAY.isoformat()
    assert run(client, CORRECT_HOUSEHOLD, headers, caseId=corrected, reason="氏名の誤記",
               household={"guardians": [{"name": "架空 華子", "relationship": "母"}],
                          "children": [], "outsideTargetReason": "祖母からの相談"},
               )["__typename"] == "HouseholdCorrected"
    assert _last(client, world, corrected) == TODAY.isoformat()
    # A referral drafted on day -20, closed (a later step, its event names only the
    # referral) on day -5: each in its own command, so the second finds its case
    # through the view's links.  A late note of older work does not move it back.
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(_staff()):
        case = rt.casework.repository.get(uuid.UUID(referred))
        referral = Referral.draft(
            case_id=case.id, household_id=case.household_id, agency_id=uuid.uuid4(),
            agency_kind="health_center", site_id="a-hiroba", contract_id="contract-a-npo",
            reason="健診の相談", urgent=False, accompanied=False, shared_fields=[],
            today=TODAY - timedelta(days=20))
        rt.casework.save(referral)
        rt.catch_up()
        assert _row(rt, referred)["last_activity_on"] == _days_ago(20)
        referral.close(closed_on=TODAY - timedelta(days=5), reason="family_withdrew", today=TODAY)
        rt.casework.save(referral)
        rt.catch_up()
        assert _row(rt, referred)["last_activity_on"] == _days_ago(5)
        late = SupportNote.write(case_id=case.id, household_id=case.household_id,
                                 site_id="a-hiroba", contract_id="contract-a-npo",
                                 written_on=TODAY - timedelta(days=25), kind="contact",
                                 body="以前の電話の記録", today=TODAY)
        rt.casework.save(late)
        rt.catch_up()
        assert _row(rt, referred)["last_activity_on"] == _days_ago(5)
        # The rebuilt view holds what the live one does, links included.
        live = _rows(rt)
        rt.case_projector.rebuild()
        assert _rows(rt) == live
    assert _last(client, world, referred) == _days_ago(5)


def _row(rt: Any, case_id: str) -> dict[str, Any]:
    with rt.casework.database.transaction(write=False) as cur:
        return cur.execute("SELECT * FROM {s}case_view WHERE case_id = %s",
                           (case_id,)).fetchone()


def _rows(rt: Any) -> dict[str, list[dict[str, Any]]]:
    with rt.casework.database.transaction(write=False) as cur:
        return {
            "case_view": cur.execute("SELECT case_id, last_activity_on, version FROM"
                                     " {s}case_view ORDER BY case_id").fetchall(),
            "links": cur.execute("SELECT record_id, case_id FROM {s}case_activity_link"
                                 " ORDER BY record_id").fetchall(),
        }
