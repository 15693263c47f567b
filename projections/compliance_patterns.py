"""Access patterns compliance staff look for: reads after hours, and bulk reads.

- **After hours**: reads of personal data outside the municipality's business
  hours in Japan time (before opening, after closing, on weekends and on the
  holidays the caller lists — the repository keeps no holiday calendar, so the
  municipality's closed days are an argument).  The test runs in the database
  (``recorded_at`` shifted to Japan time; Japan has no daylight saving), so
  counting and paging need no scan in Python.
- **Bulk access**: a person reading more than N distinct households within
  any window of M minutes in a period.  A sliding window is exact but needs
  each person's reads in order, so the database first rules people out: any
  window of M minutes lies within two consecutive M-minute buckets, and the
  distinct households of two buckets are at most the sum of each bucket's, so
  only (person, bucket) pairs whose sum exceeds N are read row by row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from yorisoi.infra.clock import JST
from yorisoi.infra.db import Database
from yorisoi.projections.compliance_events import canonical
from yorisoi.projections.compliance_trail import (
    Page,
    View,
    Window,
    decode_as,
    encode_cursor,
    log_text,
    views_page,
)

Outside = Literal["before_hours", "after_hours", "weekend", "holiday"]


@dataclass(frozen=True)
class BusinessHours:
    """When reads are expected: ``start``–``end`` in Japan time, on working days."""

    start: time = time(8, 30)
    end: time | None = time(17, 15)  # None: until midnight
    weekends_closed: bool = True
    holidays: frozenset[date] = field(default_factory=frozenset)

    def outside(self, moment: datetime) -> Outside | None:
        """Why ``moment`` lies outside business hours (None: inside)."""
        local = moment.astimezone(JST)
        if local.date() in self.holidays:
            return "holiday"
        if self.weekends_closed and local.weekday() >= 5:
            return "weekend"
        clock = local.time().replace(second=0, microsecond=0)
        if clock < self.start:
            return "before_hours"
        if self.end is not None and clock >= self.end:
            return "after_hours"
        return None

    def sql(self, dialect: str) -> tuple[str, list[Any]]:
        """The same test on ``recorded_at`` (minute resolution, as ``outside``)."""
        if dialect == "postgres":
            local = "(CAST(recorded_at AS timestamptz) AT TIME ZONE 'Asia/Tokyo')"
            clock, day = f"to_char({local}, 'HH24:MI')", f"to_char({local}, 'YYYY-MM-DD')"
            weekend = f"EXTRACT(ISODOW FROM {local}) >= 6"
        else:
            clock = "strftime('%H:%M', recorded_at, '+9 hours')"
            day = "date(recorded_at, '+9 hours')"
            weekend = "strftime('%w', recorded_at, '+9 hours') IN ('0', '6')"
        terms, params = [f"{clock} < %s"], [self.start.strftime("%H:%M")]
        if self.end is not None:
            terms.append(f"{clock} >= %s")
            params.append(self.end.strftime("%H:%M"))
        if self.weekends_closed:
            terms.append(weekend)
        if self.holidays:
            terms.append(f"{day} IN ({', '.join(['%s'] * len(self.holidays))})")
            params += [d.isoformat() for d in sorted(self.holidays)]
        return "(" + " OR ".join(terms) + ")", params


@dataclass(frozen=True)
class AfterHoursRead:
    view: View
    local_time: str  # Japan time, ISO 8601
    outside: Outside

    @property
    def key(self) -> tuple[str, int, int]:
        return self.view.key


def after_hours(db: Database, period: Window, hours: BusinessHours, *, first: int,
                after: str | None) -> Page[AfterHoursRead]:
    """Reads in ``period`` outside ``hours``, newest first."""
    test, params = hours.sql(db.dialect)
    with db.transaction(write=False) as cur:
        page = views_page(cur, f"recorded_at >= %s AND recorded_at < %s AND {test}",
                          [period.low, period.high, *params], first=first, after=after)
    edges = []
    for cursor, view in page.edges:
        moment = datetime.fromisoformat(view.at)
        edges.append((cursor, AfterHoursRead(view, moment.astimezone(JST).isoformat(),
                                             hours.outside(moment) or "after_hours")))
    return Page(edges, page.total_count, page.has_next_page, page.end_cursor)


# --------------------------------------------------------------------------- bulk access


@dataclass(frozen=True)
class BulkAccess:
    """A person's busiest window of reads, when it covered more than N households."""

    actor: str
    households: int  # distinct households read in the busiest window
    reads: int  # reads in that window
    window_start: str  # the first and last read of the window (UTC)
    window_end: str
    roles: tuple[str, ...]
    organisations: tuple[str, ...]  # "kind:id"
    households_in_period: int
    reads_in_period: int


