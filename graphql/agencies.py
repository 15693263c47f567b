"""The agency directory (関係機関): registering an agency, and listing them.

Nothing here is personal: an agency is an organisation.  Referrals to these
agencies are in graphql/referrals.py; an agency standing for a directory entry
(registered by the first referral to it) shows the entry's ``resourceId``.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.domain.vocabulary import AGENCY_KINDS, CONFIDENTIALITY_BASES
from yorisoi.graphql import paging
from yorisoi.graphql.commands import execute, read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import ConflictError, NotAuthorizedError, ValidationError
from yorisoi.graphql.validation import Checker
from yorisoi.projections.referral_board import AgencyRecord, ReferralBoardQueries
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_NAME = 200


@strawberry.type(description="An agency of the municipality's directory (関係機関).")
class Agency:
    id: strawberry.ID
    name: str
    kind: str
    on_system: bool = strawberry.field(description="Has users; otherwise receives packets by link")
    contact_email: str | None = strawberry.field(description="The organisation's address")
    confidentiality_basis: str | None = strawberry.field(description="Default basis of disclosures to it")
    resource_id: strawberry.ID | None = strawberry.field(
        default=None, description="The resource-directory entry it stands for, if any")

    @classmethod
    def from_record(cls, r: AgencyRecord) -> Agency:
        return cls(id=strawberry.ID(r.agency_id), name=r.name, kind=r.kind,
                   on_system=r.on_system, contact_email=r.contact_email,
                   confidentiality_basis=r.confidentiality_basis,
                   resource_id=strawberry.ID(r.resource_id) if r.resource_id else None)


@strawberry.type
class AgencyRegistered:
    agency: Agency


RegisterAgencyResult = Annotated[
    AgencyRegistered | ValidationError | NotAuthorizedError | ConflictError,
    strawberry.union("RegisterAgencyResult")]


@strawberry.input
class RegisterAgencyInput:
    municipality_code: str
    name: str
    kind: str = strawberry.field(description=" | ".join(AGENCY_KINDS))
    on_system: bool = False
    contact_email: str | None = strawberry.field(default=None, description="The organisation's address (required off-system)")
    confidentiality_basis: str | None = strawberry.field(default=None, description=" | ".join(CONFIDENTIALITY_BASES))


@strawberry.type
class AgencyMutation:
    @strawberry.mutation(description="Add an agency to the municipality's directory.")
    async def register_agency(self, info: Info[YorisoiContext, None],
                              input: RegisterAgencyInput) -> RegisterAgencyResult:
        check = Checker.of(info)
        name = check.required("name", input.name, MAX_NAME)
        email = check.text("contactEmail", input.contact_email, 254) or None

        def command(rt: TenantRuntime, grant: Grant) -> AgencyRegistered:
            agency = rt.casework.register_agency(
                municipality_code=grant.municipality_code, name=name, kind=input.kind,
                on_system=input.on_system, contact_email=email,
                confidentiality_basis=input.confidentiality_basis)
            rt.catch_up()
            agencies = ReferralBoardQueries(rt.casework.database, rt.casework.keyring).agencies()
            [record] = [a for a in agencies if a.agency_id == str(agency.id)]
            return AgencyRegistered(agency=Agency.from_record(record))

        return await execute(info, "case.manage", input.municipality_code, command, check=check)


AgencyConnection = paging.Connection[Agency]


@strawberry.type
class AgencyQuery:
    @strawberry.field(description="The agencies of the municipality's directory by kind and name "
                                  "(keyset pages: pass pageInfo.endCursor as after).")
    async def agencies(self, info: Info[YorisoiContext, None],
                       municipality_code: str | None = None, first: int = 50,
                       after: str | None = None) -> AgencyConnection:
        first = paging.page_size(first)

        def run() -> AgencyConnection:
            grant = info.context.authorize("case.read", municipality_code)
            start = paging.decode(after, str, str, str)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                board = ReferralBoardQueries(rt.casework.database, rt.casework.keyring)
                rows, total = board.agency_page(after=start, limit=first + 1)
            return paging.connection(rows, first=first, total_count=total,
                                     key=lambda a: (a.kind, a.name, a.agency_id),
                                     node=Agency.from_record)

        return await read(run)
