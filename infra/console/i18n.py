"""The console's words: Japanese first, English available.

Screen text lives once, in ``messages.json`` (key → {"ja", "en"}).  Japanese
names of domain codes come from the domain's own vocabularies, so a label is
never worded twice; the catalogue adds their English.  Errors keep the API's
bilingual messages (``graphql/errors.py``): the console only picks the language.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from yorisoi.domain.access_grants import ROLES
from yorisoi.domain.break_glass import REASONS as BREAK_GLASS_REASONS
from yorisoi.domain.consent import PURPOSES
from yorisoi.domain.referrals import CLOSURE_REASONS, OUTCOMES, SHAREABLE_FIELDS
from yorisoi.domain.sites import SITE_TYPES
from yorisoi.domain.vocabulary import (
    AGENCY_KINDS,
    CHANNEL_LABELS_JA,
    CONFIDENTIALITY_BASES,
    LEGAL_BASES,
    STANDARD_THEMES,
)

LANGS = ("ja", "en")
CATALOGUE = Path(__file__).parent / "messages.json"

# Japanese labels owned by the domain, by vocabulary.
_DOMAIN_JA: dict[str, dict[str, str]] = {
    "channel": {str(k.value): v for k, v in CHANNEL_LABELS_JA.items()},
    "theme": STANDARD_THEMES,
    "agency_kind": AGENCY_KINDS,
    "confidentiality": CONFIDENTIALITY_BASES,
    "legal_basis": LEGAL_BASES,
    "purpose": PURPOSES,
    "outcome": OUTCOMES,
    "referral_closure": CLOSURE_REASONS,
    "shared_field": SHAREABLE_FIELDS,
    "role": {name: spec.label_ja for name, spec in ROLES.items()},
    "site_type": SITE_TYPES,
    "break_glass_reason": {code: ja for code, (_, ja) in BREAK_GLASS_REASONS.items()},
}
# The few vocabularies the domain words in English too.
_DOMAIN_EN: dict[str, dict[str, str]] = {
    "break_glass_reason": {code: en for code, (en, _) in BREAK_GLASS_REASONS.items()},
}


@cache
def _load() -> dict[str, Any]:
    data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    for key, entry in data["text"].items():
        missing = [lang for lang in LANGS if not entry.get(lang)]
        if missing:
            raise ValueError(f"messages.json: {key} lacks {missing}")
    return data


def catalogue() -> dict[str, dict[str, str]]:
    """Screen text: key → {"ja": …, "en": …}."""
    return _load()["text"]


def _english(kind: str, code: str) -> str | None:
    return _DOMAIN_EN.get(kind, {}).get(code) or _load()["vocabulary_en"].get(f"{kind}.{code}")


def text(key: str, lang: str, **values: Any) -> str:
    """The screen text ``key`` in ``lang`` (the key itself if the catalogue lacks it)."""
    entry = catalogue().get(key)
    if entry is None:
        return key
    words = entry.get(lang) or entry["ja"]
    return words.format(**values) if values else words


def label(kind: str, code: str | None, lang: str) -> str:
    """The name of a domain code (a channel, a theme, a role…) in ``lang``."""
    if code is None or code == "":
        return "—"
    entry = catalogue().get(f"{kind}.{code}")
    if entry is not None:
        return entry.get(lang) or entry["ja"]
    japanese = _DOMAIN_JA.get(kind, {}).get(code)
    if lang == "ja" and japanese:
        return japanese
    if lang == "en":
        return _english(kind, code) or code.replace("_", " ")
    return japanese or code


def choices(kind: str, lang: str) -> list[tuple[str, str]]:
    """(code, label) of a domain vocabulary, in the domain's order."""
    return [(code, label(kind, code, lang)) for code in _DOMAIN_JA[kind]]


def message(error: Any, lang: str) -> str:
    """An API error's message in ``lang`` (errors are bilingual at the source)."""
    return error.message_ja if lang == "ja" else error.message
