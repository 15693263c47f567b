"""The resource directory (社会資源): staff keep it, the public searches it.

``publicResources`` is the only field of the schema that answers without a
token: it reads published entries and nothing else (never the owner or the
drafts), so it never asks ``authorize``.  Everything else here goes through
``authorize`` like any staff query or mutation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.domain.resources import OpeningSlot as SlotValue
from yorisoi.domain.resources import Resource as ResourceAggregate
from yorisoi.domain.resources import checked_attributes, findings
from yorisoi.domain.vocabulary import AGENCY_KINDS, CONFIDENTIALITY_BASES
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
    user_error,
)
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.projections.resource_directory import (
    ResourceDirectoryQueries,
    ResourceRecord,
    encode_cursor,
)
from yorisoi.services.context import acting_as
from yorisoi.tenants.access import Grant
from yorisoi.tenants.neighbours import (
    checked_filters,
    declare_neighbour,
    search_directory,
    withdraw_neighbour,
)
from yorisoi.tenants.runtime import TenantRuntime

KIND_HELP = ("education_childcare | community_childcare | local_support | medical"
             " | health_welfare | informal")


@strawberry.type(description="Open on a weekday from opens to closes (HH:MM).")
class OpeningSlot:
    day: str = strawberry.field(description="mon | tue | wed | thu | fri | sat | sun")
    opens: str
    closes: str


@strawberry.input
class OpeningSlotInput:
    day: str = strawberry.field(description="mon | tue | wed | thu | fri | sat | sun")
    opens: str = strawberry.field(description="HH:MM")
    closes: str = strawberry.field(description="HH:MM, after opens")


@strawberry.type(description="A published directory entry, as the public sees it.")
class PublicResource:
    id: strawberry.ID
    municipality_code: str
    kind: str = strawberry.field(description=KIND_HELP)
    subkind: str | None
    name: str
    address: str
    area: str = strawberry.field(description="町丁目 or district code")
    operator_kind: str = strawberry.field(description="public | private | npo | other")
    hours: list[OpeningSlot]
    monthly_schedule: str
    content: str
    form: str = strawberry.field(description="facility | home_visit | outreach")
    fee: str = strawberry.field(description="free | paid")
    last_verified_on: str
    reading: str | None = strawberry.field(
        default=None, description="The name's reading, in hiragana (ほいく finds 保育園 by it)")

    @classmethod
    def from_record(cls, r: ResourceRecord) -> PublicResource:
        return cls(id=strawberry.ID(r.resource_id), municipality_code=r.municipality_code,
                   kind=r.kind, subkind=r.subkind, name=r.name, address=r.address, area=r.area,
                   operator_kind=r.operator_kind, hours=[OpeningSlot(**s) for s in r.hours],
                   monthly_schedule=r.monthly_schedule, content=r.content, form=r.form,
                   fee=r.fee, last_verified_on=r.last_verified_on, reading=r.reading)


@strawberry.type(description="How a directory entry receives referrals (つなぎの受け先).")
class ReferralProfile:
    agency_kind: str = strawberry.field(description=" | ".join(AGENCY_KINDS))
    on_system: bool = strawberry.field(description="Has users; otherwise receives packets by link")
    contact_email: str | None = strawberry.field(description="The organisation's address")
    confidentiality_basis: str | None = strawberry.field(description="Default basis of disclosures to it")


@strawberry.type(description="A directory entry as staff see it (drafts included).")
class Resource(PublicResource):
    owner: str = strawberry.field(description="The staff member or unit keeping it up to date")
    published: bool
    version: int = strawberry.field(description="Send it back as expectedVersion")
    findings: list[str] = strawberry.field(description="stale: not verified for over a year")
    referral_profile: ReferralProfile | None = strawberry.field(
        description="Set when the entry accepts referrals (draftReferral's resourceId)")

    @classmethod
    def from_record(cls, r: ResourceRecord) -> Resource:  # type: ignore[override]
        base = PublicResource.from_record(r)
        p = r.referral_profile
        profile = ReferralProfile(
            agency_kind=p["kind"], on_system=p["on_system"], contact_email=p["contact_email"],
            confidentiality_basis=p["confidentiality_basis"]) if p else None
        return cls(**vars(base), owner=r.owner, published=r.published, version=r.version,
                   findings=findings(date.fromisoformat(r.last_verified_on), japan_today()),
                   referral_profile=profile)


@strawberry.type
class PublicResourceEdge:
    cursor: str
    node: PublicResource


@strawberry.type
class PublicResourceConnection:
    total_count: int
    edges: list[PublicResourceEdge]
    nodes: list[PublicResource] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type
class ResourceEdge:
    cursor: str
    node: Resource


@strawberry.type
class ResourceConnection:
    total_count: int
    edges: list[ResourceEdge]
    nodes: list[Resource] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type
class ResourceChanged:
    resource: Resource


@strawberry.type
class NeighboursChanged:
    neighbour_codes: list[str]


ResourceChangeResult = Annotated[
    ResourceChanged | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("ResourceChangeResult"),
]
NeighbourChangeResult = Annotated[
    NeighboursChanged | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("NeighbourChangeResult"),
]


@strawberry.input
class ResourceAttributesInput:
    name: str
    kind: str = strawberry.field(description=KIND_HELP)
    subkind: str | None = None
    address: str | None = None
    area: str | None = strawberry.field(default=None, description="町丁目 or district code")
    operator_kind: str = strawberry.field(description="public | private | npo | other")
    hours: list[OpeningSlotInput] = strawberry.field(default_factory=list)
    monthly_schedule: str | None = None
    content: str | None = None
    form: str = strawberry.field(default="facility",
                                 description="facility | home_visit | outreach")
    fee: str = strawberry.field(default="free", description="free | paid")
    owner: str | None = strawberry.field(
        default=None, description="Staff member or unit keeping it; defaults to the caller")
    reading: str | None = strawberry.field(
        default=None, description="The name's reading in kana (ほいくえん, ホイクエン or ﾎｲｸｴﾝ)")


@strawberry.input
class RegisterResourceInput:
    municipality_code: str
    attributes: ResourceAttributesInput


@strawberry.input
class UpdateResourceInput:
    municipality_code: str
    resource_id: strawberry.ID
    attributes: ResourceAttributesInput
    expected_version: int | None = None


@strawberry.input
class VerifyResourceInput:
    municipality_code: str
    resource_id: strawberry.ID
    verified_on: str = strawberry.field(description="YYYY-MM-DD, the day it was confirmed")
    expected_version: int | None = None


@strawberry.input
class PublishResourceInput:
    municipality_code: str
    resource_id: strawberry.ID
    expected_version: int | None = None


@strawberry.input
class AcceptReferralsInput:
    municipality_code: str
    resource_id: strawberry.ID
    agency_kind: str = strawberry.field(description=" | ".join(AGENCY_KINDS))
    on_system: bool = False
    contact_email: str | None = strawberry.field(default=None, description="The organisation's address (required off-system)")
    confidentiality_basis: str | None = strawberry.field(default=None, description=" | ".join(CONFIDENTIALITY_BASES))
    expected_version: int | None = None


@strawberry.input
class NeighbourInput:
    municipality_code: str
    neighbour_code: str


def _resource_id(check: Checker, value: strawberry.ID) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        check.bad("resourceId", "Not a resource id.", "社会資源IDの形式が正しくありません。")
        return None


def _attributes(check: Checker, a: ResourceAttributesInput) -> dict[str, object] | None:
    from yorisoi.domain.resources import MAX_ADDRESS, MAX_CONTENT, MAX_NAME, MAX_SCHEDULE, MAX_SLOTS

    check.required("attributes.name", a.name, MAX_NAME)
    check.text("attributes.address", a.address, MAX_ADDRESS)
    check.text("attributes.monthlySchedule", a.monthly_schedule, MAX_SCHEDULE)
    check.text("attributes.content", a.content, MAX_CONTENT)
    check.count("attributes.hours", a.hours, MAX_SLOTS)
    check.text("attributes.reading", a.reading, 100)
    if check.errors:
        return None
    return {"name": a.name, "kind": a.kind, "subkind": a.subkind, "address": a.address,
            "area": a.area, "operator_kind": a.operator_kind,
            "hours": [SlotValue(s.day, s.opens, s.closes) for s in a.hours],
            "monthly_schedule": a.monthly_schedule, "content": a.content, "form": a.form,
            "fee": a.fee, "owner": a.owner, "reading": a.reading}


def _checked(raw: dict[str, object], grant: Grant) -> dict[str, object]:
    # The domain checks codes and lengths; the owner defaults to the caller.
    return checked_attributes(**{**raw, "owner": raw["owner"] or grant.acting.user_id})  # type: ignore[arg-type]


def _changed(rt: TenantRuntime, resource: ResourceAggregate) -> ResourceChanged:
    rt.catch_up()  # read-your-writes: the answer is built from the view
    record = ResourceDirectoryQueries(rt.casework.database).get(str(resource.id))
    assert record is not None
    return ResourceChanged(resource=Resource.from_record(record))


def _connection(page, node_type, edge_type, connection_type):
    return connection_type(
        total_count=page.total_count,
        edges=[edge_type(cursor=encode_cursor(r), node=node_type.from_record(r))
               for r in page.records],
        page_info=PageInfo(has_next_page=page.has_next_page,
                           end_cursor=encode_cursor(page.records[-1]) if page.records else None))


@strawberry.type
class ResourceQuery:
    @strawberry.field(description="Search a municipality's published directory. No login needed.")
    async def public_resources(
        self, info: Info[YorisoiContext, None], municipality_code: str,
        q: Annotated[str | None, strawberry.argument(
            description="Partial names or words; kana and widths fold")] = None,
        kind: str | None = None, area: str | None = None,
        day: Annotated[str | None, strawberry.argument(description="Open on: mon … sun")] = None,
        fee: Annotated[str | None, strawberry.argument(description="free | paid")] = None,
        include_neighbours: Annotated[bool, strawberry.argument(
            description="Also declared neighbours' published entries")] = False,
        first: int = 20, after: str | None = None,
    ) -> PublicResourceConnection:
        services = info.context.services

        def run() -> PublicResourceConnection:
            filters = checked_filters(q=q, kind=kind, area=area, day=day, fee=fee,
                                      published_only=True)
            page = search_directory(services.runtimes, services.directory.registry,
                                    services.directory.platform.database, municipality_code,
                                    filters, include_neighbours=include_neighbours,
                                    first=paging.page_size(first), after=after)
            return _connection(page, PublicResource, PublicResourceEdge,
                               PublicResourceConnection)

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # noqa: BLE001 - expected errors become typed GraphQL errors
            raise api_error(exc) from None

    @strawberry.field(description="The municipality's directory for staff, drafts included.")
    async def resources(
        self, info: Info[YorisoiContext, None], municipality_code: str | None = None,
        q: str | None = None, kind: str | None = None, area: str | None = None,
        day: str | None = None, fee: str | None = None,
        published_only: bool = False, first: int = 20, after: str | None = None,
    ) -> ResourceConnection:
        ctx = info.context

        def run() -> ResourceConnection:
            grant = ctx.authorize("case.read", municipality_code)
            filters = checked_filters(q=q, kind=kind, area=area, day=day, fee=fee,
                                      published_only=published_only)
            page = search_directory(ctx.services.runtimes, ctx.services.directory.registry,
                                    ctx.services.directory.platform.database,
                                    grant.municipality_code, filters, include_neighbours=False,
                                    first=paging.page_size(first), after=after)
            return _connection(page, Resource, ResourceEdge, ResourceConnection)

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # noqa: BLE001
            raise api_error(exc) from None


async def _resource_change(info: Info[YorisoiContext, None], code: str, check: Checker,
                           act: Callable[[TenantRuntime, Grant], ResourceAggregate],
                           ) -> ResourceChangeResult:
    """Run one directory command and answer with the entry as the view now shows it."""

    def command(rt: TenantRuntime, grant: Grant) -> ResourceChanged:
        return _changed(rt, act(rt, grant))

    return await execute(info, "directory.manage", code, command, check=check)


@strawberry.type
class ResourceMutation:
    @strawberry.mutation(description="Add a directory entry (unpublished until published).")
    async def register_resource(self, info: Info[YorisoiContext, None],
                                input: RegisterResourceInput) -> ResourceChangeResult:
        check = Checker(info.context.services.settings.max_text_length)
        raw = _attributes(check, input.attributes)

        def act(rt: TenantRuntime, grant: Grant) -> ResourceAggregate:
            assert raw is not None
            return rt.casework.register_resource(_checked(raw, grant))

        return await _resource_change(info, input.municipality_code, check, act)

    @strawberry.mutation(description="Replace an entry's attributes A–D and owner.")
    async def update_resource(self, info: Info[YorisoiContext, None],
                              input: UpdateResourceInput) -> ResourceChangeResult:
        check = Checker(info.context.services.settings.max_text_length)
        rid = _resource_id(check, input.resource_id)
        raw = _attributes(check, input.attributes)

        def act(rt: TenantRuntime, grant: Grant) -> ResourceAggregate:
            assert rid is not None and raw is not None
            return rt.casework.update_resource(rid, _checked(raw, grant),
                                               expected_version=input.expected_version)

        return await _resource_change(info, input.municipality_code, check, act)

    @strawberry.mutation(description="Record that the entry was confirmed on a date.")
    async def verify_resource(self, info: Info[YorisoiContext, None],
                              input: VerifyResourceInput) -> ResourceChangeResult:
        check = Checker(info.context.services.settings.max_text_length)
        rid = _resource_id(check, input.resource_id)
        verified_on = check.day("verifiedOn", input.verified_on)

        def act(rt: TenantRuntime, grant: Grant) -> ResourceAggregate:
            assert rid is not None and verified_on is not None
            return rt.casework.verify_resource(rid, verified_on=verified_on,
                                               expected_version=input.expected_version)

        return await _resource_change(info, input.municipality_code, check, act)

    @strawberry.mutation(description="Serve the entry to the public.")
    async def publish_resource(self, info: Info[YorisoiContext, None],
                               input: PublishResourceInput) -> ResourceChangeResult:
        return await _publication(info, input, publish=True)

    @strawberry.mutation(description="Withdraw the entry from the public directory.")
    async def unpublish_resource(self, info: Info[YorisoiContext, None],
                                 input: PublishResourceInput) -> ResourceChangeResult:
        return await _publication(info, input, publish=False)

    @strawberry.mutation(description="Make the entry a recipient of referrals, or change how it receives them.")
    async def accept_referrals(self, info: Info[YorisoiContext, None],
                               input: AcceptReferralsInput) -> ResourceChangeResult:
        check = Checker(info.context.services.settings.max_text_length)
        rid = _resource_id(check, input.resource_id)
        email = check.text("contactEmail", input.contact_email, 254) or None

        def act(rt: TenantRuntime, grant: Grant) -> ResourceAggregate:
            assert rid is not None
            return rt.casework.accept_referrals(
                rid, agency_kind=input.agency_kind, on_system=input.on_system,
                contact_email=email, confidentiality_basis=input.confidentiality_basis,
                expected_version=input.expected_version)

        return await _resource_change(info, input.municipality_code, check, act)

    @strawberry.mutation(description="Declare a neighbouring municipality (its published "
                                     "entries may then be included in searches).")
    async def declare_neighbour(self, info: Info[YorisoiContext, None],
                                input: NeighbourInput) -> NeighbourChangeResult:
        return await _neighbours(info, input, declare_neighbour)

    @strawberry.mutation(description="Withdraw a neighbour declaration.")
    async def withdraw_neighbour(self, info: Info[YorisoiContext, None],
                                 input: NeighbourInput) -> NeighbourChangeResult:
        return await _neighbours(info, input, withdraw_neighbour)


async def _publication(info: Info[YorisoiContext, None], input: PublishResourceInput,
                       publish: bool) -> ResourceChangeResult:
    check = Checker(info.context.services.settings.max_text_length)
    rid = _resource_id(check, input.resource_id)

    def act(rt: TenantRuntime, grant: Grant) -> ResourceAggregate:
        assert rid is not None
        change = rt.casework.publish_resource if publish else rt.casework.unpublish_resource
        return change(rid, expected_version=input.expected_version)

    return await _resource_change(info, input.municipality_code, check, act)


async def _neighbours(info: Info[YorisoiContext, None], input: NeighbourInput,
                      change) -> NeighboursChanged | ValidationError | NotAuthorizedError:
    ctx = info.context
    check = Checker(ctx.services.settings.max_text_length)
    check.required("neighbourCode", input.neighbour_code, 6)

    def run() -> NeighboursChanged:
        check.raise_if_any()
        grant = ctx.authorize("neighbour.manage", input.municipality_code)
        with acting_as(grant.acting):
            codes = change(ctx.services.directory, municipality_code=grant.municipality_code,
                           neighbour_code=input.neighbour_code)
        return NeighboursChanged(neighbour_codes=codes)

    try:
        return await asyncio.to_thread(run)
    except Exception as exc:  # noqa: BLE001 - expected errors become union members
        return user_error(exc)  # type: ignore[return-value]
