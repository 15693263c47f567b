"""What the compliance pages read, and nothing personal: metadata of changes and views.

The pages show the compliance queries (``projections/compliance.py``, the same
answers the GraphQL ``audit*`` queries give): a record's stored events and
the reads of it (for a case, of its household), a person's changes and reads
in the last ``ACTIVITY_DAYS``, and the break-glass uses with the reads each
covered.  Nothing here opens a household key, so nothing is logged as a read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from yorisoi.projections.compliance import (
    BreakGlassUse,
    Change,
    ComplianceQueries,
    View,
    window,
)
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

HISTORY_LIMIT = 100  # newest entries shown per page (the GraphQL queries page further)
ACTIVITY_DAYS = 90

# The timeline's words for the events it shows (``timeline.<kind>`` in messages.json);
# other events are shown by name.
TIMELINE_KINDS = {
    "Case.Opened": "case_opened", "Case.Closed": "case_closed",
    "Case.Reopened": "case_reopened", "Case.CouncilCaseMarked": "council_case_marked",
    "Consultation.Recorded": "consultation", "SupportNote.Written": "support_note",
    "Referral.Drafted": "referral_drafted", "CaseMeeting.Scheduled": "case_meeting_scheduled",
    "Household.Corrected": "household_corrected",
}


@dataclass(frozen=True)
class ChangeRow:
    """A change as the page shows it: the timeline's word for it when there is one."""

    change: Change
    timeline_kind: str | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.change, name)


@dataclass(frozen=True)
class RecordHistory:
    case_id: str
    found: bool
    changes: list[ChangeRow]
    views: list[View]
    break_glass: list[BreakGlassUse]
    total: int = 0
    more: bool = False


def _rows(items: list[Any]) -> tuple[list[ChangeRow], list[View]]:
    changes = [ChangeRow(i, TIMELINE_KINDS.get(i.event)) for i in items if i.kind == "change"]
    return changes, [i for i in items if i.kind == "view"]


def record_history(rt: TenantRuntime, grant: Grant, case_id: str) -> RecordHistory:
    """A record's (a case's: its household's) changes and reads, newest first."""
    queries = ComplianceQueries(rt.casework.database)
    found = queries.record_history(UUID(case_id), first=HISTORY_LIMIT)
    if found is None:
        return RecordHistory(case_id, False, [], [], [])
    changes, views = _rows(found.page.items)
    uses = queries.break_glass_uses(case_id=case_id, first=HISTORY_LIMIT).items
    return RecordHistory(case_id, True, changes, views, uses, found.page.total_count,
                         found.page.has_next_page)


def person_activity(rt: TenantRuntime, actor: str) -> tuple[list[Any], list[BreakGlassUse]]:
    """A person's changes and reads of the last ACTIVITY_DAYS, and their break-glass uses."""
    queries = ComplianceQueries(rt.casework.database)
    period = window(None, None, default_days=ACTIVITY_DAYS, max_days=ACTIVITY_DAYS)
    changes, views = _rows(queries.person_activity(actor, period, first=HISTORY_LIMIT).items)
    return [*changes, *views], queries.break_glass_uses(actor=actor, first=HISTORY_LIMIT).items


def break_glass_uses(rt: TenantRuntime) -> list[BreakGlassUse]:
    return ComplianceQueries(rt.casework.database).break_glass_uses(first=HISTORY_LIMIT).items


# --------------------------------------------------------------------------- records governance
# and the audit ledger: read through their own services when this deployment has them.


def disposal_batches(rt: TenantRuntime, services: Any) -> list[Any] | None:
    """Disposal batches, newest first (ids, counts, approvers: no personal data)."""
    try:
        from yorisoi.services.disposal import Disposal
    except ImportError:  # records governance not installed here
        return None
    rt.catch_up()
    return Disposal(rt, services.objects, services.signer).queries.batches()


@dataclass(frozen=True)
class CertificateView:
    batch_id: str
    sha256: str
    valid: bool  # the platform signature verifies
    document: str  # the human-readable certificate (Japanese), no personal data


def disposal_certificate(rt: TenantRuntime, services: Any, batch_id: str) -> CertificateView | None:
    try:
        from yorisoi.infra.certificates import (
            CertificateInvalidError,
            digest,
            render_markdown,
            verify_certificate,
        )
        from yorisoi.services.disposal import Disposal
    except ImportError:
        return None
    data = Disposal(rt, services.objects, services.signer).certificate(UUID(batch_id))
    try:
        verify_certificate(data, services.signer.public_pem)
        valid = True
    except CertificateInvalidError:
        valid = False
    return CertificateView(batch_id, digest(data), valid, render_markdown(data))


def chain_report(rt: TenantRuntime, services: Any) -> Any | None:
    """The audit ledger verified now: entries, checkpoints, the first broken link."""
    try:
        from yorisoi.infra.checkpoints import Checkpointer, checkpoint_store
        from yorisoi.services.audit_verify import online_source, verify
    except ImportError:  # the audit ledger not installed here
        return None
    checkpointer = Checkpointer(checkpoint_store(services.settings, services), services.signer)
    source = online_source(rt.casework.database, rt.municipality_code,
                           lambda: checkpointer.copies(rt.municipality_code))
    return verify(source, services.signer.public_pem)
