"""Closing, reopening and flagging cases."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.graphql.cases import Case
from yorisoi.graphql.commands import case_after, execute
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
)
from yorisoi.graphql.validation import Checker


@strawberry.type
class CaseChanged:
    case: Case


CaseChangeResult = Annotated[
    CaseChanged | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("CaseChangeResult"),
]


@strawberry.input
class CloseCaseInput:
    municipality_code: str
    case_id: strawberry.ID
    closed_on: str = strawberry.field(description="YYYY-MM-DD, Japan time; retention counts from it")
    reason: str = strawberry.field(description="support_completed | moved_away | transferred | family_declined | no_contact | other")
    expected_version: int | None = strawberry.field(default=None, description="The case version you decided on; a stale one is refused")


@strawberry.input
class ReopenCaseInput:
    municipality_code: str
    case_id: strawberry.ID
    reopened_on: str
    expected_version: int | None = None


@strawberry.input
class MarkCouncilCaseInput:
    municipality_code: str
    case_id: strawberry.ID
    council_case: bool = strawberry.field(description="The 要保護児童対策地域協議会 already handles this family")
    expected_version: int | None = None


@strawberry.type
class CaseLifecycleMutation:
    @strawberry.mutation(description="Close a case on an exact date, for a reason.")
    async def close_case(self, info: Info[YorisoiContext, None],
                         input: CloseCaseInput) -> CaseChangeResult:
        check = Checker(info.context.services.settings.max_text_length)
        closed_on = check.day("closedOn", input.closed_on)
        case_id = check.case_id(input.case_id)

        def command(rt, grant):  # noqa: ANN001, ANN202
            rt.casework.close_case(case_id, closed_on=closed_on, reason=input.reason,
                                   expected_version=input.expected_version,
                                   writable_contract_ids=grant.scope.contract_ids)
            return CaseChanged(case=Case.from_record(case_after(rt, grant, case_id)))

        return await execute(info, "case.manage", input.municipality_code, command,
                             check=check, case_id=case_id)

    @strawberry.mutation(description="Reopen a closed case (its retention clock stops).")
    async def reopen_case(self, info: Info[YorisoiContext, None],
                          input: ReopenCaseInput) -> CaseChangeResult:
        check = Checker(info.context.services.settings.max_text_length)
        reopened_on = check.day("reopenedOn", input.reopened_on)
        case_id = check.case_id(input.case_id)

        def command(rt, grant):  # noqa: ANN001, ANN202
            rt.casework.reopen_case(case_id, reopened_on=reopened_on,
                                    expected_version=input.expected_version,
                                    writable_contract_ids=grant.scope.contract_ids)
            return CaseChanged(case=Case.from_record(case_after(rt, grant, case_id)))

        return await execute(info, "case.manage", input.municipality_code, command,
                             check=check, case_id=case_id)

    @strawberry.mutation(description="Record whether the 要対協 already handles the family.")
    async def mark_council_case(self, info: Info[YorisoiContext, None],
                                input: MarkCouncilCaseInput) -> CaseChangeResult:
        check = Checker(info.context.services.settings.max_text_length)
        case_id = check.case_id(input.case_id)

        def command(rt, grant):  # noqa: ANN001, ANN202
            rt.casework.mark_council_case(case_id, council_case=input.council_case,
                                          expected_version=input.expected_version,
                                          writable_contract_ids=grant.scope.contract_ids)
            return CaseChanged(case=Case.from_record(case_after(rt, grant, case_id)))

        return await execute(info, "case.manage", input.municipality_code, command,
                             check=check, case_id=case_id)
