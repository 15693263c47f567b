"""OutreachVisit invariants (plain objects, no database)."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest

from yorisoi.domain.errors import StaleVersionError
from yorisoi.domain.outreach import (
    OutreachVisit,
    VisitDateInvalidError,
    VisitDoneDateInvalidError,
    VisitFollowUpInvalidError,
    VisitKindUnknownError,
    VisitNextStepUnknownError,
    VisitNotMetReasonUnknownError,
    VisitNotPlannedError,
    VisitOutcomeUnknownError,
    VisitPlaceUnknownError,
    VisitPurposeMissingError,
    VisitRescheduleUnchangedError,
    VisitSummaryMissingError,
    VisitTimeInvalidError,
    VisitVisitorsMissingError,
    check_time_window,
)

TODAY = date(2025, 6, 15)
OPENED = date(2025, 4, 10)


def _plan(**overrides) -> OutreachVisit:
    fields = {"case_id": uuid4(), "household_id": uuid4(), "site_id": "a-hiroba",
              "contract_id": "contract-a-npo", "kind": "home_visit",
              "planned_on": TODAY + timedelta(days=3), "starts_at": "10:00", "ends_at": "11:00",
              "visitors": [" staff-1 ", "staff-2", "staff-1"], "place": "home",
              "place_note": "  ", "purpose": "  産後の様子を伺う  ",
              "case_opened_on": OPENED, "today": TODAY}
    fields.update(overrides)
    return OutreachVisit.plan(**fields)


def _done(visit: OutreachVisit, **overrides) -> None:
    fields = {"done_on": TODAY, "visitors": None, "outcome": "consulted",
              "summary": " 授乳の悩みを伺った ", "next_step": "revisit", "next_step_note": None,
              "follow_up_on": TODAY + timedelta(days=14), "follow_up_owner": None,
              "consultation_id": None, "case_opened_on": OPENED, "today": TODAY}
    fields.update(overrides)
    visit.record_done(**fields)


def test_a_plan_keeps_codes_and_trims_text() -> None:
    visit = _plan()
    assert visit.status == OutreachVisit.PLANNED
    assert visit.visitors == ["staff-1", "staff-2"]  # once each, the first leads
    assert visit.purpose == "産後の様子を伺う"
    assert visit.place == "home" and visit.place_note is None
    assert (visit.starts_at, visit.ends_at) == ("10:00", "11:00")
    assert OutreachVisit.Planned.personal_fields == ("purpose", "place_note")


@pytest.mark.parametrize(("overrides", "error", "field"), [
    ({"kind": "house"}, VisitKindUnknownError, "kind"),
    ({"place": "東京都千代田区1-1"}, VisitPlaceUnknownError, "place"),
    ({"purpose": " "}, VisitPurposeMissingError, "purpose"),
    ({"visitors": [" "]}, VisitVisitorsMissingError, "visitors"),
    ({"visitors": [f"s{i}" for i in range(7)]}, VisitVisitorsMissingError, "visitors"),
    ({"planned_on": OPENED - timedelta(days=1)}, VisitDateInvalidError, "plannedOn"),
    ({"planned_on": TODAY + timedelta(days=500)}, VisitDateInvalidError, "plannedOn"),
    ({"starts_at": "25:00"}, VisitTimeInvalidError, "startsAt"),
    ({"ends_at": "09:30"}, VisitTimeInvalidError, "endsAt"),
    ({"starts_at": None, "ends_at": "11:00"}, VisitTimeInvalidError, "endsAt"),
])
def test_a_plan_refuses(overrides, error, field) -> None:
    with pytest.raises(error) as caught:
        _plan(**overrides)
    assert caught.value.field == field
    assert caught.value.message_ja and caught.value.message


def test_time_window_may_be_open() -> None:
    assert check_time_window(None, None) == (None, None)
    assert check_time_window("09:00", "") == ("09:00", None)


def test_done_records_outcome_and_makes_the_first_visitor_own_the_follow_up() -> None:
    visit = _plan(planned_on=TODAY)
    consultation_id = uuid4()
    _done(visit, consultation_id=consultation_id)
    assert visit.status == OutreachVisit.DONE
    assert visit.summary == "授乳の悩みを伺った"
    assert visit.follow_up_owner == "staff-1"
    assert visit.consultation_id == consultation_id
    assert visit.version == 2
    with pytest.raises(VisitNotPlannedError):
        _done(visit)
    with pytest.raises(VisitNotPlannedError):
        visit.cancel(reason=None)


def test_done_without_follow_up_has_no_owner_and_can_name_who_went() -> None:
    visit = _plan()
    _done(visit, follow_up_on=None, next_step="none", visitors=["staff-3"])
    assert visit.follow_up_owner is None and visit.visitors == ["staff-3"]


@pytest.mark.parametrize(("overrides", "error", "field"), [
    ({"done_on": TODAY + timedelta(days=1)}, VisitDoneDateInvalidError, "doneOn"),
    ({"done_on": OPENED - timedelta(days=1)}, VisitDoneDateInvalidError, "doneOn"),
    ({"outcome": "great"}, VisitOutcomeUnknownError, "outcome"),
    ({"summary": "  "}, VisitSummaryMissingError, "summary"),
    ({"next_step": "later"}, VisitNextStepUnknownError, "nextStep"),
    ({"follow_up_on": TODAY - timedelta(days=1)}, VisitFollowUpInvalidError, "followUpOn"),
    ({"next_step": "none"}, VisitFollowUpInvalidError, "followUpOn"),
])
def test_done_refuses(overrides, error, field) -> None:
    visit = _plan()
    with pytest.raises(error) as caught:
        _done(visit, **overrides)
    assert caught.value.field == field
    assert visit.status == OutreachVisit.PLANNED and visit.version == 1


def test_not_met_and_its_follow_up() -> None:
    visit = _plan()
    visit.record_not_met(attempted_on=TODAY, reason="absent", note=" 不在票を投函 ",
                         next_step="revisit", follow_up_on=TODAY + timedelta(days=7),
                         follow_up_owner="staff-2", case_opened_on=OPENED, today=TODAY)
    assert visit.status == OutreachVisit.NOT_MET
    assert (visit.outcome, visit.summary, visit.follow_up_owner) == ("absent", "不在票を投函",
                                                                      "staff-2")
    with pytest.raises(VisitNotMetReasonUnknownError):
        _plan().record_not_met(attempted_on=TODAY, reason="gone", note=None, next_step="none",
                               follow_up_on=None, follow_up_owner=None,
                               case_opened_on=OPENED, today=TODAY)


def test_reschedule_and_cancel() -> None:
    visit = _plan()
    with pytest.raises(VisitRescheduleUnchangedError):
        visit.reschedule(planned_on=visit.planned_on, starts_at="10:00", ends_at="11:00",
                         visitors=["staff-1", "staff-2"], case_opened_on=OPENED, today=TODAY)
    visit.reschedule(planned_on=TODAY + timedelta(days=5), starts_at="14:00", ends_at=None,
                     visitors=["staff-2"], case_opened_on=OPENED, today=TODAY)
    assert (visit.planned_on, visit.starts_at, visit.visitors) == (
        TODAY + timedelta(days=5), "14:00", ["staff-2"])
    with pytest.raises(StaleVersionError) as stale:
        visit.check_version(1)
    assert stale.value.current_version == 2
    visit.cancel(reason=" 家族の希望 ")
    assert visit.status == OutreachVisit.CANCELLED and visit.cancel_reason == "家族の希望"
    with pytest.raises(VisitNotPlannedError):
        visit.reschedule(planned_on=TODAY, starts_at=None, ends_at=None, visitors=["staff-1"],
                         case_opened_on=OPENED, today=TODAY)


def test_a_follow_up_is_completed_once() -> None:
    from yorisoi.domain.outreach import VisitFollowUpNotOpenError

    visit = _plan(planned_on=TODAY)
    _done(visit)
    assert visit.follow_up_open
    with pytest.raises(VisitDoneDateInvalidError):
        visit.complete_follow_up(completed_on=TODAY + timedelta(days=1), today=TODAY)
    visit.complete_follow_up(completed_on=TODAY, today=TODAY)
    assert not visit.follow_up_open
    with pytest.raises(VisitFollowUpNotOpenError):
        visit.complete_follow_up(completed_on=TODAY, today=TODAY)
