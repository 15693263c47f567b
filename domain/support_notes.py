"""The support note (支援記録): the case's progress and the specialist's observations.

A note is written about a case on a given day; its body is personal (what
happened, what the family said) and is encrypted under the household key.
A mistake is never overwritten: a correction is a new event with the new
body and the reason, and the original stays in the stream (guideline §6(1)).
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, StaleVersionError

# What a note records (codes are stored; labels are for screens and reports).
NOTE_KINDS: dict[str, str] = {
    "progress": "経過",
    "observation": "所見",
    "contact": "連絡",
    "follow_up": "見守り",
}


class SupportNoteDateInFutureError(DomainError):
    code = "support_note_date_in_future"
    message = "The note's date cannot be in the future."
    message_ja = "支援記録の日付に未来の日付は指定できません。"


class SupportNoteKindUnknownError(DomainError):
    code = "support_note_kind_unknown"
    message = "The note kind is not one of progress, observation, contact or follow_up."
    message_ja = "記録の種類は経過・所見・連絡・見守りのいずれかを指定してください。"


class SupportNoteBodyMissingError(DomainError):
    code = "support_note_body_missing"
    message = "Write what the note is about."
    message_ja = "記録の内容を入力してください。"


class SupportNoteCorrectionReasonMissingError(DomainError):
    code = "support_note_correction_reason_missing"
    message = "Give the reason for the correction."
    message_ja = "訂正の理由を入力してください。"


class SupportNoteCorrectionUnchangedError(DomainError):
    code = "support_note_correction_unchanged"
    message = "The correction does not change the note."
    message_ja = "訂正後の内容が現在の記録と同じです。"


class SupportNote(Aggregate):
    """One entry of a case's record of support, written under the case's site."""

    class Written(Aggregate.Created):
        personal_fields: ClassVar[tuple[str, ...]] = ("body",)
        case_id: UUID
        household_id: UUID
        site_id: str
        contract_id: str | None
        written_on: date
        kind: str
        body: str | None

    class Corrected(Aggregate.Event):
        # The reason is free text and may name people: personal too.
        personal_fields: ClassVar[tuple[str, ...]] = ("body", "reason")
        household_id: UUID
        body: str | None
        reason: str | None

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def write(cls, *, case_id: UUID, household_id: UUID, site_id: str,
              contract_id: str | None, written_on: date, kind: str, body: str,
              today: date) -> SupportNote:
        """Write a note, enforcing its invariants (the caller checks the case is open)."""
        if written_on > today:
            raise SupportNoteDateInFutureError(field="writtenOn")
        if kind not in NOTE_KINDS:
            raise SupportNoteKindUnknownError(field="kind")
        if not body.strip():
            raise SupportNoteBodyMissingError(field="body")
        return cls(case_id=case_id, household_id=household_id, site_id=site_id,
                   contract_id=contract_id, written_on=written_on, kind=kind,
                   body=body.strip())

    @event(Written)
    def __init__(self, case_id: UUID, household_id: UUID, site_id: str,
                 contract_id: str | None, written_on: date, kind: str,
                 body: str | None) -> None:
        self.case_id = case_id
        self.household_id = household_id
        self.site_id = site_id
        self.contract_id = contract_id
        self.written_on = written_on
        self.kind = kind
        self.body = body  # None after crypto-shredding
        self.corrections = 0

    @property
    def corrected(self) -> bool:
        return self.corrections > 0

    def check_version(self, expected_version: int | None) -> None:
        """Refuse a correction decided on a stale view of the note."""
        if expected_version is not None and expected_version != self.version:
            raise StaleVersionError(field="expectedVersion", current_version=self.version)

    def correct(self, *, body: str, reason: str) -> None:
        """Replace the body by a corrected one; the original stays in the stream."""
        if not body.strip():
            raise SupportNoteBodyMissingError(field="body")
        if not reason.strip():
            raise SupportNoteCorrectionReasonMissingError(field="reason")
        if body.strip() == self.body:
            raise SupportNoteCorrectionUnchangedError(field="body")
        self._corrected(household_id=self.household_id, body=body.strip(),
                        reason=reason.strip())

    @event(Corrected)
    def _corrected(self, household_id: UUID, body: str | None, reason: str | None) -> None:
        self.body = body
        self.corrections += 1
