"""Activity on a case: which events move its 最終対応日 (``last_activity_on``), and to which day.

A specialist reads the case list by last activity, so it must move on every
piece of work done for the family, not only consultations: support notes,
referrals (drafted, sent, answered, their outcomes and follow-ups), meetings
(scheduled, held, their role assignments) and corrections of the household.

The day is the one the work was done on when the event says it (a note's
``written_on``, a referral's ``sent_on``…), else the day, in Japan, the event
was recorded.  It comes from the event alone, so a rebuilt view equals the live
one.  The day never moves back: a late entry of older work leaves a later day.

Referral and meeting events after the first name only their record, so the view
keeps ``record → case`` links (ids only, no personal data) in its own table,
written when the record is created on the case.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from yorisoi.domain.case_meetings import CaseMeeting
from yorisoi.domain.households import Household
from yorisoi.domain.referrals import Referral
from yorisoi.domain.support_notes import SupportNote
from yorisoi.infra.clock import JST

LINK_TABLE = "case_activity_link"
LINK_DDL = ("CREATE TABLE IF NOT EXISTS {s}case_activity_link ("
            " record_id TEXT PRIMARY KEY, case_id TEXT NOT NULL)")


def _recorded_day(event: Any) -> date:
    """The day in Japan the event was recorded (for work the event gives no day of)."""
    return event.timestamp.astimezone(JST).date()


# Records created on a case (their event carries ``case_id``): later events link back.
CREATED_ON_CASE: tuple[type, ...] = (SupportNote.Written, Referral.Drafted, CaseMeeting.Scheduled)

# Activity on a case, by event class, and the day it happened.
ACTIVITY_DAY: dict[type, Callable[[Any], date]] = {
    SupportNote.Written: lambda e: e.written_on,
    SupportNote.Corrected: _recorded_day,
    Referral.Drafted: lambda e: e.drafted_on,
    Referral.Sent: lambda e: e.sent_on,
    Referral.Acknowledged: lambda e: e.acknowledged_on,
    Referral.Accepted: lambda e: e.accepted_on,
    Referral.Declined: lambda e: e.declined_on,
    Referral.OutcomeRecorded: lambda e: e.recorded_on,
    Referral.FollowUpScheduled: _recorded_day,
    Referral.FollowUpCompleted: lambda e: e.completed_on,
    Referral.Closed: lambda e: e.closed_on,
    CaseMeeting.Scheduled: _recorded_day,  # the day it was arranged, not the meeting's
    CaseMeeting.InternalParticipantAdded: _recorded_day,
    CaseMeeting.ExternalParticipantAdded: _recorded_day,
    CaseMeeting.MinutesRecorded: _recorded_day,
    CaseMeeting.ActionAssigned: _recorded_day,
    CaseMeeting.ActionCompleted: lambda e: e.completed_on,
    CaseMeeting.Cancelled: _recorded_day,
    # Every case of the household: the correction is work on the family's record.
    Household.Corrected: _recorded_day,
}
ACTIVITY_CLASSES: tuple[type, ...] = tuple(ACTIVITY_DAY)


def activity_day(event: Any) -> str:
    """The ISO day ``event`` counts as activity on (its class is in ``ACTIVITY_CLASSES``)."""
    day = ACTIVITY_DAY.get(type(event))
    if day is None:  # a subclass (an upcast class) of a listed one
        day = next(f for cls, f in ACTIVITY_DAY.items() if isinstance(event, cls))
    return day(event).isoformat()
