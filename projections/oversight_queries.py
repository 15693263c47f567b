"""Reads for municipal oversight of sites and contractors (§2(3)): counts only.

Every query here selects grouping keys (site, contract or contractor, month,
step) and counts — never a sealed column, a name, an owner or free text — so
the oversight report cannot carry personal data whatever the tables hold.
It reads other read models' tables (consultations and cases, referrals,
tasks, complaints) through the tenant's Database; a table another feature
has not provisioned yet simply contributes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from yorisoi.infra.db import Cursor, Database

# Steps after which a complaint is no longer open (domain/complaints.py).
_COMPLAINT_DONE = ("published", "closed")

Key = tuple[str | None, str | None]  # (site_id, contract_id)


def fiscal_year(fy: int) -> tuple[date, date]:
    """A Japanese fiscal year: 1 April to 31 March."""
    return date(fy, 4, 1), date(fy + 1, 3, 31)


def fiscal_months(fy: int) -> list[str]:
    return [f"{fy + (m < 4)}-{m:02d}" for m in (*range(4, 13), 1, 2, 3)]


@dataclass
class ComplaintCount:
    open: int = 0
    overdue: int = 0


@dataclass
class ActivityCounts:
    """Counts for one municipality and fiscal year, keyed by (site, contract)."""

    consultations: dict[Key, dict[str, int]] = field(default_factory=dict)
    referrals: dict[Key, dict[str, int]] = field(default_factory=dict)
    overdue_follow_ups: dict[Key, int] = field(default_factory=dict)
    overdue_tasks: dict[Key, int] = field(default_factory=dict)
    # Complaints are keyed by (site, contractor): that is how the complaint view files them.
    complaints: dict[Key, dict[str, ComplaintCount]] = field(default_factory=dict)
    complaints_available: bool = False


class OversightQueries:
    """Counts of casework activity by site and contract, for a fiscal year and as of today."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def _exists(self, cur: Cursor, table: str) -> bool:
        if self.db.dialect == "postgres":
            row = cur.execute("SELECT to_regclass(%s) AS t",
                              (self.db.render("{s}" + table),)).fetchone()
            return row is not None and row["t"] is not None
        return cur.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = %s",
                           (table,)).fetchone() is not None

    def activity(self, fy: int, today: date) -> ActivityCounts:
        start, end = (d.isoformat() for d in fiscal_year(fy))
        day = today.isoformat()
        counts = ActivityCounts()
        with self.db.transaction(write=False) as cur:
            if self._exists(cur, "consultation_view"):
                counts.consultations = self._monthly(cur, "consultation_view", "occurred_on",
                                                     start, end)
            if self._exists(cur, "referral_view"):
                counts.referrals = self._monthly(cur, "referral_view", "sent_on", start, end)
                counts.overdue_follow_ups = self._keyed(cur, (
                    "SELECT site_id, contract_id, COUNT(*) AS n FROM {s}referral_view"
                    " WHERE next_follow_up_on IS NOT NULL AND next_follow_up_on < %s"
                    " AND status <> 'closed' GROUP BY site_id, contract_id"), (day,))
            if self._exists(cur, "task_view") and self._exists(cur, "case_view"):
                # A task knows its case; the case knows its site.
                counts.overdue_tasks = self._keyed(cur, (
                    "SELECT c.site_id, t.contract_id, COUNT(*) AS n FROM {s}task_view t"
                    " JOIN {s}case_view c ON c.case_id = t.case_id"
                    " WHERE t.status = 'open' AND t.due_on < %s"
                    " GROUP BY c.site_id, t.contract_id"), (day,))
            if self._exists(cur, "complaint_view"):
                counts.complaints_available = True
                counts.complaints = self._complaints(cur, day)
        return counts

    @staticmethod
    def _keyed(cur: Cursor, sql: str, params: tuple[str, ...]) -> dict[Key, int]:
        return {(r["site_id"], r["contract_id"]): int(r["n"])
                for r in cur.execute(sql, params).fetchall()}

    @staticmethod
    def _monthly(cur: Cursor, table: str, column: str, start: str,
                 end: str) -> dict[Key, dict[str, int]]:
        rows = cur.execute(
            f"SELECT site_id, contract_id, SUBSTR({column}, 1, 7) AS month, COUNT(*) AS n"
            f" FROM {{s}}{table} WHERE {column} >= %s AND {column} <= %s"
            " GROUP BY site_id, contract_id, SUBSTR(" + column + ", 1, 7)",
            (start, end)).fetchall()
        result: dict[Key, dict[str, int]] = defaultdict(dict)
        for r in rows:
            result[(r["site_id"], r["contract_id"])][r["month"]] = int(r["n"])
        return dict(result)

    @staticmethod
    def _complaints(cur: Cursor, day: str) -> dict[Key, dict[str, ComplaintCount]]:
        marks = ", ".join(["%s"] * len(_COMPLAINT_DONE))
        rows = cur.execute(
            "SELECT site_id, contractor_id, step, due_on, overdue FROM {s}complaint_view"
            f" WHERE step NOT IN ({marks})", _COMPLAINT_DONE).fetchall()
        result: dict[Key, dict[str, ComplaintCount]] = defaultdict(dict)
        for r in rows:
            count = result[(r["site_id"], r["contractor_id"])].setdefault(
                r["step"], ComplaintCount())
            count.open += 1
            if r["overdue"] or (r["due_on"] is not None and r["due_on"] < day):
                count.overdue += 1
        return dict(result)
