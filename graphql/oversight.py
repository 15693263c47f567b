"""Municipal oversight of sites and contractors (§2(3)): findings and counts, no personal data.

One query for municipal supervisors and administrators ("oversight.read").
Every field is a code, an id of a site, contract or contractor, a date, a
month or a count: staff are counted by finding, never named, and nothing of
a family (names, what was said, free text) is read at all.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable

import strawberry
from strawberry.types import Info

from yorisoi.domain.errors import InvalidInputError
from yorisoi.domain.findings import Finding as FindingRecord
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import api_error
from yorisoi.graphql.sites import Finding
from yorisoi.infra.clock import japan_today
from yorisoi.projections.organisation_view import (
    OrganisationQueries,
    SiteProfileRecord,
    StaffRecord,
)
from yorisoi.projections.oversight_queries import (
    ActivityCounts,
    OversightQueries,
    fiscal_months,
)


@strawberry.type(description="How many staff have a finding.")
class FindingCount:
    code: str
    severity: str
    training_kind: str | None
    message: str
    message_ja: str
    count: int


@strawberry.type
class MonthCount:
    month: str = strawberry.field(description="YYYY-MM")
    count: int


@strawberry.type(description="Open complaints in one step.")
class StepCount:
    step: str
    open: int
    overdue: int


@strawberry.type
class SiteOversight:
    site_id: str | None = strawberry.field(description="Null: filed for the contractor as a whole")
    site_type: str | None = strawberry.field(description="Null until the site's profile is saved")
    open_days: int | None
    dedicated_specialists: int
    findings: list[Finding]
    staff_findings: list[FindingCount] = strawberry.field(description="Staff assigned here today")
    consultations: int
    consultations_by_month: list[MonthCount]
    referrals: int
    referrals_by_month: list[MonthCount]
    overdue_follow_ups: int = strawberry.field(description="Referral follow-ups past due, as of today")
    overdue_tasks: int = strawberry.field(description="Open case-meeting tasks past due, as of today")
    open_complaints: list[StepCount]


@strawberry.type
class ContractorOversight:
    contractor_id: str | None = strawberry.field(description="Null: sites the municipality runs itself")
    operation: str = strawberry.field(description="direct | contracted")
    staff_findings: list[FindingCount] = strawberry.field(description="All staff of the organisation")
    sites: list[SiteOversight]


@strawberry.type(description="Aggregates only: no personal data.")
class Oversight:
    municipality_code: str
    fiscal_year: int
    as_of: str
    complaints_available: bool
    contractors: list[ContractorOversight]


def _finding_counts(findings: Iterable[FindingRecord]) -> list[FindingCount]:
    counts = Counter(findings)
    return [FindingCount(code=f.code, severity=f.severity, training_kind=f.training_kind,
                         message=f.message, message_ja=f.message_ja, count=n)
            for f, n in sorted(counts.items(), key=lambda i: (i[0].code, i[0].training_kind or ""))]


def _months(fy: int, by_month: dict[str, int]) -> list[MonthCount]:
    return [MonthCount(month=m, count=by_month.get(m, 0)) for m in fiscal_months(fy)]


def build_oversight(municipality_code: str, fy: int, sites: list[SiteProfileRecord],
                    staff: list[StaffRecord], activity: ActivityCounts,
                    contractor_of: dict[str, str]) -> Oversight:
    """Group findings and counts by contractor (None: direct) and site."""
    today = japan_today().isoformat()
    profiles = {s.site_id: s for s in sites}
    groups: dict[str | None, set[str | None]] = {}
    for s in sites:
        groups.setdefault(s.contractor_id, set()).add(s.site_id)

    def merged(table: dict, value: object) -> dict:
        # Activity keyed by (site, contract) regrouped by (contractor, site).
        out: dict = {}
        for (site_id, contract_id), v in table.items():
            key = (contractor_of.get(contract_id) if contract_id else None, site_id)
            groups.setdefault(key[0], set()).add(site_id)
            out[key] = v if key not in out else value(out[key], v)  # type: ignore[operator]
        return out

    def add_months(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
        return {m: a.get(m, 0) + b.get(m, 0) for m in {*a, *b}}

    consultations = merged(activity.consultations, add_months)
    referrals = merged(activity.referrals, add_months)
    follow_ups = merged(activity.overdue_follow_ups, int.__add__)
    tasks = merged(activity.overdue_tasks, int.__add__)
    for site_id, contractor_id in activity.complaints:  # filed by (site, contractor)
        groups.setdefault(contractor_id, set()).add(site_id)

    def site_staff(site_id: str | None) -> list[FindingRecord]:
        return [f for m in staff for f in m.findings
                if any(a["site_id"] == site_id and a["starts_on"] <= today
                       and (a["ends_on"] is None or a["ends_on"] >= today) for a in m.assignments)]

    contractors = []
    for contractor_id in sorted(groups, key=lambda c: (c is not None, c or "")):
        rows = []
        for site_id in sorted(groups[contractor_id], key=lambda s: (s is None, s or "")):
            p = profiles.get(site_id) if site_id else None
            key = (contractor_id, site_id)
            c, r = consultations.get(key, {}), referrals.get(key, {})
            rows.append(SiteOversight(
                site_id=site_id, site_type=p.site_type if p else None,
                open_days=len(p.weekly) if p else None,
                dedicated_specialists=p.dedicated_specialists if p else 0,
                findings=[Finding.of(f) for f in p.findings] if p else [],
                staff_findings=_finding_counts(site_staff(site_id)),
                consultations=sum(c.values()), consultations_by_month=_months(fy, c),
                referrals=sum(r.values()), referrals_by_month=_months(fy, r),
                overdue_follow_ups=follow_ups.get(key, 0), overdue_tasks=tasks.get(key, 0),
                open_complaints=[StepCount(step=step, open=n.open, overdue=n.overdue)
                                 for step, n in sorted(activity.complaints.get((site_id, contractor_id),
                                                                    {}).items())]))
        organisation = contractor_id or municipality_code
        contractors.append(ContractorOversight(
            contractor_id=contractor_id, operation="contracted" if contractor_id else "direct",
            staff_findings=_finding_counts(f for m in staff if m.organisation_id == organisation
                                           for f in m.findings),
            sites=rows))
    return Oversight(municipality_code=municipality_code, fiscal_year=fy, as_of=today,
                     complaints_available=activity.complaints_available,
                     contractors=contractors)


@strawberry.type
class OversightQuery:
    @strawberry.field(description="Findings and activity counts per contractor and site for a fiscal year.")
    async def oversight(self, info: Info[YorisoiContext, None], municipality_code: str,
                        fiscal_year: int) -> Oversight:
        def run() -> Oversight:
            grant = info.context.authorize("oversight.read", municipality_code)
            if not 2000 <= fiscal_year <= 2100:
                raise InvalidInputError(field="fiscalYear", message="Not a fiscal year.",
                                        message_ja="年度の指定が正しくありません。")
            today = japan_today()
            registry = info.context.services.directory.registry
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                db = rt.casework.database
                sites = OrganisationQueries(db).sites(today)
                staff = OrganisationQueries(db).all_staff(today)
                activity = OversightQueries(db).activity(fiscal_year, today)
            site_ids = {s.site_id for s in sites} | {
                k[0] for t in (activity.consultations, activity.referrals,
                               activity.overdue_follow_ups, activity.overdue_tasks)
                for k in t if k[0]}
            contractor_of = {c.contract_id: c.contractor_id for site_id in site_ids
                             for c in registry.contract_for_site(grant.municipality_code, site_id)}
            return build_oversight(grant.municipality_code, fiscal_year, sites, staff, activity,
                                   contractor_of)

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # noqa: BLE001 - expected errors become typed GraphQL errors
            raise api_error(exc) from None
