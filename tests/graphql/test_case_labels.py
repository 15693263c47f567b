"""Cases named by reception number, site name and family in tasks, the timeline and the case page."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from world import CITY_A, gql, npo, record, supervisor

from yorisoi.infra.clock import japan_today
from yorisoi.projections.case_labels import CaseLabel, household_display_name
from yorisoi.projections.timeline import TimelineQueries

ERRORS = "... on UserError { code } ... on ValidationError { fieldErrors { field code } }"
SCHEDULE = f"""mutation S($input: ScheduleCaseMeetingInput!) {{ scheduleCaseMeeting(input: $input) {{
  __typename ... on CaseMeetingChanged {{ meeting {{ id version }} }} {ERRORS} }} }}"""
MINUTES = f"""mutation M($input: RecordMeetingMinutesInput!) {{ recordMeetingMinutes(input: $input) {{
  __typename {ERRORS} }} }}"""
TASKS = """query { myTasks(municipalityCode: "131016", first: 10) {
  edges { node { caseId receptionNumber siteName householdName } } } }"""
NUMBER = "query($id: ID!) { case(id: $id) { receptionNumber } }"


def _at(days: int, hour: int) -> str:
    return f"{(japan_today() + timedelta(days=days)).isoformat()}T{hour:02d}:00"


def _run(client: Any, world: Any, document: str, **data: Any) -> dict[str, Any]:
    body = gql(client, document, {"input": {"municipalityCode": CITY_A, **data}}, npo(world))
    assert "errors" not in body, body
    (result,) = body["data"].values()
    return result


def _task_for(client: Any, world: Any) -> tuple[str, dict[str, Any]]:
    recorded = record(client, npo(world))
    assert recorded["__typename"] == "ConsultationRecorded", recorded
    case_id = recorded["case"]["id"]
    scheduled = _run(client, world, SCHEDULE, caseId=case_id, startsAt=_at(-3, 10),
                     endsAt=_at(-3, 11), place="相談室", agenda="支援方針",
                     internalParticipants=[{"userId": "npo-staff-1", "role": "specialist"}])
    assert scheduled["__typename"] == "CaseMeetingChanged", scheduled
    meeting = scheduled["meeting"]
    held = _run(client, world, MINUTES, meetingId=meeting["id"],
                expectedVersion=meeting["version"], wishes="見学したい", stateAndIssues="疲れ",
                supportGoals="入所", concreteSupport="同行", actions=[
                    {"ownerUserId": "npo-staff-1", "what": "見学に同行",
                     "dueOn": (japan_today() + timedelta(days=5)).isoformat()}])
    assert held["__typename"] == "CaseMeetingChanged", held
    body = gql(client, TASKS, {}, npo(world))
    assert "errors" not in body, body
    (edge,) = body["data"]["myTasks"]["edges"]
    return case_id, edge["node"]


def test_a_task_names_its_case_by_number_site_name_and_family(client, world):
    case_id, task = _task_for(client, world)
    number = gql(client, NUMBER, {"id": case_id}, supervisor(world))["data"]["case"][
        "receptionNumber"]
    assert number and task == {"caseId": case_id, "receptionNumber": number,
                               "siteName": "ひろば", "householdName": "架空 花子"}
    # The timeline's opening entry carries the number too (not personal: a counter's value).
    with world.services.runtimes.lease(CITY_A) as rt:
        page = TimelineQueries(rt.casework.database, rt.casework.keyring).page(case_id, first=20)
        opened = [e for e in page.entries if e.kind == "case_opened"]
    assert [e.detail.get("reception_number") for e in opened] == [number]
    assert uuid.UUID(case_id)


def test_labels_fall_back_to_the_id_and_leave_out_a_masked_name():
    label = CaseLabel(case_id="6b45fd2a-0000-0000-0000-000000000000", reception_number=None,
                      site_id="kanda-hiroba", site_name="神田ひろば", household_name=None)
    assert label.number == "6b45fd2a" and label.text == "6b45fd2a · 神田ひろば"
    assert household_display_name(None, [{"name": "見本 たろう"}]) == "見本 たろう"
    assert household_display_name([], []) is None
