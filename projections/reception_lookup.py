"""A reception number (受付番号) to the case it names, through the case view.

The number is what people say and type; the case id stays what commands and
links use.  Only cases the reader may see are found (the grant's scope), so a
number outside it reads exactly like a number nobody was given.
"""

from __future__ import annotations

from yorisoi.domain.reception_numbers import parse_reception_number
from yorisoi.infra.db import Database
from yorisoi.projections.case_queries import CaseScope, scope_clause


def case_id_for_number(database: Database, scope: CaseScope, text: str) -> str | None:
    """The id of the visible case with this number (typed in any common form), or None."""
    number = parse_reception_number(text)
    if number is None:
        return None
    where, params = scope_clause(scope)
    rows = database.select(
        f"SELECT case_id FROM {{s}}case_view WHERE reception_number = %s{where} LIMIT 2",
        [number, *params])
    # Numbers are unique within a municipality; two rows would be a broken view: no answer.
    return rows[0]["case_id"] if len(rows) == 1 else None
