"""A report's figures recomputed from the event log up to a position (not from the live view).

Issuing a report and reproducing it both fold the log, from its start to the
position recorded on the issued report, through ``report_cells.cells_of`` —
the function the live view uses too.  Events are decoded with their personal
fields withheld (no key is read, nothing personal is decrypted), and only the
topics the reports count are read, a page at a time in notification order.
What is past the position — a later correction, a disposal, a late
consultation — is not read, so the figures are those of the day of issue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from eventsourcing.utils import get_topic

from yorisoi.projections.report_cells import HANDLED, Cell, DictMemory, cells_of
from yorisoi.projections.runner import _notification, log_head, position_key

__all__ = ["fold_cells", "in_scope", "log_head"]

PAGE = 2000

# Topics of the classes counted; an event class's topic is stable (upcasting
# handles older versions of the same topic).
TOPICS = tuple(sorted(get_topic(cls) for cls in HANDLED))


def fold_cells(database: Any, mapper: Any, upto: int, *, page: int = PAGE,
               progress: Callable[[int, int], None] | None = None) -> Counter[Cell]:
    """Every cell counted from the events at positions 1..``upto``.

    ``progress(position, upto)`` is called after each page (the CLI's bar).
    """
    key = position_key(database)
    marks = ", ".join(["%s"] * len(TOPICS))
    select = (f"SELECT {key} AS id, originator_id, originator_version, topic, state"
              f" FROM {{events}} WHERE {key} > %s AND {key} <= %s AND topic IN ({marks})"
              f" ORDER BY {key} LIMIT %s")
    cells: Counter[Cell] = Counter()
    memory = DictMemory()
    position = 0
    with database.transaction(write=False) as cur:
        while position < upto:
            rows = cur.execute(select, (position, upto, *TOPICS, page), binary=True).fetchall()
            for row in rows:
                event = mapper.to_withheld_event(_notification(row))
                for cell, n in cells_of(event, memory):
                    cells[cell] += n
            position = int(rows[-1]["id"]) if len(rows) == page else upto
            if progress is not None:
                progress(position, upto)
    return Counter({cell: n for cell, n in cells.items() if n})


def in_scope(cells: Counter[Cell], first_month: str, last_month: str,
             contract_ids: list[str] | None) -> Counter[Cell]:
    """The cells of a range of months, only some contracts' (a contractor's) if given."""
    return Counter({cell: n for cell, n in cells.items()
                    if first_month <= cell[0] <= last_month
                    and (contract_ids is None or cell[2] in contract_ids)})
