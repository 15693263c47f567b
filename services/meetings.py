"""Case meetings and representative meetings: the commands of CaseworkApplication.

A mixin, so that meetings share the casework application's event log,
keyring and case scoping (``_get_case``) without growing casework.py.
Every command gets → commands → saves; the aggregates check the rules.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.case_meetings import CaseMeeting
from yorisoi.domain.cases import Case
from yorisoi.domain.errors import NotFoundDomainError
from yorisoi.domain.representative_meetings import RepresentativeMeeting
from yorisoi.infra.clock import japan_now, japan_today
from yorisoi.projections.case_queries import case_theme_counts
from yorisoi.services.tenant_application import command


class CaseMeetingNotFoundError(NotFoundDomainError):
    """No such meeting among the cases the actor may see (absent or out of reach alike)."""

    code = "case_meeting_not_found"
    message = "No such case meeting in this municipality."
    message_ja = "指定されたケース会議が見つかりません。"


@dataclass(frozen=True)
class InternalParticipant:
    user_id: str
    role: str


@dataclass(frozen=True)
class ExternalParticipant:
    name: str
    organisation: str
    basis: str | None


@dataclass(frozen=True)
class ActionItem:
    owner_user_id: str
    what: str
    due_on: date


@dataclass(frozen=True)
class Minutes:
    wishes: str
    state_and_issues: str
    support_goals: str
    concrete_support: str


@dataclass(frozen=True)
class ScheduleCaseMeeting:
    case_id: UUID
    starts_at: datetime
    ends_at: datetime
    place: str
    agenda: str
    internal: list[InternalParticipant] = field(default_factory=list)
    external: list[ExternalParticipant] = field(default_factory=list)
    # Why a separate meeting is still needed for a 要対協 case (personal).
    council_decision: str | None = None
    expected_case_version: int | None = None
    writable_contract_ids: Collection[str] | None = None


@dataclass(frozen=True)
class RecordRepresentativeMeeting:
    municipality_code: str
    held_on: date
    attendees: list[tuple[str, str]]  # organisation, kind
    regional_issues: list[str]
    resources_to_develop: list[str]
    themes_from: date
    themes_to: date


class MeetingCommands:
    """Commands on case meetings and representative meetings (mixed into CaseworkApplication)."""

    repository: Any
    database: Any
    save: Any
    _get_case: Any

    @command("command.schedule_case_meeting")
    def schedule_case_meeting(self, cmd: ScheduleCaseMeeting) -> CaseMeeting:
        """Schedule a case meeting; for a 要対協 case only with a recorded decision."""
        case: Case = self._get_case(cmd.case_id, cmd.writable_contract_ids)
        case.check_version(cmd.expected_case_version)
        case.require_open()
        meeting = CaseMeeting.schedule(
            case_id=case.id, household_id=case.household_id, site_id=case.site_id,
            contract_id=case.contract_id, starts_at=cmd.starts_at, ends_at=cmd.ends_at,
            place=cmd.place, agenda=cmd.agenda,
            internal=[(p.user_id, p.role) for p in cmd.internal],
            external=[(p.name, p.organisation, p.basis) for p in cmd.external],
            council_case=case.council_case, council_decision=cmd.council_decision)
        self.save(meeting)
        return meeting

    def case_meeting_place(self, meeting_id: UUID,
                           writable: Collection[str] | None) -> tuple[str | None, str]:
        """(contract, site) of the meeting's case: meeting commands act under them."""
        _, case = self._get_meeting(meeting_id, writable)
        return case.contract_id, case.site_id

    @command("command.add_meeting_participant")
    def add_meeting_participant(self, meeting_id: UUID, *,
                                internal: InternalParticipant | None = None,
                                external: ExternalParticipant | None = None,
                                expected_version: int | None,
                                writable_contract_ids: Collection[str] | None) -> CaseMeeting:
        """Invite staff, or an outsider bound to confidentiality, to a meeting."""
        meeting, case = self._get_meeting(meeting_id, writable_contract_ids)
        meeting.check_version(expected_version)
        case.require_open()
        if internal is not None:
            meeting.add_internal_participant(user_id=internal.user_id, role=internal.role)
        if external is not None:
            meeting.add_external_participant(name=external.name,
                                             organisation=external.organisation,
                                             basis=external.basis)
        self.save(meeting)
        return meeting

    @command("command.record_meeting_minutes")
    def record_meeting_minutes(self, meeting_id: UUID, minutes: Minutes, *,
                               actions: list[ActionItem], expected_version: int | None,
                               writable_contract_ids: Collection[str] | None) -> CaseMeeting:
        """Record the minutes and their role assignments in one step (all or nothing)."""
        meeting, case = self._get_meeting(meeting_id, writable_contract_ids)
        meeting.check_version(expected_version)
        case.require_open()
        meeting.record_minutes(wishes=minutes.wishes, state_and_issues=minutes.state_and_issues,
                               support_goals=minutes.support_goals,
                               concrete_support=minutes.concrete_support, now=japan_now())
        for index, action in enumerate(actions):
            meeting.assign_action(owner_user_id=action.owner_user_id, what=action.what,
                                  due_on=action.due_on, field=f"actions.{index}")
        self.save(meeting)
        return meeting

    @command("command.assign_meeting_action")
    def assign_meeting_action(self, meeting_id: UUID, action: ActionItem, *,
                              expected_version: int | None,
                              writable_contract_ids: Collection[str] | None) -> str:
        """Add a role assignment to a held meeting; returns the new task's id."""
        meeting, case = self._get_meeting(meeting_id, writable_contract_ids)
        meeting.check_version(expected_version)
        case.require_open()
        action_id = meeting.assign_action(owner_user_id=action.owner_user_id, what=action.what,
                                          due_on=action.due_on)
        self.save(meeting)
        return action_id

    @command("command.complete_meeting_action")
    def complete_meeting_action(self, meeting_id: UUID, action_id: str, *,
                                expected_version: int | None,
                                writable_contract_ids: Collection[str] | None) -> CaseMeeting:
        """Mark a role assignment done (also on a closed case: loose ends get tied)."""
        meeting, _ = self._get_meeting(meeting_id, writable_contract_ids)
        meeting.check_version(expected_version)
        meeting.complete_action(action_id=action_id, completed_on=japan_today())
        self.save(meeting)
        return meeting

    @command("command.cancel_case_meeting")
    def cancel_case_meeting(self, meeting_id: UUID, *, expected_version: int | None,
                            writable_contract_ids: Collection[str] | None) -> CaseMeeting:
        """Call a meeting off before it is held."""
        meeting, _ = self._get_meeting(meeting_id, writable_contract_ids)
        meeting.check_version(expected_version)
        meeting.cancel()
        self.save(meeting)
        return meeting

    @command("command.record_representative_meeting")
    def record_representative_meeting(
            self, cmd: RecordRepresentativeMeeting) -> RepresentativeMeeting:
        """Record a representative meeting; theme counts come from the case view, as counts."""
        counts = (case_theme_counts(self.database, cmd.themes_from, cmd.themes_to)
                  if cmd.themes_from <= cmd.themes_to else {})
        meeting = RepresentativeMeeting.record(
            municipality_code=cmd.municipality_code, held_on=cmd.held_on,
            attendees=cmd.attendees, regional_issues=cmd.regional_issues,
            resources_to_develop=cmd.resources_to_develop, themes_from=cmd.themes_from,
            themes_to=cmd.themes_to, theme_counts=counts, today=japan_today())
        self.save(meeting)
        return meeting

    def _get_meeting(self, meeting_id: UUID,
                     writable: Collection[str] | None) -> tuple[CaseMeeting, Case]:
        try:
            meeting: Any = self.repository.get(meeting_id)
        except AggregateNotFoundError:
            raise CaseMeetingNotFoundError(field="meetingId") from None
        if not isinstance(meeting, CaseMeeting):
            raise CaseMeetingNotFoundError(field="meetingId")
        try:
            case = self._get_case(meeting.case_id, writable)
        except NotFoundDomainError:
            # A meeting of a case outside the actor's contracts is absent, not forbidden.
            raise CaseMeetingNotFoundError(field="meetingId") from None
        return meeting, case
