"""Case meetings (ケース会議), guideline §4(3)③.

A case meeting gathers the specialist, site and municipal staff, agencies and
experts around one family: its place, agenda, the names of external people
and everything in the minutes are personal and encrypted under the
household's key.  Who attends from the inside (user ids, roles), each external
participant's confidentiality basis, the times and the status stay plaintext,
so audits and calendars work without opening personal data.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.agencies import check_confidentiality_basis
from yorisoi.domain.errors import DomainError, StaleVersionError

JST = ZoneInfo("Asia/Tokyo")

# Who attends from the inside (guideline §4(3)③: 専門員, 実施場所の職員, 市町村窓口の担当者).
INTERNAL_ROLES: dict[str, str] = {
    "specialist": "利用者支援専門員",
    "site_staff": "実施場所の職員",
    "site_manager": "実施場所の責任者",
    "municipal_staff": "市町村窓口の担当者",
    "municipal_supervisor": "市町村の管理監督者",
}


class CouncilCaseMeetingError(DomainError):
    """The 要対協 already handles the family: a separate meeting needs a recorded decision."""

    code = "council_case_meeting"
    message = ("The child-protection council (要対協) already handles this case: do not hold a "
               "duplicate case meeting, or record why a separate meeting is still needed.")
    message_ja = ("このケースは要保護児童対策地域協議会の対象です。ケース会議を重複して開催しないでください。"
                  "別に開催する必要がある場合は、その判断理由を記録してください。")


class ExternalParticipantBasisMissingError(DomainError):
    code = "external_participant_basis_missing"
    message = "Record the confidentiality basis of every external participant."
    message_ja = "外部の参加者ごとに守秘義務の根拠を記録してください。"


class MeetingParticipantRoleUnknownError(DomainError):
    code = "meeting_participant_role_unknown"
    message = "The participant's role is not in the list."
    message_ja = "参加者の役割が一覧にありません。"


class MeetingParticipantMissingError(DomainError):
    code = "meeting_participant_missing"
    message = "Give the participant's user id, or the external participant's name and organisation."
    message_ja = "参加者のユーザーID、または外部参加者の氏名と所属を入力してください。"


class MeetingTimeInvalidError(DomainError):
    code = "meeting_time_invalid"
    message = "The meeting must end after it starts, on the same day."
    message_ja = "会議の終了時刻は開始時刻より後（同じ日のうち）にしてください。"


class CaseMeetingCancelledError(DomainError):
    code = "case_meeting_cancelled"
    message = "The meeting was cancelled."
    message_ja = "この会議は中止されています。"


class CaseMeetingAlreadyHeldError(DomainError):
    code = "case_meeting_already_held"
    message = "The meeting's minutes are recorded: it can no longer be cancelled."
    message_ja = "会議録が記録済みのため、中止できません。"


class CaseMeetingNotYetHeldError(DomainError):
    code = "case_meeting_not_yet_held"
    message = "Minutes can be recorded once the meeting has started."
    message_ja = "会議録は会議の開始後に記録してください。"


class MeetingMinutesEmptyError(DomainError):
    code = "meeting_minutes_empty"
    message = "The minutes are empty."
    message_ja = "会議録の内容を入力してください。"


class MeetingMinutesMissingError(DomainError):
    code = "meeting_minutes_missing"
    message = "Record the minutes before assigning roles."
    message_ja = "役割分担は会議録を記録してから登録してください。"


class MeetingActionMissingError(DomainError):
    code = "meeting_action_missing"
    message = "Say who does what."
    message_ja = "誰が何をするかを入力してください。"


class MeetingActionNotFoundError(DomainError):
    code = "meeting_action_not_found"
    message = "No such role assignment in this meeting."
    message_ja = "指定された役割分担はこの会議にありません。"


class MeetingActionAlreadyCompletedError(DomainError):
    code = "meeting_action_already_completed"
    message = "The role assignment is already completed."
    message_ja = "この役割分担は完了済みです。"


class MeetingActionDueBeforeMeetingError(DomainError):
    code = "meeting_action_due_before_meeting"
    message = "A role assignment cannot be due before the day of its meeting."
    message_ja = "役割分担の期限は会議の日より前にはできません。"


def _in_japan(moment: datetime, field: str) -> datetime:
    # A naive time would be read in the server's zone; meetings are in Japan time.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MeetingTimeInvalidError(field=field)
    return moment.astimezone(JST)


def _check_external(index: int, name: str, organisation: str, basis: str | None) -> None:
    field = f"externalParticipants.{index}"
    if not name.strip() or not organisation.strip():
        raise MeetingParticipantMissingError(field=field)
    if not (basis or "").strip():
        raise ExternalParticipantBasisMissingError(field=f"{field}.basis")
    check_confidentiality_basis(basis, f"{field}.basis")
class CaseMeeting(Aggregate):
    """A case meeting about one family: participants, agenda, minutes and role assignments."""

    SCHEDULED = "scheduled"
    HELD = "held"  # the minutes are recorded
    CANCELLED = "cancelled"

    class Scheduled(Aggregate.Created):
        personal_fields: ClassVar[tuple[str, ...]] = (
            "place", "agenda", "council_decision", "external_people")
        case_id: UUID
        household_id: UUID
        site_id: str
        contract_id: str | None
        starts_at: datetime
        ends_at: datetime
        internal_participants: list[dict[str, str]]  # user_id, role
        external_participants: list[dict[str, str]]  # participant_id, basis
        council_case: bool
        place: str | None
        agenda: str | None
        council_decision: str | None
        external_people: dict[str, dict[str, str]] | None  # participant_id → name, organisation

    class InternalParticipantAdded(Aggregate.Event):
        user_id: str
        role: str

    class ExternalParticipantAdded(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("name", "organisation")
        household_id: UUID
        participant_id: str
        basis: str
        name: str | None
        organisation: str | None

    class MinutesRecorded(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = (
            "wishes", "state_and_issues", "support_goals", "concrete_support")
        household_id: UUID
        wishes: str | None
        state_and_issues: str | None
        support_goals: str | None
        concrete_support: str | None

    class ActionAssigned(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("what",)
        household_id: UUID
        action_id: str
        owner_user_id: str
        due_on: date
        what: str | None

    class ActionCompleted(Aggregate.Event):
        action_id: str
        completed_on: date

    class Cancelled(Aggregate.Event):
        pass

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def schedule(cls, *, case_id: UUID, household_id: UUID, site_id: str,
                 contract_id: str | None, starts_at: datetime, ends_at: datetime, place: str,
                 agenda: str, internal: list[tuple[str, str]],
                 external: list[tuple[str, str, str | None]], council_case: bool,
                 council_decision: str | None) -> CaseMeeting:
        """Schedule a meeting; external people need a confidentiality basis each."""
        starts_at = _in_japan(starts_at, "startsAt")
        ends_at = _in_japan(ends_at, "endsAt")
        if ends_at <= starts_at or ends_at.date() != starts_at.date():
            raise MeetingTimeInvalidError(field="endsAt")
        for index, (user_id, role) in enumerate(internal):
            if not user_id.strip():
                raise MeetingParticipantMissingError(field=f"internalParticipants.{index}")
            if role not in INTERNAL_ROLES:
                raise MeetingParticipantRoleUnknownError(field=f"internalParticipants.{index}.role")
        for index, (name, organisation, basis) in enumerate(external):
            _check_external(index, name, organisation, basis)
        decision = (council_decision or "").strip()
        # §4(3)③: no duplicate of the 要対協's own meeting unless someone decided otherwise.
        if council_case and not decision:
            raise CouncilCaseMeetingError(field="councilDecision")
        people = {str(uuid4()): (name.strip(), org.strip(), basis or "")
                  for name, org, basis in external}
        return cls(
            case_id=case_id, household_id=household_id, site_id=site_id,
            contract_id=contract_id, starts_at=starts_at, ends_at=ends_at,
            internal_participants=[{"user_id": u.strip(), "role": r}
                                   for u, r in {u.strip(): r for u, r in internal}.items()],
            external_participants=[{"participant_id": pid, "basis": basis}
                                   for pid, (_, _, basis) in people.items()],
            council_case=council_case, place=place.strip(), agenda=agenda.strip(),
            council_decision=decision or None,
            external_people={pid: {"name": name, "organisation": org}
                             for pid, (name, org, _) in people.items()},
        )

    @event(Scheduled)
    def __init__(self, case_id: UUID, household_id: UUID, site_id: str,
                 contract_id: str | None, starts_at: datetime, ends_at: datetime,
                 internal_participants: list[dict[str, str]],
                 external_participants: list[dict[str, str]], council_case: bool,
                 place: str | None, agenda: str | None, council_decision: str | None,
                 external_people: dict[str, dict[str, str]] | None) -> None:
        self.case_id = case_id
        self.household_id = household_id
        self.site_id = site_id
        self.contract_id = contract_id
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.council_case = council_case
        # Personal values are None after crypto-shredding.
        self.place = place
        self.agenda = agenda
        self.council_decision = council_decision
        self.internal: dict[str, str] = {p["user_id"]: p["role"] for p in internal_participants}
        self.external: dict[str, dict[str, Any]] = {
            p["participant_id"]: {"basis": p["basis"],
                                  **(external_people or {}).get(p["participant_id"], {})}
            for p in external_participants}
        self.status = CaseMeeting.SCHEDULED
        self.minutes: dict[str, str | None] | None = None
        self.actions: dict[str, dict[str, Any]] = {}

    def check_version(self, expected_version: int | None) -> None:
        """Refuse a command decided on a stale view of the meeting."""
        if expected_version is not None and expected_version != self.version:
            raise StaleVersionError(field="expectedVersion", current_version=self.version)

    def _require_not_cancelled(self) -> None:
        if self.status == CaseMeeting.CANCELLED:
            raise CaseMeetingCancelledError(field="meetingId")

    def add_internal_participant(self, *, user_id: str, role: str) -> None:
        """Invite a member of staff (adding the same person twice changes nothing)."""
        self._require_not_cancelled()
        if not user_id.strip():
            raise MeetingParticipantMissingError(field="internal.userId")
        if role not in INTERNAL_ROLES:
            raise MeetingParticipantRoleUnknownError(field="internal.role")
        if self.internal.get(user_id.strip()) != role:
            self._internal_added(user_id.strip(), role)

    @event(InternalParticipantAdded)
    def _internal_added(self, user_id: str, role: str) -> None:
        self.internal[user_id] = role

    def add_external_participant(self, *, name: str, organisation: str,
                                 basis: str | None) -> str:
        """Invite someone from an agency; refused without a confidentiality basis."""
        self._require_not_cancelled()
        try:
            _check_external(0, name, organisation, basis)
        except DomainError as error:
            error.field = (error.field or "").replace("externalParticipants.0", "external")
            raise
        participant_id = str(uuid4())
        self._external_added(self.household_id, participant_id, basis or "", name.strip(),
                             organisation.strip())
        return participant_id

    @event(ExternalParticipantAdded)
    def _external_added(self, household_id: UUID, participant_id: str, basis: str,
                        name: str | None, organisation: str | None) -> None:
        self.external[participant_id] = {"basis": basis, "name": name,
                                         "organisation": organisation}

    def record_minutes(self, *, wishes: str, state_and_issues: str, support_goals: str,
                       concrete_support: str, now: datetime) -> None:
        """Record (or correct, keeping the original) the minutes of a held meeting."""
        self._require_not_cancelled()
        if now < self.starts_at:
            raise CaseMeetingNotYetHeldError(field="meetingId")
        texts = [t.strip() for t in (wishes, state_and_issues, support_goals, concrete_support)]
        if not any(texts):
            raise MeetingMinutesEmptyError(field="minutes")
        self._minutes_recorded(self.household_id, *texts)

    @event(MinutesRecorded)
    def _minutes_recorded(self, household_id: UUID, wishes: str | None,
                          state_and_issues: str | None, support_goals: str | None,
                          concrete_support: str | None) -> None:
        self.status = CaseMeeting.HELD
        self.minutes = {"wishes": wishes, "state_and_issues": state_and_issues,
                        "support_goals": support_goals, "concrete_support": concrete_support}

    def assign_action(self, *, owner_user_id: str, what: str, due_on: date,
                      field: str = "action") -> str:
        """Give someone a role in the support plan; it becomes their task.

        ``field`` is the input path of the action (``actions.2`` in a minutes form).
        """
        self._require_not_cancelled()
        if self.status != CaseMeeting.HELD:
            raise MeetingMinutesMissingError(field="meetingId")
        if not owner_user_id.strip() or not what.strip():
            raise MeetingActionMissingError(field=field)
        # The plan is agreed at the meeting: a task due before it would be overdue at birth.
        if due_on < self.starts_at.date():
            raise MeetingActionDueBeforeMeetingError(field=f"{field}.dueOn")
        action_id = str(uuid4())
        self._action_assigned(self.household_id, action_id, owner_user_id.strip(), due_on,
                              what.strip())
        return action_id

    @event(ActionAssigned)
    def _action_assigned(self, household_id: UUID, action_id: str, owner_user_id: str,
                         due_on: date, what: str | None) -> None:
        self.actions[action_id] = {"owner_user_id": owner_user_id, "what": what,
                                   "due_on": due_on, "completed_on": None}

    def complete_action(self, *, action_id: str, completed_on: date) -> None:
        """Mark a role assignment as done."""
        action = self.actions.get(action_id)
        if action is None:
            raise MeetingActionNotFoundError(field="actionId")
        if action["completed_on"] is not None:
            raise MeetingActionAlreadyCompletedError(field="actionId")
        self._action_completed(action_id, completed_on)

    @event(ActionCompleted)
    def _action_completed(self, action_id: str, completed_on: date) -> None:
        self.actions[action_id]["completed_on"] = completed_on

    def cancel(self) -> None:
        """Call the meeting off (not once it has minutes)."""
        self._require_not_cancelled()
        if self.status == CaseMeeting.HELD:
            raise CaseMeetingAlreadyHeldError(field="meetingId")
        self._cancelled()

    @event(Cancelled)
    def _cancelled(self) -> None:
        self.status = CaseMeeting.CANCELLED
