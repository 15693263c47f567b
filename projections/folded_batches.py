"""Views that hold a batch's events and write their rows once, when the batch ends.

The projector opens ``view.batch(cur)`` around each batch.  A folding view keeps
the events applied on that cursor and, at the end, folds them into the rows they
touch (one read of those rows, one multi-row write per table: a few statements
per batch instead of a few per event).  The rows are those of applying the events
one at a time; if the block raises nothing is written (and the transaction rolls
back).  Outside a batch an event is folded, and written, at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import Notification

from yorisoi.infra.db import Cursor

Held = list[tuple[Any, Notification]]


class FoldedBatches:
    """Base of a view whose ``_fold(cur, items)`` writes a run of events' rows together."""

    def __init__(self) -> None:
        # Batches open per transaction, by cursor: events wait there until the batch ends.
        self._open: dict[int, tuple[Cursor, Held]] = {}

    @contextmanager
    def batch(self, cur: Cursor) -> Iterator[None]:
        self._open[id(cur)] = (cur, [])
        try:
            yield
            self._write(cur)
        finally:
            self._open.pop(id(cur), None)

    def _hold(self, cur: Cursor, event: Any, notification: Notification) -> None:
        """Keep the event for the batch's end, or fold it now outside a batch."""
        held = self._open.get(id(cur))
        if held is not None and held[0] is cur:
            held[1].append((event, notification))
        else:
            self._fold(cur, [(event, notification)])

    def _write(self, cur: Cursor) -> None:
        """Fold what the batch on ``cur`` holds so far (a reset writes it before emptying)."""
        held = self._open.get(id(cur))
        if held is not None and held[0] is cur and held[1]:
            items = list(held[1])
            held[1].clear()
            self._fold(cur, items)

    def _fold(self, cur: Cursor, items: Held) -> None:
        raise NotImplementedError
