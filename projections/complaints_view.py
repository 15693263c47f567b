"""The complaints board, the published summaries, and their queries.

Plain columns hold what oversight filters and sorts on (step, site, contract,
contractor, dates, flags).  Everything personal of a complaint (who, how to
reach them, what they said and wished, discussion notes, the outcome's
detail, the escalation's reason) is one JSON document sealed under the
complaint's own key, so shredding one complaint empties its row's personal
side and nothing else.

``due_on`` is stored; whether it has passed depends on today, so ``overdue``
holds the value at projection time only and every query recomputes it
(``overdue_clause``) in Japan time.  The published-summary table holds only
what the public may see: the officer's anonymised summary, the month
received, the channel, the kind and the outcome category.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from yorisoi.domain.complaints import (
    CLOSED,
    DEFAULT_DEADLINES,
    IN_DISCUSSION,
    OUTCOME_RECORDED,
    OUTCOME_REPORTED,
    PUBLISHED,
    REPORTED,
    Complaint,
    ComplaintDeadlines,
    due_on,
)
from yorisoi.infra.clock import japan_today
from yorisoi.infra.db import Cursor, Database
from yorisoi.projections.case_queries import CaseScope, CursorInvalidError, scope_clause
from yorisoi.services.personal_data import HouseholdKeyring

COMPLAINT_TABLES = ("complaint_view", "complaint_summary_view", "complaint_deadline_view")
PERSONAL_KEYS = ("complainant_name", "complainant_contact", "content", "wishes", "discussions",
                 "outcome_detail", "escalation_reason")


def complaint_aad(complaint_id: str) -> bytes:
    return f"complaint_view:{complaint_id}".encode()


def overdue_clause(today: date) -> tuple[str, list[Any]]:
    """SQL (and params) for "open and past its due date" as of ``today``."""
    return " AND due_on IS NOT NULL AND due_on < %s", [today.isoformat()]


# The event classes ``apply`` acts on (``handles``).
_HANDLED = (Complaint.Received, Complaint.Reported, Complaint.DiscussionAdded,
            Complaint.OutcomeRecorded, Complaint.OutcomeReported, Complaint.SummaryPublished,
            Complaint.Closed, Complaint.Escalated, ComplaintDeadlines.Set)


class ComplaintsView:
    """Projection of complaints and the municipality's deadlines."""

    name = "complaints"
    tables = COMPLAINT_TABLES

    def __init__(self, keyring: HouseholdKeyring) -> None:
        self.keyring = keyring

    @staticmethod
    def ddl() -> list[str]:
        return [
            ("CREATE TABLE IF NOT EXISTS {s}complaint_view ("
            " complaint_id TEXT PRIMARY KEY, site_id TEXT, contractor_id TEXT, contract_id TEXT,"
            " step TEXT NOT NULL, received_on TEXT NOT NULL, due_on TEXT, overdue BOOLEAN,"
            " escalated BOOLEAN NOT NULL, anonymous BOOLEAN NOT NULL, sealed {bytes},"
            " summary_published BOOLEAN NOT NULL, version INTEGER NOT NULL,"
            " position BIGINT NOT NULL, municipality_code TEXT NOT NULL, case_id TEXT,"
            " kind TEXT NOT NULL, channel TEXT NOT NULL, step_since TEXT NOT NULL,"
            " involve_third_party BOOLEAN NOT NULL, outcome TEXT, escalated_on TEXT)"),
            ("CREATE INDEX IF NOT EXISTS complaint_view_board"
            " ON {s}complaint_view (received_on DESC, complaint_id DESC)"),
            "CREATE INDEX IF NOT EXISTS complaint_view_step ON {s}complaint_view (step, due_on)",
            ("CREATE TABLE IF NOT EXISTS {s}complaint_summary_view ("
            " complaint_id TEXT PRIMARY KEY, municipality_code TEXT NOT NULL,"
            " month_received TEXT NOT NULL, channel TEXT NOT NULL, kind TEXT NOT NULL,"
            " outcome TEXT, summary TEXT NOT NULL, position BIGINT NOT NULL)"),
            ("CREATE TABLE IF NOT EXISTS {s}complaint_deadline_view ("
            " step TEXT PRIMARY KEY, days INTEGER NOT NULL)"),
        ]

    def reset(self, cur: Cursor) -> None:
        for table in COMPLAINT_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def purge(self, cur: Cursor, household_id: UUID | str) -> None:
        """Nothing of a household: a complaint is its own data subject under its own key."""

    @staticmethod
    def handles(event_cls: type) -> bool:
        return issubclass(event_cls, _HANDLED)

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        n = notification
        if isinstance(event, Complaint.Received):
            self._received(cur, event, n)
        elif isinstance(event, Complaint.Reported):
            self._step(cur, event, n, REPORTED, event.reported_on)
        elif isinstance(event, Complaint.DiscussionAdded):
            self._discussion(cur, event, n)
        elif isinstance(event, Complaint.OutcomeRecorded):
            self._step(cur, event, n, OUTCOME_RECORDED, event.decided_on, outcome=event.outcome)
            self._personal(cur, event, {"outcome_detail": event.detail})
        elif isinstance(event, Complaint.OutcomeReported):
            self._step(cur, event, n, OUTCOME_REPORTED, event.reported_on)
        elif isinstance(event, Complaint.SummaryPublished):
            self._step(cur, event, n, PUBLISHED, event.published_on, summary_published=True)
            self._published(cur, event, n)
        elif isinstance(event, Complaint.Closed):
            self._step(cur, event, n, CLOSED, event.closed_on)
        elif isinstance(event, Complaint.Escalated):
            self._update(cur, event, n, escalated=True,
                         escalated_on=event.escalated_on.isoformat())
            self._personal(cur, event, {"escalation_reason": event.reason})
        elif isinstance(event, ComplaintDeadlines.Set):
            self._deadlines_set(cur, event)

    # -- complaints

    def _received(self, cur: Cursor, event: Complaint.Received, n: Notification) -> None:
        cid = str(event.originator_id)
        sealed = None
        if not vars(event).get("_shredded"):
            sealed = self.keyring.reseal_json(event.originator_id, {
                "complainant_name": event.complainant_name,
                "complainant_contact": event.complainant_contact,
                "content": event.content, "wishes": event.wishes, "discussions": [],
                "outcome_detail": None, "escalation_reason": None}, complaint_aad(cid))
        cur.execute(
            "INSERT INTO {s}complaint_view (complaint_id, site_id, contractor_id, contract_id,"
            " step, received_on, escalated, anonymous, sealed, summary_published, version,"
            " position, municipality_code, case_id, kind, channel, step_since,"
            " involve_third_party) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s)",
            (cid, event.site_id, event.contractor_id, event.contract_id, "received",
             event.received_on.isoformat(), False, event.anonymous, sealed, False,
             event.originator_version, n.id, event.municipality_code,
             str(event.case_id) if event.case_id else None, event.kind, event.channel,
             event.received_on.isoformat(), event.involve_third_party))
        self._refresh_due(cur, cid)

    def _update(self, cur: Cursor, event: Any, n: Notification, **columns: Any) -> None:
        columns |= {"version": event.originator_version, "position": n.id}
        assignments = ", ".join(f"{name} = %s" for name in columns)
        cur.execute(f"UPDATE {{s}}complaint_view SET {assignments} WHERE complaint_id = %s",
                    [*columns.values(), str(event.originator_id)])

    def _step(self, cur: Cursor, event: Any, n: Notification, step: str, since: date,
              **columns: Any) -> None:
        self._update(cur, event, n, step=step, step_since=since.isoformat(), **columns)
        self._refresh_due(cur, str(event.originator_id))

    def _discussion(self, cur: Cursor, event: Complaint.DiscussionAdded, n: Notification) -> None:
        row = cur.execute("SELECT step FROM {s}complaint_view WHERE complaint_id = %s",
                          (str(event.originator_id),)).fetchone()
        if row is None:  # cannot happen: a complaint is received before it is discussed
            raise LookupError("discussion of a complaint the view has not seen")
        if row["step"] == REPORTED:
            self._step(cur, event, n, IN_DISCUSSION, event.held_on)
        else:
            self._update(cur, event, n)
        self._personal(cur, event, {}, discussion={"held_on": event.held_on.isoformat(),
                                                   "note": event.note})

    def _personal(self, cur: Cursor, event: Any, changes: dict[str, Any],
                  discussion: dict[str, Any] | None = None) -> None:
        cid = str(event.originator_id)
        row = cur.execute("SELECT sealed FROM {s}complaint_view WHERE complaint_id = %s",
                          (cid,)).fetchone()
        if row is None:
            raise LookupError("personal data of a complaint the view has not seen")
        aad = complaint_aad(cid)
        current = self.keyring.open_json(event.originator_id, row["sealed"], aad)
        sealed = None
        # Once shredded it stays empty: nothing is re-sealed under a destroyed key.
        if current is not None and not vars(event).get("_shredded"):
            current.update(changes)
            if discussion is not None:
                current["discussions"].append(discussion)
            sealed = self.keyring.reseal_json(event.originator_id, current, aad)
        cur.execute("UPDATE {s}complaint_view SET sealed = %s WHERE complaint_id = %s",
                    (sealed, cid))

    def _published(self, cur: Cursor, event: Any, n: Notification) -> None:
        cid = str(event.originator_id)
        row = cur.execute("SELECT * FROM {s}complaint_view WHERE complaint_id = %s",
                          (cid,)).fetchone()
        assert row is not None
        cur.execute(
            "INSERT INTO {s}complaint_summary_view (complaint_id, municipality_code,"
            " month_received, channel, kind, outcome, summary, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (cid, row["municipality_code"], row["received_on"][:7], row["channel"], row["kind"],
             row["outcome"], event.summary, n.id))

    # -- deadlines

    def _deadlines(self, cur: Cursor) -> dict[str, int]:
        rows = cur.execute("SELECT step, days FROM {s}complaint_deadline_view").fetchall()
        return {**DEFAULT_DEADLINES, **{r["step"]: int(r["days"]) for r in rows}}

    def _refresh_due(self, cur: Cursor, complaint_id: str | None = None,
                     days: dict[str, int] | None = None) -> None:
        days = days or self._deadlines(cur)
        where, params = ("complaint_id = %s", [complaint_id]) if complaint_id else (
            "step <> %s", [CLOSED])
        rows = cur.execute(f"SELECT complaint_id, step, step_since FROM {{s}}complaint_view"
                           f" WHERE {where}", params).fetchall()
        today = japan_today()
        for row in rows:
            due = due_on(row["step"], date.fromisoformat(row["step_since"]), days)
            cur.execute("UPDATE {s}complaint_view SET due_on = %s, overdue = %s"
                        " WHERE complaint_id = %s",
                        (due.isoformat() if due else None, bool(due and due < today),
                         row["complaint_id"]))

    def _deadlines_set(self, cur: Cursor, event: Any) -> None:
        for step, days in event.days.items():
            cur.execute("INSERT INTO {s}complaint_deadline_view (step, days) VALUES (%s, %s)"
                        " ON CONFLICT (step) DO UPDATE SET days = excluded.days", (step, days))
        self._refresh_due(cur)


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class ComplaintRecord:
    complaint_id: str
    site_id: str | None
    contractor_id: str | None
    contract_id: str | None
    case_id: str | None
    kind: str
    channel: str
    step: str
    received_on: str
    due_on: str | None
    overdue: bool
    escalated: bool
    escalated_on: str | None
    anonymous: bool
    involve_third_party: bool
    outcome: str | None
    summary_published: bool
    version: int
    # Unsealed; None after crypto-shredding (``disposed``).
    personal: dict[str, Any] | None = None
    disposed: bool = False


