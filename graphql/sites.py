"""Site profiles: type, address, operator, weekly hours and dated exceptions, with findings.

Only municipal administrators and supervisors manage them ("organisation.manage");
the profile is the municipality's own record (see ``domain/sites.py``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.domain.findings import Finding as FindingRecord
from yorisoi.domain.sites import SITE_TYPES, WEEKDAYS
from yorisoi.graphql import paging
from yorisoi.graphql.commands import execute
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
    api_error,
)
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.projections.organisation_view import OrganisationQueries, SiteProfileRecord
from yorisoi.services.sites import SiteProfileNotFoundError
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime


@strawberry.type(description="A problem found by a check; it never names a person.")
class Finding:
    code: str
    severity: str = strawberry.field(description="warning | error")
    message: str
    message_ja: str
    training_kind: str | None = None

    @classmethod
    def of(cls, f: FindingRecord) -> Finding:
        return cls(code=f.code, severity=f.severity, message=f.message, message_ja=f.message_ja,
                   training_kind=f.training_kind)


@strawberry.type
class OpeningHours:
    weekday: str = strawberry.field(description="mon | tue | wed | thu | fri | sat | sun")
    opens: str
    closes: str


@strawberry.type(description="A dated closure or special opening.")
class ScheduleException:
    on: str
    kind: str = strawberry.field(description="closed | special_opening")
    opens: str | None
    closes: str | None


@strawberry.type(description="The municipality's record of a site (実施場所).")
class SiteProfile:
    site_id: str
    site_type: str = strawberry.field(description="kihon | tokutei | kodomo_katei_center | ninpu_houkatsu")
    site_type_ja: str
    address: str
    operation: str = strawberry.field(description="direct | contracted")
    contractor_id: str | None
    contract_id: str | None
    weekly: list[OpeningHours]
    open_days: int = strawberry.field(description="Weekdays open in the regular schedule")
    closed_on_public_holidays: bool
    exceptions: list[ScheduleException]
    dedicated_specialists: int = strawberry.field(description="Specialists assigned 専任 today")
    findings: list[Finding]
    version: int

    @classmethod
    def from_record(cls, r: SiteProfileRecord) -> SiteProfile:
        return cls(
            site_id=r.site_id, site_type=r.site_type, site_type_ja=SITE_TYPES[r.site_type],
            address=r.address, operation="direct" if r.contract_id is None else "contracted",
            contractor_id=r.contractor_id, contract_id=r.contract_id,
            weekly=[OpeningHours(weekday=d, opens=h[0], closes=h[1]) for d, h in r.weekly.items()],
            open_days=len(r.weekly), closed_on_public_holidays=r.closed_on_public_holidays,
            exceptions=[ScheduleException(on=on, kind=str(e["kind"]), opens=e.get("opens"),
                                          closes=e.get("closes"))
                        for on, e in r.exceptions.items()],
            dedicated_specialists=r.dedicated_specialists,
            findings=[Finding.of(f) for f in r.findings], version=r.version)


@strawberry.type
class SiteProfileSaved:
    site: SiteProfile


SiteProfileResult = Annotated[
    SiteProfileSaved | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("SiteProfileResult"),
]


@strawberry.input
class SaveSiteProfileInput:
    municipality_code: str
    site_id: str
    site_type: str = strawberry.field(description="kihon | tokutei | kodomo_katei_center | ninpu_houkatsu")
    address: str
    contract_id: str | None = strawberry.field(
        default=None, description="The active contract running the site; null: run directly")
    expected_version: int | None = None


@strawberry.input
class OpeningHoursInput:
    weekday: str
    opens: str = strawberry.field(description="HH:MM")
    closes: str = strawberry.field(description="HH:MM")


@strawberry.input
class SetSiteScheduleInput:
    municipality_code: str
    site_id: str
    weekly: list[OpeningHoursInput] = strawberry.field(description="Open weekdays; others are closed")
    closed_on_public_holidays: bool = True
    expected_version: int | None = None


@strawberry.input
class AddSiteScheduleExceptionInput:
    municipality_code: str
    site_id: str
    on: str
    kind: str = strawberry.field(description="closed | special_opening")
    opens: str | None = None
    closes: str | None = None


@strawberry.input
class RemoveSiteScheduleExceptionInput:
    municipality_code: str
    site_id: str
    on: str


def _site_after(rt: TenantRuntime, site_id: str) -> SiteProfileSaved:
    records = OrganisationQueries(rt.casework.database).sites(japan_today(), site_id)
    if not records:
        raise SiteProfileNotFoundError(field="siteId")
    return SiteProfileSaved(site=SiteProfile.from_record(records[0]))


def _checker(info: Info[YorisoiContext, None]) -> Checker:
    return Checker(info.context.services.settings.max_text_length)


@strawberry.type
class SiteMutation:
    @strawberry.mutation(description="Create or change a site's profile (type, address, operator).")
    async def save_site_profile(self, info: Info[YorisoiContext, None],
                                input: SaveSiteProfileInput) -> SiteProfileResult:
        check = _checker(info)
        check.required("address", input.address, 200)
        registry = info.context.services.directory.registry

        def command(rt: TenantRuntime, grant: Grant) -> SiteProfileSaved:
            today = japan_today()
            contracts = {c.contract_id: c.contractor_id
                         for c in registry.contract_for_site(grant.municipality_code, input.site_id)
                         if c.is_active_on(today)}
            rt.casework.save_site_profile(
                grant.municipality_code, input.site_id, site_type=input.site_type,
                address=input.address, contract_id=input.contract_id, site_contracts=contracts,
                expected_version=input.expected_version)
            rt.catch_up()
            return _site_after(rt, input.site_id)

        return await execute(info, "organisation.manage", input.municipality_code, command,
                             check=check, site_id=input.site_id)

    @strawberry.mutation(description="Replace a site's weekly opening schedule.")
    async def set_site_schedule(self, info: Info[YorisoiContext, None],
                                input: SetSiteScheduleInput) -> SiteProfileResult:
        check = _checker(info)
        check.count("weekly", input.weekly, len(WEEKDAYS))
        weekdays = [h.weekday for h in input.weekly]
        if len(set(weekdays)) != len(weekdays):
            check.bad("weekly", "Each weekday at most once.", "曜日は一度ずつ指定してください。")
        weekly = {h.weekday: (h.opens, h.closes) for h in input.weekly}

        def command(rt: TenantRuntime, grant: Grant) -> SiteProfileSaved:
            rt.casework.set_site_schedule(
                grant.municipality_code, input.site_id, weekly=weekly,
                closed_on_public_holidays=input.closed_on_public_holidays,
                expected_version=input.expected_version)
            rt.catch_up()
            return _site_after(rt, input.site_id)

        return await execute(info, "organisation.manage", input.municipality_code, command,
                             check=check, site_id=input.site_id)

    @strawberry.mutation(description="Add a dated closure or special opening (replaces one that day).")
    async def add_site_schedule_exception(
            self, info: Info[YorisoiContext, None],
            input: AddSiteScheduleExceptionInput) -> SiteProfileResult:
        check = _checker(info)
        on = check.day("on", input.on)

        def command(rt: TenantRuntime, grant: Grant) -> SiteProfileSaved:
            rt.casework.add_site_exception(grant.municipality_code, input.site_id, on=on,
                                           kind=input.kind, opens=input.opens,
                                           closes=input.closes)
            rt.catch_up()
            return _site_after(rt, input.site_id)

        return await execute(info, "organisation.manage", input.municipality_code, command,
                             check=check, site_id=input.site_id)

    @strawberry.mutation(description="Remove the dated exception on a day.")
    async def remove_site_schedule_exception(
            self, info: Info[YorisoiContext, None],
            input: RemoveSiteScheduleExceptionInput) -> SiteProfileResult:
        check = _checker(info)
        on = check.day("on", input.on)

        def command(rt: TenantRuntime, grant: Grant) -> SiteProfileSaved:
            rt.casework.remove_site_exception(grant.municipality_code, input.site_id, on=on)
            rt.catch_up()
            return _site_after(rt, input.site_id)

        return await execute(info, "organisation.manage", input.municipality_code, command,
                             check=check, site_id=input.site_id)


SiteProfileConnection = paging.Connection[SiteProfile]


@strawberry.type
class SiteQuery:
    @strawberry.field(description="The municipality's site profiles by site id, with their "
                                  "findings as of today (keyset pages: pass pageInfo.endCursor "
                                  "as after).")
    async def site_profiles(self, info: Info[YorisoiContext, None],
                            municipality_code: str | None = None, first: int = 50,
                            after: str | None = None) -> SiteProfileConnection:
        first = paging.page_size(first)

        def run() -> SiteProfileConnection:
            grant = info.context.authorize("organisation.manage", municipality_code)
            start = paging.decode(after, str)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                records, total = OrganisationQueries(rt.casework.database).site_page(
                    japan_today(), after=start[0] if start else None, limit=first + 1)
            return paging.connection(records, first=first, total_count=total,
                                     key=lambda r: [r.site_id], node=SiteProfile.from_record)

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # noqa: BLE001 - expected errors become typed GraphQL errors
            raise api_error(exc) from None
