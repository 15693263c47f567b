"""recordConsultation: a contractor's or municipality's specialist records a consultation."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import replace
from datetime import date
from typing import Annotated

import strawberry
from strawberry.types import Info
from yorisoi.domain.errors import DomainError, InvalidInputError
from yorisoi.domain.households import Child as ChildValue
from yorisoi.domain.households import Guardian as GuardianValue
from yorisoi.domain.households import Pregnancy
from yorisoi.graphql.cases import Case, Consultation
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    InputErrors,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
    user_error,
)
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.context import acting_as

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
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


class _Checker:
    """Collects every shape problem of an input at once (the edge check)."""

    def __init__(self, max_text: int) -> None:
        self.max_text = max_text
        self.errors: list[DomainError] = []

    def _bad(self, field: str, message: str, message_ja: str) -> None:
        self.errors.append(InvalidInputError(field=field, message=message, message_ja=message_ja))

    def text(self, field: str, value: str | None, limit: int | None = None) -> str:
        limit = limit or self.max_text
        if value is not None and len(value) > limit:
            self._bad(field, f"Too long: at most {limit} characters.",
                      f"{limit}文字以内で入力してください。")
        return value or ""

    def required(self, field: str, value: str, limit: int | None = None) -> str:
        if not value.strip():
            self._bad(field, "This field is required.", "必須項目です。")
        return self.text(field, value, limit)

    def day(self, field: str, value: str | None) -> date | None:
        if value is None:
            return None
        try:
            # fromisoformat alone also takes week dates such as 2026-W01-1.
            if not _ISO_DATE.fullmatch(value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            self._bad(field, "Not a date: use YYYY-MM-DD.",
                      "日付の形式が正しくありません（YYYY-MM-DD）。")
            return None

    def count(self, field: str, items: list, limit: int) -> None:
        if len(items) > limit:
            self._bad(field, f"At most {limit} entries.", f"{limit}件以内にしてください。")

    def case_id(self, value: strawberry.ID | None) -> uuid.UUID | None:
        if value is None:
            return None
        try:
            return uuid.UUID(str(value))
        except ValueError:
            self._bad("caseId", "Not a case id.", "ケースIDの形式が正しくありません。")
            return None


def parse_input(data: RecordConsultationInput, max_text: int) -> RecordConsultation:
    """Turn the GraphQL input into a command, or raise InputErrors with every problem."""
    check = _Checker(max_text)
    occurred_on = check.day("occurredOn", data.occurred_on)
    household = None
    if data.household is not None and data.case_id is not None:
        check._bad("household", "Give either a caseId or a new household, not both.",
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
        check._bad("household", "Give a caseId or a new household.",
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
    if check.errors:
        raise InputErrors(check.errors)
    return command


@strawberry.type
class ConsultationMutation:
    @strawberry.mutation(description="Record a consultation (opening a case for a new household).")
    async def record_consultation(self, info: Info[YorisoiContext, None],
                                  input: RecordConsultationInput) -> RecordConsultationResult:
        ctx = info.context

        def run() -> ConsultationRecorded:
            command = parse_input(input, ctx.services.settings.max_text_length)
            grant = ctx.authorize("consultation.record", command.municipality_code,
                                  site_id=command.site_id)
            command = replace(command, contract_id=grant.contract_id,
                              writable_contract_ids=grant.scope.contract_ids)
            with ctx.services.runtimes.lease(grant.municipality_code) as rt, \
                    acting_as(grant.acting):
                recorded = rt.casework.record_consultation(command)
                rt.catch_up()  # read-your-writes: the answer comes from the view
                case = rt.cases.get(grant.scope, str(recorded.case_id))
                consultations = rt.cases.consultations([str(recorded.case_id)])
            assert case is not None
            mine = next(c for c in consultations[str(recorded.case_id)]
                        if c.consultation_id == str(recorded.consultation_id))
            return ConsultationRecorded(case=Case.from_record(case),
                                        consultation=Consultation.from_record(mine))

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # expected errors become union members; bugs propagate
            return user_error(exc)
