"""Names of the records vocabularies (retention, holds, disposal, data-subject requests).

Japanese comes from the domain's own dictionaries (never worded twice); English
from ``messages.json``'s ``vocabulary_en`` (the catalogue's English for domain
codes).  ``word(kind, code, lang)`` is passed to the records pages' templates.
"""

from __future__ import annotations

from typing import Any

from yorisoi.domain.consultations import TEXT_FIELDS
from yorisoi.domain.data_subject_requests import (
    EXTENSION_REASONS,
    IDENTIFICATION_METHODS,
    KINDS,
    LIFT_REASONS,
    OUTCOMES,
    REFUSAL_REASONS,
    REQUESTER_RELATIONSHIPS,
)
from yorisoi.domain.holds import HOLD_REASONS
from yorisoi.domain.retention import RECORD_CLASSES
from yorisoi.infra.console import i18n
from yorisoi.services.disclosure_document import FIELD_LABELS

VOCABULARIES: dict[str, dict[str, str]] = {
    "record_class": RECORD_CLASSES,
    "hold_reason": HOLD_REASONS,
    "dsr_kind": KINDS,
    "identification_method": IDENTIFICATION_METHODS,
    "requester_relationship": REQUESTER_RELATIONSHIPS,
    "dsr_outcome": {code: name for by_kind in OUTCOMES.values() for code, name in by_kind.items()},
    "refusal_reason": REFUSAL_REASONS,
    "extension_reason": EXTENSION_REASONS,
    "lift_reason": LIFT_REASONS,
    "consultation_field": {name: FIELD_LABELS[name] for name in TEXT_FIELDS},
}


def word(kind: str, code: str | None, lang: str) -> str:
    """The name of ``code`` in ``lang`` (screen-text keys ``kind.code`` for states)."""
    if code is None or code == "":
        return "—"
    if kind not in VOCABULARIES:
        return i18n.label(kind, code, lang)
    japanese = VOCABULARIES[kind].get(code)
    if lang == "ja" and japanese:
        return japanese
    english = i18n._load()["vocabulary_en"].get(f"{kind}.{code}")  # noqa: SLF001 - same catalogue
    return english or japanese or code.replace("_", " ")


def choices(kind: str, lang: str, codes: Any = None) -> list[tuple[str, str]]:
    """(code, name) of a vocabulary in the domain's order (or of ``codes``)."""
    return [(code, word(kind, code, lang)) for code in (codes or VOCABULARIES[kind])]
