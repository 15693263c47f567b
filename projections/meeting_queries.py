"""Reads of the meetings view: a case's meetings, a site's calendar, representative
meetings and "my tasks" (meeting role assignments and referral follow-ups).

Personal values are unsealed here, at the last moment, with the household
key; a disposed household reads as ``None``.  The caller passes the scope
decided in ``tenants/access.py``; this module only applies it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from yorisoi.infra.db import Cursor, Database
from yorisoi.projections.case_queries import CaseScope, CursorInvalidError, scope_clause
from yorisoi.projections.meetings_view import meeting_aad, task_aad
from yorisoi.services.personal_data import HouseholdKeyring

REFERRAL_FOLLOW_UP = "referral_follow_up"


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    kind: str
    source_id: str
    case_id: str
    owner_user_id: str
    due_on: str | None
    status: str
    completed_on: str | None
    title: str | None
    urgent: bool = False


@dataclass(frozen=True)
class MeetingRecord:
    meeting_id: str
    case_id: str
    site_id: str
    contract_id: str | None
    starts_at: str
    ends_at: str
    status: str
    council_case: bool
    council_decision_recorded: bool
    internal_participants: list[dict[str, str]]
    external_participants: list[dict[str, str | None]]
    place: str | None
    agenda: str | None
    council_decision: str | None
    minutes: dict[str, str | None] | None
    actions: list[TaskRecord]
    disposed: bool
    version: int


@dataclass(frozen=True)
class Page:
    items: list[Any]
    cursors: list[str]
    total_count: int
    has_next_page: bool


def _encode(*values: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode()


def _decode(cursor: str) -> tuple[str, str]:
    try:
        first, second = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(first, str) or not isinstance(second, str):
            raise TypeError
    except (ValueError, TypeError):
        raise CursorInvalidError from None
    return first, second


def _representative_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, **{k: json.loads(row[k]) for k in (
        "attendees", "regional_issues", "resources_to_develop", "theme_counts")}}


# Follow-ups due without a date sort after every dated task.
_NO_DATE = "9999-12-31"


class MeetingQueries:
    """Read side of the meetings view for one municipality."""

    def __init__(self, database: Database, keyring: HouseholdKeyring) -> None:
        self.db = database
        self.keyring = keyring

    def _title(self, row: dict[str, Any]) -> str | None:
        data = self.keyring.read_json(UUID(row["household_id"]), row["sealed"],
                                      task_aad(row["task_id"]), record=("task", row["task_id"]))
        return data and data.get("title")

    def _meetings(self, cur: Cursor, rows: list[dict[str, Any]]) -> list[MeetingRecord]:
        self.keyring.preload(r["household_id"] for r in rows)  # one key read per page
        ids = [r["meeting_id"] for r in rows]
        actions: dict[str, list[TaskRecord]] = {i: [] for i in ids}
        if ids:
            marks = ", ".join(["%s"] * len(ids))
            for t in cur.execute(f"SELECT * FROM {{s}}task_view WHERE source_id IN ({marks})"
                                 " ORDER BY due_on, task_id", ids).fetchall():
                actions[t["source_id"]].append(TaskRecord(
                    task_id=t["task_id"], kind=t["kind"], source_id=t["source_id"],
                    case_id=t["case_id"], owner_user_id=t["owner_user_id"], due_on=t["due_on"],
                    status=t["status"], completed_on=t["completed_on"], title=self._title(t)))
        result = []
        for r in rows:
            data = self.keyring.read_json(UUID(r["household_id"]), r["sealed"],
                                          meeting_aad(r["meeting_id"]),
                                          record=("case_meeting", r["meeting_id"]))
            people = (data or {}).get("external") or {}
            result.append(MeetingRecord(
                meeting_id=r["meeting_id"], case_id=r["case_id"], site_id=r["site_id"],
                contract_id=r["contract_id"], starts_at=r["starts_at"], ends_at=r["ends_at"],
                status=r["status"], council_case=bool(r["council_case"]),
                council_decision_recorded=bool(r["council_decision_recorded"]),
                internal_participants=json.loads(r["internal_participants"]),
                external_participants=[
                    {**p, **people.get(p["participant_id"], {"name": None, "organisation": None})}
                    for p in json.loads(r["external_participants"])],
                place=data and data["place"], agenda=data and data["agenda"],
                council_decision=data and data["council_decision"],
                minutes=data and data["minutes"], actions=actions[r["meeting_id"]],
                disposed=data is None, version=int(r["version"])))
        return result

    def get(self, scope: CaseScope, meeting_id: str) -> MeetingRecord | None:
        where, params = scope_clause(scope)
        with self.db.transaction(write=False) as cur:
            rows = cur.execute(f"SELECT * FROM {{s}}meeting_view WHERE meeting_id = %s{where}",
                               [meeting_id, *params]).fetchall()
            found = self._meetings(cur, rows)
        return found[0] if found else None

    def calendar(self, scope: CaseScope, site_id: str, start: date,
                 end: date) -> list[MeetingRecord]:
        """A site's meetings starting on the Japan dates [start, end], earliest first."""
        where, params = scope_clause(scope)
        # starts_at is ISO in Japan time, so its text orders and compares by time.
        with self.db.transaction(write=False) as cur:
            rows = cur.execute(
                f"SELECT * FROM {{s}}meeting_view WHERE site_id = %s AND starts_at >= %s"
                f" AND starts_at < %s{where} ORDER BY starts_at, meeting_id",
                [site_id, start.isoformat(), date.fromordinal(end.toordinal() + 1).isoformat(),
                 *params]).fetchall()
            return self._meetings(cur, rows)

    def for_case(self, scope: CaseScope, case_id: str) -> list[MeetingRecord]:
        where, params = scope_clause(scope)
        with self.db.transaction(write=False) as cur:
            rows = cur.execute(f"SELECT * FROM {{s}}meeting_view WHERE case_id = %s{where}"
                               " ORDER BY starts_at, meeting_id", [case_id, *params]).fetchall()
            return self._meetings(cur, rows)

    def representative_page(self, *, first: int, after: str | None) -> Page:
        """Representative meetings, most recently held first."""
        where, params = "", []
        if after is not None:
            held_on, meeting_id = _decode(after)
            where = " WHERE held_on < %s OR (held_on = %s AND meeting_id < %s)"
            params = [held_on, held_on, meeting_id]
        with self.db.transaction(write=False) as cur:
            total = cur.execute("SELECT COUNT(*) AS n FROM {s}representative_meeting_view"
                                ).fetchone()
            rows = cur.execute(f"SELECT * FROM {{s}}representative_meeting_view{where}"
                               " ORDER BY held_on DESC, meeting_id DESC LIMIT %s",
                               [*params, first + 1]).fetchall()
        items = [_representative_row(r) for r in rows[:first]]
        return Page(items=items, cursors=[_encode(r["held_on"], r["meeting_id"]) for r in items],
                    total_count=int(total["n"]), has_next_page=len(rows) > first)

    def representative(self, meeting_id: str) -> dict[str, Any] | None:
        with self.db.transaction(write=False) as cur:
            row = cur.execute("SELECT * FROM {s}representative_meeting_view WHERE meeting_id = %s",
                              (meeting_id,)).fetchone()
        return _representative_row(row) if row else None

    def _has_referrals(self, cur: Cursor) -> bool:
        # The referral board is another read model; until it exists, tasks are meetings' only.
        if self.db.dialect == "postgres":
            row = cur.execute("SELECT to_regclass(%s) AS t",
                              (self.db.render("{s}referral_view"),)).fetchone()
            return row is not None and row["t"] is not None
        return cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                           " AND name = 'referral_view'").fetchone() is not None

    def _has_table(self, cur: Cursor, table: str) -> bool:
        # A space provisioned before the table was added has it after ``tenant upgrade``.
        if self.db.dialect == "postgres":
            row = cur.execute("SELECT to_regclass(%s) AS t",
                              (self.db.render("{s}" + table),)).fetchone()
            return row is not None and row["t"] is not None
        return cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                           " AND name = %s", (table,)).fetchone() is not None

    def my_tasks(self, scope: CaseScope, owner: str, *, first: int,
                 after: str | None) -> Page:
        """The owner's open tasks: earliest due first (so overdue first), undated last."""
        union = (
            "SELECT t.task_id, t.kind, t.source_id, t.case_id, t.household_id,"
            " t.owner_user_id, t.due_on, t.status, t.completed_on, t.sealed, 0 AS urgent,"
            " t.contract_id FROM {s}task_view t"
            " WHERE t.owner_user_id = %s AND t.status = 'open'")
        params: list[Any] = [owner]
        with self.db.transaction(write=False) as cur:
            if self._has_referrals(cur):
                # Casts: the referral board's column types are its own business.
                union += (
                    " UNION ALL SELECT CAST(r.referral_id AS TEXT),"
                    f" '{REFERRAL_FOLLOW_UP}', CAST(r.referral_id AS TEXT),"
                    " CAST(r.case_id AS TEXT), c.household_id, CAST(r.follow_up_owner AS TEXT),"
                    f" COALESCE(CAST(r.next_follow_up_on AS TEXT), '{_NO_DATE}'), 'open', NULL,"
                    " NULL, CAST(r.urgent AS INTEGER), c.contract_id"
                    " FROM {s}referral_view r JOIN {s}case_view c"
                    " ON c.case_id = CAST(r.case_id AS TEXT)"
                    " WHERE CAST(r.follow_up_owner AS TEXT) = %s AND r.status <> 'closed'"
                    " AND r.next_follow_up_on IS NOT NULL")
                params.append(owner)
            if self._has_table(cur, "visit_task_view"):
                # Outreach visits: each planned visit of its people, and agreed follow-ups.
                union += (
                    " UNION ALL SELECT v.task_id, v.kind, v.source_id, v.case_id,"
                    " v.household_id, v.owner_user_id, v.due_on, v.status, v.completed_on,"
                    " v.sealed, 0, v.contract_id FROM {s}visit_task_view v"
                    " WHERE v.owner_user_id = %s AND v.status = 'open'")
                params.append(owner)
            where, scope_params = scope_clause(scope, sites_via_case=True)
            base = f"SELECT * FROM ({union}) AS tasks WHERE 1 = 1{where}"
            params += scope_params
            total = cur.execute(f"SELECT COUNT(*) AS n FROM ({base}) AS counted",
                                params).fetchone()
            page_sql, page_params = base, list(params)
            if after is not None:
                due_on, task_id = _decode(after)
                page_sql += " AND (due_on > %s OR (due_on = %s AND task_id > %s))"
                page_params += [due_on, due_on, task_id]
            rows = cur.execute(page_sql + " ORDER BY due_on, task_id LIMIT %s",
                               [*page_params, first + 1]).fetchall()
        self.keyring.preload(r["household_id"] for r in rows[:first] if r["sealed"] is not None)
        items = [TaskRecord(
            task_id=r["task_id"], kind=r["kind"], source_id=r["source_id"], case_id=r["case_id"],
            owner_user_id=r["owner_user_id"],
            due_on=None if r["due_on"] == _NO_DATE else r["due_on"], status=r["status"],
            completed_on=r["completed_on"],
            title=self._title(r) if r["sealed"] is not None else None,
            urgent=bool(r["urgent"])) for r in rows[:first]]
        return Page(items=items, cursors=[_encode(r["due_on"], r["task_id"]) for r in rows[:first]],
                    total_count=int(total["n"]), has_next_page=len(rows) > first)

