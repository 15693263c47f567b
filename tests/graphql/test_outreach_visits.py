"""Outreach visits through GraphQL: plan → done (with a consultation) / not met / cancelled,
my tasks and the calendar, exactly once, scope and conflicts.

Most scenarios share one SQLite world (module scope: building a world costs seconds);
one scenario runs on PostgreSQL too.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from world import CITY_A, NPO, build_world, gql, head, npo, record, run, supervisor

from yorisoi.infra.clock import japan_today

RESULT = """
  __typename
  ... on VisitSaved { visit { id caseId kind status plannedOn startsAt endsAt
      visitors { userId name } place placeNote purpose doneOn outcome summary nextStep
      nextStepNote followUpOn followUpOwner { userId } followUpCompletedOn consultationId
      cancelReason disposed version } }
  ... on UserError { code message messageJa }
  ... on ValidationError { fieldErrors { field code messageJa } }
  ... on ConflictError { currentVersion }
"""


def _mutation(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{{RESULT}}} }}"


PLAN = _mutation("planVisit", "PlanVisitInput")
DONE = _mutation("recordVisitDone", "RecordVisitDoneInput")
NOT_MET = _mutation("recordVisitNotMet", "RecordVisitNotMetInput")
CANCEL = _mutation("cancelVisit", "CancelVisitInput")
RESCHEDULE = _mutation("rescheduleVisit", "RescheduleVisitInput")
FOLLOW_UP = _mutation("completeVisitFollowUp", "CompleteVisitFollowUpInput")
TASKS = """query { myTasks(municipalityCode: "131016", first: 50) { totalCount
  edges { node { id kind sourceId caseId dueOn overdue title } } } }"""
CALENDAR = """query($from: String!, $to: String!, $mine: Boolean!) {
  visitCalendar(municipalityCode: "131016", from: $from, to: $to, mine: $mine) {
    id status plannedOn purpose visitors { userId } } }"""
CASE_VISITS = """query($id: ID!) { caseVisits(caseId: $id, municipalityCode: "131016") {
  id status summary } }"""
CONSULTATIONS = """query($id: ID!) { case(id: $id, municipalityCode: "131016") {
  consultations { channel asked occurredOn } } }"""

PURPOSE = "産後の様子を伺う（架空）"
SUMMARY = "授乳の悩みを伺った（架空）"


def day(offset: int) -> str:
    return (japan_today() + timedelta(days=offset)).isoformat()


@pytest.fixture(scope="module")
def sworld(tmp_path_factory):
    from yorisoi.infra.settings import Settings

    built = build_world(Settings(backend="sqlite", data_dir=tmp_path_factory.mktemp("outreach"),
                                 environment="test"))
    yield built
    built.services.close()


@pytest.fixture(scope="module")
def sclient(sworld):
    from fastapi.testclient import TestClient

    from yorisoi.infra.http.app import create_app

    with TestClient(create_app(sworld.services.settings, sworld.services)) as test_client:
        yield test_client


def _register_colleague(world: Any, subject: str) -> None:
    """A colleague in the NPO's staff records (registered by the municipality's office)."""
    from yorisoi.services.context import ActingContext, acting_as

    office = ActingContext(user_id="a-office", role="admin", organisation_kind="municipality",
                           organisation_id=CITY_A)
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(office):
        rt.casework.register_staff_member(
            subject=subject, display_name="架空 同僚", organisation_kind="contractor",
            organisation_id=NPO, roles=["specialist"], qualifications=[],
            allowed_organisations={NPO})


def new_case(client: Any, world: Any) -> str:
    """A family with consent on file, recorded by the NPO's specialist (its contract's case)."""
    recorded = record(client, npo(world))
    assert recorded["__typename"] == "ConsultationRecorded", recorded
    return recorded["case"]["id"]


def plan(client: Any, headers: dict[str, str], case_id: str, **overrides: Any) -> dict:
    fields = {"caseId": case_id, "kind": "home_visit", "plannedOn": day(0),
              "startsAt": "10:00", "endsAt": "11:00", "visitors": ["npo-staff-1"],
              "place": "home", "purpose": PURPOSE}
    return run(client, PLAN, headers, **{**fields, **overrides})


def planned(client: Any, headers: dict[str, str], case_id: str, **overrides: Any) -> dict:
    result = plan(client, headers, case_id, **overrides)
    assert result["__typename"] == "VisitSaved", result
    return result["visit"]


def codes(result: dict[str, Any]) -> list[str]:
    assert result["__typename"] == "ValidationError", result
    assert all(e["messageJa"] for e in result["fieldErrors"])
    return [e["code"] for e in result["fieldErrors"]]


def tasks(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    body = gql(client, TASKS, {}, headers)
    assert "errors" not in body, body
    return [e["node"] for e in body["data"]["myTasks"]["edges"]]


def test_plan_then_done_with_a_consultation_and_a_follow_up_task(sclient, sworld):
    case_id = new_case(sclient, sworld)
    visit = planned(sclient, npo(sworld), case_id, plannedOn="令和" + str(
        japan_today().year - 2018) + f"年{japan_today().month}月{japan_today().day}日")
    assert (visit["status"], visit["plannedOn"], visit["purpose"], visit["version"]) == (
        "planned", day(0), PURPOSE, 1)
    assert visit["visitors"] == [{"userId": "npo-staff-1", "name": None}]
    mine = [t for t in tasks(sclient, npo(sworld)) if t["sourceId"] == visit["id"]]
    assert [(t["kind"], t["dueOn"], t["title"]) for t in mine] == [
        ("outreach_visit", day(0), PURPOSE)]
    body = gql(sclient, CALENDAR, {"from": day(-1), "to": day(7), "mine": True}, npo(sworld))
    assert visit["id"] in [v["id"] for v in body["data"]["visitCalendar"]], body

    result = run(sclient, DONE, npo(sworld), visitId=visit["id"], doneOn=day(0),
                 outcome="consulted", summary=SUMMARY, nextStep="revisit",
                 nextStepNote="二週間後に再訪", followUpOn=day(14), expectedVersion=1,
                 consultation={"themes": ["daily_worries"], "asked": "授乳がうまくいかない",
                               "wishes": "助産師に相談したい", "direction": "産後ケアの案内"})
    assert result["__typename"] == "VisitSaved", result
    done = result["visit"]
    assert (done["status"], done["summary"], done["followUpOwner"], done["version"]) == (
        "done", SUMMARY, {"userId": "npo-staff-1"}, 2)
    assert done["consultationId"]
    body = gql(sclient, CONSULTATIONS, {"id": case_id}, supervisor(sworld))
    channels = [c["channel"] for c in body["data"]["case"]["consultations"]]
    assert sorted(channels) == ["outreach", "visit"], body

    mine = [t for t in tasks(sclient, npo(sworld)) if t["sourceId"] == visit["id"]]
    assert [(t["kind"], t["dueOn"], t["title"]) for t in mine] == [
        ("visit_follow_up", day(14), "二週間後に再訪")]
    # Done is done: a second outcome is refused and writes nothing.
    before = head(sworld)
    again = run(sclient, NOT_MET, npo(sworld), visitId=visit["id"], attemptedOn=day(0),
                reason="absent", nextStep="none")
    assert codes(again) == ["visit_not_planned"] and head(sworld) == before

    completed = run(sclient, FOLLOW_UP, npo(sworld), visitId=visit["id"], completedOn=day(0))
    assert completed["visit"]["followUpCompletedOn"] == day(0), completed
    assert not [t for t in tasks(sclient, npo(sworld)) if t["sourceId"] == visit["id"]]


def test_a_refused_consultation_records_neither_it_nor_the_visit(sclient, sworld):
    case_id = new_case(sclient, sworld)
    visit = planned(sclient, npo(sworld), case_id)
    before = head(sworld)
    result = run(sclient, DONE, npo(sworld), visitId=visit["id"], doneOn=day(0),
                 outcome="consulted", summary=SUMMARY, nextStep="none",
                 consultation={"themes": ["no_such_theme"], "asked": "相談"})
    assert codes(result) == ["consultation_theme_unknown"]
    assert head(sworld) == before
    # The visit's own rules come first: nothing of the consultation is tried.
    result = run(sclient, DONE, npo(sworld), visitId=visit["id"], doneOn=day(1),
                 outcome="consulted", summary=SUMMARY, nextStep="none",
                 consultation={"themes": ["daily_worries"], "asked": "相談"})
    assert codes(result) == ["visit_done_date_invalid"] and head(sworld) == before


def test_invalid_plans_report_every_problem_and_write_nothing(sclient, sworld):
    case_id = new_case(sclient, sworld)
    before = head(sworld)
    result = plan(sclient, npo(sworld), case_id, plannedOn="きのう", purpose=" ")
    assert sorted(codes(result)) == ["invalid_input", "invalid_input"]
    assert plan(sclient, npo(sworld), case_id, place="千代田区1-1")["fieldErrors"][0][
        "code"] == "visit_place_unknown"
    assert codes(plan(sclient, npo(sworld), case_id, endsAt="09:00")) == ["visit_time_invalid"]
    assert head(sworld) == before


def test_not_met_reschedule_cancel_and_stale_versions(sclient, sworld):
    case_id = new_case(sclient, sworld)
    first = planned(sclient, npo(sworld), case_id, plannedOn=day(3))
    # Who will go must be the organisation's staff: an unregistered colleague is refused.
    before = head(sworld)
    stranger = run(sclient, RESCHEDULE, npo(sworld), visitId=first["id"], plannedOn=day(5),
                   visitors=["npo-staff-1", "npo-staff-2"], startsAt="14:00", expectedVersion=1)
    assert codes(stranger) == ["visit_visitor_not_staff"] and head(sworld) == before
    _register_colleague(sworld, "npo-staff-2")
    moved = run(sclient, RESCHEDULE, npo(sworld), visitId=first["id"], plannedOn=day(5),
                visitors=["npo-staff-1", "npo-staff-2"], startsAt="14:00", expectedVersion=1)
    assert (moved["visit"]["plannedOn"], moved["visit"]["startsAt"],
            moved["visit"]["version"]) == (day(5), "14:00", 2), moved
    stale = run(sclient, CANCEL, npo(sworld), visitId=first["id"], expectedVersion=1)
    assert (stale["__typename"], stale["code"], stale["currentVersion"]) == (
        "ConflictError", "stale_version", 2)
    off = run(sclient, CANCEL, npo(sworld), visitId=first["id"], reason="家族の希望（架空）",
              expectedVersion=2)
    assert (off["visit"]["status"], off["visit"]["cancelReason"]) == (
        "cancelled", "家族の希望（架空）")
    assert not [t for t in tasks(sclient, npo(sworld)) if t["sourceId"] == first["id"]]

    second = planned(sclient, npo(sworld), case_id)
    result = run(sclient, NOT_MET, npo(sworld), visitId=second["id"], attemptedOn=day(0),
                 reason="absent", note="不在票を投函", nextStep="revisit", followUpOn=day(7))
    assert (result["visit"]["status"], result["visit"]["outcome"],
            result["visit"]["summary"]) == ("not_met", "absent", "不在票を投函"), result
    kinds = [t["kind"] for t in tasks(sclient, npo(sworld)) if t["sourceId"] == second["id"]]
    assert kinds == ["visit_follow_up"]
    body = gql(sclient, CASE_VISITS, {"id": case_id}, supervisor(sworld))
    assert {v["status"] for v in body["data"]["caseVisits"]} == {"cancelled", "not_met"}


def test_contractor_reaches_only_its_contracts_cases_and_visits(sclient, sworld):
    municipal = sworld.headers("municipality", CITY_A, subject="a-specialist",
                               roles=("specialist",), sites=("a-counter",))
    own = record(sclient, municipal, siteId="a-counter")
    assert own["__typename"] == "ConsultationRecorded", own
    case_id = own["case"]["id"]
    refused = plan(sclient, npo(sworld), case_id)
    assert (refused["__typename"], refused["code"]) == ("NotFoundError", "case_not_found")
    visit = planned(sclient, municipal, case_id, visitors=["a-specialist"])
    cancel = run(sclient, CANCEL, npo(sworld), visitId=visit["id"])
    assert (cancel["__typename"], cancel["code"]) == ("NotFoundError", "visit_not_found")
    unknown = run(sclient, CANCEL, municipal, visitId=str(uuid.uuid4()))
    assert unknown["__typename"] == "NotFoundError"
    # Municipal staff of another site reach neither the case nor its visits.
    elsewhere = sworld.headers("municipality", CITY_A, subject="a-other", roles=("specialist",),
                               sites=("a-hiroba",))
    away = run(sclient, CANCEL, elsewhere, visitId=visit["id"])
    assert (away["__typename"], away["code"]) == ("NotFoundError", "visit_not_found")
    # A supervisor manages visits but records no consultation.
    no = run(sclient, DONE, supervisor(sworld), visitId=visit["id"], doneOn=day(0),
             outcome="consulted", summary=SUMMARY, nextStep="none",
             consultation={"themes": ["daily_worries"], "asked": "相談"})
    assert no["__typename"] == "NotAuthorizedError", no


def test_the_same_key_plans_once(sclient, sworld):
    case_id = new_case(sclient, sworld)
    headers = {**npo(sworld), "Idempotency-Key": f"plan-{uuid.uuid4()}"}
    first = planned(sclient, headers, case_id)
    before = head(sworld)
    second = planned(sclient, headers, case_id)
    assert second["id"] == first["id"] and head(sworld) == before
    body = gql(sclient, CASE_VISITS, {"id": case_id}, supervisor(sworld))
    assert len(body["data"]["caseVisits"]) == 1


def test_free_text_is_sealed_in_events_and_views(sclient, sworld):
    case_id = new_case(sclient, sworld)
    visit = planned(sclient, npo(sworld), case_id, placeNote="公民館の和室（架空）")
    with sworld.services.runtimes.lease(CITY_A) as rt:
        db = rt.casework.database
        rows = db.select("SELECT state FROM {events} WHERE originator_id = %s",
                         [uuid.UUID(visit["id"]).hex if db.dialect == "sqlite"
                          else visit["id"]]) or db.select(
            "SELECT state FROM {events} WHERE originator_id = %s", [visit["id"]])
        view = db.select("SELECT * FROM {s}visit_view WHERE visit_id = %s", [visit["id"]])
    blobs = [bytes(r["state"]) for r in rows] + [
        str(v).encode() for r in view for v in r.values() if not isinstance(v, bytes)] + [
        bytes(r["sealed"]) for r in view]
    assert blobs and view
    for text in (PURPOSE, "公民館の和室（架空）"):
        assert not any(text.encode() in b for b in blobs)


@pytest.mark.postgres
def test_plan_and_done_on_postgres(pg_settings):
    from fastapi.testclient import TestClient

    from yorisoi.infra.http.app import create_app

    world = build_world(pg_settings)
    try:
        with TestClient(create_app(world.services.settings, world.services)) as client:
            case_id = new_case(client, world)
            visit = planned(client, npo(world), case_id)
            refused = run(client, DONE, npo(world), visitId=visit["id"], doneOn=day(0),
                          outcome="watching", summary=SUMMARY, nextStep="none",
                          consultation={"themes": ["no_such_theme"], "asked": "相談"})
            assert codes(refused) == ["consultation_theme_unknown"]
            headers = {**npo(world), "Idempotency-Key": f"done-{uuid.uuid4()}"}
            _register_colleague(world, "npo-staff-2")  # the follow-up's owner: NPO staff
            fields = {"visitId": visit["id"], "doneOn": day(0), "outcome": "watching",
                      "summary": SUMMARY, "nextStep": "phone_check", "followUpOn": day(3),
                      "followUpOwner": "npo-staff-2", "expectedVersion": 1,
                      "consultation": {"themes": ["daily_worries"], "asked": "授乳の悩み"}}
            done = run(client, DONE, headers, **fields)
            assert (done["visit"]["status"], done["visit"]["summary"]) == ("done", SUMMARY)
            before = head(world)
            again = run(client, DONE, headers, **fields)  # a retry after a lost answer
            assert again["visit"]["consultationId"] == done["visit"]["consultationId"]
            assert head(world) == before
            body = gql(client, CONSULTATIONS, {"id": case_id}, supervisor(world))
            assert sorted(c["channel"] for c in body["data"]["case"]["consultations"]) == [
                "outreach", "visit"]
            assert [t["kind"] for t in tasks(client, npo(world))
                    if t["sourceId"] == visit["id"]] == []  # the follow-up is npo-staff-2's
            with world.services.runtimes.lease(CITY_A) as rt:
                rows = rt.casework.database.select(
                    "SELECT status, follow_up_owner FROM {s}visit_view WHERE visit_id = %s",
                    [visit["id"]])
            assert rows == [{"status": "done", "follow_up_owner": "npo-staff-2"}]
    finally:
        world.services.close()


def test_a_disposed_household_keeps_its_visits_without_their_texts(sclient, sworld):
    from key_destruction import destroy_key

    case_id = new_case(sclient, sworld)
    visit = planned(sclient, npo(sworld), case_id)
    run(sclient, DONE, npo(sworld), visitId=visit["id"], doneOn=day(0), outcome="watching",
        summary=SUMMARY, nextStep="none")
    with sworld.services.runtimes.lease(CITY_A) as rt:
        household_id = rt.casework.repository.get(uuid.UUID(case_id)).household_id
        assert destroy_key(rt, household_id)
        # Replayed from the log: the shredded events still build the rows.
        projector = next(p for p in rt.projectors if p.view.name == "visits")
        projector.rebuild()
        with rt.casework.database.transaction() as cur:
            projector.view.purge(cur, household_id)
    body = gql(sclient, """query($id: ID!) { caseVisits(caseId: $id, municipalityCode: "131016") {
      status plannedOn purpose summary disposed } }""", {"id": case_id}, supervisor(sworld))
    assert body["data"]["caseVisits"] == [{"status": "done", "plannedOn": day(0),
                                           "purpose": None, "summary": None, "disposed": True}]
