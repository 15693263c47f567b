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
from yorisoi.domain.name_readings import phone_of, reading_of

PRESCHOOL_AGE = 6
FLEXIBLE_AGE_LIMIT = 18  # guideline §3: flexibly, children up to 18


@dataclass(frozen=True)
class Guardian:
    """A parent or other guardian."""

    name: str
    relationship: str  # e.g. 母, 父, 祖母
    reading: str | None = None  # フリガナ, as typed (katakana or hiragana)
    phone: str | None = None


@dataclass(frozen=True)
class Child:
    """A child of the household."""

    name: str
    birth_date: date
    reading: str | None = None  # フリガナ, as typed (katakana or hiragana)

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        return years - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


@dataclass(frozen=True)
class Pregnancy:
    """A pregnancy in the household, with its expected due date."""

    due_date: date


def _guardian_dicts(guardians: list[Guardian]) -> list[dict[str, Any]]:
    return [{"name": g.name, "relationship": g.relationship, "reading": g.reading,
             "phone": g.phone} for g in guardians]


def _child_dicts(children: list[Child]) -> list[dict[str, Any]]:
    return [{"name": c.name, "birth_date": c.birth_date.isoformat(), "reading": c.reading}
            for c in children]


def _checked_people(guardians: list[Guardian], children: list[Child],
                    ) -> tuple[list[Guardian], list[Child]]:
    """Readings and phones in their stored form (refused unless kana / a phone number)."""
    return ([Guardian(g.name, g.relationship,
                      reading_of(g.reading, field=f"household.guardians.{i}.reading"),
                      phone_of(g.phone, field=f"household.guardians.{i}.phone"))
             for i, g in enumerate(guardians)],
            [Child(c.name, c.birth_date,
                   reading_of(c.reading, field=f"household.children.{i}.reading"))
             for i, c in enumerate(children)])


def _upcast_people_v1_v2(state: dict[str, Any]) -> None:
    """Events stored before readings and phones were captured: the people had none.

    (After crypto-shredding the people are None: nothing to add.)
    """
    for guardian in state.get("guardians") or ():
        guardian.setdefault("reading", None)
        guardian.setdefault("phone", None)
    for child in state.get("children") or ():
        child.setdefault("reading", None)


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
    guardians, children = _checked_people(guardians, children)
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
        # v2: people carry ``reading`` (and guardians ``phone``); a registration
        # confirmed despite likely duplicates carries why (``new_household_reason``).
        class_version = 2
        personal_fields: ClassVar[tuple[str, ...]] = (
            "guardians", "children", "pregnancy_due_date", "outside_target_reason",
            "new_household_reason")
        guardians: list[dict[str, Any]]
        children: list[dict[str, Any]]
        pregnancy_due_date: str | None
        outside_target_reason: str | None
        new_household_reason: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # The mapper upcasts after decrypting, so the people are plain dicts here.
            _upcast_people_v1_v2(state)
            state["new_household_reason"] = None

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
        class_version = 2  # v2: people carry ``reading`` (and guardians ``phone``)

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            _upcast_people_v1_v2(state)

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def register(cls, *, guardians: list[Guardian], children: list[Child],
                 pregnancy: Pregnancy | None, today: date,
                 outside_target_reason: str | None = None,
                 new_household_reason: str | None = None) -> Household:
        """Register a household, checking it is one the service is for (§3).

        ``new_household_reason``: why the family is registered although
        likely duplicates were shown (kept with the registration).
        """
        return cls(**_checked_state(guardians, children, pregnancy, today,
                                    outside_target_reason),
                   new_household_reason=(new_household_reason or "").strip() or None)

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
                    outside_target_reason: str | None,
                    new_household_reason: str | None) -> None:
        # After crypto-shredding these arrive as None: the household still
        # exists as a stream, but nobody can read who it was.
        self.shredded = guardians is None and children is None
        self.new_household_reason = new_household_reason
        self._set_people(guardians, children, pregnancy_due_date, outside_target_reason)

    def _set_people(self, guardians: list[dict[str, Any]] | None,
                    children: list[dict[str, Any]] | None, pregnancy_due_date: str | None,
                    outside_target_reason: str | None) -> None:
        self.guardians = [Guardian(name=g["name"], relationship=g["relationship"],
                                   reading=g.get("reading"), phone=g.get("phone"))
                          for g in guardians or []]
        self.children = [
            Child(name=c["name"], birth_date=date.fromisoformat(c["birth_date"]),
                  reading=c.get("reading"))
            for c in children or []
        ]
        self.pregnancy = (
            Pregnancy(due_date=date.fromisoformat(pregnancy_due_date))
            if pregnancy_due_date else None
        )
        self.outside_target_reason = outside_target_reason
