"""Rows a command's own catch-up has just written, kept for that command's answer.

A mutation's answer is built from the case view right after the view caught
up with the command's events (read-your-writes).  The catch-up already holds
those rows in memory — it folded them and wrote them — so reading them back
costs two statements for nothing.  Inside ``answering()`` (one command's run,
opened by ``graphql/commands.execute`` and the console's forms) the case view
notes the rows it writes here, and ``CaseQueries`` serves them from here
before it asks the database.

Only for the request that ran the catch-up: the scope is a context variable,
so another request (another thread, another context) never sees these rows,
and they are gone when the command's run ends.  The rows are exactly what was
written (the same values, as stored), and the caller's scope is applied to
them as the SQL would (``CaseQueries``), so an answer built from them is the
answer a read in the same transaction would have given.  Nothing personal is
in clear here: the consultation rows carry their sealed blob, opened (and the
read logged) by the same code as a row read from the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# (space, table, key) → the row as written.
_Rows = dict[tuple[str, str, str], dict[str, Any]]

_current: ContextVar[_Rows | None] = ContextVar("yorisoi_fresh_rows", default=None)


@contextmanager
def answering() -> Iterator[None]:
    """Keep the rows catch-ups write in this context until the block ends."""
    token = _current.set({})
    try:
        yield
    finally:
        _current.reset(token)


def collecting() -> bool:
    """Whether rows written now would be kept (a view skips building them otherwise)."""
    return _current.get() is not None


def note(space: str, table: str, key: str, row: dict[str, Any]) -> None:
    rows = _current.get()
    if rows is not None:
        rows[(space, table, key)] = row


def fresh(space: str, table: str, key: str) -> dict[str, Any] | None:
    rows = _current.get()
    return None if rows is None else rows.get((space, table, key))
