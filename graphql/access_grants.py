"""Explicit grants of a role to one person (municipal administrators), and break-glass (auditors)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.domain.access_grants import ROLES
from yorisoi.domain.break_glass import DEFAULT_MINUTES, REASONS
from yorisoi.graphql import paging
from yorisoi.graphql.commands import execute, read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
)
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.services.break_glass import record_break_glass
from yorisoi.tenants.access import Grant
from yorisoi.tenants.registry import AccessGrantRecord, RegistryQueries
from yorisoi.tenants.runtime import TenantRuntime

_SUBJECT_KINDS = ("municipality", "contractor")


@strawberry.type(description="A role granted to one person by the municipality.")
class AccessGrant:
    id: strawberry.ID
    subject_kind: str = strawberry.field(description="municipality | contractor")
    subject_organisation: str = strawberry.field(description="Municipality code or contractor id")
    subject: str = strawberry.field(description="The person's subject at their identity provider")
    role: str
    site_ids: list[str]
    starts_on: str
    ends_on: str | None
    revoked_on: str | None
    reason: str
    granted_by: str
    granted_at: str
    active: bool

    @classmethod
    def from_record(cls, g: AccessGrantRecord) -> AccessGrant:
        return cls(id=strawberry.ID(g.grant_id), subject_kind=g.subject_kind,
                   subject_organisation=g.subject_tenant, subject=g.subject, role=g.role,
                   site_ids=g.site_ids, starts_on=g.starts_on.isoformat(),
                   ends_on=g.ends_on.isoformat() if g.ends_on else None,
                   revoked_on=g.revoked_on.isoformat() if g.revoked_on else None,
                   reason=g.reason, granted_by=g.granted_by, granted_at=g.granted_at,
                   active=g.is_active_on(japan_today()))


AccessGrantConnection = paging.Connection[AccessGrant]


@strawberry.type
class AccessGranted:
    grant: AccessGrant


@strawberry.type
class AccessRevoked:
    grant: AccessGrant


@strawberry.type(description="Personal fields of the case's household are readable until expiresAt.")
class BreakGlassRecorded:
    break_glass_id: strawberry.ID
    case_id: strawberry.ID
    reason_code: str
    expires_at: str


_Errors = ValidationError | NotAuthorizedError | NotFoundError | ConflictError
GrantAccessResult = Annotated[AccessGranted | _Errors, strawberry.union("GrantAccessResult")]
RevokeAccessResult = Annotated[AccessRevoked | _Errors, strawberry.union("RevokeAccessResult")]
BreakGlassResult = Annotated[BreakGlassRecorded | _Errors, strawberry.union("BreakGlassResult")]


@strawberry.input
class GrantAccessInput:
    municipality_code: str
    subject_kind: str = strawberry.field(description="municipality | contractor")
    subject_organisation: str = strawberry.field(
        description="This municipality's code, or the contractor's id")
    subject: str = strawberry.field(description="The person's subject (sub) at their identity provider")
    role: str = strawberry.field(description="One of: " + ", ".join(
        r for r, s in ROLES.items() if s.scope != "platform"))
    site_ids: list[str] = strawberry.field(default_factory=list,
                                           description="Required for site roles")
    starts_on: str | None = strawberry.field(default=None, description="YYYY-MM-DD; default today")
    ends_on: str | None = strawberry.field(default=None, description="YYYY-MM-DD; open if null")
    reason: str = strawberry.field(default="", description="Why (no personal data)")


@strawberry.input
class RevokeAccessInput:
    municipality_code: str
    grant_id: strawberry.ID
    reason: str = strawberry.field(default="", description="Why (no personal data)")


@strawberry.input
class BreakGlassInput:
    municipality_code: str
    case_id: strawberry.ID
    reason_code: str = strawberry.field(description="One of: " + ", ".join(REASONS))
    justification: str = strawberry.field(description="10–400 characters, no personal data")
    minutes: int = strawberry.field(default=DEFAULT_MINUTES, description="5–240")


@strawberry.type(description="A break-glass reason an auditor can record.")
class BreakGlassReason:
    code: str
    label: str
    label_ja: str


def _grant_record(grant: Grant, grant_id: str, registry: RegistryQueries) -> AccessGrantRecord:
    return next(g for g in registry.access_grants(grant.municipality_code)
                if g.grant_id == grant_id)


@strawberry.type
class AccessGrantQuery:
    @strawberry.field(description="The municipality's explicit role grants, oldest first "
                                  "(administrators; keyset pages).")
    async def access_grants(self, info: Info[YorisoiContext, None],
                            municipality_code: str | None = None, first: int = 50,
                            after: str | None = None) -> AccessGrantConnection:
        first = paging.page_size(first)

        def run() -> AccessGrantConnection:
            grant = info.context.authorize("access.manage", municipality_code)
            registry = info.context.services.directory.registry
            after_key = paging.decode(after, str, str)
            rows = registry.access_grants(grant.municipality_code,
                                          after=tuple(after_key) if after_key else None,
                                          limit=first + 1)
            return paging.connection(
                rows, first=first,
                total_count=registry.access_grant_count(grant.municipality_code),
                key=lambda g: (g.granted_at, g.grant_id), node=AccessGrant.from_record)

        return await read(run)

    @strawberry.field(description="The reasons a compliance auditor may record for break-glass.")
    def break_glass_reasons(self) -> list[BreakGlassReason]:
        return [BreakGlassReason(code=c, label=en, label_ja=ja) for c, (en, ja) in REASONS.items()]


@strawberry.type
class AccessGrantMutation:
    @strawberry.mutation(description="Grant a role to one person (administrators).")
    async def grant_access(self, info: Info[YorisoiContext, None],
                           input: GrantAccessInput) -> GrantAccessResult:
        check = Checker.of(info)
        starts_on = check.day("startsOn", input.starts_on) or japan_today()
        ends_on = check.day("endsOn", input.ends_on)
        subject = check.required("subject", input.subject, 200)
        organisation = check.required("subjectOrganisation", input.subject_organisation, 64)
        if input.subject_kind not in _SUBJECT_KINDS:
            check.bad("subjectKind", "Use municipality or contractor.",
                      "municipality または contractor を指定してください。")
        check.count("siteIds", input.site_ids, 50)
        directory = info.context.services.directory

        def command(rt: TenantRuntime, grant: Grant) -> AccessGranted:
            grant_id = directory.grant_access(
                municipality_code=grant.municipality_code, subject_kind=input.subject_kind,
                subject_tenant=organisation, subject=subject, role=input.role,
                site_ids=list(input.site_ids), starts_on=starts_on, ends_on=ends_on,
                reason=input.reason)
            return AccessGranted(grant=AccessGrant.from_record(
                _grant_record(grant, grant_id, directory.registry)))

        return await execute(info, "access.manage", input.municipality_code, command, check=check)

    @strawberry.mutation(description="Revoke a grant: it stops on the next request.")
    async def revoke_access(self, info: Info[YorisoiContext, None],
                            input: RevokeAccessInput) -> RevokeAccessResult:
        check = Checker.of(info)
        grant_id = check.record_id("grantId", str(input.grant_id))
        directory = info.context.services.directory

        def command(rt: TenantRuntime, grant: Grant) -> AccessRevoked:
            directory.revoke_access(municipality_code=grant.municipality_code,
                                    grant_id=grant_id, revoked_on=japan_today(),
                                    reason=input.reason)
            return AccessRevoked(grant=AccessGrant.from_record(
                _grant_record(grant, str(grant_id), directory.registry)))

        return await execute(info, "access.manage", input.municipality_code, command, check=check)

    @strawberry.mutation(description="Record why you need one case's personal fields (compliance "
                                     "auditors); every read under it is logged with its id.")
    async def break_glass(self, info: Info[YorisoiContext, None],
                          input: BreakGlassInput) -> BreakGlassResult:
        check = Checker.of(info)
        case_id = check.case_id(input.case_id)
        justification = check.text("justification", input.justification, 400)

        def command(rt: TenantRuntime, grant: Grant) -> BreakGlassRecorded:
            use = record_break_glass(rt.casework, case_id=case_id, reason_code=input.reason_code,
                                     justification=justification, minutes=input.minutes)
            return BreakGlassRecorded(break_glass_id=strawberry.ID(str(use.id)),
                                      case_id=strawberry.ID(str(case_id)),
                                      reason_code=use.reason_code,
                                      expires_at=use.expires_at.isoformat())

        return await execute(info, "audit.break_glass", input.municipality_code, command,
                             check=check, case_id=case_id)
