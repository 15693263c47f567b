"""recordConsultation: a contractor's or municipality's specialist records a consultation."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.domain.households import Child as ChildValue
from yorisoi.domain.households import Guardian as GuardianValue
from yorisoi.domain.households import Pregnancy
from yorisoi.graphql.cases import Case, Consultation
from yorisoi.graphql.commands import case_after, execute
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
)
from yorisoi.graphql.validation import Checker
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_NAME = 100
MAX_THEMES = 20
MAX_PEOPLE = 20


@strawberry.input
class GuardianInput:
    name: str
    relationship: str


@strawberry.input
class ChildInput:
    name: str
    birth_date: str = strawberry.field(description="YYYY-MM-DD")


@strawberry.input(description="The people of a new case.")
class HouseholdInput:
    guardians: list[GuardianInput] = strawberry.field(default_factory=list)
    children: list[ChildInput] = strawberry.field(default_factory=list)
    pregnancy_due_date: str | None = strawberry.field(default=None, description="YYYY-MM-DD")
    outside_target_reason: str | None = None


@strawberry.input
class RecordConsultationInput:
    municipality_code: str = strawberry.field(description="全国地方公共団体コード of the municipality whose record this is.")
    site_id: str
    occurred_on: str = strawberry.field(description="YYYY-MM-DD, Japan time")
    channel: str = strawberry.field(description="visit | phone | outreach | online")
    themes: list[str]
    asked: str
    wishes: str = ""
    direction: str = ""
    case_id: strawberry.ID | None = strawberry.field(default=None, description="An existing case; or give household.")
    household: HouseholdInput | None = None


@strawberry.type
class ConsultationRecorded:
    case: Case
    consultation: Consultation


RecordConsultationResult = Annotated[
    ConsultationRecorded | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("RecordConsultationResult"),
]


def parse_input(data: RecordConsultationInput, check: Checker) -> RecordConsultation:
    """Turn the GraphQL input into a command; every shape problem goes into ``check``."""
    occurred_on = check.day("occurredOn", data.occurred_on)
    household = None
    if data.household is not None and data.case_id is not None:
        check.bad("household", "Give either a caseId or a new household, not both.",
                   "ケースIDと新しい世帯の情報は、どちらか一方だけを指定してください。")
    elif data.household is not None:
        h = data.household
        check.count("household.guardians", h.guardians, MAX_PEOPLE)
        check.count("household.children", h.children, MAX_PEOPLE)
        guardians = [GuardianValue(
            name=check.required(f"household.guardians.{i}.name", g.name, MAX_NAME),
            relationship=check.required(f"household.guardians.{i}.relationship",
                                        g.relationship, MAX_NAME))
            for i, g in enumerate(h.guardians)]
        children = []
        for i, c in enumerate(h.children):
            name = check.required(f"household.children.{i}.name", c.name, MAX_NAME)
            born = check.day(f"household.children.{i}.birthDate", c.birth_date)
            if born is not None:
                children.append(ChildValue(name=name, birth_date=born))
        due = check.day("household.pregnancyDueDate", h.pregnancy_due_date)
        household = NewHousehold(
            guardians=guardians, children=children,
            pregnancy=Pregnancy(due_date=due) if due else None,
            outside_target_reason=check.text("household.outsideTargetReason",
                                             h.outside_target_reason) or None)
    elif data.case_id is None:
        check.bad("household", "Give a caseId or a new household.",
                   "ケースIDまたは新しい世帯の情報を指定してください。")
    check.count("themes", data.themes, MAX_THEMES)
    command = RecordConsultation(
        municipality_code=check.required("municipalityCode", data.municipality_code, 6),
        site_id=check.required("siteId", data.site_id, MAX_NAME),
        contract_id=None,
        occurred_on=occurred_on or date.min,
        channel=check.text("channel", data.channel, 20),
        themes=[check.text(f"themes.{i}", t, 50) for i, t in enumerate(data.themes)],
        asked=check.text("asked", data.asked), wishes=check.text("wishes", data.wishes),
        direction=check.text("direction", data.direction),
        case_id=check.case_id(data.case_id), household=household)
    return command


@strawberry.type
class ConsultationMutation:
    @strawberry.mutation(description="Record a consultation (opening a case for a new household).")
    async def record_consultation(self, info: Info[YorisoiContext, None],
                                  input: RecordConsultationInput) -> RecordConsultationResult:
        check = Checker(info.context.services.settings.max_text_length)
        parsed = parse_input(input, check)

        def command(rt: TenantRuntime, grant: Grant) -> ConsultationRecorded:
            recorded = rt.casework.record_consultation(replace(
                parsed, contract_id=grant.contract_id,
                writable_contract_ids=grant.scope.contract_ids))
            case = case_after(rt, grant, recorded.case_id)
            mine = next(c for c in rt.cases.consultations([str(recorded.case_id)])[
                str(recorded.case_id)] if c.consultation_id == str(recorded.consultation_id))
            return ConsultationRecorded(case=Case.from_record(case),
                                        consultation=Consultation.from_record(mine))

        return await execute(info, "consultation.record", parsed.municipality_code, command,
                             check=check, site_id=parsed.site_id)
