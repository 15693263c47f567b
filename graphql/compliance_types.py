"""The GraphQL types of the compliance queries (graphql/compliance.py): metadata only.

Changes and views share one union (``AuditItem``), so the fields they have in
common are typed alike (a client selects them in both fragments at once).
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from yorisoi.graphql import paging
from yorisoi.graphql.cases import PageInfo
from yorisoi.projections import compliance as c


@strawberry.type(description="Why a read was allowed.")
class AccessReason:
    basis: str = strawberry.field(description="grant | break_glass | system")
    break_glass_id: strawberry.ID | None
    reason_code: str | None = strawberry.field(description="The break-glass reason")
    data_subject_request_id: strawberry.ID | None = strawberry.field(
        description="The disclosure request the read served")


@strawberry.type(description="One stored event: which fields it wrote (names), by whom, when.")
class AuditChange:
    at: str
    position: strawberry.ID = strawberry.field(description="The event's notification id")
    event: str = strawberry.field(description="e.g. Consultation.Recorded")
    record_kind: str
    record_id: strawberry.ID
    version: int
    fields: list[str] = strawberry.field(description="Names of the fields written, never values")
    personal_fields: list[str] = strawberry.field(description="Those sealed as personal data")
    # Every stored event says who stored it (storing without it is refused).
    actor: str
    role: str
    organisation_kind: str
    organisation_id: str
    contract_id: str | None
    site_id: str | None
    request_id: str | None
    trace_id: str | None
    case_id: strawberry.ID | None
    household_id: strawberry.ID | None

    @classmethod
    def of(cls, x: c.Change) -> AuditChange:
        return cls(**{k: getattr(x, k) for k in (
            "at", "event", "record_kind", "record_id", "version", "contract_id", "site_id",
            "request_id", "trace_id", "case_id", "household_id")},
            **{k: getattr(x, k) or "unknown" for k in (
                "actor", "role", "organisation_kind", "organisation_id")},
            position=strawberry.ID(str(x.position)), fields=list(x.fields),
            personal_fields=list(x.personal_fields))


@strawberry.type(description="One read of personal data: which fields (names), by whom, why.")
class AuditView:
    entry_id: strawberry.ID
    at: str
    actor: str
    role: str
    organisation_kind: str
    organisation_id: str
    contract_id: str | None
    household_id: strawberry.ID | None  # always set; nullable as on AuditChange (one union)
    record_kind: str
    record_id: strawberry.ID
    fields: list[str] = strawberry.field(description="Names of the fields read, never values")
    reason: AccessReason
    channel: str = strawberry.field(description="graphql | rest | export | console")
    request_id: str | None
    trace_id: str | None

    @classmethod
    def of(cls, v: c.View) -> AuditView:
        return cls(**{k: getattr(v, k) for k in (
            "at", "actor", "role", "organisation_kind", "organisation_id", "contract_id",
            "household_id", "record_kind", "record_id", "channel", "request_id", "trace_id")},
            entry_id=strawberry.ID(str(v.entry_id)), fields=list(v.fields),
            reason=AccessReason(basis=v.basis, break_glass_id=v.break_glass_id,
                                reason_code=v.reason_code,
                                data_subject_request_id=v.data_subject_request_id))


AuditItem = Annotated[AuditChange | AuditView, strawberry.union("AuditItem")]


def audit_item(x: Any) -> AuditChange | AuditView:
    return AuditChange.of(x) if x.kind == "change" else AuditView.of(x)


@strawberry.type
class AuditItemEdge:
    cursor: str
    node: AuditItem


@strawberry.type(description="A record's changes and views, newest first.")
class AuditRecordHistory:
    record_id: strawberry.ID
    record_kind: str | None = strawberry.field(description="Null: known from the access log only")
    household_id: strawberry.ID | None
    total_count: int
    change_count: int
    view_count: int
    edges: list[AuditItemEdge]
    nodes: list[AuditItem] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type(description="The changes a person stored and the reads they made, newest first.")
class AuditActivity:
    actor: str
    since: str
    until: str
    total_count: int
    change_count: int
    view_count: int
    edges: list[AuditItemEdge]
    nodes: list[AuditItem] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type(description="A break-glass use and the reads made under it.")
class BreakGlassUse:
    break_glass_id: strawberry.ID
    case_id: strawberry.ID
    household_id: strawberry.ID
    actor: str
    role: str
    organisation_id: str
    reason_code: str
    justification: str = strawberry.field(description="Recorded without personal data")
    recorded_at: str
    expires_at: str
    request_id: str | None
    reads: int
    records: int = strawberry.field(description="Distinct records read under it")
    first_read_at: str | None
    last_read_at: str | None


@strawberry.type
class BreakGlassUseEdge:
    cursor: str
    node: BreakGlassUse


@strawberry.type
class BreakGlassUseConnection:
    total_count: int
    edges: list[BreakGlassUseEdge]
    nodes: list[BreakGlassUse] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type(description="A read outside business hours (Japan time).")
class AfterHoursRead:
    read: AuditView
    local_time: str
    outside: str = strawberry.field(description="before_hours | after_hours | weekend | holiday")


@strawberry.type
class AfterHoursReadEdge:
    cursor: str
    node: AfterHoursRead


@strawberry.type
class AfterHoursConnection:
    since: str
    until: str
    total_count: int
    edges: list[AfterHoursReadEdge]
    nodes: list[AfterHoursRead] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type(description="A person's busiest window, when it covered more households than "
                             "the threshold.")
class BulkAccess:
    actor: str
    households: int = strawberry.field(description="Distinct households in the busiest window")
    reads: int
    window_start: str
    window_end: str
    roles: list[str]
    organisations: list[str]
    households_in_period: int
    reads_in_period: int


@strawberry.type
class BulkAccessEdge:
    cursor: str
    node: BulkAccess


@strawberry.type
class BulkAccessConnection:
    since: str
    until: str
    total_count: int
    edges: list[BulkAccessEdge]
    nodes: list[BulkAccess] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type(description="Records read out of the system in one request (e.g. a disclosure).")
class RecordsExported:
    at: str
    started_at: str
    actor: str
    role: str
    organisation_kind: str
    organisation_id: str
    reason: AccessReason
    request_id: str | None
    records: int
    households: int


@strawberry.type(description="A disposal batch's signed certificate.")
class DisposalCertificateIssued:
    batch_id: strawberry.ID
    at: str
    sha256: str
    proposed_by: str
    approved_by: str | None
    households: int
    disposed: int


AuditExport = Annotated[RecordsExported | DisposalCertificateIssued,
                        strawberry.union("AuditExport")]


def audit_export(x: Any) -> RecordsExported | DisposalCertificateIssued:
    if x.kind == "disposal_certificate":
        return DisposalCertificateIssued(
            batch_id=strawberry.ID(x.batch_id), at=x.at, sha256=x.sha256,
            proposed_by=x.proposed_by, approved_by=x.approved_by, households=x.households,
            disposed=x.disposed)
    return RecordsExported(
        at=x.at, started_at=x.started_at, actor=x.actor, role=x.role,
        organisation_kind=x.organisation_kind, organisation_id=x.organisation_id,
        reason=AccessReason(basis=x.basis, break_glass_id=None, reason_code=None,
                            data_subject_request_id=x.data_subject_request_id),
        request_id=x.request_id, records=x.records, households=x.households)


@strawberry.type
class AuditExportEdge:
    cursor: str
    node: AuditExport


@strawberry.type
class AuditExportConnection:
    since: str
    until: str
    total_count: int
    export_count: int
    certificate_count: int
    edges: list[AuditExportEdge]
    nodes: list[AuditExport] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.input(description="Business hours in Japan time; reads outside them are listed.")
class BusinessHoursInput:
    start: str = strawberry.field(default="08:30", description="HH:MM")
    end: str = strawberry.field(default="17:15", description="HH:MM; 24:00 for midnight")
    weekends_closed: bool = True
    public_holidays_closed: bool = strawberry.field(
        default=True, description="国民の祝日 and 年末年始 (29 Dec – 3 Jan) count as closed days")
    holidays: list[str] = strawberry.field(
        default_factory=list, description="More closed days of the municipality (YYYY-MM-DD)")
