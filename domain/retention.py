"""Retention (保存年限): record classes, each municipality's versioned schedule, and the clock.

Japanese municipal practice (DOMAIN.md, records management): each kind of
record belongs to a retention class — 1, 3, 5, 10 or 30 years, or permanent —
set by the municipality's own rules, and the period is counted from 1 April
of the fiscal year after the file is closed.  A case's file closes with the
case (``Case.Closed``, its date in Japan time); reopening the case stops the
clock, and the next closure starts it again.  A household is due for
disposal only when every file of it has run its period.

The clock is pure functions of dates, so it is tested exhaustively
(``tests/domain/test_retention_clock.py``).  The schedule is an aggregate,
one per municipality: each change is a new *version* that applies from its
effective date; a disposal decision cites the version it used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError
from yorisoi.domain.ids import uuid5

JST = ZoneInfo("Asia/Tokyo")

# What a municipality's records are, for retention.  A household's files are
# its case file (consultations, support notes, the household itself), its
# referrals, its meeting minutes and its consent forms; complaints (their own
# data subject and key) and the access log are scheduled here too, and are
# disposed of by their own workflows, not with a household.
RECORD_CLASSES: dict[str, str] = {
    "consultation_file": "相談記録（ケースファイル）",
    "referral": "つなぎ・仲介の記録",
    "meeting_minutes": "ケース会議録",
    "consent_form": "同意書",
    "complaint": "苦情・要望の記録",
    "access_log": "閲覧記録",
}
HOUSEHOLD_RECORD_CLASSES = ("consultation_file", "referral", "meeting_minutes", "consent_form")

# 保存年限: years, or None for permanent (永年).
RETENTION_YEARS: tuple[int, ...] = (1, 3, 5, 10, 30)
PERMANENT = None

MAX_BATCH = 500


class RetentionScheduleIncompleteError(DomainError):
    code = "retention_schedule_incomplete"
    message = "The schedule must give every record class a retention period."
    message_ja = "すべての記録の種類に保存年限を定めてください。"


class RetentionClassUnknownError(DomainError):
    code = "retention_class_unknown"
    message = "A retention period is 1, 3, 5, 10 or 30 years, or permanent."
    message_ja = "保存年限は1年・3年・5年・10年・30年・永年のいずれかを指定してください。"


class RecordClassUnknownError(DomainError):
    code = "record_class_unknown"
    message = "A record class is not one the schedule knows."
    message_ja = "記録の種類が正しくありません。"


class RecordClassRepeatedError(DomainError):
    code = "record_class_repeated"
    message = "Each record class may be given only once."
    message_ja = "記録の種類は一度ずつ指定してください。"


class RetentionScheduleDateInvalidError(DomainError):
    code = "retention_schedule_date_invalid"
    message = ("A new schedule version applies from today or later, and not before the "
               "latest version.")
    message_ja = "新しい保存年限表は、本日以降かつ直近の版の施行日以降から適用してください。"


class RetentionScheduleMissingError(DomainError):
    code = "retention_schedule_missing"
    message = "The municipality has not set a retention schedule yet: nothing can be disposed of."
    message_ja = "保存年限表が未設定のため、廃棄の対象はありません。"


# --------------------------------------------------------------------------- the clock


def japan_date(moment: datetime) -> date:
    """The Japan-time date of an aware moment (a UTC server says 'yesterday' until 09:00 JST)."""
    if moment.tzinfo is None:
        raise ValueError("a moment must be timezone-aware")
    return moment.astimezone(JST).date()


def fiscal_year(day: date) -> int:
    """The Japanese fiscal year (1 April – 31 March) a day belongs to, by its starting year."""
    return day.year if day.month >= 4 else day.year - 1


def clock_starts_on(closed_on: date) -> date:
    """1 April of the fiscal year after the file was closed: where the period is counted from."""
    return date(fiscal_year(closed_on) + 1, 4, 1)


def retention_ends_on(closed_on: date, years: int | None) -> date | None:
    """The last day of the retention period (31 March), None when permanent."""
    if years is None:
        return None
    return date(fiscal_year(closed_on) + 1 + years, 3, 31)


def disposable_from(closed_on: date, years: int | None) -> date | None:
    """The first day the file may be disposed of, None when permanent."""
    if years is None:
        return None
    return date(fiscal_year(closed_on) + 1 + years, 4, 1)


def household_due_on(closures: Iterable[date | None],
                     years: Iterable[int | None]) -> date | None:
    """The first day a household may be disposed of, or None while it may not be at all.

    ``closures`` holds each of its cases' closure dates (None: the case is open,
    e.g. reopened — the clock is stopped); ``years`` the retention of each
    record class it holds.  Every file must have run out, so the latest
    closure and the longest period decide; any permanent class keeps it.
    """
    closures, years = list(closures), list(years)
    if not closures or any(c is None for c in closures) or not years:
        return None
    if any(y is None for y in years):
        return None
    return disposable_from(max(closures), max(years))  # type: ignore[type-var,arg-type]


# --------------------------------------------------------------------------- the schedule


@dataclass(frozen=True)
class ScheduleVersion:
    """One version of a municipality's retention schedule."""

    version: int
    effective_from: date
    years: Mapping[str, int | None]  # record class -> years (None: permanent)
    two_person_approval: bool  # disposal needs an approver other than the proposer
    set_by: str | None = None

    def years_for(self, record_class: str) -> int | None:
        if record_class not in self.years:
            raise RecordClassUnknownError(field="recordClass")
        return self.years[record_class]


