"""A command's answer from the rows its catch-up wrote: the same scope, the same request only.

``CaseQueries.get`` serves a row the request's own catch-up just wrote
(``projections/fresh_rows.py``) instead of reading it back.  The caller's scope
must then be applied in memory exactly as ``scope_clause`` applies it in SQL —
checked here against SQLite over every combination of contract and site scopes —
and the rows must never be seen outside the command's run.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading

from yorisoi.projections import fresh_rows
from yorisoi.projections.case_queries import CaseScope, in_scope, scope_clause

CONTRACTS = (None, "c-1", "c-2")
SITES = ("s-1", "s-2")


def _rows() -> list[dict[str, str | None]]:
    return [{"case_id": f"{c}/{s}", "contract_id": c, "site_id": s}
            for c, s in itertools.product(CONTRACTS, SITES)]


def _scopes() -> list[CaseScope]:
    contract_choices = (None, (), ("c-1",), ("c-1", "c-2"))
    site_choices = (None, (), ("s-1",), ("s-1", "s-2"))
    return [CaseScope(contract_ids=c, include_direct=d, site_ids=s)
            for c, d, s in itertools.product(contract_choices, (True, False), site_choices)]


def test_the_scope_in_memory_is_the_scope_in_sql() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE case_view (case_id TEXT, contract_id TEXT, site_id TEXT)")
    rows = _rows()
    db.executemany("INSERT INTO case_view VALUES (:case_id, :contract_id, :site_id)", rows)
    checked = 0
    for scope in _scopes():
        where, params = scope_clause(scope)
        sql = ("SELECT case_id FROM case_view WHERE 1 = 1"
               + where.replace("{s}", "").replace("%s", "?"))
        in_sql = {r[0] for r in db.execute(sql, params)}
        in_memory = {r["case_id"] for r in rows if in_scope(scope, r)}
        assert in_memory == in_sql, scope
        checked += 1
    assert checked == 32


def test_rows_are_kept_only_inside_a_command_run_and_only_for_its_context() -> None:
    row = {"case_id": "x", "contract_id": None, "site_id": "s-1"}
    fresh_rows.note("t_1", "case_view", "x", row)  # outside a run: not kept
    assert not fresh_rows.collecting()
    assert fresh_rows.fresh("t_1", "case_view", "x") is None
    seen_elsewhere: list[object] = []
    with fresh_rows.answering():
        assert fresh_rows.collecting()
        fresh_rows.note("t_1", "case_view", "x", row)
        assert fresh_rows.fresh("t_1", "case_view", "x") is row
        assert fresh_rows.fresh("t_2", "case_view", "x") is None  # another space
        # Another request (another thread with a context of its own) never sees them.
        other = threading.Thread(
            target=lambda: seen_elsewhere.append(fresh_rows.fresh("t_1", "case_view", "x")))
        other.start()
        other.join()
    assert seen_elsewhere == [None]
    assert fresh_rows.fresh("t_1", "case_view", "x") is None
