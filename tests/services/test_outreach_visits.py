"""Outreach visits beyond their own record: on the case's timeline, following a case handed over
to another contract while still planned, and "who went" checked against the staff records of
the organisation recording the visit.  On SQLite and PostgreSQL (the ``world`` fixture)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from world import IDLE_NPO, NPO, consultation_command

from yorisoi.domain.outreach import (
    OutreachVisit,
    VisitFollowUpOwnerNotStaffError,
    VisitVisitorNotStaffError,
)
from yorisoi.infra.clock import japan_today
from yorisoi.infra.wiring.bootstrap import OPERATOR
from yorisoi.projections.case_queries import CaseScope
from yorisoi.projections.timeline import TimelineQueries
from yorisoi.projections.visit_queries import VisitQueries
from yorisoi.services import outreach
from yorisoi.services.context import ActingContext, acting_as

CITY_A = "131016"
SUCCESSOR = "contract-a-kaze-2"
NPO_STAFF = ActingContext(user_id="npo-staff-1", role="specialist", organisation_kind="contractor",
                          organisation_id=NPO, contract_id="contract-a-npo", site_id="a-hiroba")
KAZE_STAFF = ActingContext(user_id="kaze-staff-1", role="specialist",
                           organisation_kind="contractor", organisation_id=IDLE_NPO,
                           contract_id=SUCCESSOR, site_id="a-hiroba")
OFFICE = ActingContext(user_id="a-office", role="municipal_admin",
                       organisation_kind="municipality", organisation_id=CITY_A)
PURPOSE, SUMMARY = "産後の生活の様子を伺う", "母と玄関先で話した"


def _case(rt: Any) -> uuid.UUID:
    with acting_as(NPO_STAFF):
        return rt.casework.record_consultation(consultation_command()).case_id


def _plan(rt: Any, case_id: uuid.UUID, days: int = 0,
          visitors: tuple[str, ...] = ("npo-staff-1",)) -> uuid.UUID:
    with acting_as(NPO_STAFF):
        return outreach.plan_visit(rt.casework, outreach.PlanVisit(
            case_id=case_id, kind="home_visit", planned_on=japan_today() + timedelta(days=days),
            starts_at="10:00", ends_at="11:00", visitors=list(visitors), place="home",
            place_note=None, purpose=PURPOSE), writable_contract_ids=None).id


def _done(rt: Any, visit_id: uuid.UUID, visitors: list[str] | None = None,
          writable: list[str] | None = None) -> OutreachVisit:
    return outreach.record_visit_done(rt.casework, visit_id, outreach.VisitOutcome(
        on=japan_today(), outcome="consulted", summary=SUMMARY, next_step="revisit",
        visitors=visitors), consultation=None, municipality_code=CITY_A,
        expected_version=None, writable_contract_ids=writable)


def _events(rt: Any) -> int:
    with rt.casework.database.transaction(write=False) as cur:
        return int(cur.execute("SELECT COUNT(*) AS n FROM {events}").fetchone()["n"])


def _tasks(rt: Any, scope: CaseScope, owner: str) -> set[str]:
    from yorisoi.projections.meeting_queries import MeetingQueries

    page = MeetingQueries(rt.casework.database, rt.casework.keyring).my_tasks(
        scope, owner, first=100, after=None)
    return {t.source_id for t in page.items}


def _register(rt: Any, subject: str, organisation_id: str, kind: str) -> None:
    with acting_as(OFFICE):
        rt.casework.register_staff_member(
            subject=subject, display_name="架空 職員", organisation_kind=kind,
            organisation_id=organisation_id, roles=["specialist"], qualifications=[],
            allowed_organisations={CITY_A, NPO, IDLE_NPO})


def test_a_visit_planned_moved_and_made_is_on_the_case_timeline(world) -> None:
    with world.services.runtimes.lease(CITY_A) as rt:
        case_id = _case(rt)
        made, off = _plan(rt, case_id), _plan(rt, case_id, days=2)
        with acting_as(NPO_STAFF):
            outreach.reschedule_visit(rt.casework, off, planned_on=japan_today()
                                      + timedelta(days=3), starts_at="13:00", ends_at=None,
                                      visitors=["npo-staff-1"], expected_version=None,
                                      writable_contract_ids=None)
            outreach.cancel_visit(rt.casework, off, reason="家族の都合（架空）",
                                  expected_version=None, writable_contract_ids=None)
            _done(rt, made)
        rt.catch_up()
        page = TimelineQueries(rt.casework.database, rt.casework.keyring).page(
            str(case_id), first=50)
    visits = {(e.kind, e.summary) for e in page.entries if e.kind.startswith("visit_")}
    assert visits == {("visit_planned", PURPOSE), ("visit_done", SUMMARY),
                      ("visit_rescheduled", None), ("visit_cancelled", "家族の都合（架空）")}
    planned = [e for e in page.entries if e.kind == "visit_planned"]
    assert len(planned) == 2 and all(
        e.occurred_on >= japan_today().isoformat() for e in planned)
    done = next(e for e in page.entries if e.kind == "visit_done")
    assert done.occurred_on == japan_today().isoformat() and done.actor == "npo-staff-1"


def test_planned_visits_follow_a_case_handed_over_and_made_ones_stay(world) -> None:
    directory = world.services.directory
    today = japan_today()
    with acting_as(OPERATOR):
        directory.sign_contract(contract_id=SUCCESSOR, municipality_code=CITY_A,
                                contractor_id=IDLE_NPO, site_ids=["a-hiroba"],
                                starts_on=today - timedelta(days=1),
                                ends_on=today + timedelta(days=365))
    with world.services.runtimes.lease(CITY_A) as rt:
        case_id = _case(rt)
        made, ahead = _plan(rt, case_id), _plan(rt, case_id, days=7)
        with acting_as(NPO_STAFF):
            _done(rt, made)
        rt.catch_up()
        npo_scope = CaseScope(contract_ids=["contract-a-npo"], site_ids=None)
        assert str(ahead) in _tasks(rt, npo_scope, "npo-staff-1")  # hers until the hand-over
        with acting_as(OPERATOR):
            directory.suspend_contract(contract_id="contract-a-npo", suspended_on=today,
                                       reason="audit_finding")
        with acting_as(OFFICE):
            assert rt.casework.hand_over_cases(
                [case_id], municipality_code=CITY_A,
                predecessor=directory.registry.contract("contract-a-npo"),
                successor=directory.registry.contract(SUCCESSOR), on=today) == [case_id]
        rt.catch_up()
        assert rt.casework.repository.get(ahead).contract_id == SUCCESSOR
        assert rt.casework.repository.get(made).contract_id == "contract-a-npo"
        visits = VisitQueries(rt.casework.database, rt.casework.keyring)
        theirs = CaseScope(contract_ids=[SUCCESSOR], site_ids=None)
        before = CaseScope(contract_ids=["contract-a-npo"], site_ids=None)
        # The successor's calendar holds the visit it now has to make; the predecessor's
        # no longer does (nor the task of its specialist), but keeps the visit it made.
        assert [v.visit_id for v in visits.calendar(theirs, today, today + timedelta(days=10))
                ] == [str(ahead)]
        assert [v.visit_id for v in visits.for_case(before, str(case_id))] == [str(made)]
        assert str(ahead) not in _tasks(rt, before, "npo-staff-1")

        # The predecessor may not record it any more; the successor says who went: its own
        # staff (the plan named the predecessor's specialist, who is not theirs).
        with acting_as(NPO_STAFF), pytest.raises(outreach.VisitNotFoundError):
            _done(rt, ahead, writable=["contract-a-npo"])
        with acting_as(KAZE_STAFF):
            head = _events(rt)
            with pytest.raises(VisitVisitorNotStaffError):
                _done(rt, ahead, writable=[SUCCESSOR])
            # Nor "not met" in the predecessor's specialist's name (her follow-up task would
            # go to someone who can no longer see the case).
            with pytest.raises(VisitVisitorNotStaffError):
                outreach.record_visit_not_met(rt.casework, ahead, outreach.VisitOutcome(
                    on=today, next_step="revisit", follow_up_on=today + timedelta(days=3),
                    reason="absent"), expected_version=None, writable_contract_ids=[SUCCESSOR])
            assert _events(rt) == head
            assert _done(rt, ahead, visitors=["kaze-staff-1"],
                         writable=[SUCCESSOR]).status == OutreachVisit.DONE
        with acting_as(OPERATOR):
            directory.resume_contract(contract_id="contract-a-npo", resumed_on=today)


def test_the_outreach_count_goes_to_the_contract_that_made_the_visit() -> None:
    from yorisoi.projections.report_cells import DictMemory, cells_of

    visit = OutreachVisit.plan(
        case_id=uuid.uuid4(), household_id=uuid.uuid4(), site_id="a-hiroba",
        contract_id="contract-a-npo", kind="home_visit", planned_on=japan_today(),
        starts_at=None, ends_at=None, visitors=["npo-staff-1"], place="home", place_note=None,
        purpose=PURPOSE, case_opened_on=japan_today() - timedelta(days=5), today=japan_today())
    assert visit.hand_over(to_contract_id=SUCCESSOR)
    visit.record_done(done_on=japan_today(), visitors=["kaze-staff-1"], outcome="consulted",
                      summary=SUMMARY, next_step="none", next_step_note=None, follow_up_on=None,
                      follow_up_owner=None, consultation_id=None,
                      case_opened_on=japan_today() - timedelta(days=5), today=japan_today())
    memory = DictMemory()
    cells = [cell for event in visit.collect_events() for cell, _ in cells_of(event, memory)]
    assert [(c[2], c[3]) for c in cells] == [(SUCCESSOR, "outreach.done")]


def test_who_went_must_be_staff_of_the_recording_organisation(world) -> None:
    with world.services.runtimes.lease(CITY_A) as rt:
        case_id = _case(rt)
        visit = _plan(rt, case_id)
        _register(rt, "npo-staff-9", NPO, "contractor")
        _register(rt, "a-nurse", CITY_A, "municipality")
        head = _events(rt)
        with acting_as(NPO_STAFF):
            # Someone of another organisation (the city's nurse), or nobody's record at all.
            for who in (["npo-staff-1", "a-nurse"], ["npo-stafff-9"]):
                with pytest.raises(VisitVisitorNotStaffError) as refused:
                    _done(rt, visit, visitors=who)
                assert refused.value.field == "visitors"
                assert refused.value.message_ja.startswith("訪問した職員には")
            assert _events(rt) == head
            # Herself (signed in) and a colleague in the NPO's staff records.
            went = _done(rt, visit, visitors=["npo-staff-1", "npo-staff-9"])
        assert went.visitors == ["npo-staff-1", "npo-staff-9"]


def test_a_follow_up_owner_is_staff_of_the_recording_organisation(world) -> None:
    with world.services.runtimes.lease(CITY_A) as rt:
        case_id = _case(rt)
        made, missed = _plan(rt, case_id), _plan(rt, case_id)
        _register(rt, "npo-staff-9", NPO, "contractor")
        _register(rt, "a-nurse", CITY_A, "municipality")
        later = japan_today() + timedelta(days=3)
        head = _events(rt)
        with acting_as(NPO_STAFF):
            for record in (
                    lambda owner: outreach.record_visit_done(
                        rt.casework, made, outreach.VisitOutcome(
                            on=japan_today(), outcome="consulted", summary=SUMMARY,
                            next_step="revisit", follow_up_on=later, follow_up_owner=owner),
                        consultation=None, municipality_code=CITY_A, expected_version=None,
                        writable_contract_ids=None),
                    lambda owner: outreach.record_visit_not_met(
                        rt.casework, missed, outreach.VisitOutcome(
                            on=japan_today(), next_step="revisit", follow_up_on=later,
                            follow_up_owner=owner, reason="absent"),
                        expected_version=None, writable_contract_ids=None)):
                # The city's nurse is another organisation's; a mistyped id is nobody's.
                for owner in ("a-nurse", "npo-stafff-9"):
                    with pytest.raises(VisitFollowUpOwnerNotStaffError) as refused:
                        record(owner)
                    assert refused.value.field == "followUpOwner"
                    assert refused.value.message_ja.startswith("次の対応の担当者には")
                assert _events(rt) == head
                assert record("npo-staff-9").follow_up_owner == "npo-staff-9"
                head = _events(rt)