def years_by_class(rows: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The class → years mapping of the rows a person entered, each class once.

    A class given twice is refused rather than letting the later row silently win.
    """
    years: dict[str, Any] = {}
    for record_class, value in rows:
        if record_class in years:
            raise RecordClassRepeatedError(field="classes")
        years[record_class] = value
    return years


def check_years(years: Mapping[str, Any]) -> dict[str, int | None]:
    """A complete, valid class → years mapping (every problem is a DomainError)."""
    unknown = [name for name in years if name not in RECORD_CLASSES]
    if unknown:
        raise RecordClassUnknownError(field="classes")
    if set(years) != set(RECORD_CLASSES):
        raise RetentionScheduleIncompleteError(field="classes")
    for value in years.values():
        if value is not PERMANENT and (isinstance(value, bool) or value not in RETENTION_YEARS):
            raise RetentionClassUnknownError(field="classes")
    return {name: years[name] for name in RECORD_CLASSES}


class RetentionSchedule(Aggregate):
    """A municipality's retention schedule (保存年限表), one per municipality, versioned."""

    class VersionSet(Aggregate.Event):
        version: int
        effective_from: date
        years: dict[str, int | None]
        two_person_approval: bool
        set_by: str

    @staticmethod
    def create_id(municipality_code: str) -> UUID:
        # Deterministic: found without an index; two first versions collide instead of forking.
        return uuid5(NAMESPACE_URL, f"yorisoi:retention-schedule:{municipality_code}")

    @event("Started")
    def __init__(self, municipality_code: str) -> None:
        self.municipality_code = municipality_code
        self._versions: list[dict[str, Any]] = []

    def set_version(self, *, effective_from: date, years: Mapping[str, Any],
                    two_person_approval: bool, set_by: str, today: date) -> ScheduleVersion:
        """Add a version applying from ``effective_from`` (today or later: never retroactive)."""
        checked = check_years(years)
        latest = self._versions[-1]["effective_from"] if self._versions else None
        if effective_from < today or (latest is not None and effective_from < latest):
            raise RetentionScheduleDateInvalidError(field="effectiveFrom")
        self._version_set(version=len(self._versions) + 1, effective_from=effective_from,
                          years=checked, two_person_approval=bool(two_person_approval),
                          set_by=set_by)
        return self.versions()[-1]

    @event(VersionSet)
    def _version_set(self, version: int, effective_from: date, years: dict[str, int | None],
                     two_person_approval: bool, set_by: str) -> None:
        self._versions.append({"version": version, "effective_from": effective_from,
                               "years": dict(years), "two_person_approval": two_person_approval,
                               "set_by": set_by})

    def versions(self) -> list[ScheduleVersion]:
        return [ScheduleVersion(**v) for v in self._versions]

    def find_version(self, number: int) -> ScheduleVersion | None:
        return next((v for v in self.versions() if v.version == number), None)

    def in_effect_on(self, day: date) -> ScheduleVersion | None:
        """The version that applies on ``day`` (the latest whose effective date has come)."""
        applying = [v for v in self.versions() if v.effective_from <= day]
        return applying[-1] if applying else None
