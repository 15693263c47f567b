"""Correcting who a household is (names, birth dates, due date): a new event, the original kept.

Specialists correct a mistake they notice; a data-subject request for
correction (APPI) is carried out the same way and linked to the request
(``correctHouseholdForRequest`` in graphql/data_subject.py follows the pattern
of the other corrections there).
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.graphql.cases import Household
from yorisoi.graphql.commands import execute
from yorisoi.graphql.consultations import HouseholdInput, parse_household
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import ConflictError, NotAuthorizedError, NotFoundError, ValidationError
from yorisoi.graphql.validation import Checker
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime


@strawberry.input(description="The household's people as they should read (the whole set).")
class CorrectHouseholdInput:
    municipality_code: str
    case_id: strawberry.ID
    household: HouseholdInput
    reason: str = strawberry.field(description="Why (kept with the correction)")
    expected_version: int | None = strawberry.field(
        default=None, description="The household version you decided on; a stale one is refused")


@strawberry.type
class HouseholdCorrected:
    household: Household
    changed_fields: list[str] = strawberry.field(description="Names of what changed")


CorrectHouseholdResult = Annotated[
    HouseholdCorrected | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("CorrectHouseholdResult")]


@strawberry.type
class HouseholdCorrectionMutation:
    @strawberry.mutation(description="Correct the people of a case's household (the original "
                                     "stays in the log; allowed on a closed case).")
    async def correct_household(self, info: Info[YorisoiContext, None],
                                input: CorrectHouseholdInput) -> CorrectHouseholdResult:
        check = Checker.of(info)
        case_id = check.case_id(input.case_id)
        household = parse_household(check, input.household)
        reason = check.required("reason", input.reason, 400)

        def command(rt: TenantRuntime, grant: Grant) -> HouseholdCorrected:
            corrected = rt.casework.correct_household(
                case_id, household, reason=reason, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids)
            rt.catch_up()
            record = rt.cases.households([str(corrected.id)])[str(corrected.id)]
            return HouseholdCorrected(household=Household.from_record(record),
                                      changed_fields=list(corrected.corrected_fields))

        return await execute(info, "case.manage", input.municipality_code, command,
                             check=check, case_id=case_id)
