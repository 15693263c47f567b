"""The case: one household's file at the municipality, opened under a site.

Retention is counted from the case's closure, so the case keeps its lifecycle
dates exactly.  Nothing here is personal: the household holds the people.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event
from yorisoi.domain.errors import AttachmentKindUnknownError, CaseClosedError

ATTACHMENT_KINDS = ("consent_form", "meeting_minutes", "other")


class Case(Aggregate):
    """A household's case file, kept by the municipality."""

    OPEN = "open"
    CLOSED = "closed"

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @event("Opened")
    def __init__(self, household_id: UUID, municipality_code: str, site_id: str,
                 contract_id: str | None, opened_on: date) -> None:
        self.household_id = household_id
        self.municipality_code = municipality_code
        self.site_id = site_id
        # None when the municipality runs the site directly.
        self.contract_id = contract_id
        self.opened_on = opened_on
        self.status = Case.OPEN
        self.consultation_ids: list[UUID] = []
        self.attachments: dict[str, dict[str, object]] = {}

    def note_consultation(self, consultation_id: UUID) -> None:
        """Attach a consultation to this case (refused once the case is closed)."""
        if self.status != Case.OPEN:
            raise CaseClosedError(field="caseId")
        self._consultation_noted(consultation_id)

    @event("ConsultationNoted")
    def _consultation_noted(self, consultation_id: UUID) -> None:
        self.consultation_ids.append(consultation_id)

    def attach(self, *, attachment_id: UUID, kind: str, content_type: str, size: int,
               sha256: str) -> None:
        """Keep a document (a signed consent form, minutes) with the case."""
        if self.status != Case.OPEN:
            raise CaseClosedError(field="caseId")
        if kind not in ATTACHMENT_KINDS:
            raise AttachmentKindUnknownError(field="kind")
        self._attachment_added(str(attachment_id), kind, content_type, size, sha256)

    @event("AttachmentAdded")
    def _attachment_added(self, attachment_id: str, kind: str, content_type: str, size: int,
                          sha256: str) -> None:
        # No file name: names of uploaded files often name the family.
        self.attachments[attachment_id] = {"kind": kind, "content_type": content_type,
                                           "size": size, "sha256": sha256}
