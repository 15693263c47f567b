"""No exported cell is ever read as a formula (CSV / formula injection).

Spreadsheet programs treat a cell whose text begins with ``=``, ``+``, ``-``
or ``@`` as a formula (and a tab or carriage return can hide the same
trick), so a name like ``=HYPERLINK(...)`` typed into a record would run
when a municipality opens an export.  Every export passes each text value
through ``neutralise``: such a value gets a leading apostrophe — the
convention spreadsheet programs show as text and OWASP recommends — and
numbers stay numbers.  One small function, so every export can use it.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` safe to put in a spreadsheet cell: text that could start a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
