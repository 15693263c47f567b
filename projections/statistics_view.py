"""Activity statistics that survive disposal: counts by month, site, channel, theme, agency kind.

The municipality's own figures (DOMAIN.md, Reporting): consultations by
theme, channel, site and month, and referrals sent by agency kind.  The
tables hold counts keyed by codes and months only — no household id, no
record of a family, no personal value — so disposing of a household has
nothing to purge here, and the figures keep their values.

The projection reads only fields that are never personal (date, channel,
themes, site, agency kind), which crypto-shredding leaves readable: a
rebuild after a disposal replays events whose personal fields are gone and
arrives at the same counts.  A referral is counted when it is *sent* (a
draft the family withdrew is not a referral); until then its site and
agency kind wait in ``statistics_referral_drafts`` under the referral's own
id (never the household's), a row dropped once the referral is sent or
closed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from eventsourcing.persistence import Notification

from yorisoi.domain.consultations import Consultation
from yorisoi.domain.referrals import Referral
from yorisoi.infra.db import Cursor, Database

STATISTICS_TABLES = ("statistics_consultations", "statistics_themes", "statistics_referrals",
                     "statistics_referral_drafts")


# The event classes ``apply`` acts on (``handles``).
_HANDLED = (Consultation.Recorded, Referral.Drafted, Referral.Sent, Referral.Closed)


def _month(day: date) -> str:
    return day.isoformat()[:7]


class StatisticsView:
    """Projection of consultations and referrals into count tables."""

    name = "statistics"
    tables = STATISTICS_TABLES

    def __init__(self, keyring: Any = None) -> None:
        # counts need no key: nothing personal is read or stored.  Counts of an
        # open batch, per transaction (its cursor): see ``batch``.
        self._open: dict[int, tuple[Any, dict[tuple[str, str, str], Counter[tuple[str, ...]]]]] = {}

    @contextmanager
    def batch(self, cur: Cursor) -> Iterator[None]:
        """Add up a projection batch's counts in memory; one upsert per table at the end.

        Counting commutes and nothing reads these tables while projecting, so a
        batch of 500 events costs two statements here instead of ~2.4 per event.
        """
        counts: dict[tuple[str, str, str], Counter[tuple[str, ...]]] = {}
        self._open[id(cur)] = (cur, counts)
        try:
            yield
            for (table, key, column), cells in counts.items():
                cur.insert_many(
                    table, ("month", "site_id", key, column), ("text", "text", "text", "int4"),
                    [(*cell, n) for cell, n in cells.items()],
                    f"ON CONFLICT (month, site_id, {key}) DO UPDATE"
                    f" SET {column} = {table}.{column} + excluded.{column}")
        finally:
            self._open.pop(id(cur), None)

    @staticmethod
    def ddl() -> list[str]:
        return [
            ("CREATE TABLE IF NOT EXISTS {s}statistics_consultations ("
             " month TEXT NOT NULL, site_id TEXT NOT NULL, channel TEXT NOT NULL,"
             " consultations INTEGER NOT NULL, PRIMARY KEY (month, site_id, channel))"),
            ("CREATE TABLE IF NOT EXISTS {s}statistics_themes ("
             " month TEXT NOT NULL, site_id TEXT NOT NULL, theme TEXT NOT NULL,"
             " consultations INTEGER NOT NULL, PRIMARY KEY (month, site_id, theme))"),
            ("CREATE TABLE IF NOT EXISTS {s}statistics_referrals ("
             " month TEXT NOT NULL, site_id TEXT NOT NULL, agency_kind TEXT NOT NULL,"
             " referrals INTEGER NOT NULL, PRIMARY KEY (month, site_id, agency_kind))"),
            ("CREATE TABLE IF NOT EXISTS {s}statistics_referral_drafts ("
             " referral_id TEXT PRIMARY KEY, site_id TEXT NOT NULL, agency_kind TEXT NOT NULL)"),
        ]

    def reset(self, cur: Cursor) -> None:
        for table in STATISTICS_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def purge(self, cur: Cursor, household_id: Any) -> None:
        """Disposal: nothing to purge, the tables know no household."""

    @staticmethod
    def handles(event_cls: type) -> bool:
        return issubclass(event_cls, _HANDLED)

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        if isinstance(event, Consultation.Recorded):
            month, site = _month(event.occurred_on), event.site_id
            self._count(cur, "statistics_consultations", "channel", "consultations",
                        (month, site, event.channel))
            for theme in dict.fromkeys(event.themes):  # a theme counts once per consultation
                self._count(cur, "statistics_themes", "theme", "consultations",
                            (month, site, theme))
        elif isinstance(event, Referral.Drafted):
            cur.execute("INSERT INTO {s}statistics_referral_drafts (referral_id, site_id,"
                        " agency_kind) VALUES (%s, %s, %s)",
                        (str(event.originator_id), event.site_id, event.agency_kind))
        elif isinstance(event, Referral.Sent):
            row = cur.execute("SELECT site_id, agency_kind FROM {s}statistics_referral_drafts"
                              " WHERE referral_id = %s", (str(event.originator_id),)).fetchone()
            if row is None:  # cannot happen: a referral is drafted before it is sent
                raise LookupError("a referral sent that the statistics have not seen drafted")
            self._count(cur, "statistics_referrals", "agency_kind", "referrals",
                        (_month(event.sent_on), row["site_id"], row["agency_kind"]))
            self._forget(cur, event)
        elif isinstance(event, Referral.Closed):
            self._forget(cur, event)

    def _count(self, cur: Cursor, table: str, key: str, column: str,
               values: tuple[str, ...]) -> None:
        held = self._open.get(id(cur))
        if held is not None and held[0] is cur:
            cells = held[1].get((table, key, column))
            if cells is None:
                cells = held[1][(table, key, column)] = Counter()
            cells[values] += 1
            return
        cur.execute(
            f"INSERT INTO {{s}}{table} AS t (month, site_id, {key}, {column})"
            f" VALUES (%s, %s, %s, 1) ON CONFLICT (month, site_id, {key})"
            f" DO UPDATE SET {column} = t.{column} + 1", values)

    @staticmethod
    def _forget(cur: Cursor, event: Any) -> None:
        cur.execute("DELETE FROM {s}statistics_referral_drafts WHERE referral_id = %s",
                    (str(event.originator_id),))


# --------------------------------------------------------------------------- reads


@dataclass
class StatisticsReport:
    """Counts for a period: cells by (month, site, code) and totals by each dimension."""

    consultations: list[dict[str, Any]] = field(default_factory=list)  # month, site, channel, n
    themes: list[dict[str, Any]] = field(default_factory=list)  # month, site, theme, n
    referrals: list[dict[str, Any]] = field(default_factory=list)  # month, site, kind, n

    def total(self, cells: str, key: str) -> dict[str, int]:
        """Sum of one table's counts by one of its columns (e.g. themes by theme)."""
        sums: dict[str, int] = defaultdict(int)
        for cell in getattr(self, cells):
            sums[cell[key]] += cell["count"]
        return dict(sorted(sums.items()))


class StatisticsQueries:
    """Reads of the count tables for a range of months (inclusive), optionally one site."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def report(self, start: date, end: date, site_id: str | None = None) -> StatisticsReport:
        where = " WHERE month >= %s AND month <= %s"
        params: list[Any] = [_month(start), _month(end)]
        if site_id is not None:
            where += " AND site_id = %s"
            params.append(site_id)
        report = StatisticsReport()
        with self.db.transaction(write=False) as cur:
            for attr, table, key, column in (
                    ("consultations", "statistics_consultations", "channel", "consultations"),
                    ("themes", "statistics_themes", "theme", "consultations"),
                    ("referrals", "statistics_referrals", "agency_kind", "referrals")):
                rows = cur.execute(f"SELECT month, site_id, {key}, {column} AS n"
                                   f" FROM {{s}}{table}{where} ORDER BY month, site_id, {key}",
                                   params).fetchall()
                setattr(report, attr, [{"month": r["month"], "site_id": r["site_id"],
                                        key: r[key], "count": int(r["n"])} for r in rows])
        return report
