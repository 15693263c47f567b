"""A consultation (相談記録): what the family asked, wished and what was agreed.

The fields follow the guideline's consultation record (§4(3)①, §6(1)①): date,
channel, the family's outer situation (外的状況), inner situation (内的状況)
and child-rearing situation (子育ての状況), what was asked, the wishes and the
support direction.  What the family said is personal and encrypted under the
household key; the date, channel, themes, site and contract are not, so
statistics survive disposal.

Corrections are new ``Corrected`` events: the original ``Recorded`` event is
never touched, so what was first written, and who changed what and why, stays
in the log.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import (
    ConsultationBeforeCaseOpenedError,
    ConsultationBeforePregnancyError,
    ConsultationChannelUnknownError,
    ConsultationDateInFutureError,
    ConsultationRequestMissingError,
    ConsultationThemesMissingError,
    ConsultationThemeUnknownError,
    DomainError,
    NotFoundDomainError,
    StaleVersionError,
)
from yorisoi.domain.vocabulary import Channel

# The service covers families "from pregnancy" (妊娠期から, guideline §1): a record may
# predate a birth or a due date by a pregnancy, never more.  280 days from the last
# period to the due date, plus 30 for a post-term birth (up to 42 weeks) and for the
# uncertainty of an early estimate — the same 310 days households.py accepts for a
# due date ahead of today, so every household it accepts can have its first record.
PREGNANCY_DAYS = 310


def check_consultation_date(occurred_on: date, *, case_opened_on: date,
                            birth_dates: Collection[date] = (),
                            due_date: date | None = None) -> None:
    """Refuse a consultation dated before its case, or (new family) before a pregnancy.

    For an existing case the bound is the case's opening (the day of its first
    record).  For a new household it is a pregnancy before the oldest child's
    birth, or before the due date when only a pregnancy is recorded; a household
    of guardians alone has no such bound.
    """
    if occurred_on < case_opened_on:
        raise ConsultationBeforeCaseOpenedError(field="occurredOn")
    anchors = [*birth_dates, *([due_date] if due_date is not None else [])]
    if anchors and occurred_on.toordinal() < min(anchors).toordinal() - PREGNANCY_DAYS:
        raise ConsultationBeforePregnancyError(field="occurredOn")


# The personal text fields of a consultation, the ones a correction may change.
TEXT_FIELDS = ("asked", "wishes", "direction", "outer_situation", "inner_situation",
               "child_rearing_situation")
SITUATION_FIELDS = ("outer_situation", "inner_situation", "child_rearing_situation")
# Facts for reporting, in clear (never personal): see Recorded's v3.
REPORTING_FIELDS = ("age_band", "first_in_fiscal_year", "case_new_in_fiscal_year")


class ConsultationNotFoundError(NotFoundDomainError):
    code = "consultation_not_found"
    message = "No such consultation on this case."
    message_ja = "このケースに、指定された相談記録はありません。"


class ConsultationCorrectionEmptyError(DomainError):
    code = "consultation_correction_empty"
    message = "The correction changes nothing."
    message_ja = "訂正する内容がありません。"


class ConsultationCorrectionReasonMissingError(DomainError):
    code = "consultation_correction_reason_missing"
    message = "Record why the consultation is corrected."
    message_ja = "訂正の理由を記録してください。"


def _clean(value: str | None) -> str | None:
    return (value or "").strip() or None


class Consultation(Aggregate):
    """One consultation with a family, recorded under a site (and contract)."""

    class Recorded(Aggregate.Created):
        # v2 added the three situations of the guideline's record; v3 the
        # non-personal facts reporting counts (issue 20), decided at the command:
        # the child's age band, whether this is the household's first
        # consultation of the fiscal year (実人数 without keeping household ids)
        # and whether its case opened in that year (new vs continuing).
        # None: recorded before v3, not known.
        class_version: ClassVar[int] = 3
        personal_fields: ClassVar[tuple[str, ...]] = TEXT_FIELDS
        case_id: UUID
        household_id: UUID
        site_id: str
        contract_id: str | None
        occurred_on: date
        channel: str
        themes: list[str]
        asked: str | None
        wishes: str | None
        direction: str | None
        outer_situation: str | None
        inner_situation: str | None
        child_rearing_situation: str | None
        age_band: str | None
        first_in_fiscal_year: bool | None
        case_new_in_fiscal_year: bool | None

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            for name in SITUATION_FIELDS:
                state.setdefault(name, None)

        @staticmethod
        def upcast_v2_v3(state: dict) -> None:
            for name in REPORTING_FIELDS:
                state.setdefault(name, None)

    class Corrected(Aggregate.Event):
        # Only the changed fields, with their new values, and why.
        personal_fields: ClassVar[tuple[str, ...]] = ("changes", "reason")
        household_id: UUID
        changed_fields: list[str]  # names only, in clear: audit without decryption
        changes: dict[str, str | None] | None
        reason: str | None

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def record(cls, *, case_id: UUID, household_id: UUID, site_id: str,
               contract_id: str | None, occurred_on: date, channel: str,
               themes: list[str], asked: str, wishes: str, direction: str,
               today: date, allowed_themes: Collection[str],
               outer_situation: str | None = None, inner_situation: str | None = None,
               child_rearing_situation: str | None = None, age_band: str | None = None,
               first_in_fiscal_year: bool | None = None,
               case_new_in_fiscal_year: bool | None = None) -> Consultation:
        """Record a consultation, enforcing the record's invariants."""
        if occurred_on > today:
            raise ConsultationDateInFutureError(field="occurredOn")
        if channel not in {c.value for c in Channel}:
            raise ConsultationChannelUnknownError(field="channel")
        if not themes:
            raise ConsultationThemesMissingError(field="themes")
        for index, theme in enumerate(themes):
            if theme not in allowed_themes:
                raise ConsultationThemeUnknownError(field=f"themes.{index}")
        if not asked.strip():
            raise ConsultationRequestMissingError(field="asked")
        return cls(
            case_id=case_id, household_id=household_id, site_id=site_id,
            contract_id=contract_id, occurred_on=occurred_on, channel=channel,
            # Order-preserving de-duplication: a theme counts once in statistics.
            themes=list(dict.fromkeys(themes)),
            asked=asked.strip(), wishes=wishes.strip(), direction=direction.strip(),
            outer_situation=_clean(outer_situation), inner_situation=_clean(inner_situation),
            child_rearing_situation=_clean(child_rearing_situation),
            age_band=age_band, first_in_fiscal_year=first_in_fiscal_year,
            case_new_in_fiscal_year=case_new_in_fiscal_year,
        )

    @event(Recorded)
    def __init__(self, case_id: UUID, household_id: UUID, site_id: str,
                 contract_id: str | None, occurred_on: date, channel: str,
                 themes: list[str], asked: str | None, wishes: str | None,
                 direction: str | None, outer_situation: str | None = None,
                 inner_situation: str | None = None,
                 child_rearing_situation: str | None = None, age_band: str | None = None,
                 first_in_fiscal_year: bool | None = None,
                 case_new_in_fiscal_year: bool | None = None) -> None:
        self.case_id = case_id
        self.household_id = household_id
        self.site_id = site_id
        self.contract_id = contract_id
        self.occurred_on = occurred_on
        self.channel = channel
        self.themes = themes
        # None after crypto-shredding.
        self.asked = asked
        self.wishes = wishes
        self.direction = direction
        self.outer_situation = outer_situation
        self.inner_situation = inner_situation
        self.child_rearing_situation = child_rearing_situation
        self.age_band = age_band
        self.first_in_fiscal_year = first_in_fiscal_year
        self.case_new_in_fiscal_year = case_new_in_fiscal_year
        self.corrections: list[dict[str, object]] = []

    def check_version(self, expected_version: int | None) -> None:
        """Refuse a correction decided on a stale view of the consultation."""
        if expected_version is not None and expected_version != self.version:
            raise StaleVersionError(field="expectedVersion", current_version=self.version)

    def correct(self, *, changes: dict[str, str | None], reason: str) -> None:
        """Correct personal text fields; the original stays in the log."""
        unknown = set(changes) - set(TEXT_FIELDS)
        if unknown:
            raise ValueError(f"not correctable: {sorted(unknown)}")
        if not reason.strip():
            raise ConsultationCorrectionReasonMissingError(field="reason")
        if "asked" in changes and not (changes["asked"] or "").strip():
            raise ConsultationRequestMissingError(field="asked")
        # Wishes and direction are "" when empty (as recorded); the situations None.
        cleaned = {name: (value or "").strip() if name in ("asked", "wishes", "direction")
                   else _clean(value) for name, value in changes.items()}
        changed = {name: value for name, value in cleaned.items()
                   if value != getattr(self, name)}
        if not changed:
            raise ConsultationCorrectionEmptyError(field="changes")
        self._corrected(household_id=self.household_id, changed_fields=sorted(changed),
                        changes=changed, reason=reason.strip())

    @event(Corrected)
    def _corrected(self, household_id: UUID, changed_fields: list[str],
                   changes: dict[str, str | None] | None, reason: str | None) -> None:
        for name, value in (changes or {}).items():
            setattr(self, name, value)
        self.corrections.append({"fields": changed_fields, "reason": reason})
