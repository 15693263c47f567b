"""Outreach visits (アウトリーチ): home visits and other visits planned for a case.

The guideline asks specialists to go out to families who do not come in
(§4(1)⑤, §4(3)①): home visits, visits with the public-health nurse, pop-up
counters at events.  A visit is planned for a case (and so for its
municipality, site and contract), then done, not met, or cancelled; a planned
visit may be moved (rescheduled).

What stays plaintext — the kind, the day and time window, who goes (user ids),
the place *as a code in general terms* (自宅, 地区センター…), the outcome and
next-step codes, the follow-up date — lets calendars, "my tasks" and the
statistics work without opening personal data.  Everything written freely (the
purpose, a detail of the place, the summary, the next step's note, a reason)
may name people or an address: personal, sealed under the household's key.
"""

from __future__ import annotations

import re
from datetime import date
from typing import ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, StaleVersionError
from yorisoi.domain.vocabulary import (
    VISIT_KINDS,
    VISIT_NEXT_STEPS,
    VISIT_NOT_MET_REASONS,
    VISIT_OUTCOMES,
    VISIT_PLACES,
)

MAX_VISITORS = 6
# A plan further ahead than this is a typo (令和 year, month) rather than a plan.
MAX_DAYS_AHEAD = 400
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class VisitKindUnknownError(DomainError):
    code = "visit_kind_unknown"
    message = "Choose the kind of visit from the list."
    message_ja = "訪問の種類を一覧から選んでください。"


class VisitPlaceUnknownError(DomainError):
    code = "visit_place_unknown"
    message = "Choose where the visit takes place from the list (in general terms, no address)."
    message_ja = "訪問先を一覧から選んでください（住所は入力しません）。"


class VisitPurposeMissingError(DomainError):
    code = "visit_purpose_missing"
    message = "Write the purpose of the visit."
    message_ja = "訪問の目的を入力してください。"


class VisitVisitorsMissingError(DomainError):
    code = "visit_visitors_missing"
    message = "Choose who goes on the visit (one to six members of staff)."
    message_ja = "訪問する職員を選んでください（1〜6人）。"


class VisitDateInvalidError(DomainError):
    code = "visit_date_invalid"
    message = "The visit's date must lie between the case's opening and about a year from today."
    message_ja = "訪問日はケースの受付日から1年後程度までの間で指定してください。"


class VisitTimeInvalidError(DomainError):
    code = "visit_time_invalid"
    message = "Give times as HH:MM, the end after the start (or no end)."
    message_ja = "時刻は「10:00」の形式で、終了は開始より後にしてください（終了は省略できます）。"


class VisitNotPlannedError(DomainError):
    """The visit was already done, not met or cancelled: its outcome stands."""

    code = "visit_not_planned"
    message = "The visit is no longer planned (done, not met or cancelled)."
    message_ja = "この訪問は予定中ではありません（実施済み・不在等・中止のいずれかです）。"


class VisitDoneDateInvalidError(DomainError):
    code = "visit_done_date_invalid"
    message = "The day of the visit cannot be in the future, nor before the case was opened."
    message_ja = "訪問した日に未来の日付やケースの受付日より前の日付は指定できません。"


class VisitOutcomeUnknownError(DomainError):
    code = "visit_outcome_unknown"
    message = "Choose the visit's outcome from the list."
    message_ja = "訪問の結果を一覧から選んでください。"


class VisitNotMetReasonUnknownError(DomainError):
    code = "visit_not_met_reason_unknown"
    message = "Choose why the family was not met from the list."
    message_ja = "会えなかった理由を一覧から選んでください。"


class VisitSummaryMissingError(DomainError):
    code = "visit_summary_missing"
    message = "Write what happened on the visit."
    message_ja = "訪問の記録（概要）を入力してください。"


class VisitNextStepUnknownError(DomainError):
    code = "visit_next_step_unknown"
    message = "Choose the next step from the list."
    message_ja = "次の対応を一覧から選んでください。"


class VisitFollowUpInvalidError(DomainError):
    code = "visit_follow_up_invalid"
    message = "The follow-up date must be on or after the visit, with a next step other than none."
    message_ja = "次回対応日は訪問日以降の日付とし、次の対応（予定なし以外）を選んでください。"


