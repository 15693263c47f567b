"""The live reporting figures: the count cells of ``report_cells``, kept in a table.

``report_cells`` holds (month, site, contract, measure, code) → count and
nothing else — no household id, no personal value — so a disposal purges
nothing here and a rebuild from shredded events gives the same rows.
``report_memory`` holds what a later event of an aggregate needs from an
earlier one (a referral's site and agency kind until it is closed), keyed by
the aggregate's own id, never a household's.

A projection batch adds its counts up in memory and writes each table once at
the end (like the statistics view); within a batch the memory is read through
what the batch has already remembered.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.persistence import Notification

from yorisoi.domain.reports import IssuedReport
from yorisoi.infra.db import Cursor, Database
from yorisoi.projections.report_cells import HANDLED, Cell, cells_of

REPORT_TABLES = ("report_cells", "report_memory", "report_issued")

_GONE = object()  # a memory item forgotten in this batch


class _TableMemory:
    """``Memory`` over ``report_memory``; with ``held``, writes wait for the batch's end."""

    def __init__(self, cur: Cursor, held: dict[tuple[str, str], Any] | None) -> None:
        self.cur, self.held = cur, held

    def recall(self, kind: str, item_id: str) -> dict[str, Any] | None:
        if self.held is not None and (kind, item_id) in self.held:
            value = self.held[(kind, item_id)]
            return None if value is _GONE else value
        row = self.cur.execute("SELECT value FROM {s}report_memory WHERE kind = %s"
                               " AND item_id = %s", (kind, item_id)).fetchone()
        return None if row is None else json.loads(row["value"])

    def remember(self, kind: str, item_id: str, value: dict[str, Any]) -> None:
        if self.held is not None:
            self.held[(kind, item_id)] = value
            return
        self.cur.execute("INSERT INTO {s}report_memory (kind, item_id, value) VALUES (%s, %s, %s)"
                         " ON CONFLICT (kind, item_id) DO UPDATE SET value = excluded.value",
                         (kind, item_id, json.dumps(value, sort_keys=True)))

    def forget(self, kind: str, item_id: str) -> None:
        if self.held is not None:
            self.held[(kind, item_id)] = _GONE
            return
        self.cur.execute("DELETE FROM {s}report_memory WHERE kind = %s AND item_id = %s",
                         (kind, item_id))


