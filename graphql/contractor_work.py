"""A contractor's work across every municipality it serves, in one query.

Contractors serving several municipalities would otherwise ask each one in
turn.  ``myContractWork`` lists the caller's active contracts from the
registry, then reads each contracted municipality concurrently (one thread
per municipality, at most ``FAN_OUT`` at once).  Each municipality is
authorised on its own by ``tenants/access.authorize`` and read under the
grant's contract scope, so the answer never reaches beyond the caller's
contracts: a municipality without an active contract is never leased.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import strawberry
from opentelemetry import trace
from strawberry.types import Info

from yorisoi.graphql import paging
from yorisoi.graphql.cases import Case, CaseConnection, CaseEdge, PageInfo
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import api_error
from yorisoi.infra.clock import japan_today
from yorisoi.infra.identity import AuthenticationError
from yorisoi.infra.telemetry import current_trace_id
from yorisoi.projections.case_queries import encode_cursor
from yorisoi.projections.meeting_queries import MeetingQueries
from yorisoi.projections.referral_board import ReferralBoardQueries
from yorisoi.tenants.access import AccessDeniedError, authorize
from yorisoi.tenants.reading import admit
from yorisoi.tenants.registry import ContractRecord

# Municipalities read at once: each holds a connection of its tenant's small pool
# and a worker thread, so a contractor with many contracts must not take them all.
FAN_OUT = 4
_tracer = trace.get_tracer("yorisoi.graphql")


@strawberry.type(description="One active contract with the municipality.")
class ActiveContract:
    contract_id: str
    site_ids: list[str] = strawberry.field(description="The sites the contract covers")
    starts_on: str
    ends_on: str

    @classmethod
    def from_record(cls, r: ContractRecord) -> ActiveContract:
        return cls(contract_id=r.contract_id, site_ids=list(r.site_ids),
                   starts_on=r.starts_on.isoformat(), ends_on=r.ends_on.isoformat())


@strawberry.type(description="The caller's work in one municipality, under its active contracts only.")
class MunicipalityWork:
    municipality_code: str
    municipality_name: str
    contracts: list[ActiveContract]
    open_case_count: int = strawberry.field(description="Cases under these contracts not closed")
    open_referral_count: int = strawberry.field(
        description="Referrals of those cases not closed")
    my_open_task_count: int = strawberry.field(
        description="The caller's open tasks there (meeting actions and referral follow-ups)")
    cases: CaseConnection = strawberry.field(
        description="The first page of cases, most recent activity first; page on with "
                    "cases(municipalityCode:, after:)")


def _contractor_only() -> AccessDeniedError:
    return AccessDeniedError(
        "contractor_only",
        "Only a contractor's staff have work across municipalities; use cases instead.",
        "この照会は受託事業者の職員のみ利用できます。cases を利用してください。")


def _by_municipality(contracts: Iterable[ContractRecord]) -> dict[str, list[ContractRecord]]:
    grouped: dict[str, list[ContractRecord]] = {}
    for contract in contracts:
        grouped.setdefault(contract.municipality_code, []).append(contract)
    return dict(sorted(grouped.items()))


@dataclass(frozen=True)
class _Reader:
    """Reads one municipality for the caller (runs in a worker thread)."""

    ctx: YorisoiContext
    first: int

    def active_contracts(self) -> dict[str, list[ContractRecord]]:
        principal = self.ctx.principal
        if principal is None:
            raise AuthenticationError("token_missing")
        if principal.tenant_kind != "contractor":
            raise _contractor_only()
        today = japan_today()
        registry = self.ctx.services.directory.registry
        return _by_municipality(c for c in registry.contracts(contractor_id=principal.tenant_id)
                                if c.is_active_on(today))

    def read(self, code: str, contracts: list[ContractRecord]) -> MunicipalityWork | None:
        principal = self.ctx.principal
        assert principal is not None  # active_contracts() refused anonymous callers
        try:
            grant = authorize(principal, "case.read", code, self.ctx.services.directory.registry,
                              request_id=self.ctx.request_id, trace_id=current_trace_id())
        except AccessDeniedError as error:
            if error.code == "contract_not_active":
                return None  # ended between the listing and now: no longer ours to read
            raise
        # Personal fields of this municipality's cases read as the grant allows (and are logged).
        admit(self.ctx.services, self.ctx.personal_access, grant)
        # The grant's contracts, not the listing's: the decision point has the last word.
        granted = set(grant.scope.contract_ids or ())
        contracts = [c for c in contracts if c.contract_id in granted]
        registry = self.ctx.services.directory.registry
        tenant = registry.tenant(code)
        # One span per municipality, named by its space like every other tenant span
        # (the HTTP span is not tagged: this request spans several tenants).
        with _tracer.start_as_current_span("graphql.contract_work.municipality") as span, \
                self.ctx.services.runtimes.lease(grant.municipality_code) as rt:
            span.set_attribute("yorisoi.tenant", rt.space)
            db, keyring = rt.casework.database, rt.casework.keyring
            page = rt.cases.page(grant.scope, first=self.first)
            closed_cases = rt.cases.page(grant.scope, first=1, status="closed").total_count
            referrals = ReferralBoardQueries(db, keyring)
            all_referrals = referrals.board(grant.scope, first=1).total_count
            closed_referrals = referrals.board(grant.scope, first=1, status="closed").total_count
            tasks = MeetingQueries(db, keyring).my_tasks(
                grant.scope, grant.acting.user_id, first=1, after=None).total_count
        return MunicipalityWork(
            municipality_code=code, municipality_name=tenant.name if tenant else code,
            contracts=[ActiveContract.from_record(c) for c in contracts],
            open_case_count=page.total_count - closed_cases,
            open_referral_count=all_referrals - closed_referrals,
            my_open_task_count=tasks,
            cases=CaseConnection(
                total_count=page.total_count,
                edges=[CaseEdge(cursor=encode_cursor(c), node=Case.from_record(c))
                       for c in page.cases],
                page_info=PageInfo(has_next_page=page.has_next_page,
                                   end_cursor=page.end_cursor)))


@strawberry.type
class ContractorWorkQuery:
    @strawberry.field(description="A contractor's work in every municipality it holds an active "
                                  "contract with, by municipality code (contractors only).")
    async def my_contract_work(self, info: Info[YorisoiContext, None],
                               first: int = 20) -> list[MunicipalityWork]:
        reader = _Reader(info.context, paging.page_size(first))
        limit = asyncio.Semaphore(FAN_OUT)

        async def one(code: str, contracts: list[ContractRecord]) -> MunicipalityWork | None:
            async with limit:
                return await asyncio.to_thread(reader.read, code, contracts)

        try:
            contracted = await asyncio.to_thread(reader.active_contracts)
            results = await asyncio.gather(*(one(code, contracts)
                                             for code, contracts in contracted.items()))
        except Exception as exc:  # noqa: BLE001 - api_error re-raises the unexpected
            raise api_error(exc) from None
        return [work for work in results if work is not None]
