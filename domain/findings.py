"""Findings: what the municipality's monitoring of its sites and staff turns up (§2(3), §4(6), §5).

Pure functions over plain values, so the same checks serve the site and
staff pages and the oversight report, and run identically on any read model.
A finding carries a stable code, a severity and a message in English and
Japanese; it never names a person (oversight reports only count them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

WARNING = "warning"
ERROR = "error"

TRAINING_KINDS: dict[str, str] = {
    "kosodate_shienin_kihon": "子育て支援員基本研修",
    "kosodate_shienin_senmon": "子育て支援員専門研修（利用者支援事業・基本型/特定型）",
    "privacy_confidentiality": "個人情報保護・守秘義務研修",
}
# Privacy training is renewed every year; its validity defaults to one year.
PRIVACY_VALID_DAYS = 365
SPECIALIST = "specialist"


@dataclass(frozen=True)
class Finding:
    """One problem found by a check."""

    code: str
    severity: str
    message: str
    message_ja: str
    training_kind: str | None = None


def open_fewer_than_half_the_week(weekly: Mapping[str, object]) -> Finding | None:
    """The guideline recommends opening on more than half of the week's days (4 of 7)."""
    if len(weekly) * 2 > 7:
        return None
    return Finding("open_fewer_than_half_the_week", WARNING,
                   "The site is open on no more than half of the week's days "
                   "(the guideline recommends more than half).",
                   "開所日数が週の半分以下です（ガイドラインでは週の半分を超える開所が望ましいとされています）。")


def no_dedicated_specialist(dedicated_specialists: int) -> Finding | None:
    """Every site needs at least one dedicated (専任) 利用者支援専門員."""
    if dedicated_specialists > 0:
        return None
    return Finding("no_dedicated_specialist", ERROR,
                   "No specialist is assigned to the site as dedicated (専任).",
                   "専任の利用者支援専門員が配置されていません。")


def site_findings(weekly: Mapping[str, object], dedicated_specialists: int) -> list[Finding]:
    found = (open_fewer_than_half_the_week(weekly), no_dedicated_specialist(dedicated_specialists))
    return [f for f in found if f is not None]


@dataclass(frozen=True)
class TrainingRecord:
    kind: str
    completed_on: date
    valid_until: date | None


def training_valid_until(kind: str, completed_on: date, valid_until: date | None) -> date | None:
    """Privacy training without a stated expiry lapses a year after completion."""
    if valid_until is None and kind == "privacy_confidentiality":
        return completed_on + timedelta(days=PRIVACY_VALID_DAYS)
    return valid_until


def required_trainings(roles: Iterable[str]) -> list[str]:
    """基本研修 and 専門研修 for specialists; privacy training for everyone."""
    kinds = ["kosodate_shienin_kihon", "kosodate_shienin_senmon"] if SPECIALIST in roles else []
    return [*kinds, "privacy_confidentiality"]


def training_findings(roles: Iterable[str], trainings: Iterable[TrainingRecord],
                      today: date) -> list[Finding]:
    """A finding for each required training that is missing, or whose latest record lapsed."""
    latest: dict[str, TrainingRecord] = {}
    for t in trainings:
        if t.kind not in latest or t.completed_on > latest[t.kind].completed_on:
            latest[t.kind] = t
    found = []
    for kind in required_trainings(roles):
        name = TRAINING_KINDS[kind]
        record = latest.get(kind)
        if record is None:
            found.append(Finding("training_missing", ERROR,
                                 f"A required training is missing: {kind}.",
                                 f"必要な研修（{name}）の受講記録がありません。", kind))
            continue
        until = training_valid_until(kind, record.completed_on, record.valid_until)
        if until is not None and until < today:
            found.append(Finding("training_lapsed", ERROR,
                                 f"A required training has lapsed and needs renewal: {kind}.",
                                 f"必要な研修（{name}）の有効期限が切れています。再受講が必要です。",
                                 kind))
    return found


def pledge_missing(has_pledge: bool) -> Finding | None:
    """Every member of staff signs the confidentiality pledge (誓約書)."""
    if has_pledge:
        return None
    return Finding("pledge_missing", ERROR, "The signed confidentiality pledge is missing.",
                   "守秘義務に関する誓約書が提出されていません。")


def staff_findings(roles: Iterable[str], trainings: Iterable[TrainingRecord], has_pledge: bool,
                   today: date) -> list[Finding]:
    roles = list(roles)
    found = training_findings(roles, trainings, today)
    pledge = pledge_missing(has_pledge)
    return [*found, pledge] if pledge else found
