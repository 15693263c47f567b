"""A municipality's consultation themes: the national list plus its own additions.

Themes are statistics categories, never personal data.  The national list
(``STANDARD_THEMES``) is fixed; a municipality adds themes of its own and may
retire them later.  A retired theme stays valid on the records that already
use it (their statistics must not change) but is refused for new ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError
from yorisoi.domain.ids import uuid5
from yorisoi.domain.vocabulary import STANDARD_THEMES

STANDARD_THEME_LABELS_EN: dict[str, str] = {
    "childcare_place": "Childcare and education places",
    "temporary_care": "Temporary care",
    "development": "Development",
    "daily_worries": "Everyday child-rearing worries",
    "pregnancy_birth": "Pregnancy and birth",
    "health": "Health and medical care",
    "money": "Money worries",
    "family_relations": "Family relations",
    "dv": "Domestic violence",
    "abuse_concern": "Abuse concern",
    "other": "Other",
}

# Codes go into statistics and exports: short, stable, machine-friendly.
_CODE = re.compile(r"[a-z][a-z0-9_]{1,39}")
MAX_LABEL = 50


class ThemeCodeInvalidError(DomainError):
    code = "theme_code_invalid"
    message = "A theme code is 2–40 lowercase letters, digits or underscores, starting with a letter."
    message_ja = "分類コードは英小文字で始まる2〜40文字の英小文字・数字・アンダースコアで指定してください。"


class ThemeLabelMissingError(DomainError):
    code = "theme_label_missing"
    message = "Give the theme's Japanese label."
    message_ja = "分類の名称（日本語）を入力してください。"


class ThemeAlreadyExistsError(DomainError):
    code = "theme_already_exists"
    message = "A theme with this code already exists (retired themes keep their code)."
    message_ja = "同じコードの分類がすでにあります（廃止した分類のコードも再利用できません）。"


class ThemeUnknownError(DomainError):
    code = "theme_unknown"
    message = "No such theme among the municipality's own themes."
    message_ja = "指定された分類はこの自治体が追加した分類にありません。"


class ThemeStandardError(DomainError):
    code = "theme_standard"
    message = "Themes of the national list cannot be retired."
    message_ja = "国の標準分類は廃止できません。"


@dataclass(frozen=True)
class Theme:
    """One theme as a municipality sees it."""

    code: str
    label_ja: str
    label_en: str | None
    standard: bool
    retired: bool = False


class ThemeTaxonomy(Aggregate):
    """The theme list of one municipality (one per municipality, found by its code)."""

    @staticmethod
    def create_id(municipality_code: str) -> UUID:
        # Deterministic: the taxonomy is found without an index, and two
        # concurrent first additions collide on version 1 instead of forking.
        return uuid5(NAMESPACE_URL, f"yorisoi:theme-taxonomy:{municipality_code}")

    @event("Started")
    def __init__(self, municipality_code: str) -> None:
        self.municipality_code = municipality_code
        self.additions: dict[str, dict[str, object]] = {}

    def add_theme(self, *, code: str, label_ja: str, label_en: str | None) -> None:
        """Add a theme of the municipality's own."""
        if not _CODE.fullmatch(code):
            raise ThemeCodeInvalidError(field="code")
        if code in STANDARD_THEMES or code in self.additions:
            raise ThemeAlreadyExistsError(field="code")
        if not label_ja.strip():
            raise ThemeLabelMissingError(field="labelJa")
        self._theme_added(code, label_ja.strip(), (label_en or "").strip() or None)

    @event("ThemeAdded")
    def _theme_added(self, code: str, label_ja: str, label_en: str | None) -> None:
        self.additions[code] = {"label_ja": label_ja, "label_en": label_en, "retired": False}

    def retire_theme(self, code: str) -> None:
        """Stop offering an added theme for new records (idempotent)."""
        if code in STANDARD_THEMES:
            raise ThemeStandardError(field="code")
        if code not in self.additions:
            raise ThemeUnknownError(field="code")
        if not self.additions[code]["retired"]:
            self._theme_retired(code)

    @event("ThemeRetired")
    def _theme_retired(self, code: str) -> None:
        self.additions[code]["retired"] = True

    def themes(self) -> list[Theme]:
        return standard_themes() + [
            Theme(code=code, label_ja=str(a["label_ja"]),
                  label_en=a["label_en"] if a["label_en"] is None else str(a["label_en"]),
                  standard=False, retired=bool(a["retired"]))
            for code, a in self.additions.items()]

    def allowed(self) -> list[str]:
        """Codes a new record may use: the national list and active additions."""
        return [t.code for t in self.themes() if not t.retired]


def standard_themes() -> list[Theme]:
    """The national list, as a municipality without additions sees it."""
    return [Theme(code=code, label_ja=label, label_en=STANDARD_THEME_LABELS_EN.get(code),
                  standard=True) for code, label in STANDARD_THEMES.items()]
