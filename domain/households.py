"""The household: the data subjects of a case (guardians, children, pregnancy).

Everything here identifies a person, so every field of ``Household.Registered``
is personal: it is stored encrypted under the household's own data key and
becomes unreadable when that key is destroyed (crypto-shredding).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import (
    BirthDateInFutureError,
    DomainError,
    DueDateImplausibleError,
    HouseholdEmptyError,
    HouseholdOutsideTargetError,
)

PRESCHOOL_AGE = 6
FLEXIBLE_AGE_LIMIT = 18  # guideline §3: flexibly, children up to 18


@dataclass(frozen=True)
class Guardian:
    """A parent or other guardian."""

    name: str
    relationship: str  # e.g. 母, 父, 祖母


@dataclass(frozen=True)
class Child:
    """A child of the household."""

    name: str
    birth_date: date

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        return years - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


@dataclass(frozen=True)
class Pregnancy:
    """A pregnancy in the household, with its expected due date."""

    due_date: date


def _guardian_dicts(guardians: list[Guardian]) -> list[dict[str, Any]]:
    return [{"name": g.name, "relationship": g.relationship} for g in guardians]


def _child_dicts(children: list[Child]) -> list[dict[str, Any]]:
    return [{"name": c.name, "birth_date": c.birth_date.isoformat()} for c in children]


class HouseholdCorrectionReasonMissingError(DomainError):
    code = "household_correction_reason_missing"
    message = "Say why the household's data is corrected."
    message_ja = "世帯情報を訂正する理由を入力してください。"


class HouseholdCorrectionUnchangedError(DomainError):
    code = "household_correction_unchanged"
    message = "The correction changes nothing."
    message_ja = "訂正内容が現在の記録と同じです。"


class HouseholdDisposedError(DomainError):
    code = "household_disposed"
    message = "The household's personal data was disposed of; it cannot be corrected."
    message_ja = "この世帯の個人情報は廃棄済みのため訂正できません。"


def _checked_state(guardians: list[Guardian], children: list[Child],
                   pregnancy: Pregnancy | None, today: date,
                   outside_target_reason: str | None) -> dict[str, Any]:
    """The recorded state of a household, after the rules of §3 (registration and correction)."""
    if not guardians and not children and pregnancy is None:
        raise HouseholdEmptyError(field="household")
    for index, child in enumerate(children):
        if child.birth_date > today:
            raise BirthDateInFutureError(field=f"household.children.{index}.birthDate")
    if pregnancy is not None and not (
        today.toordinal() - 31 <= pregnancy.due_date.toordinal() <= today.toordinal() + 310
    ):
        raise DueDateImplausibleError(field="household.pregnancy.dueDate")
    in_target = pregnancy is not None or any(
        c.age_on(today) < FLEXIBLE_AGE_LIMIT for c in children)
    # Outside the target population the system asks for a reason rather than refusing.
    if not in_target and not (outside_target_reason or "").strip():
        raise HouseholdOutsideTargetError(field="household.outsideTargetReason")
    return {"guardians": _guardian_dicts(guardians), "children": _child_dicts(children),
            "pregnancy_due_date": pregnancy.due_date.isoformat() if pregnancy else None,
            "outside_target_reason": (outside_target_reason or "").strip() or None}


class Household(Aggregate):
    """The family a case is about."""

    class Registered(Aggregate.Created):
        # Stored encrypted under the household key (see services/personal_data.py).
        personal_fields: ClassVar[tuple[str, ...]] = (
            "guardians", "children", "pregnancy_due_date", "outside_target_reason")
        guardians: list[dict[str, Any]]
        children: list[dict[str, Any]]
        pregnancy_due_date: str | None
        outside_target_reason: str | None

    class Corrected(Aggregate.Event):
        # The whole corrected state (the original stays in the log, as recorded).
        personal_fields: ClassVar[tuple[str, ...]] = (
            "guardians", "children", "pregnancy_due_date", "outside_target_reason", "reason")
        guardians: list[dict[str, Any]]
        children: list[dict[str, Any]]
        pregnancy_due_date: str | None
        outside_target_reason: str | None
        reason: str
        fields: list[str]  # names of what changed (never values)

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def register(cls, *, guardians: list[Guardian], children: list[Child],
                 pregnancy: Pregnancy | None, today: date,
                 outside_target_reason: str | None = None) -> Household:
        """Register a household, checking it is one the service is for (§3)."""
        return cls(**_checked_state(guardians, children, pregnancy, today,
                                    outside_target_reason))

    def correct(self, *, guardians: list[Guardian], children: list[Child],
                pregnancy: Pregnancy | None, outside_target_reason: str | None, reason: str,
                today: date) -> list[str]:
        """Correct who the household is (names, birth dates, due date): a new event.

        The same rules as at registration apply to the corrected state; a
        reason is required; returns the names of the fields that changed.
        """
        if self.shredded:
            raise HouseholdDisposedError(field="caseId")
        if not reason.strip():
            raise HouseholdCorrectionReasonMissingError(field="reason")
        after = _checked_state(guardians, children, pregnancy, today, outside_target_reason)
        before = {"guardians": _guardian_dicts(self.guardians),
                  "children": _child_dicts(self.children),
                  "pregnancy_due_date": (self.pregnancy.due_date.isoformat()
                                         if self.pregnancy else None),
                  "outside_target_reason": self.outside_target_reason}
        fields = [name for name in before if before[name] != after[name]]
        if not fields:
            raise HouseholdCorrectionUnchangedError(field="household")
        self._corrected(**after, reason=reason.strip(), fields=fields)
        return fields

    @event(Corrected)
    def _corrected(self, guardians: list[dict[str, Any]] | None,
                   children: list[dict[str, Any]] | None, pregnancy_due_date: str | None,
                   outside_target_reason: str | None, reason: str | None,
                   fields: list[str]) -> None:
        self.corrected_fields = fields
        if guardians is None and children is None:  # shredded: nobody can read it any more
            self.shredded = True
            return
        self._set_people(guardians, children, pregnancy_due_date, outside_target_reason)

    @event(Registered)
    def __init__(self, guardians: list[dict[str, Any]] | None,
                    children: list[dict[str, Any]] | None,
                    pregnancy_due_date: str | None,
                    outside_target_reason: str | None) -> None:
        # After crypto-shredding these arrive as None: the household still
        # exists as a stream, but nobody can read who it was.
        self.shredded = guardians is None and children is None
        self._set_people(guardians, children, pregnancy_due_date, outside_target_reason)

    def _set_people(self, guardians: list[dict[str, Any]] | None,
                    children: list[dict[str, Any]] | None, pregnancy_due_date: str | None,
                    outside_target_reason: str | None) -> None:
        self.guardians = [Guardian(**g) for g in guardians or []]
        self.children = [
            Child(name=c["name"], birth_date=date.fromisoformat(c["birth_date"]))
            for c in children or []
        ]
        self.pregnancy = (
            Pregnancy(due_date=date.fromisoformat(pregnancy_due_date))
            if pregnancy_due_date else None
        )
        self.outside_target_reason = outside_target_reason
