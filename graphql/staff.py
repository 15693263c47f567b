"""Staff: registration, site assignments, training records, findings (the pledge is REST).

Municipal administrators and supervisors manage every staff record; a
contractor's administrator ("staff.manage" through an active contract)
manages only its own organisation's staff and assigns them only to sites its
active contracts cover — others' records answer NotFound, as if absent.
Display names are staff personal data: they appear in these answers only,
never in errors, spans or the oversight report.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from yorisoi.domain.findings import TRAINING_KINDS, training_valid_until
from yorisoi.domain.staff import organisation_kind_of
from yorisoi.graphql import paging
from yorisoi.graphql.cases import PageInfo
from yorisoi.graphql.commands import execute
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
    api_error,
)
from yorisoi.graphql.sites import Finding
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.projections.organisation_view import OrganisationQueries, StaffRecord
from yorisoi.services.staff import StaffMemberNotFoundError
from yorisoi.tenants.access import AccessDeniedError, Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class StaffScope:
    """What the grant lets the caller manage: None means everything in the municipality."""

    organisation_id: str | None
    assignable_sites: frozenset[str] | None
    allowed_organisations: frozenset[str]


def staff_scope(info: Info[YorisoiContext, None], grant: Grant) -> StaffScope:
    registry = info.context.services.directory.registry
    today = japan_today()
    if grant.acting.organisation_kind == "contractor":
        own = grant.acting.organisation_id
        active = [c for c in registry.contracts(contractor_id=own,
                                                municipality_code=grant.municipality_code)
                  if c.is_active_on(today)]
        return StaffScope(own, frozenset(s for c in active for s in c.site_ids),
                          frozenset({own}))
    return StaffScope(None, None, frozenset({grant.municipality_code}))


def allowed_organisations(info: Info[YorisoiContext, None], grant: Grant, scope: StaffScope,
                          organisation_id: str) -> frozenset[str]:
    """The scope's organisations, plus a contractor that holds (or held) a contract here."""
    registry = info.context.services.directory.registry
    if scope.organisation_id is None and registry.contracts(
            contractor_id=organisation_id, municipality_code=grant.municipality_code):
        return scope.allowed_organisations | {organisation_id}
    return scope.allowed_organisations


@strawberry.type
class StaffAssignment:
    id: strawberry.ID
    site_id: str
    kind: str = strawberry.field(description="dedicated (専任) | assisting (兼任)")
    starts_on: str
    ends_on: str | None
    active: bool


@strawberry.type
class StaffTraining:
    id: strawberry.ID
    kind: str = strawberry.field(description="kosodate_shienin_kihon | kosodate_shienin_senmon | privacy_confidentiality")
    kind_ja: str
    completed_on: str
    valid_until: str | None = strawberry.field(description="Privacy training: a year after completion unless stated")


@strawberry.type(description="A member of staff. displayName is staff personal data.")
class StaffMember:
    id: strawberry.ID
    subject: str
    display_name: str
    organisation_kind: str
    organisation_id: str
    roles: list[str]
    qualifications: list[str]
    has_pledge: bool
    pledge_signed_on: str | None
    assignments: list[StaffAssignment]
    trainings: list[StaffTraining]
    findings: list[Finding]
    version: int

    @classmethod
    def from_record(cls, r: StaffRecord) -> StaffMember:
        today = japan_today().isoformat()

        def until(t: dict[str, Any]) -> str | None:
            from datetime import date

            v = training_valid_until(t["kind"], date.fromisoformat(t["completed_on"]),
                                     date.fromisoformat(t["valid_until"]) if t["valid_until"]
                                     else None)
            return v.isoformat() if v else None

        return cls(
            id=strawberry.ID(r.staff_id), subject=r.subject, display_name=r.display_name,
            organisation_kind=r.organisation_kind, organisation_id=r.organisation_id,
            roles=r.roles, qualifications=r.qualifications,
            has_pledge=r.pledge_signed_on is not None, pledge_signed_on=r.pledge_signed_on,
            assignments=[StaffAssignment(
                id=strawberry.ID(a["assignment_id"]), site_id=a["site_id"], kind=a["kind"],
                starts_on=a["starts_on"], ends_on=a["ends_on"],
                active=a["starts_on"] <= today and (a["ends_on"] is None or a["ends_on"] >= today))
                for a in r.assignments],
            trainings=[StaffTraining(
                id=strawberry.ID(t["training_id"]), kind=t["kind"],
                kind_ja=TRAINING_KINDS.get(t["kind"], t["kind"]), completed_on=t["completed_on"],
                valid_until=until(t)) for t in r.trainings],
            findings=[Finding.of(f) for f in r.findings], version=r.version)


@strawberry.type
class StaffMemberSaved:
    staff_member: StaffMember
    assignment_id: strawberry.ID | None = None


StaffMemberResult = Annotated[
    StaffMemberSaved | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("StaffMemberResult"),
]


