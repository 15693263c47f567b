"""The meetings view: case meetings (calendar), their role assignments as tasks, and
representative meetings — and its reads, including "my tasks".

Personal values (place, agenda, the 要対協 decision, names of external people,
minutes, what each task asks) are re-sealed under the household key before
they reach a row; times, sites, statuses, owners and confidentiality bases
stay plaintext for calendars, task lists and audits.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from yorisoi.domain.meetings import CaseMeeting, RepresentativeMeeting
from yorisoi.infra.db import Cursor, Database
from yorisoi.projections.case_queries import CaseScope, CursorInvalidError
from yorisoi.projections.case_queries import _scope_clause as scope_clause
from yorisoi.services.event_mapper import event_metadata
from yorisoi.services.personal_data import HouseholdKeyDestroyedError, HouseholdKeyring

MEETINGS_TABLES = ("meeting_view", "task_view", "representative_meeting_view")
MEETING_ACTION = "meeting_action"
REFERRAL_FOLLOW_UP = "referral_follow_up"


def meeting_aad(meeting_id: str) -> bytes:
    return f"meeting_view:{meeting_id}".encode()


def task_aad(task_id: str) -> bytes:
    return f"task_view:{task_id}".encode()


class MeetingsView:
    """Projection of case and representative meetings into the meetings tables."""

    name = "meetings"
    tables = MEETINGS_TABLES

    def __init__(self, keyring: HouseholdKeyring) -> None:
        self.keyring = keyring

    @staticmethod
    def ddl() -> list[str]:
        return [
            ("CREATE TABLE IF NOT EXISTS {s}meeting_view ("
            " meeting_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, household_id TEXT NOT NULL,"
            " site_id TEXT NOT NULL, contract_id TEXT, starts_at TEXT NOT NULL,"
            " ends_at TEXT NOT NULL, status TEXT NOT NULL,"
            " internal_participants TEXT NOT NULL, external_participants TEXT NOT NULL,"
            " council_case BOOLEAN NOT NULL, council_decision_recorded BOOLEAN NOT NULL,"
            " sealed {bytes}, version INTEGER NOT NULL, position BIGINT NOT NULL)"),
            ("CREATE INDEX IF NOT EXISTS meeting_view_calendar"
            " ON {s}meeting_view (site_id, starts_at, meeting_id)"),
            "CREATE INDEX IF NOT EXISTS meeting_view_case ON {s}meeting_view (case_id, starts_at)",
            ("CREATE TABLE IF NOT EXISTS {s}task_view ("
            " task_id TEXT PRIMARY KEY, kind TEXT NOT NULL, source_id TEXT NOT NULL,"
            " case_id TEXT NOT NULL, household_id TEXT NOT NULL, contract_id TEXT,"
            " owner_user_id TEXT NOT NULL, due_on TEXT NOT NULL, status TEXT NOT NULL,"
            " completed_on TEXT, sealed {bytes}, position BIGINT NOT NULL)"),
            ("CREATE INDEX IF NOT EXISTS task_view_owner"
            " ON {s}task_view (owner_user_id, status, due_on, task_id)"),
            "CREATE INDEX IF NOT EXISTS task_view_source ON {s}task_view (source_id)",
            ("CREATE TABLE IF NOT EXISTS {s}representative_meeting_view ("
            " meeting_id TEXT PRIMARY KEY, held_on TEXT NOT NULL, attendees TEXT NOT NULL,"
            " regional_issues TEXT NOT NULL, resources_to_develop TEXT NOT NULL,"
            " themes_from TEXT NOT NULL, themes_to TEXT NOT NULL, theme_counts TEXT NOT NULL,"
            " recorded_by TEXT, recorded_at TEXT NOT NULL, position BIGINT NOT NULL)"),
            ("CREATE INDEX IF NOT EXISTS representative_meeting_view_held"
            " ON {s}representative_meeting_view (held_on DESC, meeting_id DESC)"),
        ]

    def reset(self, cur: Cursor) -> None:
        for table in MEETINGS_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        if isinstance(event, CaseMeeting.Scheduled):
            self._scheduled(cur, event, notification)
        elif isinstance(event, RepresentativeMeeting.Recorded):
            self._representative(cur, event, notification)
        elif isinstance(event, CaseMeeting.InternalParticipantAdded):
            self._participants(cur, event, "internal_participants",
                               lambda ps: [p for p in ps if p["user_id"] != event.user_id]
                               + [{"user_id": event.user_id, "role": event.role}])
        elif isinstance(event, CaseMeeting.ExternalParticipantAdded):
            self._participants(cur, event, "external_participants", lambda ps: ps + [
                {"participant_id": event.participant_id, "basis": event.basis}])
            self._reseal(cur, event, lambda d: d["external"].update({event.participant_id: {
                "name": event.name, "organisation": event.organisation}}))
        elif isinstance(event, CaseMeeting.MinutesRecorded):
            self._reseal(cur, event, lambda d: d.update(minutes={
                "wishes": event.wishes, "state_and_issues": event.state_and_issues,
                "support_goals": event.support_goals,
                "concrete_support": event.concrete_support}))
            self._meeting_changed(cur, event, notification, status=CaseMeeting.HELD)
            return
        elif isinstance(event, CaseMeeting.ActionAssigned):
            self._action_assigned(cur, event, notification)
        elif isinstance(event, CaseMeeting.ActionCompleted):
            cur.execute("UPDATE {s}task_view SET status = 'done', completed_on = %s,"
                        " position = %s WHERE task_id = %s",
                        (event.completed_on.isoformat(), notification.id, event.action_id))
        elif isinstance(event, CaseMeeting.Cancelled):
            self._meeting_changed(cur, event, notification, status=CaseMeeting.CANCELLED)
            return
        if type(event).__qualname__.startswith("CaseMeeting."):
            self._meeting_changed(cur, event, notification)  # the version moves on

    def _seal(self, household_id: str, value: Any, aad: bytes) -> bytes | None:
        try:
            return self.keyring.seal_json(UUID(household_id), value, aad)
        except HouseholdKeyDestroyedError:  # disposed of between storing and projecting
            return None

    def _scheduled(self, cur: Cursor, event: CaseMeeting.Scheduled, n: Notification) -> None:
        meeting_id, household_id = str(event.originator_id), str(event.household_id)
        sealed = None
        if not vars(event).get("_shredded"):
            sealed = self._seal(household_id, {
                "place": event.place, "agenda": event.agenda,
                "council_decision": event.council_decision,
                "external": event.external_people or {}, "minutes": None,
            }, meeting_aad(meeting_id))
        cur.execute(
            "INSERT INTO {s}meeting_view (meeting_id, case_id, household_id, site_id,"
            " contract_id, starts_at, ends_at, status, internal_participants,"
            " external_participants, council_case, council_decision_recorded, sealed, version,"
            " position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (meeting_id, str(event.case_id), household_id, event.site_id, event.contract_id,
             event.starts_at.isoformat(), event.ends_at.isoformat(), CaseMeeting.SCHEDULED,
             json.dumps(event.internal_participants), json.dumps(event.external_participants),
             bool(event.council_case),
             # A shredded decision still was recorded: the flag is not personal.
             bool(event.council_case and (vars(event).get("_shredded") or event.council_decision)),
             sealed, event.originator_version, n.id))

    def _meeting_row(self, cur: Cursor, event: Any) -> dict[str, Any]:
        row = cur.execute("SELECT * FROM {s}meeting_view WHERE meeting_id = %s",
                          (str(event.originator_id),)).fetchone()
        if row is None:  # cannot happen: a meeting is scheduled before anything else
            raise LookupError("meeting event for a meeting the view has not seen")
        return row

    def _meeting_changed(self, cur: Cursor, event: Any, n: Notification, **columns: Any) -> None:
        columns |= {"version": event.originator_version, "position": n.id}
        assignments = ", ".join(f"{name} = %s" for name in columns)
        cur.execute(f"UPDATE {{s}}meeting_view SET {assignments} WHERE meeting_id = %s",
                    [*columns.values(), str(event.originator_id)])

    def _participants(self, cur: Cursor, event: Any, column: str,
                      change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
        row = self._meeting_row(cur, event)
        cur.execute(f"UPDATE {{s}}meeting_view SET {column} = %s WHERE meeting_id = %s",
                    (json.dumps(change(json.loads(row[column]))), str(event.originator_id)))

    def _reseal(self, cur: Cursor, event: Any, change: Callable[[dict[str, Any]], None]) -> None:
        row = self._meeting_row(cur, event)
        meeting_id = row["meeting_id"]
        data = None
        if not vars(event).get("_shredded"):
            data = self.keyring.open_json(UUID(row["household_id"]), row["sealed"],
                                          meeting_aad(meeting_id))
        sealed = None
        if data is not None:  # None: shredded — it stays unreadable
            change(data)
            sealed = self._seal(row["household_id"], data, meeting_aad(meeting_id))
        cur.execute("UPDATE {s}meeting_view SET sealed = %s WHERE meeting_id = %s",
                    (sealed, meeting_id))

    def _action_assigned(self, cur: Cursor, event: CaseMeeting.ActionAssigned,
                         n: Notification) -> None:
        row = self._meeting_row(cur, event)
        sealed = None
        if not vars(event).get("_shredded"):
            sealed = self._seal(str(event.household_id), {"title": event.what},
                                task_aad(event.action_id))
        cur.execute(
            "INSERT INTO {s}task_view (task_id, kind, source_id, case_id, household_id,"
            " contract_id, owner_user_id, due_on, status, sealed, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s)",
            (event.action_id, MEETING_ACTION, row["meeting_id"], row["case_id"],
             str(event.household_id), row["contract_id"], event.owner_user_id,
             event.due_on.isoformat(), sealed, n.id))

    def _representative(self, cur: Cursor, event: RepresentativeMeeting.Recorded,
                        n: Notification) -> None:
        cur.execute(
            "INSERT INTO {s}representative_meeting_view (meeting_id, held_on, attendees,"
            " regional_issues, resources_to_develop, themes_from, themes_to, theme_counts,"
            " recorded_by, recorded_at, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (str(event.originator_id), event.held_on.isoformat(),
             json.dumps(event.attendees, ensure_ascii=False),
             json.dumps(event.regional_issues, ensure_ascii=False),
             json.dumps(event.resources_to_develop, ensure_ascii=False),
             event.themes_from.isoformat(), event.themes_to.isoformat(),
             json.dumps(event.theme_counts, sort_keys=True),
             event_metadata(event).get("user_id"), event.timestamp.isoformat(), n.id))


def case_theme_counts(database: Database, start: date, end: date) -> dict[str, int]:
    """How many cases had a consultation on each theme in [start, end] (the case view's data)."""
    with database.transaction(write=False) as cur:
        rows = cur.execute("SELECT case_id, themes FROM {s}consultation_view"
                           " WHERE occurred_on >= %s AND occurred_on <= %s",
                           (start.isoformat(), end.isoformat())).fetchall()
    cases: dict[str, set[str]] = {}
    for row in rows:
        for theme in json.loads(row["themes"]):
            cases.setdefault(theme, set()).add(row["case_id"])
    return {theme: len(ids) for theme, ids in sorted(cases.items())}


# --------------------------------------------------------------------------- reads


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
        data = self.keyring.open_json(UUID(row["household_id"]), row["sealed"],
                                      task_aad(row["task_id"]))
        return data and data.get("title")

    def _meetings(self, cur: Cursor, rows: list[dict[str, Any]]) -> list[MeetingRecord]:
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
            data = self.keyring.open_json(UUID(r["household_id"]), r["sealed"],
                                          meeting_aad(r["meeting_id"]))
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
            where, scope_params = scope_clause(scope)
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
        items = [TaskRecord(
            task_id=r["task_id"], kind=r["kind"], source_id=r["source_id"], case_id=r["case_id"],
            owner_user_id=r["owner_user_id"],
            due_on=None if r["due_on"] == _NO_DATE else r["due_on"], status=r["status"],
            completed_on=r["completed_on"],
            title=self._title(r) if r["sealed"] is not None else None,
            urgent=bool(r["urgent"])) for r in rows[:first]]
        return Page(items=items, cursors=[_encode(r["due_on"], r["task_id"]) for r in rows[:first]],
                    total_count=int(total["n"]), has_next_page=len(rows) > first)

