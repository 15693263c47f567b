"""Recording a break-glass use for one case (the case must be visible to the auditor)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.break_glass import BreakGlass
from yorisoi.domain.cases import Case
from yorisoi.services.casework import CaseNotFoundError


def record_break_glass(app: Any, *, case_id: UUID, reason_code: str, justification: str,
                       minutes: int, now: datetime | None = None) -> BreakGlass:
    """Store the break-glass event (as the acting auditor); returns it."""
    try:
        case = app.repository.get(case_id)
    except AggregateNotFoundError:
        raise CaseNotFoundError(field="caseId") from None
    if not isinstance(case, Case):
        raise CaseNotFoundError(field="caseId")
    use = BreakGlass.record(case_id=case_id, household_id=case.household_id,
                            reason_code=reason_code, justification=justification,
                            minutes=minutes, now=now or datetime.now(UTC))
    app.save(use)
    return use
