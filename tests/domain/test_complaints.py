"""The complaint aggregates on their own: order of steps, anonymity, summaries, roles, deadlines."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from yorisoi.domain.complaints import (
    DEFAULT_DEADLINES,
    Complaint,
    ComplaintAlreadyEscalatedError,
    ComplaintAnonymousIdentityError,
    ComplaintAnonymousReportError,
    ComplaintClosedError,
    ComplaintComplainantMissingError,
    ComplaintDateInvalidError,
    ComplaintDeadlineInvalidError,
    ComplaintDeadlines,
    ComplaintOfficerMissingError,
    ComplaintRoles,
    ComplaintRoleScopeUnknownError,
    ComplaintStepOutOfOrderError,
    ComplaintSummaryNotAnonymousError,
    ComplaintThirdPartyNotIndependentError,
    ComplaintThirdPartyNotInformedError,
    due_on,
)
from yorisoi.domain.errors import DomainError, StaleVersionError

TODAY = date(2025, 6, 30)
DAY = timedelta(days=1)


def received(**overrides: Any) -> Complaint:
    fields: dict[str, Any] = {
        "municipality_code": "131016", "site_id": "a-hiroba", "contract_id": "c-1", "contractor_id": "npo",
        "case_id": None, "kind": "complaint", "channel": "letter", "received_on": TODAY - 10 * DAY,
        "anonymous": False, "complainant_name": "架空 一郎", "complainant_contact": "ichiro@example.jp",
        "content": "窓口の対応について", "wishes": "改善してほしい", "involve_third_party": False,
        "today": TODAY}
    fields.update(overrides)
    return Complaint.receive(**fields)


def to_outcome_reported(c: Complaint) -> Complaint:
    c.report(reported_on=TODAY - 9 * DAY, third_party_informed=True, today=TODAY,
             expected_version=None)
    c.add_discussion(held_on=TODAY - 8 * DAY, note="面談", today=TODAY, expected_version=None)
    c.record_outcome(decided_on=TODAY - 7 * DAY, outcome="resolved", detail="改善", today=TODAY,
                     expected_version=None)
    c.report_outcome(reported_on=TODAY - 6 * DAY, method="letter", today=TODAY,
                     expected_version=None)
    return c


def test_each_event_with_personal_fields_names_the_complaint_as_its_data_subject():
    c = to_outcome_reported(received())
    c.escalate(escalated_on=TODAY, reason="納得できない", today=TODAY, expected_version=None)
    personal = [e for e in c.pending_events if getattr(type(e), "personal_fields", ())]
    assert len(personal) == 4
    assert all(e.household_id == c.id for e in personal)


def test_the_steps_go_only_in_order_to_closure():
    c = received()
    with pytest.raises(ComplaintStepOutOfOrderError):
        c.record_outcome(decided_on=TODAY, outcome="resolved", detail="x", today=TODAY,
                         expected_version=None)
    to_outcome_reported(c)
    assert c.step == "outcome_reported"
    with pytest.raises(ComplaintStepOutOfOrderError):
        c.close(closed_on=TODAY, today=TODAY, expected_version=None)
    c.publish_summary(published_on=TODAY, summary="窓口対応の改善を行いました", today=TODAY,
                      other_names=[], expected_version=None)
    c.close(closed_on=TODAY, today=TODAY, expected_version=c.version)
    with pytest.raises(ComplaintClosedError):
        c.escalate(escalated_on=TODAY, reason="x", today=TODAY, expected_version=None)


def test_a_stale_version_is_refused():
    c = received()
    with pytest.raises(StaleVersionError):
        c.report(reported_on=TODAY, third_party_informed=False, today=TODAY, expected_version=5)


def test_dates_must_follow_the_previous_step_and_not_be_in_the_future():
    with pytest.raises(ComplaintDateInvalidError):
        received(received_on=TODAY + DAY)
    c = received()
    for day in (TODAY - 11 * DAY, TODAY + DAY):
        with pytest.raises(ComplaintDateInvalidError):
            c.report(reported_on=day, third_party_informed=False, today=TODAY,
                     expected_version=None)


def test_anonymity_means_no_identity_and_a_named_complaint_needs_a_name():
    with pytest.raises(ComplaintAnonymousIdentityError):
        received(anonymous=True, complainant_name=None)
    with pytest.raises(ComplaintComplainantMissingError):
        received(complainant_name="  ")
    c = received(anonymous=True, complainant_name=None, complainant_contact=None)
    assert c.complainant_name is None and c.complainant_contact is None
    c.report(reported_on=TODAY, third_party_informed=False, today=TODAY, expected_version=None)
    c.add_discussion(held_on=TODAY, note="協議", today=TODAY, expected_version=None)
    c.record_outcome(decided_on=TODAY, outcome="resolved", detail="x", today=TODAY,
                     expected_version=None)
    with pytest.raises(ComplaintAnonymousReportError):
        c.report_outcome(reported_on=TODAY, method="letter", today=TODAY, expected_version=None)


def test_a_wish_to_involve_a_third_party_member_must_be_honoured_when_reporting():
    c = received(involve_third_party=True)
    with pytest.raises(ComplaintThirdPartyNotInformedError):
        c.report(reported_on=TODAY, third_party_informed=False, today=TODAY,
                 expected_version=None)


@pytest.mark.parametrize("summary", [
    "架空一郎様のご意見", "一郎 様より", "ＩＣＨＩＲＯ@EXAMPLE.JP 宛に回答",
    "架空　花子さんの件",
])
def test_a_summary_naming_the_complainant_or_the_family_is_refused(summary):
    c = to_outcome_reported(received())
    version = c.version
    with pytest.raises(ComplaintSummaryNotAnonymousError) as refused:
        c.publish_summary(published_on=TODAY, summary=summary, today=TODAY,
                          other_names=["架空 花子", "架空 たろう"], expected_version=None)
    assert summary not in refused.value.message and summary not in refused.value.message_ja
    assert c.version == version and c.summary is None


def test_escalation_is_recorded_once_at_any_open_step():
    c = received()
    c.escalate(escalated_on=TODAY, reason="運営適正化委員会へ", today=TODAY, expected_version=None)
    assert c.escalated_on == TODAY and c.step == "received"
    with pytest.raises(ComplaintAlreadyEscalatedError):
        c.escalate(escalated_on=TODAY, reason="再度", today=TODAY, expected_version=None)


def test_roles_with_fewer_than_two_third_party_members_are_a_finding_not_a_refusal():
    roles = ComplaintRoles.start(municipality_code="131016", scope_kind="site", scope_id="s")
    roles.assign(intake_officer="u1", resolution_officer="u2",
                 third_party_members=[{"kind": "external", "ref": "委員 A"}],
                 expected_version=None)
    assert roles.findings == ["third_party_members_fewer_than_two"]
    roles.assign(intake_officer="u1", resolution_officer="u2", expected_version=roles.version,
                 third_party_members=[{"kind": "external", "ref": "委員 A"},
                                      {"kind": "user", "ref": "u3"}])
    assert roles.findings == []
    assert all(e.household_id == roles.id for e in roles.pending_events[1:])
    for bad, error in (
        ({"intake_officer": " "}, ComplaintOfficerMissingError),
        ({"third_party_members": [{"kind": "user", "ref": "u2"}]},
         ComplaintThirdPartyNotIndependentError),
    ):
        with pytest.raises(error):
            roles.assign(**{"intake_officer": "u1", "resolution_officer": "u2",
                            "third_party_members": [], "expected_version": None, **bad})
    with pytest.raises(ComplaintRoleScopeUnknownError):
        ComplaintRoles.start(municipality_code="131016", scope_kind="team", scope_id="x")
    assert ComplaintRoles.create_id("1", "site", "s") == ComplaintRoles.create_id("1", "site", "s")


def test_deadlines_default_per_step_and_can_be_changed_within_bounds():
    deadlines = ComplaintDeadlines(municipality_code="131016")
    assert deadlines.days == DEFAULT_DEADLINES
    assert due_on("received", TODAY, deadlines.days) == TODAY + 7 * DAY
    assert due_on("published", TODAY, deadlines.days) is None
    deadlines.set({"in_discussion": 45}, expected_version=None)
    assert due_on("in_discussion", TODAY, deadlines.days) == TODAY + 45 * DAY
    for bad in ({"in_discussion": 0}, {"closed": 3}, {"received": 400}):
        with pytest.raises(ComplaintDeadlineInvalidError):
            deadlines.set(bad, expected_version=None)


def test_every_complaint_error_is_bilingual_and_coded():
    import yorisoi.domain.complaints as module

    errors = [v for v in vars(module).values()
              if isinstance(v, type) and issubclass(v, DomainError) and v.__module__ == module.__name__]
    assert len(errors) >= 20
    for error in errors:
        assert error.code.startswith("complaint_") and error.message and error.message_ja, error
