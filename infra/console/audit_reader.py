"""What the compliance pages read, and nothing personal: metadata of changes and views.

Until the compliance queries of the audit trail (issue 7) land, the pages read
the case timeline's metadata (kind, dates, actor, role — never its summary),
the ``access_log`` table and the break-glass view.  Swapping in the compliance
queries is a change to this module only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from yorisoi.infra.access_log_store import AccessLogStore
from yorisoi.projections.break_glass_view import BreakGlassQueries, BreakGlassRecord
from yorisoi.projections.case_queries import CaseScope
from yorisoi.projections.timeline import TimelineQueries
from yorisoi.services.personal_access import PersonalAccess, Reader, reading_as
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

SCAN_LIMIT = 5000  # access-log rows examined per page (interim: the log has no filters yet)
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Change:
    """One thing done to a record: kind, when, by whom (no content)."""

    occurred_on: str
    recorded_at: str
    kind: str
    actor: str | None
    role: str | None
    corrected: bool


@dataclass(frozen=True)
class View:
    """One read of personal data: who, which record, which fields (names only), on what basis."""

    recorded_at: str
    actor: str
    role: str
    organisation: str
    record_kind: str
    record_id: str
    fields: list[str]
    basis: str
    basis_ref: str | None
    channel: str


@dataclass(frozen=True)
class RecordHistory:
    case_id: str
    found: bool
    changes: list[Change]
    views: list[View]
    break_glass: list[BreakGlassRecord]


def _view(row: dict[str, Any]) -> View:
    return View(recorded_at=row["recorded_at"], actor=row["actor"], role=row["role"],
                organisation=f"{row['organisation_kind']}:{row['organisation_id']}",
                record_kind=row["record_kind"], record_id=row["record_id"],
                fields=list(json.loads(row["fields"])), basis=row["basis"],
                basis_ref=row["basis_ref"], channel=row["channel"])


def _access_rows(rt: TenantRuntime, keep: Any) -> list[View]:
    store = AccessLogStore(rt.casework.database)
    found: list[View] = []
    after = 0
    while after < SCAN_LIMIT:
        rows = store.rows(after=after, limit=1000)
        if not rows:
            break
        found += [_view(r) for r in rows if keep(r)]
        after = int(rows[-1]["entry_id"])
    return list(reversed(found))  # newest first


def record_history(rt: TenantRuntime, grant: Grant, case_id: str) -> RecordHistory:
    """A case's changes and the reads of its household's personal data."""
    case = rt.cases.get(CaseScope(), case_id)
    if case is None:
        return RecordHistory(case_id, False, [], [], [])
    # Metadata only: read as a masked reader, so the summaries are never even decrypted
    # (not even under an auditor's own break-glass for this household).
    masked = PersonalAccess("console")
    masked.admit(rt.space, Reader(grant.acting, "masked"))
    with reading_as(masked):
        page = TimelineQueries(rt.casework.database, rt.casework.keyring).page(
            case_id, first=HISTORY_LIMIT)
    changes = [Change(e.occurred_on, e.recorded_at, e.kind, e.actor, e.actor_role, e.corrected)
               for e in page.entries]
    views = _access_rows(rt, lambda r: r["household_id"] == case.household_id)
    uses = BreakGlassQueries(rt.casework.database).uses(case_id=case_id, first=HISTORY_LIMIT)
    return RecordHistory(case_id, True, changes, views, uses)


def person_activity(rt: TenantRuntime, actor: str) -> tuple[list[View], list[BreakGlassRecord]]:
    """A person's reads of personal data and break-glass uses, newest first."""
    views = _access_rows(rt, lambda r: r["actor"] == actor)
    return views[:HISTORY_LIMIT], BreakGlassQueries(rt.casework.database).uses(
        actor=actor, first=HISTORY_LIMIT)


def break_glass_uses(rt: TenantRuntime) -> list[BreakGlassRecord]:
    return BreakGlassQueries(rt.casework.database).uses(first=HISTORY_LIMIT)


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
    from uuid import UUID

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
