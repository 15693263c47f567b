"""The case: one household's file at the municipality, opened under a site.

Retention is counted from the case's closure, so the case keeps its lifecycle
dates exactly.  Nothing here is personal: the household holds the people.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import CaseClosedError


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

    def note_consultation(self, consultation_id: UUID) -> None:
        """Attach a consultation to this case (refused once the case is closed)."""
        if self.status != Case.OPEN:
            raise CaseClosedError(field="caseId")
        self._consultation_noted(consultation_id)

    @event("ConsultationNoted")
    def _consultation_noted(self, consultation_id: UUID) -> None:
        self.consultation_ids.append(consultation_id)
