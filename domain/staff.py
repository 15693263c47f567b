"""A member of staff: roles, site assignments, qualifications, training and the pledge (§5, §6(1)②).

Kept in the municipality's space because the municipality checks the staff of
its sites, its contractors' included (§2(3)).  Staff are not households: their
display name is stored in plaintext in the events (no household key to seal it
under, and staff records are kept for employment, not crypto-shredded with a
family).  It is the only personal field here and it never goes into spans,
logs or error messages: commands name staff by id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, NotFoundDomainError, StaleVersionError
from yorisoi.domain.findings import TRAINING_KINDS
from yorisoi.domain.ids import uuid5

_NS = uuid5(NAMESPACE_URL, "https://yorisoi.jp/staff")

STAFF_ROLES = ("specialist", "site_manager", "assistant", "municipal_staff", "other")
QUALIFICATIONS: dict[str, str] = {
    "hoikushi": "保育士", "shakai_fukushishi": "社会福祉士", "seishin_hoken_fukushishi": "精神保健福祉士",
    "hokenshi": "保健師", "kangoshi": "看護師", "josanshi": "助産師", "kyoin": "教員",
    "kosodate_shienin": "子育て支援員", "other": "その他",
}
DEDICATED = "dedicated"  # 専任
ASSISTING = "assisting"  # 兼任
ASSIGNMENT_KINDS = (DEDICATED, ASSISTING)
MAX_NAME = 100


class StaffNameMissingError(DomainError):
    code = "staff_name_missing"
    message = "Give the staff member's display name (at most 100 characters)."
    message_ja = "職員の表示名を入力してください（100文字以内）。"


class StaffRoleUnknownError(DomainError):
    code = "staff_role_unknown"
    message = "Choose roles from specialist, site_manager, assistant, municipal_staff or other."
    message_ja = "職種は一覧（specialist, site_manager, assistant, municipal_staff, other）から選んでください。"


class StaffQualificationUnknownError(DomainError):
    code = "staff_qualification_unknown"
    message = "Choose qualifications from the list."
    message_ja = "資格は一覧から選んでください。"


class StaffAssignmentInvalidError(DomainError):
    code = "staff_assignment_invalid"
    message = "An assignment is dedicated or assisting and ends on or after it starts."
    message_ja = "配置は専任または兼任とし、終了日は開始日以降にしてください。"


class StaffAssignmentNotFoundError(NotFoundDomainError):
    code = "staff_assignment_not_found"
    message = "No such assignment of this staff member."
    message_ja = "指定された配置が見つかりません。"


class StaffTrainingInvalidError(DomainError):
    code = "staff_training_invalid"
    message = ("A training record has a known kind, a completion date not in the future, "
               "and a validity ending after completion.")
    message_ja = "研修記録は種類を一覧から選び、受講日は今日以前、有効期限は受講日より後にしてください。"


class StaffPledgeInvalidError(DomainError):
    code = "staff_pledge_invalid"
    message = "The pledge's signing date cannot be in the future."
    message_ja = "誓約書の署名日に未来の日付は指定できません。"


def organisation_kind_of(organisation_id: str, municipality_code: str) -> str:
    """Whether staff of ``organisation_id`` are the municipality's own or a contractor's.

    The municipality registers under its own code; any other organisation is a
    contractor.  (Decided here, not in the GraphQL resolver that used to do it.)
    """
    return "municipality" if organisation_id == municipality_code else "contractor"


def _check_roles(roles: Iterable[str], qualifications: Iterable[str]) -> tuple[list[str], list[str]]:
    roles, qualifications = list(dict.fromkeys(roles)), list(dict.fromkeys(qualifications))
    if not roles or any(r not in STAFF_ROLES for r in roles):
        raise StaffRoleUnknownError(field="roles")
    if any(q not in QUALIFICATIONS for q in qualifications):
        raise StaffQualificationUnknownError(field="qualifications")
    return roles, qualifications


def _check_name(display_name: str) -> str:
    if not display_name.strip() or len(display_name) > MAX_NAME:
        raise StaffNameMissingError(field="displayName")
    return display_name.strip()


class StaffMember(Aggregate):
    """A member of staff of the municipality or of one of its contractors."""

    @staticmethod
    def create_id(organisation_id: str, subject: str) -> UUID:
        # The token subject is unique per issuer only, and each organisation has
        # its own issuer: the pair names one person, and registering twice is refused.
        return uuid5(_NS, f"{organisation_id}:{subject}")

    @classmethod
    def register(cls, *, subject: str, display_name: str, organisation_kind: str,
                 organisation_id: str, roles: Iterable[str],
                 qualifications: Iterable[str]) -> StaffMember:
        roles, qualifications = _check_roles(roles, qualifications)
        return cls(subject=subject, display_name=_check_name(display_name),
                   organisation_kind=organisation_kind, organisation_id=organisation_id,
                   roles=roles, qualifications=qualifications)

    @event("Registered")
    def __init__(self, subject: str, display_name: str, organisation_kind: str,
                 organisation_id: str, roles: list[str], qualifications: list[str]) -> None:
        self.subject = subject
        self.display_name = display_name  # staff personal data: never in spans or logs
        self.organisation_kind = organisation_kind  # municipality | contractor
        self.organisation_id = organisation_id
        self.roles = roles
        self.qualifications = qualifications
        self.assignments: dict[str, dict[str, object]] = {}
        self.trainings: dict[str, dict[str, object]] = {}
        self.pledge: dict[str, object] | None = None

    def check_version(self, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != self.version:
            raise StaleVersionError(field="expectedVersion", current_version=self.version)

    def update(self, *, display_name: str, roles: Iterable[str],
               qualifications: Iterable[str]) -> None:
        """Change name, roles or qualifications; nothing is stored when nothing changed."""
        roles, qualifications = _check_roles(roles, qualifications)
        name = _check_name(display_name)
        if (name, roles, qualifications) != (self.display_name, self.roles, self.qualifications):
            self._updated(name, roles, qualifications)

    @event("Updated")
    def _updated(self, display_name: str, roles: list[str], qualifications: list[str]) -> None:
        self.display_name = display_name
        self.roles = roles
        self.qualifications = qualifications

    def assign(self, *, site_id: str, kind: str, starts_on: date,
               ends_on: date | None) -> str:
        """Assign to a site as dedicated (専任) or assisting (兼任); returns the assignment id."""
        if kind not in ASSIGNMENT_KINDS or (ends_on is not None and ends_on < starts_on):
            raise StaffAssignmentInvalidError(field="kind" if kind not in ASSIGNMENT_KINDS
                                              else "endsOn")
        assignment_id = str(uuid4())
        self._assigned(assignment_id, site_id, kind, starts_on, ends_on)
        return assignment_id

    @event("Assigned")
    def _assigned(self, assignment_id: str, site_id: str, kind: str, starts_on: date,
                  ends_on: date | None) -> None:
        self.assignments[assignment_id] = {"site_id": site_id, "kind": kind,
                                           "starts_on": starts_on, "ends_on": ends_on}

    def end_assignment(self, *, assignment_id: str, ends_on: date) -> None:
        assignment = self.assignments.get(assignment_id)
        if assignment is None:
            raise StaffAssignmentNotFoundError(field="assignmentId")
        if ends_on < assignment["starts_on"]:  # type: ignore[operator]
            raise StaffAssignmentInvalidError(field="endsOn")
        self._assignment_ended(assignment_id, ends_on)

    @event("AssignmentEnded")
    def _assignment_ended(self, assignment_id: str, ends_on: date) -> None:
        self.assignments[assignment_id]["ends_on"] = ends_on

    def record_training(self, *, kind: str, completed_on: date, valid_until: date | None,
                        today: date) -> str:
        """Record a completed training (a renewal is a new record; the latest counts)."""
        if (kind not in TRAINING_KINDS or completed_on > today
                or (valid_until is not None and valid_until <= completed_on)):
            raise StaffTrainingInvalidError(field="kind" if kind not in TRAINING_KINDS
                                            else "completedOn")
        training_id = str(uuid4())
        self._training_recorded(training_id, kind, completed_on, valid_until)
        return training_id

    @event("TrainingRecorded")
    def _training_recorded(self, training_id: str, kind: str, completed_on: date,
                           valid_until: date | None) -> None:
        self.trainings[training_id] = {"kind": kind, "completed_on": completed_on,
                                       "valid_until": valid_until}

    def attach_pledge(self, *, attachment_id: UUID, signed_on: date, content_type: str,
                      size: int, sha256: str, today: date) -> None:
        """Keep the signed confidentiality pledge (誓約書); a new one replaces the old."""
        if signed_on > today:
            raise StaffPledgeInvalidError(field="signedOn")
        self._pledge_attached(str(attachment_id), signed_on, content_type, size, sha256)

    @event("PledgeAttached")
    def _pledge_attached(self, attachment_id: str, signed_on: date, content_type: str,
                         size: int, sha256: str) -> None:
        # No file name: it may carry the person's name.
        self.pledge = {"attachment_id": attachment_id, "signed_on": signed_on,
                       "content_type": content_type, "size": size, "sha256": sha256}
