"""Case meetings, representative meetings, the meeting calendar and "my tasks"."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from yorisoi.domain.meetings import JST
from yorisoi.graphql.cases import MAX_PAGE_SIZE, PageInfo
from yorisoi.graphql.commands import execute
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    UserError,
    ValidationError,
    api_error,
)
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.projections.meetings_view import MeetingQueries, MeetingRecord, TaskRecord
from yorisoi.services.context import acting_as
from yorisoi.services.meetings import (
    ActionItem,
    ExternalParticipant,
    InternalParticipant,
    Minutes,
    RecordRepresentativeMeeting,
    ScheduleCaseMeeting,
)
from yorisoi.tenants.access import AccessDeniedError, Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_NAME = 100
MAX_PARTICIPANTS = 30
MAX_ACTIONS = 30
MAX_ITEMS = 30
MAX_CALENDAR_DAYS = 366
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})?")


# --------------------------------------------------------------------------- output types


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


@strawberry.type(description="A role assignment of a case meeting, or a referral follow-up.")
class Task:
    id: strawberry.ID
    kind: str = strawberry.field(description="meeting_action | referral_follow_up")
    source_id: strawberry.ID = strawberry.field(description="The meeting or referral")
    case_id: strawberry.ID
    owner_user_id: str
    due_on: str | None
    overdue: bool = strawberry.field(description="Due before today (Japan time) and still open")
    status: str
    completed_on: str | None
    title: str | None
    urgent: bool

    @classmethod
    def from_record(cls, r: TaskRecord, today: str) -> Task:
        return cls(id=strawberry.ID(r.task_id), kind=r.kind, source_id=strawberry.ID(r.source_id),
                   case_id=strawberry.ID(r.case_id), owner_user_id=r.owner_user_id,
                   due_on=r.due_on,
                   overdue=r.status == "open" and r.due_on is not None and r.due_on < today,
                   status=r.status, completed_on=r.completed_on, title=r.title, urgent=r.urgent)


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


@strawberry.type
class Attendee:
    organisation: str
    kind: str


@strawberry.type
class ThemeCount:
    theme: str
    cases: int


@strawberry.type(description="A representative meeting (代表者会議): organisations and counts, never a case.")
class RepresentativeMeeting:
    id: strawberry.ID
    held_on: str
    attendees: list[Attendee]
    regional_issues: list[str]
    resources_to_develop: list[str]
    themes_from: str
    themes_to: str
    theme_counts: list[ThemeCount]
    recorded_by: str | None

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> RepresentativeMeeting:
        return cls(id=strawberry.ID(r["meeting_id"]), held_on=r["held_on"],
                   attendees=[Attendee(**a) for a in r["attendees"]],
                   regional_issues=r["regional_issues"],
                   resources_to_develop=r["resources_to_develop"],
                   themes_from=r["themes_from"], themes_to=r["themes_to"],
                   theme_counts=[ThemeCount(theme=t, cases=n)
                                 for t, n in sorted(r["theme_counts"].items())],
                   recorded_by=r["recorded_by"])


@strawberry.type
class TaskEdge:
    cursor: str
    node: Task


@strawberry.type
class TaskConnection:
    total_count: int
    edges: list[TaskEdge]
    page_info: PageInfo


@strawberry.type
class RepresentativeMeetingEdge:
    cursor: str
    node: RepresentativeMeeting


@strawberry.type
class RepresentativeMeetingConnection:
    total_count: int
    edges: list[RepresentativeMeetingEdge]
    page_info: PageInfo


@strawberry.type(description="The case is handled by the 要対協: record why a separate meeting is needed.")
class CouncilCaseMeetingWarning(UserError):
    field: str


@strawberry.type
class CaseMeetingChanged:
    meeting: CaseMeeting


@strawberry.type
class RepresentativeMeetingRecorded:
    meeting: RepresentativeMeeting


_Errors = ValidationError | NotAuthorizedError | NotFoundError | ConflictError
ScheduleCaseMeetingResult = Annotated[CaseMeetingChanged | CouncilCaseMeetingWarning | _Errors,
                                      strawberry.union("ScheduleCaseMeetingResult")]
CaseMeetingResult = Annotated[CaseMeetingChanged | _Errors, strawberry.union("CaseMeetingResult")]
RepresentativeMeetingResult = Annotated[RepresentativeMeetingRecorded | _Errors,
                                        strawberry.union("RepresentativeMeetingResult")]


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


@strawberry.input
class AttendeeInput:
    organisation: str
    kind: str


@strawberry.input
class RecordRepresentativeMeetingInput:
    municipality_code: str
    held_on: str
    attendees: list[AttendeeInput]
    regional_issues: list[str] = strawberry.field(default_factory=list, description="About the region, never about a family")
    resources_to_develop: list[str] = strawberry.field(default_factory=list)
    themes_from: str = strawberry.field(description="Period of the case-theme counts, YYYY-MM-DD")
    themes_to: str


# --------------------------------------------------------------------------- edge checks


def _moment(check: Checker, field: str, value: str) -> datetime | None:
    try:
        if not _ISO_MOMENT.fullmatch(value):
            raise ValueError
        moment = datetime.fromisoformat(value)
    except ValueError:
        check.bad(field, "Not a time: use YYYY-MM-DDTHH:MM.",
                  "日時の形式が正しくありません（YYYY-MM-DDTHH:MM）。")
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=JST)


def _uuid(check: Checker, field: str, value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        check.bad(field, "Not an id.", "IDの形式が正しくありません。")
        return None


def _external(check: Checker, field: str, p: ExternalParticipantInput) -> ExternalParticipant:
    return ExternalParticipant(name=check.required(f"{field}.name", p.name, MAX_NAME),
                               organisation=check.required(f"{field}.organisation",
                                                           p.organisation, MAX_NAME),
                               basis=check.text(f"{field}.confidentialityBasis",
                                                p.confidentiality_basis, 30) or None)


def _internal(check: Checker, field: str, p: InternalParticipantInput) -> InternalParticipant:
    return InternalParticipant(user_id=check.required(f"{field}.userId", p.user_id, MAX_NAME),
                               role=check.text(f"{field}.role", p.role, 30))


def _action(check: Checker, field: str, a: MeetingActionInput) -> ActionItem:
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
        # A meeting's commands act under its case's own contract and site.
        contract_id, site_id = rt.casework.case_meeting_place(meeting_id,
                                                              grant.scope.contract_ids)
        with acting_as(grant.acting.at(contract_id=contract_id, site_id=site_id)):
            act(rt, grant)
        return CaseMeetingChanged(meeting=_meeting_after(rt, grant, meeting_id))

    return await execute(info, "case.manage", municipality_code, command, check=check)


def _checker(info: Info[YorisoiContext, None]) -> Checker:
    return Checker(info.context.services.settings.max_text_length)


# --------------------------------------------------------------------------- mutations


@strawberry.type
class MeetingMutation:
    @strawberry.mutation(description="Schedule a case meeting; a 要対協 case needs a recorded decision.")
    async def schedule_case_meeting(self, info: Info[YorisoiContext, None],
                                    input: ScheduleCaseMeetingInput) -> ScheduleCaseMeetingResult:
        check = _checker(info)
        case_id = check.case_id(input.case_id)
        check.count("internalParticipants", input.internal_participants, MAX_PARTICIPANTS)
        check.count("externalParticipants", input.external_participants, MAX_PARTICIPANTS)
        starts_at = _moment(check, "startsAt", input.starts_at)
        ends_at = _moment(check, "endsAt", input.ends_at)
        cmd_fields = {
            "place": check.text("place", input.place, MAX_NAME * 2),
            "agenda": check.text("agenda", input.agenda),
            "internal": [_internal(check, f"internalParticipants.{i}", p)
                      for i, p in enumerate(input.internal_participants)],
            "external": [_external(check, f"externalParticipants.{i}", p)
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
        check = _checker(info)
        meeting_id = _uuid(check, "meetingId", input.meeting_id)
        if (input.internal is None) == (input.external is None):
            check.bad("internal", "Give either an internal or an external participant.",
                      "内部または外部の参加者のどちらか一方を指定してください。")
        internal = input.internal and _internal(check, "internal", input.internal)
        external = input.external and _external(check, "external", input.external)
        return await _on_meeting(
            info, input.municipality_code, check, meeting_id,
            lambda rt, grant: rt.casework.add_meeting_participant(
                meeting_id, internal=internal, external=external,
                expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Record the minutes and role assignments (they become tasks).")
    async def record_meeting_minutes(self, info: Info[YorisoiContext, None],
                                     input: RecordMeetingMinutesInput) -> CaseMeetingResult:
        check = _checker(info)
        meeting_id = _uuid(check, "meetingId", input.meeting_id)
        check.count("actions", input.actions, MAX_ACTIONS)
        minutes = Minutes(wishes=check.text("wishes", input.wishes),
                          state_and_issues=check.text("stateAndIssues", input.state_and_issues),
                          support_goals=check.text("supportGoals", input.support_goals),
                          concrete_support=check.text("concreteSupport", input.concrete_support))
        actions = [_action(check, f"actions.{i}", a) for i, a in enumerate(input.actions)]
        return await _on_meeting(
            info, input.municipality_code, check, meeting_id,
            lambda rt, grant: rt.casework.record_meeting_minutes(
                meeting_id, minutes, actions=actions, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Add a role assignment to a held meeting.")
    async def assign_meeting_action(self, info: Info[YorisoiContext, None],
                                    input: AssignMeetingActionInput) -> CaseMeetingResult:
        check = _checker(info)
        meeting_id = _uuid(check, "meetingId", input.meeting_id)
        action = _action(check, "action", input.action)
        return await _on_meeting(
            info, input.municipality_code, check, meeting_id,
            lambda rt, grant: rt.casework.assign_meeting_action(
                meeting_id, action, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Mark a role assignment done.")
    async def complete_meeting_action(self, info: Info[YorisoiContext, None],
                                      input: MeetingActionRefInput) -> CaseMeetingResult:
        check = _checker(info)
        meeting_id = _uuid(check, "meetingId", input.meeting_id)
        action_id = check.text("actionId", str(input.action_id), 50)
        return await _on_meeting(
            info, input.municipality_code, check, meeting_id,
            lambda rt, grant: rt.casework.complete_meeting_action(
                meeting_id, action_id, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Call a case meeting off before it is held.")
    async def cancel_case_meeting(self, info: Info[YorisoiContext, None],
                                  input: MeetingRefInput) -> CaseMeetingResult:
        check = _checker(info)
        meeting_id = _uuid(check, "meetingId", input.meeting_id)
        return await _on_meeting(
            info, input.municipality_code, check, meeting_id,
            lambda rt, grant: rt.casework.cancel_case_meeting(
                meeting_id, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Record a representative meeting (municipal staff only).")
    async def record_representative_meeting(
            self, info: Info[YorisoiContext, None],
            input: RecordRepresentativeMeetingInput) -> RepresentativeMeetingResult:
        check = _checker(info)
        check.count("attendees", input.attendees, MAX_PARTICIPANTS)
        check.count("regionalIssues", input.regional_issues, MAX_ITEMS)
        check.count("resourcesToDevelop", input.resources_to_develop, MAX_ITEMS)
        cmd = RecordRepresentativeMeeting(
            municipality_code=input.municipality_code,
            held_on=check.day("heldOn", input.held_on) or date.min,
            attendees=[(check.required(f"attendees.{i}.organisation", a.organisation, MAX_NAME),
                        check.required(f"attendees.{i}.kind", a.kind, 50))
                       for i, a in enumerate(input.attendees)],
            regional_issues=[check.text(f"regionalIssues.{i}", t)
                             for i, t in enumerate(input.regional_issues)],
            resources_to_develop=[check.text(f"resourcesToDevelop.{i}", t)
                                  for i, t in enumerate(input.resources_to_develop)],
            themes_from=check.day("themesFrom", input.themes_from) or date.min,
            themes_to=check.day("themesTo", input.themes_to) or date.min)

        def command(rt: TenantRuntime, grant: Grant) -> RepresentativeMeetingRecorded:
            # The 代表者会議 is the municipality's: its figures span every contract.
            if grant.scope.contract_ids is not None:
                raise AccessDeniedError(
                    "municipality_only", "Only the municipality records representative meetings.",
                    "代表者会議は市町村の職員が記録します。")
            meeting = rt.casework.record_representative_meeting(cmd)
            rt.catch_up()
            row = MeetingQueries(rt.casework.database, rt.casework.keyring).representative(
                str(meeting.id))
            if row is None:  # cannot happen: the view just caught up
                raise LookupError("representative meeting missing from the view")
            return RepresentativeMeetingRecorded(meeting=RepresentativeMeeting.from_row(row))

        return await execute(info, "case.manage", input.municipality_code, command, check=check)


# --------------------------------------------------------------------------- queries


async def _read(run: Callable[[], Any]) -> Any:
    try:
        return await asyncio.to_thread(run)
    except Exception as exc:  # noqa: BLE001 - expected errors become typed GraphQL errors
        raise api_error(exc) from None


@strawberry.type
class MeetingQuery:
    @strawberry.field(description="A site's case meetings between two Japan dates, earliest first.")
    async def meeting_calendar(self, info: Info[YorisoiContext, None], municipality_code: str,
                               site_id: str, from_: Annotated[str, strawberry.argument(name="from")],
                               to: str) -> list[CaseMeeting]:
        check = _checker(info)
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

        return await _read(run)

    @strawberry.field(description="The case meetings of one case, earliest first.")
    async def case_meetings(self, info: Info[YorisoiContext, None], case_id: strawberry.ID,
                            municipality_code: str | None = None) -> list[CaseMeeting]:
        def run() -> list[CaseMeeting]:
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                records = MeetingQueries(rt.casework.database, rt.casework.keyring).for_case(
                    grant.scope, str(case_id))
            return [CaseMeeting.from_record(r) for r in records]

        return await _read(run)

    @strawberry.field(description="Representative meetings, most recently held first.")
    async def representative_meetings(self, info: Info[YorisoiContext, None],
                                      municipality_code: str | None = None, first: int = 20,
                                      after: str | None = None) -> RepresentativeMeetingConnection:
        first = max(1, min(first, MAX_PAGE_SIZE))

        def run() -> RepresentativeMeetingConnection:
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = MeetingQueries(rt.casework.database, rt.casework.keyring
                                      ).representative_page(first=first, after=after)
            return RepresentativeMeetingConnection(
                total_count=page.total_count,
                edges=[RepresentativeMeetingEdge(cursor=c, node=RepresentativeMeeting.from_row(r))
                       for r, c in zip(page.items, page.cursors, strict=True)],
                page_info=PageInfo(has_next_page=page.has_next_page,
                                   end_cursor=page.cursors[-1] if page.cursors else None))

        return await _read(run)

    @strawberry.field(description="The caller's open tasks: overdue first, then by due date.")
    async def my_tasks(self, info: Info[YorisoiContext, None],
                       municipality_code: str | None = None, first: int = 20,
                       after: str | None = None) -> TaskConnection:
        first = max(1, min(first, MAX_PAGE_SIZE))

        def run() -> TaskConnection:
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = MeetingQueries(rt.casework.database, rt.casework.keyring).my_tasks(
                    grant.scope, grant.acting.user_id, first=first, after=after)
            today = japan_today().isoformat()
            return TaskConnection(
                total_count=page.total_count,
                edges=[TaskEdge(cursor=c, node=Task.from_record(t, today))
                       for t, c in zip(page.items, page.cursors, strict=True)],
                page_info=PageInfo(has_next_page=page.has_next_page,
                                   end_cursor=page.cursors[-1] if page.cursors else None))

        return await _read(run)