@strawberry.type
class StaffMemberEdge:
    cursor: str
    node: StaffMember


@strawberry.type
class StaffMemberConnection:
    total_count: int
    edges: list[StaffMemberEdge]
    nodes: list[StaffMember] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.input
class RegisterStaffMemberInput:
    municipality_code: str
    subject: str = strawberry.field(description="The person's token subject at their organisation's issuer")
    display_name: str
    organisation_id: str | None = strawberry.field(
        default=None, description="The municipality code or a contractor id; default: the caller's organisation")
    roles: list[str]
    qualifications: list[str] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateStaffMemberInput:
    municipality_code: str
    staff_id: strawberry.ID
    display_name: str
    roles: list[str]
    qualifications: list[str] = strawberry.field(default_factory=list)
    expected_version: int | None = None


@strawberry.input
class AssignStaffToSiteInput:
    municipality_code: str
    staff_id: strawberry.ID
    site_id: str
    kind: str = strawberry.field(description="dedicated (専任) | assisting (兼任)")
    starts_on: str
    ends_on: str | None = None


@strawberry.input
class EndStaffAssignmentInput:
    municipality_code: str
    staff_id: strawberry.ID
    assignment_id: strawberry.ID
    ends_on: str


@strawberry.input
class RecordStaffTrainingInput:
    municipality_code: str
    staff_id: strawberry.ID
    kind: str = strawberry.field(description="kosodate_shienin_kihon | kosodate_shienin_senmon | privacy_confidentiality")
    completed_on: str
    valid_until: str | None = None


def staff_uuid(check: Checker, value: strawberry.ID) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        check.bad("staffId", "Not a staff id.", "職員IDの形式が正しくありません。")
        return None


def _checker(info: Info[YorisoiContext, None]) -> Checker:
    return Checker(info.context.services.settings.max_text_length)


def _check_lists(check: Checker, roles: list[str], qualifications: list[str]) -> None:
    check.count("roles", roles, 10)
    check.count("qualifications", qualifications, 20)


def _saved(rt: TenantRuntime, staff_id: uuid.UUID, scope: StaffScope,
           assignment_id: str | None = None) -> StaffMemberSaved:
    rt.catch_up()
    record = OrganisationQueries(rt.casework.database).staff(japan_today(), str(staff_id),
                                                            scope.organisation_id)
    if record is None:
        raise StaffMemberNotFoundError(field="staffId")
    return StaffMemberSaved(staff_member=StaffMember.from_record(record),
                            assignment_id=strawberry.ID(assignment_id) if assignment_id else None)


async def _on_staff(info: Info[YorisoiContext, None], code: str, check: Checker,
                    staff_id: uuid.UUID | None,
                    act: Callable[[TenantRuntime, StaffScope], None]) -> StaffMemberResult:
    """Run one command on an existing staff member, within the caller's staff scope."""

    def command(rt: TenantRuntime, grant: Grant) -> StaffMemberSaved:
        assert staff_id is not None  # the checker reported a bad id first
        scope = staff_scope(info, grant)
        act(rt, scope)
        return _saved(rt, staff_id, scope)

    return await execute(info, "staff.manage", code, command, check=check)