class VisitFollowUpNotOpenError(DomainError):
    code = "visit_follow_up_not_open"
    message = "The visit has no open follow-up."
    message_ja = "この訪問に未完了の次回対応はありません。"


class VisitRescheduleUnchangedError(DomainError):
    code = "visit_reschedule_unchanged"
    message = "The new plan is the same as the current one."
    message_ja = "変更後の予定が現在の予定と同じです。"


class VisitVisitorNotStaffError(DomainError):
    """Who went is checked against the staff records of the organisation recording the visit:
    a record names people who answer for it (and whose tasks it makes), never someone of
    another organisation or a mistyped id."""

    code = "visit_visitor_not_staff"
    message = "Who went must be staff of your organisation (in its staff records)."
    message_ja = "訪問した職員には、記録する組織の職員名簿に登録されている職員を指定してください。"


class VisitFollowUpOwnerNotStaffError(DomainError):
    """The follow-up's owner gets the task: someone of the recording organisation's staff
    (after a hand-over, never the predecessor's specialist, who can no longer see the case)."""

    code = "visit_follow_up_owner_not_staff"
    message = "The follow-up's owner must be staff of your organisation (in its staff records)."
    message_ja = "次の対応の担当者には、記録する組織の職員名簿に登録されている職員を指定してください。"


def check_time_window(starts_at: str | None, ends_at: str | None) -> tuple[str | None, str | None]:
    """The window as HH:MM strings (either may be absent; an end needs a start before it)."""
    start = (starts_at or "").strip() or None
    end = (ends_at or "").strip() or None
    if start is not None and not _TIME.match(start):
        raise VisitTimeInvalidError(field="startsAt")
    if end is not None and (not _TIME.match(end) or start is None or end <= start):
        raise VisitTimeInvalidError(field="endsAt")
    return start, end


def check_visitors(visitors: list[str]) -> list[str]:
    # The same person listed twice goes once; order is kept (the first leads).
    unique = list(dict.fromkeys(v.strip() for v in visitors if v.strip()))
    if not unique or len(unique) > MAX_VISITORS:
        raise VisitVisitorsMissingError(field="visitors")
    return unique


def _check_planned_on(planned_on: date, *, case_opened_on: date, today: date,
                      field: str) -> None:
    if planned_on < case_opened_on or (planned_on - today).days > MAX_DAYS_AHEAD:
        raise VisitDateInvalidError(field=field)


def _check_next_step(next_step: str, follow_up_on: date | None, on: date) -> None:
    if next_step not in VISIT_NEXT_STEPS:
        raise VisitNextStepUnknownError(field="nextStep")
    if follow_up_on is not None and (follow_up_on < on or next_step == "none"):
        raise VisitFollowUpInvalidError(field="followUpOn")


