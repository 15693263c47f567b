"""Complaints and requests (苦情・要望): roles, deadlines, the workflow, the board, the public summaries.

Only ``publishedComplaintSummaries`` answers without a token: it reads the
table of anonymised summaries and exposes four fields of each.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.types import Info

from yorisoi.domain.complaints import ComplaintRoleScopeUnknownError
from yorisoi.graphql import paging
from yorisoi.graphql.cases import PageInfo
from yorisoi.graphql.commands import execute
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ApiError,
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
    api_error,
)
from yorisoi.graphql.validation import Checker
from yorisoi.projections.complaints_view import (
    ComplaintQueries,
    ComplaintRecord,
    complaint_cursor,
    summary_cursor,
)
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

T = TypeVar("T")
_MUNICIPALITY_CODE = re.compile(r"\d{6}")


@strawberry.type
class ComplaintDiscussion:
    held_on: str
    note: str | None


@strawberry.type(description="A complaint or request; personal fields are null once it is disposed of.")
class Complaint:
    id: strawberry.ID
    site_id: str | None
    contract_id: str | None
    contractor_id: str | None
    case_id: strawberry.ID | None
    kind: str
    channel: str
    step: str = strawberry.field(description="received | reported | in_discussion | outcome_recorded | outcome_reported | published | closed")
    received_on: str
    due_on: str | None
    overdue: bool = strawberry.field(description="Past its due date today (Japan time)")
    escalated: bool
    escalated_on: str | None
    anonymous: bool
    involve_third_party: bool
    outcome: str | None
    summary_published: bool
    version: int
    disposed: bool
    complainant_name: str | None
    complainant_contact: str | None
    content: str | None
    wishes: str | None
    discussions: list[ComplaintDiscussion]
    outcome_detail: str | None
    escalation_reason: str | None

    @classmethod
    def from_record(cls, r: ComplaintRecord) -> Complaint:
        p = r.personal or {}
        return cls(
            id=strawberry.ID(r.complaint_id), site_id=r.site_id, contract_id=r.contract_id,
            contractor_id=r.contractor_id,
            case_id=strawberry.ID(r.case_id) if r.case_id else None, kind=r.kind,
            channel=r.channel, step=r.step, received_on=r.received_on, due_on=r.due_on,
            overdue=r.overdue, escalated=r.escalated, escalated_on=r.escalated_on,
            anonymous=r.anonymous, involve_third_party=r.involve_third_party, outcome=r.outcome,
            summary_published=r.summary_published, version=r.version, disposed=r.disposed,
            complainant_name=p.get("complainant_name"),
            complainant_contact=p.get("complainant_contact"), content=p.get("content"),
            wishes=p.get("wishes"),
            discussions=[ComplaintDiscussion(held_on=d["held_on"], note=d["note"])
                         for d in p.get("discussions") or []],
            outcome_detail=p.get("outcome_detail"), escalation_reason=p.get("escalation_reason"))


@strawberry.type
class ComplaintEdge:
    cursor: str
    node: Complaint


@strawberry.type
class ComplaintConnection:
    total_count: int
    edges: list[ComplaintEdge]
    nodes: list[Complaint] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type(description="What the public sees of a resolved complaint: nothing personal.")
class PublishedComplaintSummary:
    summary: str
    month_received: str = strawberry.field(description="YYYY-MM")
    channel: str
    outcome: str | None


@strawberry.type
class PublishedComplaintSummaryEdge:
    cursor: str
    node: PublishedComplaintSummary


@strawberry.type
class PublishedComplaintSummaryConnection:
    total_count: int
    edges: list[PublishedComplaintSummaryEdge]
    nodes: list[PublishedComplaintSummary] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type
class ThirdPartyMember:
    kind: str = strawberry.field(description="user | external")
    ref: str = strawberry.field(description="A user subject, or an external member's name")


@strawberry.type
class ComplaintRolesAssigned:
    scope_kind: str
    scope_id: str
    intake_officer: str
    resolution_officer: str
    third_party_members: list[ThirdPartyMember]
    findings: list[str] = strawberry.field(description="e.g. third_party_members_fewer_than_two")
    version: int


@strawberry.type
class ComplaintDeadline:
    step: str
    days: int


@strawberry.type
class ComplaintDeadlinesSet:
    deadlines: list[ComplaintDeadline]
    version: int


@strawberry.type
class ComplaintChanged:
    complaint: Complaint


_Errors = ValidationError | NotAuthorizedError | NotFoundError | ConflictError
ComplaintChangeResult = Annotated[ComplaintChanged | _Errors,
                                  strawberry.union("ComplaintChangeResult")]
ComplaintRolesResult = Annotated[ComplaintRolesAssigned | _Errors,
                                 strawberry.union("ComplaintRolesResult")]
ComplaintDeadlinesResult = Annotated[ComplaintDeadlinesSet | _Errors,
                                     strawberry.union("ComplaintDeadlinesResult")]


@strawberry.input
class ThirdPartyMemberInput:
    kind: str = strawberry.field(description="user | external")
    ref: str


@strawberry.input
class AssignComplaintRolesInput:
    municipality_code: str
    scope_kind: str = strawberry.field(description="site | contractor")
    scope_id: str
    intake_officer: str = strawberry.field(description="User subject of the 苦情受付担当者")
    resolution_officer: str = strawberry.field(description="User subject of the 苦情解決責任者")
    third_party_members: list[ThirdPartyMemberInput]
    expected_version: int | None = None


@strawberry.input
class ReceiveComplaintInput:
    municipality_code: str
    site_id: str
    channel: str = strawberry.field(description="visit | phone | letter | email | suggestion_box | online")
    received_on: str
    content: str
    anonymous: bool = False
    kind: str = strawberry.field(default="complaint", description="complaint | request")
    complainant_name: str | None = None
    complainant_contact: str | None = None
    wishes: str | None = None
    involve_third_party: bool = False
    case_id: strawberry.ID | None = None


@strawberry.input
class ComplaintStepInput:
    municipality_code: str
    complaint_id: strawberry.ID
    on: str = strawberry.field(description="The step's date, YYYY-MM-DD (Japan time)")
    expected_version: int | None = None


@strawberry.input
class ReportComplaintInput(ComplaintStepInput):
    third_party_informed: bool = False


@strawberry.input
class AddComplaintDiscussionInput(ComplaintStepInput):
    note: str


@strawberry.input
class RecordComplaintOutcomeInput(ComplaintStepInput):
    outcome: str = strawberry.field(description="resolved | partially_resolved | not_resolved | withdrawn | referred")
    detail: str


@strawberry.input
class ReportComplaintOutcomeInput(ComplaintStepInput):
    method: str = strawberry.field(description="visit | phone | letter | email | public_notice")


@strawberry.input
class PublishComplaintSummaryInput(ComplaintStepInput):
    summary: str = strawberry.field(description="Written for the public: no names, no contacts")


@strawberry.input
class EscalateComplaintInput(ComplaintStepInput):
    reason: str


@strawberry.input
class ComplaintDeadlineInput:
    step: str
    days: int


@strawberry.input
class SetComplaintDeadlinesInput:
    municipality_code: str
    deadlines: list[ComplaintDeadlineInput]
    expected_version: int | None = None


def _queries(rt: TenantRuntime) -> ComplaintQueries:
    return ComplaintQueries(rt.casework.database, rt.casework.keyring)


def _complaint_id(check: Checker, value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        check.bad("complaintId", "Not a complaint id.", "苦情IDの形式が正しくありません。")
        return None


def _after(rt: TenantRuntime, grant: Grant, complaint_id: uuid.UUID) -> ComplaintChanged:
    rt.catch_up()
    record = _queries(rt).get(grant.scope, str(complaint_id))
    assert record is not None  # the command just found and saved it in scope
    return ComplaintChanged(complaint=Complaint.from_record(record))


async def _step(info: Info[YorisoiContext, None], input: ComplaintStepInput, step: str,
                field: str, check: Checker, **args: Any) -> ComplaintChangeResult:
    """One workflow step through ``execute``: edge checks, authorization, scope, typed errors."""
    on = check.day(field, input.on)
    complaint_id = _complaint_id(check, input.complaint_id)
    date_arg = {"report": "reported_on", "add_discussion": "held_on",
                "record_outcome": "decided_on", "report_outcome": "reported_on",
                "publish_summary": "published_on", "escalate": "escalated_on",
                "close": "closed_on"}[step]

    def command(rt: TenantRuntime, grant: Grant) -> ComplaintChanged:
        rt.casework.complaint_step(complaint_id, step, expected_version=input.expected_version,
                                   writable_contract_ids=grant.scope.contract_ids,
                                   **{date_arg: on}, **args)
        return _after(rt, grant, complaint_id)

    # §6(2): intake reports the complaint to the resolution officer; the rest is resolution's.
    action = "complaint.report" if step == "report" else "complaint.resolve"
    return await execute(info, action, input.municipality_code, command, check=check)


def _checker(info: Info[YorisoiContext, None]) -> Checker:
    return Checker(info.context.services.settings.max_text_length)


@strawberry.type
class ComplaintMutation:
    @strawberry.mutation(description="Assign a site's or contractor's complaint officers and third-party members.")
    async def assign_complaint_roles(self, info: Info[YorisoiContext, None],
                                     input: AssignComplaintRolesInput) -> ComplaintRolesResult:
        check = _checker(info)
        check.required("intakeOfficer", input.intake_officer, 200)
        check.required("resolutionOfficer", input.resolution_officer, 200)
        check.count("thirdPartyMembers", input.third_party_members, 10)
        for i, member in enumerate(input.third_party_members):
            if member.kind not in ("user", "external"):
                check.bad(f"thirdPartyMembers.{i}.kind", "Choose user or external.",
                          "user または external を指定してください。")
            check.required(f"thirdPartyMembers.{i}.ref", member.ref, 200)
        registry = info.context.services.directory.registry

        def command(rt: TenantRuntime, grant: Grant) -> ComplaintRolesAssigned:
            known = (registry.site(grant.municipality_code, input.scope_id)
                     if input.scope_kind == "site" else
                     any(c.contractor_id == input.scope_id
                         for c in registry.contracts(contractor_id=input.scope_id,
                                                     municipality_code=grant.municipality_code)))
            if not known:
                raise ComplaintRoleScopeUnknownError(field="scopeId")
            roles = rt.casework.assign_complaint_roles(
                scope_kind=input.scope_kind, scope_id=input.scope_id,
                intake_officer=input.intake_officer, resolution_officer=input.resolution_officer,
                third_party_members=[{"kind": m.kind, "ref": m.ref}
                                     for m in input.third_party_members],
                expected_version=input.expected_version)
            return ComplaintRolesAssigned(
                scope_kind=roles.scope_kind, scope_id=roles.scope_id,
                intake_officer=roles.intake_officer, resolution_officer=roles.resolution_officer,
                third_party_members=[ThirdPartyMember(kind=m["kind"], ref=m["ref"])
                                     for m in roles.third_party_members],
                findings=roles.findings, version=roles.version)

        return await execute(info, "complaint.configure", input.municipality_code, command,
                             check=check)

    @strawberry.mutation(description="Set the municipality's days allowed per complaint step.")
    async def set_complaint_deadlines(self, info: Info[YorisoiContext, None],
                                      input: SetComplaintDeadlinesInput) -> ComplaintDeadlinesResult:
        check = _checker(info)
        check.count("deadlines", input.deadlines, 10)

        def command(rt: TenantRuntime, grant: Grant) -> ComplaintDeadlinesSet:
            deadlines = rt.casework.set_complaint_deadlines(
                {d.step: d.days for d in input.deadlines}, expected_version=input.expected_version)
            return ComplaintDeadlinesSet(
                deadlines=[ComplaintDeadline(step=s, days=d) for s, d in deadlines.days.items()],
                version=deadlines.version)

        return await execute(info, "complaint.configure", input.municipality_code, command,
                             check=check)

    @strawberry.mutation(description="Receive and record a complaint or request at a site.")
    async def receive_complaint(self, info: Info[YorisoiContext, None],
                                input: ReceiveComplaintInput) -> ComplaintChangeResult:
        from yorisoi.services.complaints import NewComplaint

        check = _checker(info)
        received_on = check.day("receivedOn", input.received_on)
        check.text("content", input.content)
        check.text("wishes", input.wishes)
        check.text("complainantName", input.complainant_name, 200)
        check.text("complainantContact", input.complainant_contact, 200)
        case_id = check.case_id(input.case_id)
        registry = info.context.services.directory.registry

        def command(rt: TenantRuntime, grant: Grant) -> ComplaintChanged:
            contractor_id = next(
                (c.contractor_id for c in registry.contract_for_site(grant.municipality_code,
                                                                     input.site_id)
                 if c.contract_id == grant.contract_id), None) if grant.contract_id else None
            complaint = rt.casework.receive_complaint(NewComplaint(
                site_id=input.site_id, contract_id=grant.contract_id, contractor_id=contractor_id,
                kind=input.kind, channel=input.channel, received_on=received_on,
                anonymous=input.anonymous, content=input.content,
                complainant_name=input.complainant_name,
                complainant_contact=input.complainant_contact, wishes=input.wishes,
                involve_third_party=input.involve_third_party, case_id=case_id),
                grant.scope.contract_ids)
            return _after(rt, grant, complaint.id)

        return await execute(info, "complaint.intake", input.municipality_code, command,
                             check=check, site_id=input.site_id)

    @strawberry.mutation(description="Report the complaint to the resolution officer (and third-party members).")
    async def report_complaint(self, info: Info[YorisoiContext, None],
                               input: ReportComplaintInput) -> ComplaintChangeResult:
        return await _step(info, input, "report", "on", _checker(info),
                           third_party_informed=input.third_party_informed)

    @strawberry.mutation(description="Record a discussion towards resolution.")
    async def add_complaint_discussion(self, info: Info[YorisoiContext, None],
                                       input: AddComplaintDiscussionInput) -> ComplaintChangeResult:
        check = _checker(info)
        check.text("note", input.note)
        return await _step(info, input, "add_discussion", "on", check, note=input.note)

    @strawberry.mutation(description="Record the outcome of the complaint.")
    async def record_complaint_outcome(self, info: Info[YorisoiContext, None],
                                       input: RecordComplaintOutcomeInput) -> ComplaintChangeResult:
        check = _checker(info)
        check.text("detail", input.detail)
        return await _step(info, input, "record_outcome", "on", check, outcome=input.outcome,
                           detail=input.detail)

    @strawberry.mutation(description="Record that the outcome was reported to the complainant.")
    async def report_complaint_outcome(self, info: Info[YorisoiContext, None],
                                       input: ReportComplaintOutcomeInput) -> ComplaintChangeResult:
        return await _step(info, input, "report_outcome", "on", _checker(info),
                           method=input.method)

    @strawberry.mutation(description="Publish the anonymised summary (refused if it names anyone).")
    async def publish_complaint_summary(self, info: Info[YorisoiContext, None],
                                        input: PublishComplaintSummaryInput) -> ComplaintChangeResult:
        check = _checker(info)
        check.text("summary", input.summary, 2000)
        return await _step(info, input, "publish_summary", "on", check, summary=input.summary)

    @strawberry.mutation(description="Record escalation to the prefecture's 運営適正化委員会.")
    async def escalate_complaint(self, info: Info[YorisoiContext, None],
                                 input: EscalateComplaintInput) -> ComplaintChangeResult:
        check = _checker(info)
        check.text("reason", input.reason)
        return await _step(info, input, "escalate", "on", check, reason=input.reason)

    @strawberry.mutation(description="Close a complaint after its summary is published.")
    async def close_complaint(self, info: Info[YorisoiContext, None],
                              input: ComplaintStepInput) -> ComplaintChangeResult:
        return await _step(info, input, "close", "on", _checker(info))


async def _read(run: Callable[[], T]) -> T:
    try:
        return await asyncio.to_thread(run)
    except Exception as exc:  # noqa: BLE001 - api_error re-raises the unexpected
        raise api_error(exc) from None


@strawberry.type
class ComplaintQuery:
    @strawberry.field(description="Complaints the caller may see, most recently received first.")
    async def complaints_board(
        self, info: Info[YorisoiContext, None], municipality_code: str | None = None,
        step: str | None = None, overdue_only: bool = False, first: int = 20,
        after: str | None = None,
    ) -> ComplaintConnection:
        first = paging.page_size(first)

        def run() -> ComplaintConnection:
            grant = info.context.authorize("complaint.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = _queries(rt).board(grant.scope, first=first, after=after, step=step,
                                          overdue_only=overdue_only)
            return ComplaintConnection(
                total_count=page.total_count,
                edges=[ComplaintEdge(cursor=complaint_cursor(r), node=Complaint.from_record(r))
                       for r in page.items],
                page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor))

        return await _read(run)

    @strawberry.field(description="One complaint (null when it is not visible to the caller).")
    async def complaint(self, info: Info[YorisoiContext, None], id: strawberry.ID,
                        municipality_code: str | None = None) -> Complaint | None:
        def run() -> Complaint | None:
            grant = info.context.authorize("complaint.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                record = _queries(rt).get(grant.scope, str(id))
            return Complaint.from_record(record) if record else None

        return await _read(run)

    @strawberry.field(description="Public, no login: the municipality's published anonymised summaries.")
    async def published_complaint_summaries(
        self, info: Info[YorisoiContext, None], municipality_code: str, first: int = 20,
        after: str | None = None,
    ) -> PublishedComplaintSummaryConnection:
        first = paging.page_size(first)
        services = info.context.services

        def run() -> PublishedComplaintSummaryConnection:
            tenant = (services.directory.registry.tenant(municipality_code)
                      if _MUNICIPALITY_CODE.fullmatch(municipality_code) else None)
            if tenant is None or tenant.kind != "municipality":
                raise ApiError("municipality_unknown", "No such municipality.",
                               "指定された自治体は登録されていません。")
            with services.runtimes.lease(municipality_code) as rt:
                page = _queries(rt).published(first=first, after=after)
            return PublishedComplaintSummaryConnection(
                total_count=page.total_count,
                edges=[PublishedComplaintSummaryEdge(
                    cursor=summary_cursor(r),
                    node=PublishedComplaintSummary(summary=r.summary,
                                                   month_received=r.month_received,
                                                   channel=r.channel, outcome=r.outcome))
                       for r in page.items],
                page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor))

        try:
            return await asyncio.to_thread(run)
        except ApiError:
            raise
        except Exception as exc:  # noqa: BLE001 - api_error re-raises the unexpected
            raise api_error(exc) from None
