"""Keyset cursors for the list queries: an opaque base64 of the row's sort key.

A cursor is the JSON list of the last row's sort key, so the next page starts
strictly after it whatever was added or removed meanwhile.  A cursor that does
not decode to a key of the expected shape raises ``CursorInvalidError`` (the
typed ``cursor_invalid`` error), never a 500.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from yorisoi.projections.case_queries import CursorInvalidError

MAX_PAGE = 100
T = TypeVar("T")


def clamp(first: int) -> int:
    return max(1, min(first, MAX_PAGE))


def encode(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode(cursor: str | None, *types: type) -> list[Any] | None:
    """The sort key in ``cursor`` (None for the first page), checked against ``types``."""
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if (not isinstance(key, list) or len(key) != len(types)
                or not all(isinstance(v, t) and not isinstance(v, bool)
                           for v, t in zip(key, types, strict=True))):
            raise TypeError
    except (ValueError, TypeError):
        raise CursorInvalidError from None
    return key


def page_sorted(items: list[T], key: Callable[[T], tuple[Any, ...]], *, first: int,
                after: str | None, types: tuple[type, ...]) -> tuple[list[T], bool, str | None]:
    """Page an in-memory list by the same cursor rule as SQL: sort by ``key``, keep those after.

    Returns the page, whether more follow, and the page's end cursor.
    """
    start = decode(after, *types)
    ordered = sorted(items, key=key)
    if start is not None:
        ordered = [i for i in ordered if key(i) > tuple(start)]
    page = ordered[:first]
    return page, len(ordered) > first, encode(key(page[-1])) if page else None
