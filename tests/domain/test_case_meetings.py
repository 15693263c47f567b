"""CaseMeeting invariants, without a database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from yorisoi.domain.agencies import ConfidentialityBasisUnknownError
from yorisoi.domain.case_meetings import (
    JST,
    CaseMeeting,
    CaseMeetingAlreadyHeldError,
    CaseMeetingCancelledError,
    CaseMeetingNotYetHeldError,
    CouncilCaseMeetingError,
    ExternalParticipantBasisMissingError,
    MeetingActionAlreadyCompletedError,
    MeetingActionNotFoundError,
    MeetingMinutesEmptyError,
    MeetingMinutesMissingError,
    MeetingParticipantRoleUnknownError,
    MeetingTimeInvalidError,
)
from yorisoi.domain.errors import StaleVersionError
from yorisoi.domain.vocabulary import CONFIDENTIALITY_BASES

START = datetime(2025, 6, 10, 14, 0, tzinfo=JST)
TODAY = date(2025, 6, 15)


def _schedule(**overrides):
    fields = {"case_id": uuid4(), "household_id": uuid4(), "site_id": "a-hiroba",
                  "contract_id": "contract-a-npo", "starts_at": START,
                  "ends_at": START + timedelta(hours=1), "place": "ひろば相談室",
                  "agenda": "保育園入所に向けた支援方針", "internal": [("npo-staff-1", "specialist")],
                  "external": [("架空 保健師", "保健センター", "public_servant")],
                  "council_case": False, "council_decision": None}
    fields.update(overrides)
    return CaseMeeting.schedule(**fields)


def _held() -> CaseMeeting:
    meeting = _schedule()
    meeting.record_minutes(wishes="保育園に入れたい", state_and_issues="母の疲労",
                           support_goals="4月入所", concrete_support="見学同行",
                           now=START + timedelta(hours=1))
    return meeting


def test_meeting_with_internal_and_external_participants_keeps_each_basis():
    meeting = _schedule()
    assert meeting.status == CaseMeeting.SCHEDULED
    assert meeting.internal == {"npo-staff-1": "specialist"}
    [external] = meeting.external.values()
    assert external == {"basis": "public_servant", "name": "架空 保健師",
                        "organisation": "保健センター"}
    # The names are personal; the basis is not (audits read it without a key).
    assert "external_people" in CaseMeeting.Scheduled.personal_fields
    assert "external_participants" not in CaseMeeting.Scheduled.personal_fields


@pytest.mark.parametrize("basis", [None, "", "  "])
def test_external_participant_without_a_confidentiality_basis_is_refused(basis):
    with pytest.raises(ExternalParticipantBasisMissingError) as caught:
        _schedule(external=[("架空 医師", "小児科", basis)])
    assert caught.value.field == "externalParticipants.0.basis"


def test_unknown_confidentiality_basis_is_refused():
    with pytest.raises(ConfidentialityBasisUnknownError):
        _schedule(external=[("架空 医師", "小児科", "friendship")])
    assert set(CONFIDENTIALITY_BASES) == {"council_member", "public_servant",
                                          "contract_clause", "professional_duty"}


def test_adding_an_outsider_later_also_needs_a_basis():
    meeting = _schedule()
    with pytest.raises(ExternalParticipantBasisMissingError) as caught:
        meeting.add_external_participant(name="架空 弁護士", organisation="法律事務所", basis=None)
    assert caught.value.field == "external.basis"
    assert meeting.version == 1
    meeting.add_external_participant(name="架空 弁護士", organisation="法律事務所",
                                     basis="professional_duty")
    assert len(meeting.external) == 2


def test_unknown_internal_role_is_refused():
    with pytest.raises(MeetingParticipantRoleUnknownError):
        _schedule(internal=[("u1", "boss")])


def test_times_must_be_in_a_known_zone_and_end_after_start_on_the_same_day():
    with pytest.raises(MeetingTimeInvalidError):
        _schedule(starts_at=datetime(2025, 6, 10, 14, 0))
    with pytest.raises(MeetingTimeInvalidError):
        _schedule(ends_at=START)
    with pytest.raises(MeetingTimeInvalidError):
        _schedule(ends_at=START + timedelta(days=1))
    utc = _schedule(starts_at=datetime(2025, 6, 10, 5, 0, tzinfo=ZoneInfo("UTC")),
                    ends_at=datetime(2025, 6, 10, 6, 0, tzinfo=ZoneInfo("UTC")))
    assert utc.starts_at.isoformat() == "2025-06-10T14:00:00+09:00"


def test_council_case_meeting_is_refused_without_a_recorded_decision():
    with pytest.raises(CouncilCaseMeetingError) as caught:
        _schedule(council_case=True, council_decision="  ")
    assert caught.value.field == "councilDecision"
    assert "要対協" in caught.value.message_ja or "要保護" in caught.value.message_ja


def test_council_case_meeting_with_a_decision_keeps_the_decision():
    meeting = _schedule(council_case=True, council_decision="要対協の個別会議は来月のため、入所支援を先行")
    assert meeting.council_case is True
    assert meeting.council_decision == "要対協の個別会議は来月のため、入所支援を先行"
    assert "council_decision" in CaseMeeting.Scheduled.personal_fields


def test_minutes_before_the_meeting_starts_are_refused():
    meeting = _schedule()
    with pytest.raises(CaseMeetingNotYetHeldError):
        meeting.record_minutes(wishes="w", state_and_issues="", support_goals="",
                               concrete_support="", now=START - timedelta(minutes=1))


def test_empty_minutes_are_refused():
    with pytest.raises(MeetingMinutesEmptyError):
        _schedule().record_minutes(wishes=" ", state_and_issues="", support_goals="",
                                   concrete_support="", now=START)


def test_cancelled_meeting_cannot_get_minutes_or_participants():
    meeting = _schedule()
    meeting.cancel()
    with pytest.raises(CaseMeetingCancelledError):
        meeting.record_minutes(wishes="w", state_and_issues="", support_goals="",
                               concrete_support="", now=START + timedelta(hours=2))
    with pytest.raises(CaseMeetingCancelledError):
        meeting.add_internal_participant(user_id="u2", role="site_staff")
    with pytest.raises(CaseMeetingCancelledError):
        meeting.cancel()


def test_held_meeting_cannot_be_cancelled():
    with pytest.raises(CaseMeetingAlreadyHeldError):
        _held().cancel()


def test_role_assignments_need_minutes_and_complete_once():
    with pytest.raises(MeetingMinutesMissingError):
        _schedule().assign_action(owner_user_id="u1", what="見学同行", due_on=TODAY)
    meeting = _held()
    action_id = meeting.assign_action(owner_user_id="u1", what="見学同行", due_on=TODAY)
    assert meeting.actions[action_id]["completed_on"] is None
    meeting.complete_action(action_id=action_id, completed_on=TODAY)
    with pytest.raises(MeetingActionAlreadyCompletedError):
        meeting.complete_action(action_id=action_id, completed_on=TODAY)
    with pytest.raises(MeetingActionNotFoundError):
        meeting.complete_action(action_id=str(uuid4()), completed_on=TODAY)


def test_stale_version_is_refused():
    meeting = _held()
    with pytest.raises(StaleVersionError):
        meeting.check_version(1)
    meeting.check_version(meeting.version)


def test_replaying_the_events_gives_the_same_meeting():
    meeting = _held()
    meeting.assign_action(owner_user_id="u1", what="見学同行", due_on=TODAY)
    copy = None
    for domain_event in meeting.collect_events():
        copy = domain_event.mutate(copy)
    assert copy is not None
    assert (copy.status, copy.minutes, copy.actions, copy.external) == (
        meeting.status, meeting.minutes, meeting.actions, meeting.external)