class ReportView:
    """Projection of every reported event into count cells."""

    name = "reports"
    tables = REPORT_TABLES

    def __init__(self, keyring: Any = None) -> None:
        # Nothing personal is read or kept: no key needed.  An open batch per cursor.
        self._open: dict[int, tuple[Cursor, Counter[Cell], dict[tuple[str, str], Any]]] = {}

    @staticmethod
    def ddl() -> list[str]:
        return [
            ("CREATE TABLE IF NOT EXISTS {s}report_cells ("
             " month TEXT NOT NULL, site_id TEXT NOT NULL, contract_id TEXT NOT NULL,"
             " measure TEXT NOT NULL, code TEXT NOT NULL, n INTEGER NOT NULL,"
             " PRIMARY KEY (month, site_id, contract_id, measure, code))"),
            ("CREATE TABLE IF NOT EXISTS {s}report_memory ("
             " kind TEXT NOT NULL, item_id TEXT NOT NULL, value TEXT NOT NULL,"
             " PRIMARY KEY (kind, item_id))"),
            # Issued reports, for their list (the figures are recomputed, not kept).
            ("CREATE TABLE IF NOT EXISTS {s}report_issued ("
             " report_id TEXT PRIMARY KEY, form TEXT NOT NULL, form_version TEXT NOT NULL,"
             " fiscal_year INTEGER NOT NULL, contract_ids TEXT, position BIGINT NOT NULL,"
             " issued_on TEXT NOT NULL, issued_by TEXT NOT NULL, csv_sha256 TEXT NOT NULL,"
             " xlsx_sha256 TEXT NOT NULL, figures_sha256 TEXT NOT NULL)"),
        ]

    def reset(self, cur: Cursor) -> None:
        for table in REPORT_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def purge(self, cur: Cursor, household_id: Any) -> None:
        """Disposal: nothing to purge, the tables know no household."""

    @staticmethod
    def handles(event_cls: type) -> bool:
        return issubclass(event_cls, (*HANDLED, IssuedReport.Issued))

    @contextmanager
    def batch(self, cur: Cursor) -> Iterator[None]:
        counts: Counter[Cell] = Counter()
        held: dict[tuple[str, str], Any] = {}
        self._open[id(cur)] = (cur, counts, held)
        try:
            yield
            gone = [key for key, value in held.items() if value is _GONE]
            for kind, item_id in gone:
                cur.execute("DELETE FROM {s}report_memory WHERE kind = %s AND item_id = %s",
                            (kind, item_id))
            kept = [(kind, item_id, json.dumps(value, sort_keys=True))
                    for (kind, item_id), value in held.items() if value is not _GONE]
            cur.insert_many("report_memory", ("kind", "item_id", "value"),
                            ("text", "text", "text"), kept,
                            "ON CONFLICT (kind, item_id) DO UPDATE SET value = excluded.value")
            cur.insert_many("report_cells",
                            ("month", "site_id", "contract_id", "measure", "code", "n"),
                            ("text", "text", "text", "text", "text", "int4"),
                            [(*cell, n) for cell, n in counts.items() if n],
                            "ON CONFLICT (month, site_id, contract_id, measure, code)"
                            " DO UPDATE SET n = report_cells.n + excluded.n")
            if any(n < 0 for n in counts.values()):  # a cancellation: no empty cells left
                cur.execute("DELETE FROM {s}report_cells WHERE n = 0")
        finally:
            self._open.pop(id(cur), None)

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        if isinstance(event, IssuedReport.Issued):
            cur.execute(
                "INSERT INTO {s}report_issued (report_id, form, form_version, fiscal_year,"
                " contract_ids, position, issued_on, issued_by, csv_sha256, xlsx_sha256,"
                " figures_sha256) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (str(event.originator_id), event.form, event.form_version, event.fiscal_year,
                 None if event.contract_ids is None else json.dumps(event.contract_ids),
                 event.position, event.issued_on.isoformat(), event.issued_by,
                 event.csv_sha256, event.xlsx_sha256, event.figures_sha256))
            return
        held = self._open.get(id(cur))
        if held is not None and held[0] is cur:
            counts = held[1]
            for cell, n in cells_of(event, _TableMemory(cur, held[2])):
                counts[cell] += n
            return
        for cell, n in cells_of(event, _TableMemory(cur, None)):
            cur.execute("INSERT INTO {s}report_cells AS t (month, site_id, contract_id, measure,"
                        " code, n) VALUES (%s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT (month, site_id, contract_id, measure, code)"
                        " DO UPDATE SET n = t.n + excluded.n", (*cell, n))
            if n < 0:
                cur.execute("DELETE FROM {s}report_cells WHERE n = 0")


def months_between(start: date, end: date) -> tuple[str, str]:
    return start.isoformat()[:7], end.isoformat()[:7]


class ReportCellQueries:
    """The live cells of a range of months (inclusive), optionally only some contracts."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def cells(self, first_month: str, last_month: str,
              contract_ids: list[str] | None = None) -> Counter[Cell]:
        found: Counter[Cell] = Counter()
        with self.db.transaction(write=False) as cur:
            rows = cur.execute("SELECT month, site_id, contract_id, measure, code, n"
                               " FROM {s}report_cells WHERE month >= %s AND month <= %s",
                               (first_month, last_month)).fetchall()
        for r in rows:
            if contract_ids is not None and r["contract_id"] not in contract_ids:
                continue
            if int(r["n"]):
                found[(r["month"], r["site_id"], r["contract_id"], r["measure"],
                       r["code"])] += int(r["n"])
        return found


@dataclass(frozen=True)
class IssuedReportRow:
    report_id: str
    form: str
    form_version: str
    fiscal_year: int
    contract_ids: list[str] | None
    position: int
    issued_on: str
    issued_by: str
    csv_sha256: str
    xlsx_sha256: str
    figures_sha256: str


def issued_reports(database: Database, contract_ids: list[str] | None = None,
                   fiscal_year: int | None = None) -> list[IssuedReportRow]:
    """Issued reports, newest first; a contractor's: those of its own contracts only."""
    with database.transaction(write=False) as cur:
        rows = cur.execute("SELECT * FROM {s}report_issued ORDER BY issued_on DESC, position DESC,"
                           " report_id").fetchall()
    found = []
    for r in rows:
        scope = None if r["contract_ids"] is None else json.loads(r["contract_ids"])
        if contract_ids is not None and (scope is None or not set(scope) <= set(contract_ids)):
            continue
        if fiscal_year is not None and int(r["fiscal_year"]) != fiscal_year:
            continue
        found.append(IssuedReportRow(r["report_id"], r["form"], r["form_version"],
                                     int(r["fiscal_year"]), scope, int(r["position"]),
                                     r["issued_on"], r["issued_by"], r["csv_sha256"],
                                     r["xlsx_sha256"], r["figures_sha256"]))
    return found
