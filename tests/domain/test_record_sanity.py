"""Record sanity the family would expect, without a database.

- A consultation is not dated before its case, nor (new family) earlier than a
  pregnancy (310 days) before the oldest child's birth or the due date (妊娠期から).
- A meeting's role assignment is not due before the meeting.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from uuid import uuid4

import pytest

from yorisoi.domain.case_meetings import JST, CaseMeeting, MeetingActionDueBeforeMeetingError
from yorisoi.domain.consultations import PREGNANCY_DAYS, check_consultation_date
from yorisoi.domain.errors import (
    ConsultationBeforeCaseOpenedError,
    ConsultationBeforePregnancyError,
)

JAPANESE = re.compile(r"[ぁ-んァ-ヶ一-龠]")
BORN = date(2025, 6, 1)


def test_a_pregnancy_is_310_days_the_due_dates_households_accept():
    assert PREGNANCY_DAYS == 310


def test_a_new_family_may_be_seen_during_the_pregnancy_of_its_oldest_child():
    earliest = BORN - timedelta(days=PREGNANCY_DAYS)
    check_consultation_date(earliest, case_opened_on=earliest, birth_dates=[BORN])
    # The oldest child counts: a younger sibling's birth does not narrow the window.
    check_consultation_date(earliest, case_opened_on=earliest,
                            birth_dates=[BORN + timedelta(days=700), BORN])
    with pytest.raises(ConsultationBeforePregnancyError) as refused:
        check_consultation_date(earliest - timedelta(days=1),
                                case_opened_on=earliest - timedelta(days=1),
                                birth_dates=[BORN, BORN + timedelta(days=700)])
    assert refused.value.field == "occurredOn"
    assert JAPANESE.search(refused.value.message_ja) and refused.value.message


def test_a_pregnancy_alone_bounds_by_its_due_date_and_guardians_alone_have_no_bound():
    due = date(2026, 9, 1)
    check_consultation_date(due - timedelta(days=PREGNANCY_DAYS),
                            case_opened_on=due - timedelta(days=PREGNANCY_DAYS), due_date=due)
    with pytest.raises(ConsultationBeforePregnancyError):
        check_consultation_date(due - timedelta(days=PREGNANCY_DAYS + 1),
                                case_opened_on=due - timedelta(days=PREGNANCY_DAYS + 1),
                                due_date=due)
    long_ago = date(2001, 1, 1)
    check_consultation_date(long_ago, case_opened_on=long_ago)


def test_an_existing_case_takes_no_consultation_dated_before_it_opened():
    opened = date(2025, 10, 1)
    check_consultation_date(opened, case_opened_on=opened)
    with pytest.raises(ConsultationBeforeCaseOpenedError) as refused:
        check_consultation_date(opened - timedelta(days=1), case_opened_on=opened)
    assert refused.value.field == "occurredOn"
    assert refused.value.code == "consultation_before_case_opened"
    assert JAPANESE.search(refused.value.message_ja)


def _held_meeting(starts_at: datetime) -> CaseMeeting:
    meeting = CaseMeeting.schedule(
        case_id=uuid4(), household_id=uuid4(), site_id="a-hiroba", contract_id=None,
        starts_at=starts_at, ends_at=starts_at + timedelta(hours=1), place="ひろば相談室",
        agenda="支援方針", internal=[("npo-staff-1", "specialist")], external=[],
        council_case=False, council_decision=None)
    meeting.record_minutes(wishes="入所したい", state_and_issues="母の疲労",
                           support_goals="4月入所", concrete_support="見学同行",
                           now=starts_at + timedelta(hours=2))
    return meeting


def test_a_role_assignment_is_not_due_before_its_meeting():
    # 08:00 in Japan is still the day before in UTC: the meeting's day is Japan's.
    meeting = _held_meeting(datetime(2025, 6, 10, 8, 0, tzinfo=JST))
    meeting.assign_action(owner_user_id="npo-staff-1", what="見学に同行",
                          due_on=date(2025, 6, 10))
    with pytest.raises(MeetingActionDueBeforeMeetingError) as refused:
        meeting.assign_action(owner_user_id="npo-staff-1", what="書類確認",
                              due_on=date(2025, 6, 9), field="actions.1")
    assert refused.value.field == "actions.1.dueOn"
    assert JAPANESE.search(refused.value.message_ja)
    assert len(meeting.actions) == 1
