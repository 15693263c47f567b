"""Folding what staff type and what was recorded to one form, so the two can be compared.

The blind index (``projections/household_index.py``) hashes folded values
only, and a search folds its terms the same way: ﾀｶﾊｼ, タカハシ and たかはし
meet, and so do 髙橋 and 高橋, 𠮷田 and 吉田, 渡邊, 渡邉 and 渡辺.

- names and readings: NFKC (full-width letters and digits, half-width kana
  to full-width), variation selectors dropped, 旧字体 → 新字体 and 異体字 →
  their representative character from jpnorm's maintained tables (a table
  typed here would be incomplete on day one and never updated), katakana →
  hiragana, lower case, every space and middle dot removed;
- phones: the digits only (full-width ones too), 10 or 11 of them;
- birth dates: ISO, from any form ``domain/japanese_dates.parse_typed_date`` reads.

The folded forms are never shown nor stored: names keep their exact
characters everywhere they are displayed.  Changing any rule here changes
tokens: rebuild the index afterwards (``yorisoi projections rebuild``).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import jpnorm

from yorisoi.domain.japanese_dates import parse_typed_date

# Bumped when a rule above changes (docs/search.md: tokens are rebuilt then).
FOLDING_VERSION = 1

_FOLDER = jpnorm.Normalizer(
    "none", nfkc=True, halfwidth_kana_to_fullwidth=True, remove_variation_selectors=True,
    kyujitai_to_shinjitai=True, unify_itaiji=True, kana="kata_to_hira", case="lower",
    remove_zero_width=True, remove_control=True, remove_bidi_control=True)
# Spaces of every kind, and the separators people put between family and given names.
_SEPARATORS = re.compile(r"[\s・･·.,、，_\-‐－]+")
_PHONE_CHARACTERS = re.compile(r"^[0-9\s()\-+‐－ー−]+$")


def fold_name(value: str) -> str:
    """A name or a reading in its folded form ('' when nothing is left).

    Not cached: a cache would keep names in memory past their household's
    disposal (the reason the aggregate cache is off too).
    """
    if not value:
        return ""
    # Lone surrogates cannot cross into jpnorm's Rust core; they are no part of a name.
    text = value.encode("utf-8", "ignore").decode("utf-8")
    return _SEPARATORS.sub("", _FOLDER.normalize(unicodedata.normalize("NFKC", text)))


def bigrams(folded: str) -> list[str]:
    """The distinct character pairs of a folded value, in order (the partial-match tokens)."""
    return list(dict.fromkeys(folded[i:i + 2] for i in range(len(folded) - 1)))


def trigrams(folded: str) -> list[str]:
    """The distinct runs of three characters of a folded value, in order."""
    return list(dict.fromkeys(folded[i:i + 3] for i in range(len(folded) - 2)))


def reading_words(value: str) -> list[str]:
    """The folded words of a reading as typed (タカハシ ミサキ: たかはし, みさき)."""
    text = unicodedata.normalize("NFKC", value or "")
    return [w for w in (fold_name(part) for part in re.split(r"[\s・]+", text)) if w]


def phone_digits(value: str) -> str | None:
    """The digits of a phone number as typed (090-1234-5678, （03）1234-5678), or None.

    A Japanese number has 10 or 11 digits; anything else is not taken for one
    (8 digits are a date, 6 a reception number).  A leading +81 becomes 0.
    """
    text = unicodedata.normalize("NFKC", value or "").strip()
    if not text or not _PHONE_CHARACTERS.match(text):
        return None
    digits = re.sub(r"\D", "", text)
    if text.startswith("+81"):
        digits = "0" + digits[2:]
    return digits if 10 <= len(digits) <= 11 and digits.startswith("0") else None


def birth_date(value: str | date | None) -> str | None:
    """A birth date as typed or stored, in ISO form, or None."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        parsed = parse_typed_date(value)
        return parsed.isoformat() if parsed else None
