"""Handing the cases of an ended or suspended contract over to a successor contract."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.graphql.commands import execute
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
)
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.projections.case_queries import CaseScope
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

# Ids of the old contract's cases are read from the case view in pages of this size.
_PAGE = 500


@strawberry.type
class CasesHandedOver:
    from_contract_id: str
    to_contract_id: str
    handed_over_count: int = strawberry.field(description="Cases moved to the successor by this call")


HandOverCasesResult = Annotated[
    CasesHandedOver | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("HandOverCasesResult"),
]


@strawberry.input
class HandOverCasesInput:
    municipality_code: str
    from_contract_id: str = strawberry.field(description="An ended or suspended contract")
    to_contract_id: str = strawberry.field(description="An active contract of the same municipality covering the cases' sites")


def _case_ids(rt: TenantRuntime, contract_id: str) -> list[uuid.UUID]:
    """Every case the view shows under ``contract_id`` (the aggregates re-check it)."""
    rt.catch_up()
    scope = CaseScope(contract_ids=[contract_id], include_direct=False)
    ids: list[uuid.UUID] = []
    after = None
    while True:
        page = rt.cases.page(scope, first=_PAGE, after=after)
        ids += [uuid.UUID(case.case_id) for case in page.cases]
        if not page.has_next_page:
            return ids
        after = page.end_cursor


@strawberry.type
class ContractMutation:
    @strawberry.mutation(description="Hand the cases of an ended or suspended contract over to a successor contract (municipality only).")
    async def hand_over_cases(self, info: Info[YorisoiContext, None],
                              input: HandOverCasesInput) -> HandOverCasesResult:
        check = Checker(info.context.services.settings.max_text_length)
        from_id = check.required("fromContractId", input.from_contract_id, 100)
        to_id = check.required("toContractId", input.to_contract_id, 100)
        registry = info.context.services.directory.registry

        def command(rt: TenantRuntime, grant: Grant) -> CasesHandedOver:
            moved = rt.casework.hand_over_cases(
                _case_ids(rt, from_id), municipality_code=grant.municipality_code,
                predecessor=registry.contract(from_id), successor=registry.contract(to_id),
                on=japan_today())
            return CasesHandedOver(from_contract_id=from_id, to_contract_id=to_id,
                                   handed_over_count=len(moved))

        return await execute(info, "contract.manage", input.municipality_code, command,
                             check=check)
