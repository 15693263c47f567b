"""Ids in the text form the read models store, converted once per id, not once per use.

A page of the log names the same households and cases in many events, and
several views store each of them (``str(UUID)``: ~0.8 µs a call, ~4 calls an
event).  ``id_text`` remembers the canonical text by the UUID's integer (a
slot read and an int hash, ~0.1 µs); bounded by emptying it.  Anything that is
not a ``UUID`` is simply ``str()``-ed, as the callers did.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

_TEXTS: dict[int, str] = {}
_MAX = 8192


def id_text(value: Any) -> str:
    """``str(value)``; for a UUID, remembered."""
    if type(value) is not UUID:
        return str(value)
    number = value.int
    text = _TEXTS.get(number)
    if text is None:
        text = str(value)
        if len(_TEXTS) >= _MAX:
            _TEXTS.clear()
        _TEXTS[number] = text
    return text
