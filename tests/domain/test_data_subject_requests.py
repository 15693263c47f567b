"""Data-subject requests and the suspension-of-use policy, without a database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import uuid4

import pytest

from yorisoi.domain.case_meetings import JST, CaseMeeting
from yorisoi.domain.cases import Case
from yorisoi.domain.consent import ConsentException
from yorisoi.domain.consultations import Consultation
from yorisoi.domain.data_subject_indexes import DataSubjectRequestDeadlines, HouseholdRequests
from yorisoi.domain.data_subject_requests import (
    CLOSED,
    IN_PROGRESS,
    REFUSED,
    DataSubjectRequest,
    DataSubjectRequestDateInvalidError,
    DataSubjectRequestExtensionInvalidError,
    DataSubjectRequestKindMismatchError,
    DataSubjectRequestKindUnknownError,
    DataSubjectRequestNothingDoneError,
    DataSubjectRequestOutcomeUnknownError,
    DataSubjectRequestReasonUnknownError,
    DataSubjectRequestStepError,
    DeadlineDaysInvalidError,
    IdentificationMethodUnknownError,
    RequesterRelationshipUnknownError,
    SuspensionNotActiveError,
)
from yorisoi.domain.errors import StaleVersionError
from yorisoi.domain.referrals import Referral
from yorisoi.domain.support_notes import SupportNote
from yorisoi.domain.suspension_of_use import GUARDED, POLICY, refused_events, subject_of
from yorisoi.services.file_register import event_classes

TODAY = date(2026, 5, 20)
HOUSEHOLD = uuid4()


def _receive(kind: str = "disclosure", received_on: date = date(2026, 5, 1),
             days: int = 30) -> DataSubjectRequest:
    return DataSubjectRequest.receive(
        household_id=HOUSEHOLD, municipality_code="131016", kind=kind,
        identification_method="counter_photo_id", requester_relationship="self",
        received_on=received_on, deadline_days=days, today=TODAY)


def _started(kind: str = "disclosure") -> DataSubjectRequest:
    request = _receive(kind)
    request.start(started_on=date(2026, 5, 2), today=TODAY, expected_version=None)
    return request


# ------------------------------------------------------------------ deadlines


@pytest.mark.parametrize(("received", "days", "due"), [
    (date(2026, 4, 1), 30, date(2026, 5, 1)),  # the day of receipt is not counted
    (date(2026, 3, 31), 30, date(2026, 4, 30)),  # across the fiscal year
    (date(2028, 2, 1), 30, date(2028, 3, 2)),  # leap year: 29 February counts
    (date(2026, 5, 1), 14, date(2026, 5, 15)),  # an ordinance's shorter period
])
def test_the_deadline_counts_calendar_days_from_the_day_after_receipt(received, days, due):
    request = DataSubjectRequest.receive(
        household_id=HOUSEHOLD, municipality_code="131016", kind="correction",
        identification_method="mail_copy_and_residence",
        requester_relationship="legal_representative", received_on=received,
        deadline_days=days, today=received)
    assert request.due_on == due
    assert not request.is_overdue(due)
    assert request.is_overdue(due + timedelta(days=1))


def test_municipal_deadlines_default_to_the_statutory_30_days_and_may_only_be_shortened():
    deadlines = DataSubjectRequestDeadlines(municipality_code="131016")
    assert deadlines.days == {"disclosure": 30, "correction": 30, "suspension_of_use": 30}
    deadlines.set({"disclosure": 14}, expected_version=None)
    assert deadlines.days["disclosure"] == 14 and deadlines.days["correction"] == 30
    with pytest.raises(DeadlineDaysInvalidError):
        deadlines.set({"correction": 31}, expected_version=None)
    with pytest.raises(DeadlineDaysInvalidError):
        deadlines.set({"correction": 0}, expected_version=None)
    with pytest.raises(DataSubjectRequestKindUnknownError):
        deadlines.set({"erasure": 10}, expected_version=None)
    with pytest.raises(StaleVersionError):
        deadlines.set({"disclosure": 10}, expected_version=1)


def test_the_deadline_is_extended_once_by_at_most_30_days():
    request = _receive()
    with pytest.raises(DataSubjectRequestExtensionInvalidError):
        request.extend(days=31, reason="volume_of_records", expected_version=None)
    with pytest.raises(DataSubjectRequestReasonUnknownError):
        request.extend(days=10, reason="busy", expected_version=None)
    request.extend(days=30, reason="third_party_consultation", expected_version=None)
    assert request.due_on == date(2026, 6, 30) and request.extended_by == 30
    with pytest.raises(DataSubjectRequestExtensionInvalidError):
        request.extend(days=1, reason="other", expected_version=None)


def test_a_decided_request_is_never_overdue():
    request = _started()
    request.refuse(refused_on=date(2026, 5, 3), reason="no_data_held", today=TODAY,
                   expected_version=None)
    assert not request.is_overdue(date(2027, 1, 1))


# ------------------------------------------------------------------ receiving


@pytest.mark.parametrize(("field", "value", "error"), [
    ("kind", "erasure", DataSubjectRequestKindUnknownError),
    ("identification_method", "looked_familiar", IdentificationMethodUnknownError),
    ("requester_relationship", "neighbour", RequesterRelationshipUnknownError),
])
def test_a_request_names_known_codes(field, value, error):
    fields = {"household_id": HOUSEHOLD, "municipality_code": "131016", "kind": "disclosure",
              "identification_method": "counter_photo_id", "requester_relationship": "self",
              "received_on": TODAY, "deadline_days": 30, "today": TODAY}
    fields[field] = value
    with pytest.raises(error):
        DataSubjectRequest.receive(**fields)


def test_a_request_cannot_be_received_in_the_future():
    with pytest.raises(DataSubjectRequestDateInvalidError):
        _receive(received_on=TODAY + timedelta(days=1))


def test_the_request_holds_no_free_text():
    # Nothing a requester says is kept here: only codes, dates and ids.
    for cls in event_classes(DataSubjectRequest):
        assert not getattr(cls, "personal_fields", ()), cls


# ------------------------------------------------------------------ the steps


def test_received_in_progress_answered_closed():
    request = _started()
    assert request.status == IN_PROGRESS
    with pytest.raises(DataSubjectRequestNothingDoneError):
        request.answer(answered_on=date(2026, 5, 10), outcome="disclosed", today=TODAY,
                       expected_version=None)
    request.note_export(export_id=uuid4(), exported_on=date(2026, 5, 9), records=5,
                        access_entries=4, sealed_sha256={"json": "00", "html": "11"})
    with pytest.raises(DataSubjectRequestOutcomeUnknownError):
        request.answer(answered_on=date(2026, 5, 10), outcome="corrected", today=TODAY,
                       expected_version=None)
    request.answer(answered_on=date(2026, 5, 10), outcome="partially_disclosed", today=TODAY,
                   expected_version=None)
    with pytest.raises(DataSubjectRequestDateInvalidError):
        request.close(closed_on=date(2026, 5, 9), today=TODAY, expected_version=None)
    request.close(closed_on=date(2026, 5, 11), today=TODAY, expected_version=None)
    assert request.status == CLOSED
    with pytest.raises(DataSubjectRequestStepError):
        request.refuse(refused_on=date(2026, 5, 12), reason="other", today=TODAY,
                       expected_version=None)


def test_a_request_is_answered_only_once_started_and_closed_only_once_decided():
    request = _receive()
    with pytest.raises(DataSubjectRequestStepError):
        request.close(closed_on=TODAY, today=TODAY, expected_version=None)
    with pytest.raises(DataSubjectRequestStepError):
        request.answer(answered_on=TODAY, outcome="disclosed", today=TODAY,
                       expected_version=None)
    with pytest.raises(StaleVersionError):
        request.start(started_on=TODAY, today=TODAY, expected_version=7)


def test_a_refusal_needs_a_known_reason_and_may_come_before_handling_starts():
    request = _receive()
    with pytest.raises(DataSubjectRequestReasonUnknownError):
        request.refuse(refused_on=TODAY, reason="we_would_rather_not", today=TODAY,
                       expected_version=None)
    request.refuse(refused_on=TODAY, reason="identity_not_confirmed", today=TODAY,
                   expected_version=None)
    assert request.status == REFUSED and request.refusal_reason == "identity_not_confirmed"


def test_exports_belong_to_disclosures_and_corrections_to_correction_requests():
    with pytest.raises(DataSubjectRequestKindMismatchError):
        _started("correction").note_export(export_id=uuid4(), exported_on=TODAY, records=1,
                                           access_entries=1, sealed_sha256={})
    with pytest.raises(DataSubjectRequestKindMismatchError):
        _started("disclosure").link_correction(record_kind="consultation", record_id=uuid4(),
                                               record_version=2, changed_fields=["asked"])
    with pytest.raises(DataSubjectRequestStepError):  # not started yet
        _receive("correction").link_correction(record_kind="consultation", record_id=uuid4(),
                                               record_version=2, changed_fields=["asked"])
    request = _started("correction")
    request.link_correction(record_kind="consultation", record_id=uuid4(), record_version=2,
                            changed_fields=["wishes", "asked"])
    request.answer(answered_on=TODAY, outcome="corrected", today=TODAY, expected_version=None)
    assert request.corrections[0]["changed_fields"] == ["asked", "wishes"]


def test_a_granted_suspension_stays_in_force_after_closing_until_lifted():
    request = _started("suspension_of_use")
    request.answer(answered_on=date(2026, 5, 5), outcome="suspended", today=TODAY,
                   expected_version=None)
    request.close(closed_on=date(2026, 5, 6), today=TODAY, expected_version=None)
    assert request.suspension_active
    with pytest.raises(DataSubjectRequestReasonUnknownError):
        request.lift_suspension(lifted_on=TODAY, reason="tired_of_it", today=TODAY,
                                expected_version=None)
    request.lift_suspension(lifted_on=TODAY, reason="requested_by_data_subject", today=TODAY,
                            expected_version=None)
    assert not request.suspension_active
    with pytest.raises(SuspensionNotActiveError):
        request.lift_suspension(lifted_on=TODAY, reason="other", today=TODAY,
                                expected_version=None)


def test_a_refused_suspension_request_suspends_nothing():
    request = _started("suspension_of_use")
    request.refuse(refused_on=TODAY, reason="no_ground_for_suspension", today=TODAY,
                   expected_version=None)
    assert not request.suspension_active
    with pytest.raises(SuspensionNotActiveError):
        request.lift_suspension(lifted_on=TODAY, reason="other", today=TODAY,
                                expected_version=None)


def test_the_household_index_follows_suspensions_by_request():
    index = HouseholdRequests(household_id=HOUSEHOLD)
    first, second = uuid4(), uuid4()
    index.suspend(first)
    index.suspend(second)
    index.lift(first)
    assert index.suspended
    index.lift(second)
    assert not index.suspended


# ------------------------------------------------------------------ the suspension policy


def test_every_event_of_a_guarded_aggregate_is_classified():
    # A new event class must be placed in the policy on purpose (unclassified is refused).
    events = {cls.__qualname__ for aggregate in GUARDED for cls in event_classes(aggregate)}
    assert events == set(POLICY)


def _pending(aggregate) -> list[tuple[object, object]]:
    return [(event, aggregate) for event in aggregate.pending_events]


def _case() -> Case:
    return Case(household_id=HOUSEHOLD, municipality_code="131016", site_id="a-hiroba",
                contract_id=None, opened_on=date(2026, 4, 1))


def _consultation() -> Consultation:
    return Consultation.record(
        case_id=uuid4(), household_id=HOUSEHOLD, site_id="a-hiroba", contract_id=None,
        occurred_on=TODAY, channel="phone", themes=["abuse_concern"], asked="…", wishes="",
        direction="", today=TODAY, allowed_themes=["abuse_concern"])


def _referral(kind: str) -> Referral:
    return Referral.draft(case_id=uuid4(), household_id=HOUSEHOLD, agency_id=uuid4(),
                          agency_kind=kind, site_id="a-hiroba", contract_id=None, reason="…",
                          urgent=True, accompanied=False, shared_fields=[], today=TODAY)


def _duty_exception(basis: str = "child_abuse_report") -> ConsentException:
    return ConsentException.record(household_id=HOUSEHOLD, case_id=uuid4(),
                                   purpose="create_records", legal_basis=basis, reason="…",
                                   taken_on=TODAY, today=TODAY)


def test_new_records_are_refused_and_winding_down_is_not():
    assert refused_events(_pending(_consultation()))
    note = SupportNote.write(case_id=uuid4(), household_id=HOUSEHOLD, site_id="a-hiroba",
                             contract_id=None, written_on=TODAY, kind="progress", body="…",
                             today=TODAY)
    assert refused_events(_pending(note))
    case = _case()
    case.collect_events()
    case.close(closed_on=TODAY, reason="family_declined", today=TODAY)
    assert not refused_events(_pending(case))
    consultation = _consultation()
    consultation.collect_events()
    consultation.correct(changes={"asked": "訂正後"}, reason="本人の訂正請求")
    assert not refused_events(_pending(consultation))
    assert subject_of(consultation) == HOUSEHOLD


def test_a_record_saved_with_a_legal_duty_exception_is_allowed():
    consultation = _consultation()
    assert not refused_events([*_pending(consultation), *_pending(_duty_exception())])
    # "other" is not a legal duty.
    assert refused_events([*_pending(consultation), *_pending(_duty_exception("other"))])


def test_referrals_to_the_child_guidance_centre_are_a_legal_duty():
    assert not refused_events(_pending(_referral("child_guidance_center")))
    assert refused_events(_pending(_referral("health_center")))
    welfare = _referral("welfare_office")
    assert not refused_events(_pending(welfare))  # drafting a report
    welfare.collect_events()
    welfare.send(sent_on=TODAY, today=TODAY, confidentiality_basis="public_servant",
                 consent_covered=True)
    assert refused_events(_pending(welfare))  # sent without a duty basis


def test_meetings_are_allowed_only_for_cases_the_child_protection_council_handles():
    def meeting(council: bool) -> CaseMeeting:
        start = datetime(2026, 5, 19, 10, tzinfo=JST)
        return CaseMeeting.schedule(
            case_id=uuid4(), household_id=HOUSEHOLD, site_id="a-hiroba", contract_id=None,
            starts_at=start, ends_at=start + timedelta(hours=1), place="…", agenda="…",
            internal=[("u1", "specialist")], external=[], council_case=council,
            council_decision="…" if council else None)

    assert refused_events(_pending(meeting(False)))
    assert not refused_events(_pending(meeting(True)))