class OutreachVisit(Aggregate):
    """One visit to a family (or a pop-up counter for it), from plan to outcome."""

    PLANNED = "planned"
    DONE = "done"
    NOT_MET = "not_met"
    CANCELLED = "cancelled"

    class Planned(Aggregate.Created):
        personal_fields: ClassVar[tuple[str, ...]] = ("purpose", "place_note")
        case_id: UUID
        household_id: UUID
        site_id: str
        contract_id: str | None
        kind: str
        planned_on: date
        starts_at: str | None  # HH:MM, Japan time
        ends_at: str | None
        visitors: list[str]  # staff user ids; screens show their names
        place: str  # a VISIT_PLACES code: general terms, never an address
        place_note: str | None
        purpose: str | None

    class Rescheduled(Aggregate.Event):
        planned_on: date
        starts_at: str | None
        ends_at: str | None
        visitors: list[str]

    class Done(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("summary", "next_step_note")
        household_id: UUID
        done_on: date
        visitors: list[str]  # who actually went
        outcome: str
        summary: str | None
        next_step: str
        next_step_note: str | None
        follow_up_on: date | None
        follow_up_owner: str | None
        # The consultation recorded in the same step (channel outreach), if any.
        consultation_id: UUID | None

    class NotMet(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("note",)
        household_id: UUID
        attempted_on: date
        reason: str
        note: str | None
        next_step: str
        follow_up_on: date | None
        follow_up_owner: str | None

    class FollowUpCompleted(Aggregate.Event):
        completed_on: date

    class HandedOver(Aggregate.Event):
        # The case moved to a successor contract while the visit was still planned.
        from_contract_id: str | None
        to_contract_id: str

    class Cancelled(Aggregate.Event):
        # Why a visit was called off may name people: personal.
        personal_fields: ClassVar[tuple[str, ...]] = ("reason",)
        household_id: UUID
        reason: str | None

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def plan(cls, *, case_id: UUID, household_id: UUID, site_id: str, contract_id: str | None,
             kind: str, planned_on: date, starts_at: str | None, ends_at: str | None,
             visitors: list[str], place: str, place_note: str | None, purpose: str,
             case_opened_on: date, today: date) -> OutreachVisit:
        """Plan a visit (the caller checks the case is open and in the actor's scope)."""
        if kind not in VISIT_KINDS:
            raise VisitKindUnknownError(field="kind")
        _check_planned_on(planned_on, case_opened_on=case_opened_on, today=today,
                          field="plannedOn")
        start, end = check_time_window(starts_at, ends_at)
        who = check_visitors(visitors)
        if place not in VISIT_PLACES:
            raise VisitPlaceUnknownError(field="place")
        if not purpose.strip():
            raise VisitPurposeMissingError(field="purpose")
        return cls(case_id=case_id, household_id=household_id, site_id=site_id,
                   contract_id=contract_id, kind=kind, planned_on=planned_on,
                   starts_at=start, ends_at=end, visitors=who, place=place,
                   place_note=(place_note or "").strip() or None, purpose=purpose.strip())

    @event(Planned)
    def __init__(self, case_id: UUID, household_id: UUID, site_id: str,
                 contract_id: str | None, kind: str, planned_on: date, starts_at: str | None,
                 ends_at: str | None, visitors: list[str], place: str, place_note: str | None,
                 purpose: str | None) -> None:
        self.case_id = case_id
        self.household_id = household_id
        self.site_id = site_id
        self.contract_id = contract_id
        self.kind = kind
        self.planned_on = planned_on
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.visitors = list(visitors)
        self.place = place
        # Personal values are None after crypto-shredding.
        self.place_note = place_note
        self.purpose = purpose
        self.status = OutreachVisit.PLANNED
        self.outcome: str | None = None
        self.summary: str | None = None
        self.done_on: date | None = None
        self.next_step: str | None = None
        self.next_step_note: str | None = None
        self.follow_up_on: date | None = None
        self.follow_up_owner: str | None = None
        self.consultation_id: UUID | None = None
        self.cancel_reason: str | None = None
        self.follow_up_completed_on: date | None = None

    def check_version(self, expected_version: int | None) -> None:
        """Refuse a command decided on a stale view of the visit."""
        if expected_version is not None and expected_version != self.version:
            raise StaleVersionError(field="expectedVersion", current_version=self.version)

    def _require_planned(self) -> None:
        if self.status != OutreachVisit.PLANNED:
            raise VisitNotPlannedError(field="visitId")

    def reschedule(self, *, planned_on: date, starts_at: str | None, ends_at: str | None,
                   visitors: list[str], case_opened_on: date, today: date) -> None:
        """Move a planned visit to another day or time, or change who goes."""
        self._require_planned()
        _check_planned_on(planned_on, case_opened_on=case_opened_on, today=today,
                          field="plannedOn")
        start, end = check_time_window(starts_at, ends_at)
        who = check_visitors(visitors)
        if (planned_on, start, end, who) == (self.planned_on, self.starts_at, self.ends_at,
                                             self.visitors):
            raise VisitRescheduleUnchangedError(field="plannedOn")
        self._rescheduled(planned_on, start, end, who)

    @event(Rescheduled)
    def _rescheduled(self, planned_on: date, starts_at: str | None, ends_at: str | None,
                     visitors: list[str]) -> None:
        self.planned_on = planned_on
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.visitors = list(visitors)

    def record_done(self, *, done_on: date, visitors: list[str] | None, outcome: str,
                    summary: str, next_step: str, next_step_note: str | None,
                    follow_up_on: date | None, follow_up_owner: str | None,
                    consultation_id: UUID | None, case_opened_on: date, today: date) -> None:
        """Record that the visit took place: its outcome, a summary and the next step."""
        self._require_planned()
        if done_on > today or done_on < case_opened_on:
            raise VisitDoneDateInvalidError(field="doneOn")
        who = check_visitors(visitors) if visitors else list(self.visitors)
        if outcome not in VISIT_OUTCOMES:
            raise VisitOutcomeUnknownError(field="outcome")
        if not summary.strip():
            raise VisitSummaryMissingError(field="summary")
        _check_next_step(next_step, follow_up_on, done_on)
        owner = (follow_up_owner or "").strip() or who[0] if follow_up_on else None
        self._done(self.household_id, done_on, who, outcome, summary.strip(), next_step,
                   (next_step_note or "").strip() or None, follow_up_on, owner,
                   consultation_id)

    @event(Done)
    def _done(self, household_id: UUID, done_on: date, visitors: list[str], outcome: str,
              summary: str | None, next_step: str, next_step_note: str | None,
              follow_up_on: date | None, follow_up_owner: str | None,
              consultation_id: UUID | None) -> None:
        self.status = OutreachVisit.DONE
        self.done_on = done_on
        self.visitors = list(visitors)
        self.outcome = outcome
        self.summary = summary
        self.next_step = next_step
        self.next_step_note = next_step_note
        self.follow_up_on = follow_up_on
        self.follow_up_owner = follow_up_owner
        self.consultation_id = consultation_id

    def record_not_met(self, *, attempted_on: date, reason: str, note: str | None,
                       next_step: str, follow_up_on: date | None, follow_up_owner: str | None,
                       case_opened_on: date, today: date) -> None:
        """Record that the family was not met (absent, declined…) and what comes next."""
        self._require_planned()
        if attempted_on > today or attempted_on < case_opened_on:
            raise VisitDoneDateInvalidError(field="attemptedOn")
        if reason not in VISIT_NOT_MET_REASONS:
            raise VisitNotMetReasonUnknownError(field="reason")
        _check_next_step(next_step, follow_up_on, attempted_on)
        owner = (follow_up_owner or "").strip() or self.visitors[0] if follow_up_on else None
        self._not_met(self.household_id, attempted_on, reason, (note or "").strip() or None,
                      next_step, follow_up_on, owner)

    @event(NotMet)
    def _not_met(self, household_id: UUID, attempted_on: date, reason: str, note: str | None,
                 next_step: str, follow_up_on: date | None,
                 follow_up_owner: str | None) -> None:
        self.status = OutreachVisit.NOT_MET
        self.done_on = attempted_on
        self.outcome = reason
        self.summary = note
        self.next_step = next_step
        self.follow_up_on = follow_up_on
        self.follow_up_owner = follow_up_owner

    @property
    def follow_up_open(self) -> bool:
        return self.follow_up_on is not None and self.follow_up_completed_on is None

    def complete_follow_up(self, *, completed_on: date, today: date) -> None:
        """The next step agreed after the visit was taken (its task leaves "my tasks")."""
        if not self.follow_up_open:
            raise VisitFollowUpNotOpenError(field="visitId")
        if completed_on > today or (self.done_on and completed_on < self.done_on):
            raise VisitDoneDateInvalidError(field="completedOn")
        self._follow_up_completed(completed_on)

    @event(FollowUpCompleted)
    def _follow_up_completed(self, completed_on: date) -> None:
        self.follow_up_completed_on = completed_on

    def hand_over(self, *, to_contract_id: str) -> bool:
        """Follow the case to its successor contract, if the visit is still to be made.

        A planned visit is a promise to the family: whoever now serves the case keeps it
        (and sees it in its calendar).  A visit already done, not met or cancelled stays
        with the contract under which it happened: that contractor did (or did not do)
        the work, and its figures count it.  Whether the visit moved (False: nothing to do).
        """
        if self.status != OutreachVisit.PLANNED or self.contract_id == to_contract_id:
            return False
        self._handed_over(self.contract_id, to_contract_id)
        return True

    @event(HandedOver)
    def _handed_over(self, from_contract_id: str | None, to_contract_id: str) -> None:
        self.contract_id = to_contract_id

    def cancel(self, *, reason: str | None) -> None:
        """Call the visit off (only while it is planned)."""
        self._require_planned()
        self._cancelled(self.household_id, (reason or "").strip() or None)

    @event(Cancelled)
    def _cancelled(self, household_id: UUID, reason: str | None) -> None:
        self.status = OutreachVisit.CANCELLED
        self.cancel_reason = reason
