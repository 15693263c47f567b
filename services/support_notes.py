"""Support-note commands of the casework application (mixed into CaseworkApplication)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.errors import NotFoundDomainError
from yorisoi.domain.support_notes import SupportNote
from yorisoi.infra.clock import japan_today

if TYPE_CHECKING:
    from yorisoi.domain.cases import Case
from yorisoi.services.tenant_application import command


class SupportNoteNotFoundError(NotFoundDomainError):
    code = "support_note_not_found"
    message = "No such support note in this case."
    message_ja = "指定された支援記録が見つかりません。"


class SupportNoteCommands:
    """Writing and correcting support notes; the case must be open and in the actor's scope."""

    # Provided by CaseworkApplication.
    tenant: str
    repository: Any
    save: Any
    _get_case: Any

    @command("command.write_support_note")
    def write_support_note(self, case_id: UUID, *, written_on: date, kind: str, body: str,
                           writable_contract_ids: Collection[str] | None) -> SupportNote:
        """Write a note about an open case, under the case's own site and contract."""
        case: Case = self._get_case(case_id, writable_contract_ids)
        case.require_open()
        note = SupportNote.write(
            case_id=case.id, household_id=case.household_id, site_id=case.site_id,
            contract_id=case.contract_id, written_on=written_on, kind=kind, body=body,
            today=japan_today())
        self.save(note)
        return note

    @command("command.correct_support_note")
    def correct_support_note(self, note_id: UUID, *, case_id: UUID, body: str, reason: str,
                             expected_version: int | None,
                             writable_contract_ids: Collection[str] | None) -> SupportNote:
        """Correct a note: a new event with the new body and the reason; the original stays."""
        case: Case = self._get_case(case_id, writable_contract_ids)
        note = self.get_support_note(note_id, case_id=case.id)
        # A closed case's records are frozen until it is reopened.
        case.require_open()
        note.check_version(expected_version)
        note.correct(body=body, reason=reason)
        self.save(note)
        return note

    def get_support_note(self, note_id: UUID, *, case_id: UUID) -> SupportNote:
        """The note, if it belongs to the given case (else SupportNoteNotFoundError)."""
        try:
            note: Any = self.repository.get(note_id)
        except AggregateNotFoundError:
            raise SupportNoteNotFoundError(field="noteId") from None
        if not isinstance(note, SupportNote) or note.case_id != case_id:
            raise SupportNoteNotFoundError(field="noteId")
        return note