def _bucket(dialect: str, seconds: int) -> tuple[str, list[Any]]:
    """The M-minute bucket of ``recorded_at`` (Unix time // M·60)."""
    if dialect == "postgres":
        epoch = "EXTRACT(EPOCH FROM CAST(recorded_at AS timestamptz))"
        return f"CAST(FLOOR({epoch} / %s) AS BIGINT)", [seconds]
    # strftime's "%s" goes in as a parameter: the SQL text's %s are placeholders.
    return "CAST(strftime(%s, recorded_at) AS INTEGER) / %s", ["%s", seconds]


def _regions(buckets: dict[int, int], threshold: int) -> list[tuple[int, int]]:
    """Bucket ranges [first, last] that may hold a window over the threshold (merged)."""
    regions: list[tuple[int, int]] = []
    for b in sorted(buckets):
        if buckets[b] + buckets.get(b + 1, 0) <= threshold:
            continue
        if regions and regions[-1][1] >= b:
            regions[-1] = (regions[-1][0], b + 1)
        else:
            regions.append((b, b + 1))
    return regions


def busiest(rows: list[dict[str, Any]], width: timedelta) -> tuple[int, int, int, int]:
    """(households, reads, first index, last index) of the busiest window (rows in time order)."""
    best = (0, 0, 0, -1)
    seen: Counter[str] = Counter()
    times = [datetime.fromisoformat(r["recorded_at"]) for r in rows]
    left = 0
    for right, row in enumerate(rows):
        seen[row["household_id"]] += 1
        while times[right] - times[left] >= width:
            gone = rows[left]["household_id"]
            seen[gone] -= 1
            if not seen[gone]:
                del seen[gone]
            left += 1
        if len(seen) > best[0]:
            best = (len(seen), right - left + 1, left, right)
    return best


def bulk_access(db: Database, period: Window, *, threshold: int, window_minutes: int,
                first: int, after: str | None) -> Page[BulkAccess]:
    """People who read more than ``threshold`` households within ``window_minutes``."""
    seconds = window_minutes * 60
    width = timedelta(seconds=seconds)
    bounds = [period.low, period.high]
    found: list[BulkAccess] = []
    with db.transaction(write=False) as cur:
        buckets: dict[str, dict[int, int]] = {}
        bucket, bucket_params = _bucket(db.dialect, seconds)
        for r in cur.execute(
                f"SELECT actor, {bucket} AS bucket, COUNT(DISTINCT household_id) AS n"
                " FROM {s}access_log WHERE recorded_at >= %s AND recorded_at < %s"
                " GROUP BY 1, 2", [*bucket_params, *bounds]).fetchall():
            buckets.setdefault(r["actor"], {})[int(r["bucket"])] = int(r["n"])
        for actor in sorted(buckets):
            rows: list[dict[str, Any]] = []
            for low, high in _regions(buckets[actor], threshold):
                start = max(datetime.fromtimestamp(low * seconds, UTC), period.since)
                end = min(datetime.fromtimestamp((high + 1) * seconds, UTC), period.until)
                rows += cur.execute(
                    "SELECT recorded_at, household_id, role, organisation_kind, organisation_id"
                    " FROM {s}access_log WHERE actor = %s AND recorded_at >= %s"
                    " AND recorded_at < %s ORDER BY recorded_at, entry_id",
                    (actor, log_text(start), log_text(end))).fetchall()
            households, reads, left, right = busiest(rows, width)
            if households <= threshold:
                continue
            peak = rows[left:right + 1]
            totals = cur.execute(
                "SELECT COUNT(DISTINCT household_id) AS households, COUNT(*) AS reads"
                " FROM {s}access_log WHERE actor = %s AND recorded_at >= %s"
                " AND recorded_at < %s", (actor, *bounds)).fetchone()
            found.append(BulkAccess(
                actor=actor, households=households, reads=reads,
                window_start=canonical(peak[0]["recorded_at"]),
                window_end=canonical(peak[-1]["recorded_at"]),
                roles=tuple(sorted({r["role"] for r in peak})),
                organisations=tuple(sorted({f"{r['organisation_kind']}:{r['organisation_id']}"
                                            for r in peak})),
                households_in_period=int(totals["households"]),
                reads_in_period=int(totals["reads"])))
    # The most households first; the cursor is (households, actor) of the last edge.
    found.sort(key=lambda b: (-b.households, b.actor))
    total = len(found)
    if after:
        households, actor = decode_as(after, int, str)
        found = [b for b in found if (-b.households, b.actor) > (-households, actor)]
    edges = [(encode_cursor([b.households, b.actor]), b) for b in found]
    shown = edges[:first]
    return Page(shown, total, len(edges) > first, shown[-1][0] if shown else None)
