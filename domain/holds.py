"""Holds: a held household is never disposed of, whatever its retention schedule says.

A hold has a reason code (legal hold, a pending disclosure request, the
involvement of a 児童相談所, litigation), an owner (the staff member who
answers for it), a start and an end (or none: open until released).
Releasing a hold is one more event: who released it and when stays in the
log.  A hold holds no free text: the reason is a code, so nothing personal
reaches the records-governance views.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, NotFoundDomainError

HOLD_REASONS: dict[str, str] = {
    "legal_hold": "法令等に基づく保存（リーガルホールド）",
    "disclosure_request": "開示請求等の対応中",
    "child_guidance_centre": "児童相談所の関与",
    "litigation": "訴訟・不服申立て",
}


class HoldReasonUnknownError(DomainError):
    code = "hold_reason_unknown"
    message = ("The hold reason is not one of legal_hold, disclosure_request, "
               "child_guidance_centre or litigation.")
    message_ja = ("保存延長（ホールド）の理由は法令等・開示請求等・児童相談所の関与・"
                  "訴訟のいずれかを指定してください。")


class HoldDatesInvalidError(DomainError):
    code = "hold_dates_invalid"
    message = "A hold cannot end before it starts."
    message_ja = "ホールドの終了日は開始日以降の日付を指定してください。"


class HoldOwnerMissingError(DomainError):
    code = "hold_owner_missing"
    message = "Name the staff member who answers for the hold."
    message_ja = "ホールドの担当者を指定してください。"


class HoldAlreadyReleasedError(DomainError):
    code = "hold_already_released"
    message = "The hold was already released."
    message_ja = "このホールドはすでに解除されています。"


class HoldNotFoundError(NotFoundDomainError):
    code = "hold_not_found"
    message = "No such hold in this municipality."
    message_ja = "指定されたホールドが見つかりません。"


class HouseholdNotFoundError(NotFoundDomainError):
    code = "household_not_found"
    message = "No such household in this municipality."
    message_ja = "指定された世帯が見つかりません。"


class Hold(Aggregate):
    """A hold on one household's records."""

    class Placed(Aggregate.Created):
        household_id: UUID
        reason: str
        owner: str
        starts_on: date
        ends_on: date | None

    class Released(Aggregate.Event):
        household_id: UUID
        released_on: date
        released_by: str

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def place(cls, *, household_id: UUID, reason: str, owner: str, starts_on: date,
              ends_on: date | None) -> Hold:
        """Place a hold (its start may lie in the past: the reason arose then)."""
        if reason not in HOLD_REASONS:
            raise HoldReasonUnknownError(field="reason")
        if not owner.strip():
            raise HoldOwnerMissingError(field="owner")
        if ends_on is not None and ends_on < starts_on:
            raise HoldDatesInvalidError(field="endsOn")
        return cls(household_id=household_id, reason=reason, owner=owner.strip(),
                   starts_on=starts_on, ends_on=ends_on)

    @event(Placed)
    def __init__(self, household_id: UUID, reason: str, owner: str, starts_on: date,
                 ends_on: date | None) -> None:
        self.household_id = household_id
        self.reason = reason
        self.owner = owner
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.released_on: date | None = None
        self.released_by: str | None = None

    def release(self, *, released_on: date, released_by: str, today: date) -> None:
        """Release the hold; the household's schedule applies again."""
        if self.released_on is not None:
            raise HoldAlreadyReleasedError(field="holdId")
        if released_on > today:
            raise HoldDatesInvalidError(field="releasedOn", message=(
                "A hold is released today or on a past day, not in the future."),
                message_ja="解除日に未来の日付は指定できません。")
        self._released(household_id=self.household_id, released_on=released_on,
                       released_by=released_by)

    @event(Released)
    def _released(self, household_id: UUID, released_on: date, released_by: str) -> None:
        self.released_on = released_on
        self.released_by = released_by

    def blocks(self, on: date) -> bool:
        """Whether the hold keeps the household from disposal on ``on``."""
        return hold_blocks(released_on=self.released_on, ends_on=self.ends_on, on=on)


def hold_blocks(*, released_on: date | None, ends_on: date | None, on: date) -> bool:
    """A hold blocks until it is released or its end has passed.

    A hold whose start lies ahead blocks already: disposal is irreversible,
    so a hold placed for a reason yet to begin must not lose the records now.
    """
    if released_on is not None and released_on <= on:
        return False
    return ends_on is None or on <= ends_on