@strawberry.type
class StaffMutation:
    @strawberry.mutation(description="Register a person as staff of the municipality or a contractor.")
    async def register_staff_member(self, info: Info[YorisoiContext, None],
                                    input: RegisterStaffMemberInput) -> StaffMemberResult:
        check = _checker(info)
        check.required("subject", input.subject, 200)
        check.required("displayName", input.display_name, 100)
        _check_lists(check, input.roles, input.qualifications)

        def command(rt: TenantRuntime, grant: Grant) -> StaffMemberSaved:
            scope = staff_scope(info, grant)
            organisation_id = input.organisation_id or grant.acting.organisation_id
            if scope.organisation_id is not None and organisation_id != scope.organisation_id:
                raise AccessDeniedError("organisation_not_permitted",
                                        "You may register only your own organisation's staff.",
                                        "自団体の職員のみ登録できます。")
            kind = organisation_kind_of(organisation_id, grant.municipality_code)
            member = rt.casework.register_staff_member(
                subject=input.subject, display_name=input.display_name, organisation_kind=kind,
                organisation_id=organisation_id, roles=input.roles,
                qualifications=input.qualifications,
                allowed_organisations=allowed_organisations(info, grant, scope,
                                                            organisation_id))
            return _saved(rt, member.id, scope)

        return await execute(info, "staff.manage", input.municipality_code, command, check=check)

    @strawberry.mutation(description="Change a staff member's display name, roles or qualifications.")
    async def update_staff_member(self, info: Info[YorisoiContext, None],
                                  input: UpdateStaffMemberInput) -> StaffMemberResult:
        check = _checker(info)
        staff_id = staff_uuid(check, input.staff_id)
        check.required("displayName", input.display_name, 100)
        _check_lists(check, input.roles, input.qualifications)

        def act(rt: TenantRuntime, scope: StaffScope) -> None:
            rt.casework.update_staff_member(
                staff_id, display_name=input.display_name, roles=input.roles,
                qualifications=input.qualifications, expected_version=input.expected_version,
                organisation_id=scope.organisation_id)

        return await _on_staff(info, input.municipality_code, check, staff_id, act)

    @strawberry.mutation(description="Assign a staff member to a site, dedicated (専任) or assisting (兼任).")
    async def assign_staff_to_site(self, info: Info[YorisoiContext, None],
                                   input: AssignStaffToSiteInput) -> StaffMemberResult:
        check = _checker(info)
        staff_id = staff_uuid(check, input.staff_id)
        starts_on = check.day("startsOn", input.starts_on)
        ends_on = check.day("endsOn", input.ends_on)
        registry = info.context.services.directory.registry

        def command(rt: TenantRuntime, grant: Grant) -> StaffMemberSaved:
            scope = staff_scope(info, grant)
            if scope.assignable_sites is None and registry.site(grant.municipality_code,
                                                                input.site_id) is None:
                raise AccessDeniedError("site_unknown", "No such site in this municipality.",
                                        "指定された実施場所はこの自治体に登録されていません。")
            _, assignment_id = rt.casework.assign_staff(
                staff_id, site_id=input.site_id, kind=input.kind, starts_on=starts_on,
                ends_on=ends_on, organisation_id=scope.organisation_id,
                assignable_sites=scope.assignable_sites)
            return _saved(rt, staff_id, scope, assignment_id)

        return await execute(info, "staff.manage", input.municipality_code, command, check=check)

    @strawberry.mutation(description="End a staff member's assignment to a site on a date.")
    async def end_staff_assignment(self, info: Info[YorisoiContext, None],
                                   input: EndStaffAssignmentInput) -> StaffMemberResult:
        check = _checker(info)
        staff_id = staff_uuid(check, input.staff_id)
        ends_on = check.day("endsOn", input.ends_on)

        def act(rt: TenantRuntime, scope: StaffScope) -> None:
            rt.casework.end_staff_assignment(staff_id, assignment_id=str(input.assignment_id),
                                             ends_on=ends_on,
                                             organisation_id=scope.organisation_id)

        return await _on_staff(info, input.municipality_code, check, staff_id, act)

    @strawberry.mutation(description="Record a completed training (a renewal is a new record).")
    async def record_staff_training(self, info: Info[YorisoiContext, None],
                                    input: RecordStaffTrainingInput) -> StaffMemberResult:
        check = _checker(info)
        staff_id = staff_uuid(check, input.staff_id)
        completed_on = check.day("completedOn", input.completed_on)
        valid_until = check.day("validUntil", input.valid_until)

        def act(rt: TenantRuntime, scope: StaffScope) -> None:
            rt.casework.record_staff_training(staff_id, kind=input.kind,
                                              completed_on=completed_on,
                                              valid_until=valid_until,
                                              organisation_id=scope.organisation_id)

        return await _on_staff(info, input.municipality_code, check, staff_id, act)


@strawberry.type
class StaffQuery:
    @strawberry.field(description="Staff the caller manages, by id (keyset pages), with findings.")
    async def staff_members(self, info: Info[YorisoiContext, None],
                            municipality_code: str | None = None, first: int = 20,
                            after: str | None = None) -> StaffMemberConnection:
        first = paging.page_size(first)

        def run() -> StaffMemberConnection:
            grant = info.context.authorize("staff.manage", municipality_code)
            scope = staff_scope(info, grant)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                records, total, more = OrganisationQueries(rt.casework.database).staff_page(
                    japan_today(), organisation_id=scope.organisation_id, first=first,
                    after=after)
            from yorisoi.projections.organisation_view import _encode

            edges = [StaffMemberEdge(cursor=_encode(r.staff_id), node=StaffMember.from_record(r))
                     for r in records]
            return StaffMemberConnection(
                total_count=total, edges=edges,
                page_info=PageInfo(has_next_page=more,
                                   end_cursor=edges[-1].cursor if edges else None))

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # noqa: BLE001 - expected errors become typed GraphQL errors
            raise api_error(exc) from None

    @strawberry.field(description="One staff member, or null when absent or not managed by the caller.")
    async def staff_member(self, info: Info[YorisoiContext, None], id: strawberry.ID,
                           municipality_code: str | None = None) -> StaffMember | None:
        def run() -> StaffMember | None:
            grant = info.context.authorize("staff.manage", municipality_code)
            scope = staff_scope(info, grant)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                record = OrganisationQueries(rt.casework.database).staff(
                    japan_today(), str(id), scope.organisation_id)
            return StaffMember.from_record(record) if record else None

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # noqa: BLE001 - expected errors become typed GraphQL errors
            raise api_error(exc) from None