@dataclass(frozen=True)
class SummaryRecord:
    summary: str
    month_received: str
    channel: str
    kind: str
    outcome: str | None
    position: int


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total_count: int
    has_next_page: bool
    end_cursor: str | None = field(default=None)


def _encode(value: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _decode(cursor: str, types: tuple[type, ...]) -> list[Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (isinstance(value, list) and len(value) == len(types)
                and all(isinstance(v, t) for v, t in zip(value, types, strict=True))):
            raise TypeError
    except (ValueError, TypeError):
        raise CursorInvalidError from None
    return value


def complaint_cursor(record: ComplaintRecord) -> str:
    return _encode([record.received_on, record.complaint_id])


def summary_cursor(record: SummaryRecord) -> str:
    # The log position only: the public learns no complaint id from a cursor.
    return _encode([record.position])


class ComplaintQueries:
    """Read side of the complaints view for one municipality."""

    def __init__(self, database: Database, keyring: HouseholdKeyring) -> None:
        self.db = database
        self.keyring = keyring

    def _record(self, row: dict[str, Any], today: date) -> ComplaintRecord:
        cid = row["complaint_id"]
        personal = self.keyring.read_json(UUID(cid), row["sealed"], complaint_aad(cid),
                                          record=("complaint", cid))
        return ComplaintRecord(
            complaint_id=cid, site_id=row["site_id"], contractor_id=row["contractor_id"],
            contract_id=row["contract_id"], case_id=row["case_id"], kind=row["kind"],
            channel=row["channel"], step=row["step"], received_on=row["received_on"],
            due_on=row["due_on"],
            overdue=row["due_on"] is not None and row["due_on"] < today.isoformat(),
            escalated=bool(row["escalated"]), escalated_on=row["escalated_on"],
            anonymous=bool(row["anonymous"]), involve_third_party=bool(row["involve_third_party"]),
            outcome=row["outcome"], summary_published=bool(row["summary_published"]),
            version=int(row["version"]), personal=personal, disposed=personal is None)

    def board(self, scope: CaseScope, *, first: int, after: str | None = None,
              step: str | None = None, overdue_only: bool = False,
              today: date | None = None) -> Page:
        """Complaints, most recently received first, with keyset pagination."""
        today = today or japan_today()
        where, params = scope_clause(scope)
        if step is not None:
            where += " AND step = %s"
            params.append(step)
        if overdue_only:
            clause, extra = overdue_clause(today)
            where, params = where + clause, params + extra
        page_where, page_params = where, list(params)
        if after is not None:
            received, cid = _decode(after, (str, str))
            page_where += " AND (received_on < %s OR (received_on = %s AND complaint_id < %s))"
            page_params += [received, received, cid]
        with self.db.transaction(write=False) as cur:
            total = cur.execute(f"SELECT COUNT(*) AS n FROM {{s}}complaint_view WHERE 1 = 1{where}",
                                params).fetchone()
            rows = cur.execute(f"SELECT * FROM {{s}}complaint_view WHERE 1 = 1{page_where}"
                               " ORDER BY received_on DESC, complaint_id DESC LIMIT %s",
                               [*page_params, first + 1]).fetchall()
        self.keyring.preload(r["complaint_id"] for r in rows[:first])  # keyed per complaint
        items = [self._record(r, today) for r in rows[:first]]
        return Page(items, int(total["n"]), len(rows) > first,
                    complaint_cursor(items[-1]) if items else None)

    def get(self, scope: CaseScope, complaint_id: str) -> ComplaintRecord | None:
        where, params = scope_clause(scope)
        with self.db.transaction(write=False) as cur:
            row = cur.execute(f"SELECT * FROM {{s}}complaint_view WHERE complaint_id = %s{where}",
                              [complaint_id, *params]).fetchone()
        return self._record(row, japan_today()) if row else None

    def published(self, *, first: int, after: str | None = None) -> Page:
        """The public summaries, newest publication first."""
        where, params = "", []
        if after is not None:
            (position,) = _decode(after, (int,))
            where, params = " WHERE position < %s", [position]
        with self.db.transaction(write=False) as cur:
            total = cur.execute("SELECT COUNT(*) AS n FROM {s}complaint_summary_view").fetchone()
            rows = cur.execute(f"SELECT * FROM {{s}}complaint_summary_view{where}"
                               " ORDER BY position DESC LIMIT %s", [*params, first + 1]).fetchall()
        items = [SummaryRecord(summary=r["summary"], month_received=r["month_received"],
                               channel=r["channel"], kind=r["kind"], outcome=r["outcome"],
                               position=int(r["position"])) for r in rows[:first]]
        return Page(items, int(total["n"]), len(rows) > first,
                    summary_cursor(items[-1]) if items else None)
