"""Case meetings (ケース会議): scheduling, participants, minutes and role assignments, and
the meeting calendar.

A meeting's commands act under its case's own contract and site; a meeting of
a case outside the caller's contracts answers NotFound, as an absent one does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.domain.case_meetings import JST
from yorisoi.graphql.commands import execute, on_meeting, read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    UserError,
    ValidationError,
)
from yorisoi.graphql.tasks import Task
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.projections.meeting_queries import MeetingQueries, MeetingRecord
from yorisoi.services.meetings import (
    ActionItem,
    ExternalParticipant,
    InternalParticipant,
    Minutes,
    ScheduleCaseMeeting,
)
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_NAME = 100
MAX_PARTICIPANTS = 30
MAX_ACTIONS = 30
MAX_CALENDAR_DAYS = 366
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})?")


@strawberry.type
class InternalMeetingParticipant:
    user_id: str
    role: str


@strawberry.type(description="Someone from an agency; name and organisation are personal data.")
class ExternalMeetingParticipant:
    id: strawberry.ID
    name: str | None
    organisation: str | None
    confidentiality_basis: str = strawberry.field(description="council_member | public_servant | contract_clause | professional_duty")


@strawberry.type
class MeetingMinutes:
    wishes: str | None = strawberry.field(description="家族の意向")
    state_and_issues: str | None = strawberry.field(description="状態・課題")
    support_goals: str | None = strawberry.field(description="支援目標")
    concrete_support: str | None = strawberry.field(description="具体的支援内容")


@strawberry.type(description="A case meeting (ケース会議). Personal data: every read is attributable.")
class CaseMeeting:
    id: strawberry.ID
    case_id: strawberry.ID
    site_id: str
    contract_id: str | None
    starts_at: str = strawberry.field(description="ISO 8601, Japan time")
    ends_at: str
    status: str = strawberry.field(description="scheduled | held | cancelled")
    place: str | None
    agenda: str | None
    council_case: bool = strawberry.field(description="The 要対協 handled the case when it was scheduled")
    council_decision_recorded: bool
    council_decision: str | None = strawberry.field(description="Why a separate meeting was still needed")
    internal_participants: list[InternalMeetingParticipant]
    external_participants: list[ExternalMeetingParticipant]
    minutes: MeetingMinutes | None
    actions: list[Task]
    disposed: bool
    version: int = strawberry.field(description="Send it back as expectedVersion")

    @classmethod
    def from_record(cls, r: MeetingRecord) -> CaseMeeting:
        today = japan_today().isoformat()
        return cls(
            id=strawberry.ID(r.meeting_id), case_id=strawberry.ID(r.case_id), site_id=r.site_id,
            contract_id=r.contract_id, starts_at=r.starts_at, ends_at=r.ends_at, status=r.status,
            place=r.place, agenda=r.agenda, council_case=r.council_case,
            council_decision_recorded=r.council_decision_recorded,
            council_decision=r.council_decision,
            internal_participants=[InternalMeetingParticipant(**p)
                                   for p in r.internal_participants],
            external_participants=[ExternalMeetingParticipant(
                id=strawberry.ID(str(p["participant_id"])), name=p["name"],
                organisation=p["organisation"], confidentiality_basis=str(p["basis"]))
                for p in r.external_participants],
            minutes=MeetingMinutes(**r.minutes) if r.minutes else None,
            actions=[Task.from_record(a, today) for a in r.actions], disposed=r.disposed,
            version=r.version)


@strawberry.type(description="The case is handled by the 要対協: record why a separate meeting is needed.")
class CouncilCaseMeetingWarning(UserError):
    field: str


@strawberry.type
class CaseMeetingChanged:
    meeting: CaseMeeting


_Errors = ValidationError | NotAuthorizedError | NotFoundError | ConflictError
ScheduleCaseMeetingResult = Annotated[CaseMeetingChanged | CouncilCaseMeetingWarning | _Errors,
                                      strawberry.union("ScheduleCaseMeetingResult")]
CaseMeetingResult = Annotated[CaseMeetingChanged | _Errors, strawberry.union("CaseMeetingResult")]


# --------------------------------------------------------------------------- inputs


@strawberry.input
class InternalParticipantInput:
    user_id: str
    role: str = strawberry.field(description="specialist | site_staff | site_manager | municipal_staff | municipal_supervisor")


@strawberry.input
class ExternalParticipantInput:
    name: str
    organisation: str
    confidentiality_basis: str | None = strawberry.field(default=None, description="Required: council_member | public_servant | contract_clause | professional_duty")


@strawberry.input
class MeetingActionInput:
    owner_user_id: str
    what: str
    due_on: str = strawberry.field(description="YYYY-MM-DD")


@strawberry.input
class ScheduleCaseMeetingInput:
    municipality_code: str
    case_id: strawberry.ID
    starts_at: str = strawberry.field(description="YYYY-MM-DDTHH:MM, Japan time unless an offset is given")
    ends_at: str
    place: str = ""
    agenda: str = ""
    internal_participants: list[InternalParticipantInput] = strawberry.field(default_factory=list)
    external_participants: list[ExternalParticipantInput] = strawberry.field(default_factory=list)
    council_decision: str | None = strawberry.field(default=None, description="For a 要対協 case: why a separate meeting is still needed")
    expected_case_version: int | None = None


@strawberry.input
class AddMeetingParticipantInput:
    municipality_code: str
    meeting_id: strawberry.ID
    internal: InternalParticipantInput | None = None
    external: ExternalParticipantInput | None = None
    expected_version: int | None = None


@strawberry.input
class RecordMeetingMinutesInput:
    municipality_code: str
    meeting_id: strawberry.ID
    wishes: str = ""
    state_and_issues: str = ""
    support_goals: str = ""
    concrete_support: str = ""
    actions: list[MeetingActionInput] = strawberry.field(default_factory=list)
    expected_version: int | None = None


@strawberry.input
class AssignMeetingActionInput:
    municipality_code: str
    meeting_id: strawberry.ID
    action: MeetingActionInput
    expected_version: int | None = None


@strawberry.input
class MeetingActionRefInput:
    municipality_code: str
    meeting_id: strawberry.ID
    action_id: strawberry.ID
    expected_version: int | None = None


@strawberry.input
class MeetingRefInput:
    municipality_code: str
    meeting_id: strawberry.ID
    expected_version: int | None = None


# --------------------------------------------------------------------------- edge checks
# Public: the console's meeting forms run exactly these checks.


def meeting_moment(check: Checker, field: str, value: str) -> datetime | None:
    try:
        if not _ISO_MOMENT.fullmatch(value):
            raise ValueError
        moment = datetime.fromisoformat(value)
    except ValueError:
        check.bad(field, "Not a time: use YYYY-MM-DDTHH:MM.",
                  "日時の形式が正しくありません（YYYY-MM-DDTHH:MM）。")
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=JST)


def external_participant(check: Checker, field: str, p: ExternalParticipantInput) -> ExternalParticipant:
    return ExternalParticipant(name=check.required(f"{field}.name", p.name, MAX_NAME),
                               organisation=check.required(f"{field}.organisation",
                                                           p.organisation, MAX_NAME),
                               basis=check.text(f"{field}.confidentialityBasis",
                                                p.confidentiality_basis, 30) or None)


def internal_participant(check: Checker, field: str, p: InternalParticipantInput) -> InternalParticipant:
    return InternalParticipant(user_id=check.required(f"{field}.userId", p.user_id, MAX_NAME),
                               role=check.text(f"{field}.role", p.role, 30))


def action_item(check: Checker, field: str, a: MeetingActionInput) -> ActionItem:
    return ActionItem(owner_user_id=check.required(f"{field}.ownerUserId", a.owner_user_id,
                                                   MAX_NAME),
                      what=check.required(f"{field}.what", a.what),
                      due_on=check.day(f"{field}.dueOn", a.due_on) or date.min)


def _meeting_after(rt: TenantRuntime, grant: Grant, meeting_id: uuid.UUID) -> CaseMeeting:
    rt.catch_up()
    record = MeetingQueries(rt.casework.database, rt.casework.keyring).get(
        grant.scope, str(meeting_id))
    if record is None:  # cannot happen: the command just found it in scope
        raise LookupError("meeting missing from the view after its command")
    return CaseMeeting.from_record(record)


async def _on_meeting(info: Info[YorisoiContext, None], municipality_code: str, check: Checker,
                      meeting_id: uuid.UUID | None,
                      act: Callable[[TenantRuntime, Grant], object]) -> CaseMeetingChanged | UserError:
    def command(rt: TenantRuntime, grant: Grant) -> CaseMeetingChanged:
        assert meeting_id is not None  # the edge check reported it otherwise
        on_meeting(rt, grant, meeting_id, act)
        return CaseMeetingChanged(meeting=_meeting_after(rt, grant, meeting_id))

    return await execute(info, "case.manage", municipality_code, command, check=check)


# --------------------------------------------------------------------------- mutations


@strawberry.type
class CaseMeetingMutation:
    @strawberry.mutation(description="Schedule a case meeting; a 要対協 case needs a recorded decision.")
    async def schedule_case_meeting(self, info: Info[YorisoiContext, None],
                                    input: ScheduleCaseMeetingInput) -> ScheduleCaseMeetingResult:
        check = Checker.of(info)
        case_id = check.case_id(input.case_id)
        check.count("internalParticipants", input.internal_participants, MAX_PARTICIPANTS)
        check.count("externalParticipants", input.external_participants, MAX_PARTICIPANTS)
        starts_at = meeting_moment(check, "startsAt", input.starts_at)
        ends_at = meeting_moment(check, "endsAt", input.ends_at)
        cmd_fields = {
            "place": check.text("place", input.place, MAX_NAME * 2),
            "agenda": check.text("agenda", input.agenda),
            "internal": [internal_participant(check, f"internalParticipants.{i}", p)
                      for i, p in enumerate(input.internal_participants)],
            "external": [external_participant(check, f"externalParticipants.{i}", p)
                      for i, p in enumerate(input.external_participants)],
            "council_decision": check.text("councilDecision", input.council_decision) or None,
            "expected_case_version": input.expected_case_version}

        def command(rt: TenantRuntime, grant: Grant) -> CaseMeetingChanged:
            assert case_id and starts_at and ends_at
            meeting = rt.casework.schedule_case_meeting(ScheduleCaseMeeting(
                case_id=case_id, starts_at=starts_at, ends_at=ends_at,
                writable_contract_ids=grant.scope.contract_ids, **cmd_fields))
            return CaseMeetingChanged(meeting=_meeting_after(rt, grant, meeting.id))

        result = await execute(info, "case.manage", input.municipality_code, command,
                               check=check, case_id=case_id)
        if isinstance(result, ValidationError) and [
                e.code for e in result.field_errors] == ["council_case_meeting"]:
            error = result.field_errors[0]
            return CouncilCaseMeetingWarning(code=error.code, message=error.message,
                                             message_ja=error.message_ja, field=error.field)
        return result

    @strawberry.mutation(description="Invite staff, or an outsider with a confidentiality basis.")
    async def add_meeting_participant(self, info: Info[YorisoiContext, None],
                                      input: AddMeetingParticipantInput) -> CaseMeetingResult:
        check = Checker.of(info)
        meeting_id = check.record_id("meetingId", input.meeting_id)
        if (input.internal is None) == (input.external is None):
            check.bad("internal", "Give either an internal or an external participant.",
                      "内部または外部の参加者のどちらか一方を指定してください。")
        internal = input.internal and internal_participant(check, "internal", input.internal)
        external = input.external and external_participant(check, "external", input.external)
        return await _on_meeting(
            info, input.municipality_code, check, meeting_id,
            lambda rt, grant: rt.casework.add_meeting_participant(
                meeting_id, internal=internal, external=external,
                expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Record the minutes and role assignments (they become tasks).")
    async def record_meeting_minutes(self, info: Info[YorisoiContext, None],
                                     input: RecordMeetingMinutesInput) -> CaseMeetingResult:
        check = Checker.of(info)
        meeting_id = check.record_id("meetingId", input.meeting_id)
        check.count("actions", input.actions, MAX_ACTIONS)
        minutes = Minutes(wishes=check.text("wishes", input.wishes),
                          state_and_issues=check.text("stateAndIssues", input.state_and_issues),
                          support_goals=check.text("supportGoals", input.support_goals),
                          concrete_support=check.text("concreteSupport", input.concrete_support))
        actions = [action_item(check, f"actions.{i}", a)
                   for i, a in enumerate(input.actions)]
        return await _on_meeting(
            info, input.municipality_code, check, meeting_id,
            lambda rt, grant: rt.casework.record_meeting_minutes(
                meeting_id, minutes, actions=actions, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Add a role assignment to a held meeting.")
    async def assign_meeting_action(self, info: Info[YorisoiContext, None],
                                    input: AssignMeetingActionInput) -> CaseMeetingResult:
        check = Checker.of(info)
        meeting_id = check.record_id("meetingId", input.meeting_id)
        action = action_item(check, "action", input.action)
        return await _on_meeting(
            info, input.municipality_code, check, meeting_id,
            lambda rt, grant: rt.casework.assign_meeting_action(
                meeting_id, action, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Mark a role assignment done.")
    async def complete_meeting_action(self, info: Info[YorisoiContext, None],
                                      input: MeetingActionRefInput) -> CaseMeetingResult:
        check = Checker.of(info)
        meeting_id = check.record_id("meetingId", input.meeting_id)
        action_id = check.text("actionId", str(input.action_id), 50)
        return await _on_meeting(
            info, input.municipality_code, check, meeting_id,
            lambda rt, grant: rt.casework.complete_meeting_action(
                meeting_id, action_id, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Call a case meeting off before it is held.")
    async def cancel_case_meeting(self, info: Info[YorisoiContext, None],
                                  input: MeetingRefInput) -> CaseMeetingResult:
        check = Checker.of(info)
        meeting_id = check.record_id("meetingId", input.meeting_id)
        return await _on_meeting(
            info, input.municipality_code, check, meeting_id,
            lambda rt, grant: rt.casework.cancel_case_meeting(
                meeting_id, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))


# --------------------------------------------------------------------------- queries


@strawberry.type
class CaseMeetingQuery:
    @strawberry.field(description="A site's case meetings between two Japan dates, earliest first.")
    async def meeting_calendar(self, info: Info[YorisoiContext, None], municipality_code: str,
                               site_id: str, from_: Annotated[str, strawberry.argument(name="from")],
                               to: str) -> list[CaseMeeting]:
        check = Checker.of(info)
        start, end = check.day("from", from_), check.day("to", to)
        if start and end and not 0 <= (end - start).days <= MAX_CALENDAR_DAYS:
            check.bad("to", f"Give a period of at most {MAX_CALENDAR_DAYS} days, ending after it starts.",
                      f"期間は開始日以降、{MAX_CALENDAR_DAYS}日以内で指定してください。")

        def run() -> list[CaseMeeting]:
            if check.errors:
                raise check.errors[0]
            grant = info.context.authorize("case.read", municipality_code, site_id=site_id)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                records = MeetingQueries(rt.casework.database, rt.casework.keyring).calendar(
                    grant.scope, site_id, start, end)  # type: ignore[arg-type]
            return [CaseMeeting.from_record(r) for r in records]

        return await read(run)

    @strawberry.field(description="The case meetings of one case, earliest first.")
    async def case_meetings(self, info: Info[YorisoiContext, None], case_id: strawberry.ID,
                            municipality_code: str | None = None) -> list[CaseMeeting]:
        def run() -> list[CaseMeeting]:
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                records = MeetingQueries(rt.casework.database, rt.casework.keyring).for_case(
                    grant.scope, str(case_id))
            return [CaseMeeting.from_record(r) for r in records]

        return await read(run)
