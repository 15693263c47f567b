"""GraphQL types of data-subject requests: codes, dates and ids, never a personal value."""

from __future__ import annotations

from typing import Annotated

import strawberry

from yorisoi.domain.data_subject_requests import KINDS
from yorisoi.domain.data_subject_requests import DataSubjectRequest as Request
from yorisoi.graphql.errors import ConflictError, NotAuthorizedError, NotFoundError, ValidationError
from yorisoi.infra.clock import japan_today


@strawberry.type
class DisclosureExportRecord:
    export_id: strawberry.ID
    exported_on: str
    records: int
    access_entries: int = strawberry.field(description="Access-log rows written for this export")


@strawberry.type(description="A correction made for the request: a new event on the record; the original stays.")
class LinkedCorrection:
    record_kind: str = strawberry.field(description="household | consultation | support_note")
    record_id: strawberry.ID
    record_version: int
    changed_fields: list[str]


@strawberry.type(description="A data-subject request. Codes, dates and ids only: no personal values.")
class DataSubjectRequest:
    id: strawberry.ID
    household_id: strawberry.ID
    kind: str = strawberry.field(description="disclosure | correction | suspension_of_use")
    kind_label: str
    identification_method: str
    requester_relationship: str = strawberry.field(description="self | legal_representative | delegated_representative")
    status: str = strawberry.field(description="received | in_progress | answered | refused | closed")
    received_on: str
    deadline_days: int
    due_on: str = strawberry.field(description="Including any extension")
    extended_by: int
    extension_reason: str | None
    overdue: bool = strawberry.field(description="Undecided after its deadline, as of today (Japan time)")
    started_on: str | None
    decided_on: str | None
    outcome: str | None
    refusal_reason: str | None
    closed_on: str | None
    suspension_active: bool = strawberry.field(description="A suspension of use from this request is in force")
    suspension_lifted_on: str | None
    lift_reason: str | None
    exports: list[DisclosureExportRecord]
    corrections: list[LinkedCorrection]
    version: int

    @classmethod
    def of(cls, r: Request) -> DataSubjectRequest:
        def day(value: object) -> str | None:
            return value.isoformat() if value is not None else None  # type: ignore[attr-defined]

        return cls(
            id=strawberry.ID(str(r.id)), household_id=strawberry.ID(str(r.household_id)),
            kind=r.kind, kind_label=KINDS[r.kind], identification_method=r.identification_method,
            requester_relationship=r.requester_relationship, status=r.status,
            received_on=r.received_on.isoformat(), deadline_days=r.deadline_days,
            due_on=r.due_on.isoformat(), extended_by=r.extended_by,
            extension_reason=r.extension_reason, overdue=r.is_overdue(japan_today()),
            started_on=day(r.started_on), decided_on=day(r.decided_on), outcome=r.outcome,
            refusal_reason=r.refusal_reason, closed_on=day(r.closed_on),
            suspension_active=r.suspension_active,
            suspension_lifted_on=day(r.suspension_lifted_on), lift_reason=r.lift_reason,
            exports=[DisclosureExportRecord(
                export_id=strawberry.ID(str(e["export_id"])), exported_on=day(e["exported_on"]) or "",
                records=int(e["records"]), access_entries=int(e["access_entries"]))  # type: ignore[call-overload]
                for e in r.exports],
            corrections=[LinkedCorrection(
                record_kind=str(c["record_kind"]), record_id=strawberry.ID(str(c["record_id"])),
                record_version=int(c["record_version"]),  # type: ignore[call-overload]
                changed_fields=list(c["changed_fields"]))  # type: ignore[call-overload]
                for c in r.corrections],
            version=r.version)


@strawberry.type
class DataSubjectRequestChanged:
    request: DataSubjectRequest


@strawberry.type(description="The export's files, behind links valid until expiresAt (sealed at rest).")
class DisclosureExported:
    request: DataSubjectRequest
    export_id: strawberry.ID
    records: int
    access_entries: int
    json_url: str
    html_url: str
    expires_at: str


@strawberry.type
class DataSubjectRequestDeadline:
    kind: str
    days: int


@strawberry.type
class DataSubjectRequestDeadlinesSet:
    deadlines: list[DataSubjectRequestDeadline]
    version: int


_Errors = ValidationError | NotAuthorizedError | NotFoundError | ConflictError
DataSubjectRequestResult = Annotated[DataSubjectRequestChanged | _Errors,
                                     strawberry.union("DataSubjectRequestResult")]
ExportDisclosureResult = Annotated[DisclosureExported | _Errors,
                                   strawberry.union("ExportDisclosureResult")]
DataSubjectRequestDeadlinesResult = Annotated[DataSubjectRequestDeadlinesSet | _Errors,
                                              strawberry.union("DataSubjectRequestDeadlinesResult")]
