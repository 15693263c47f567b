"""A suggested reading (フリガナ) of a name written in kanji, for the person typing to confirm.

Readings of names are irregular (陽翔 is ハルト, ヒナト, アキト…), so a
suggestion is only ever shown — pre-filled in the form, marked 候補 — and
what is stored is what the form submits.  The suggestion comes from SudachiPy
with its core dictionary (sudachidict-core, Apache-2.0, ~77 MB wheel): the
dictionary ships in the package, nothing is downloaded at run time.  A name
with a part the dictionary cannot read gets no suggestion rather than half of one.
"""

from __future__ import annotations

import threading
import unicodedata
from typing import Any

from yorisoi.domain.name_readings import ReadingNotKanaError, reading_of

_lock = threading.Lock()
_tokenizer: Any = None


def _tokenize(text: str) -> list[Any]:
    global _tokenizer
    with _lock:  # one tokenizer, not thread-safe; a name takes microseconds
        if _tokenizer is None:
            from sudachipy import Dictionary, SplitMode

            # Mode C: the longest units, so 花子 stays one word with one reading.
            _tokenizer = Dictionary(dict="core").tokenizer(mode=SplitMode.C)
        return list(_tokenizer.tokenize(text))


def suggest_reading(name: str | None) -> str | None:
    """The name's likely reading in katakana (family and given names spaced), or None."""
    text = unicodedata.normalize("NFKC", name or "").strip()
    if not text or len(text) > 100:
        return None
    parts: list[str] = []
    for word in text.split():
        reading = "".join(m.reading_form() for m in _tokenize(word)
                          if m.part_of_speech()[0] != "空白")
        parts.append(reading)
    suggestion = " ".join(parts)
    try:
        return reading_of(suggestion, field="reading")
    except ReadingNotKanaError:
        return None  # a part the dictionary could not read (it echoes the kanji)
