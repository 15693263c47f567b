"""The visits view: outreach visits (a case's visits, a site's calendar) and their tasks.

One row per visit in ``visit_view``; the tasks a visit gives — each visitor's
planned visit, and the follow-up agreed after it — in ``visit_task_view``,
shaped like the meetings' ``task_view`` so "my tasks" reads both alike
(``meeting_queries.MeetingQueries.my_tasks``).

Personal values (the purpose, a detail of the place, the summary, the next
step's note, a cancellation reason) are re-sealed under the household key
before they reach a row; kinds, days, times, visitors, place codes, outcomes
and statuses stay plaintext for calendars, task lists and statistics.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from yorisoi.domain.outreach import OutreachVisit
from yorisoi.infra.db import Cursor
from yorisoi.projections.meetings_view import task_aad
from yorisoi.services.event_mapper import event_metadata
from yorisoi.services.personal_data import HouseholdKeyring

VISITS_TABLES = ("visit_view", "visit_task_view")
VISIT_TASK = "outreach_visit"  # a planned visit, one task for each person going
VISIT_FOLLOW_UP = "visit_follow_up"  # the next step agreed after a visit


def visit_aad(visit_id: str) -> bytes:
    return f"visit_view:{visit_id}".encode()


def visit_task_id(visit_id: str, what: str) -> str:
    """A task's id: stable across rebuilds, and naming no one."""
    return str(uuid.uuid5(UUID(visit_id), what))


class VisitsView:
    """Projection of OutreachVisit events into the visits tables."""

    name = "visits"
    tables = VISITS_TABLES

    def __init__(self, keyring: HouseholdKeyring) -> None:
        self.keyring = keyring

    @staticmethod
    def ddl() -> list[str]:
        return [
            ("CREATE TABLE IF NOT EXISTS {s}visit_view ("
             " visit_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, household_id TEXT NOT NULL,"
             " site_id TEXT NOT NULL, contract_id TEXT, kind TEXT NOT NULL,"
             " status TEXT NOT NULL, planned_on TEXT NOT NULL, starts_at TEXT, ends_at TEXT,"
             " visitors TEXT NOT NULL, place TEXT NOT NULL, done_on TEXT, outcome TEXT,"
             " next_step TEXT, follow_up_on TEXT, follow_up_owner TEXT,"
             " follow_up_completed_on TEXT, consultation_id TEXT, planned_by TEXT,"
             " sealed {bytes}, version INTEGER NOT NULL, position BIGINT NOT NULL)"),
            ("CREATE INDEX IF NOT EXISTS visit_view_calendar"
             " ON {s}visit_view (site_id, planned_on, visit_id)"),
            "CREATE INDEX IF NOT EXISTS visit_view_case ON {s}visit_view (case_id, planned_on)",
            ("CREATE TABLE IF NOT EXISTS {s}visit_task_view ("
             " task_id TEXT PRIMARY KEY, kind TEXT NOT NULL, source_id TEXT NOT NULL,"
             " case_id TEXT NOT NULL, household_id TEXT NOT NULL, contract_id TEXT,"
             " owner_user_id TEXT NOT NULL, due_on TEXT NOT NULL, status TEXT NOT NULL,"
             " completed_on TEXT, sealed {bytes}, position BIGINT NOT NULL)"),
            ("CREATE INDEX IF NOT EXISTS visit_task_view_owner"
             " ON {s}visit_task_view (owner_user_id, status, due_on, task_id)"),
            ("CREATE INDEX IF NOT EXISTS visit_task_view_source"
             " ON {s}visit_task_view (source_id)"),
        ]

    def reset(self, cur: Cursor) -> None:
        for table in VISITS_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def purge(self, cur: Cursor, household_id: UUID | str) -> None:
        """Disposal: visits and tasks keep days, people and codes, lose their sealed content."""
        for table in VISITS_TABLES:
            cur.execute(f"UPDATE {{s}}{table} SET sealed = NULL WHERE household_id = %s",
                        (str(household_id),))

    @staticmethod
    def handles(event_cls: type) -> bool:
        return event_cls.__qualname__.startswith("OutreachVisit.")

    # ------------------------------------------------------------------ events

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        if not self.handles(type(event)):
            return
        if isinstance(event, OutreachVisit.Planned):
            self._planned(cur, event, notification)
            return
        row = cur.execute("SELECT * FROM {s}visit_view WHERE visit_id = %s",
                          (str(event.originator_id),)).fetchone()
        if row is None:  # cannot happen: a visit is planned before anything else
            raise LookupError("visit event for a visit the view has not seen")
        columns: dict[str, Any] = {}
        if isinstance(event, OutreachVisit.Rescheduled):
            columns = {"planned_on": event.planned_on.isoformat(), "starts_at": event.starts_at,
                       "ends_at": event.ends_at, "visitors": json.dumps(event.visitors)}
            cur.execute("DELETE FROM {s}visit_task_view WHERE source_id = %s AND kind = %s",
                        (row["visit_id"], VISIT_TASK))
            data = self._data(row, event)
            self._visit_tasks(cur, {**row, **columns}, event.visitors,
                              data and data.get("purpose"), notification)
        elif isinstance(event, OutreachVisit.Done):
            columns = {"status": OutreachVisit.DONE, "done_on": event.done_on.isoformat(),
                       "visitors": json.dumps(event.visitors), "outcome": event.outcome,
                       **self._next_step(event),
                       "consultation_id": str(event.consultation_id)
                       if event.consultation_id else None}
            self._closed(cur, row, event, notification, summary=event.summary,
                         next_step_note=event.next_step_note)
        elif isinstance(event, OutreachVisit.NotMet):
            columns = {"status": OutreachVisit.NOT_MET, "done_on": event.attempted_on.isoformat(),
                       "outcome": event.reason, **self._next_step(event)}
            self._closed(cur, row, event, notification, summary=event.note,
                         next_step_note=None)
        elif isinstance(event, OutreachVisit.FollowUpCompleted):
            columns = {"follow_up_completed_on": event.completed_on.isoformat()}
            cur.execute("UPDATE {s}visit_task_view SET status = 'done', completed_on = %s,"
                        " position = %s WHERE source_id = %s AND kind = %s",
                        (event.completed_on.isoformat(), notification.id, row["visit_id"],
                         VISIT_FOLLOW_UP))
        elif isinstance(event, OutreachVisit.HandedOver):
            # The case's successor contract carries the planned visit (and its tasks).
            columns = {"contract_id": event.to_contract_id}
            cur.execute("UPDATE {s}visit_task_view SET contract_id = %s, position = %s"
                        " WHERE source_id = %s", (event.to_contract_id, notification.id,
                                                  row["visit_id"]))
        elif isinstance(event, OutreachVisit.Cancelled):
            columns = {"status": OutreachVisit.CANCELLED}
            self._reseal(cur, row, event, {"cancel_reason": event.reason})
            self._close_visit_tasks(cur, row, "cancelled", None, notification)
        columns |= {"version": event.originator_version, "position": notification.id}
        assignments = ", ".join(f"{name} = %s" for name in columns)
        cur.execute(f"UPDATE {{s}}visit_view SET {assignments} WHERE visit_id = %s",
                    [*columns.values(), row["visit_id"]])

    @staticmethod
    def _next_step(event: Any) -> dict[str, Any]:
        return {"next_step": event.next_step,
                "follow_up_on": event.follow_up_on.isoformat() if event.follow_up_on else None,
                "follow_up_owner": event.follow_up_owner}

    def _seal(self, household_id: str, value: Any, aad: bytes) -> bytes | None:
        # A view re-seals with the reading key: None once the household was disposed of.
        return self.keyring.reseal_json(UUID(household_id), value, aad)

    def _planned(self, cur: Cursor, event: OutreachVisit.Planned, n: Notification) -> None:
        visit_id, household_id = str(event.originator_id), str(event.household_id)
        shredded = bool(vars(event).get("_shredded"))
        sealed = None if shredded else self._seal(household_id, {
            "purpose": event.purpose, "place_note": event.place_note, "summary": None,
            "next_step_note": None, "cancel_reason": None}, visit_aad(visit_id))
        row = {"visit_id": visit_id, "case_id": str(event.case_id),
               "household_id": household_id, "contract_id": event.contract_id,
               "planned_on": event.planned_on.isoformat()}
        cur.execute(
            "INSERT INTO {s}visit_view (visit_id, case_id, household_id, site_id, contract_id,"
            " kind, status, planned_on, starts_at, ends_at, visitors, place, planned_by,"
            " sealed, version, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (visit_id, row["case_id"], household_id, event.site_id, event.contract_id,
             event.kind, OutreachVisit.PLANNED, row["planned_on"], event.starts_at,
             event.ends_at, json.dumps(event.visitors), event.place,
             event_metadata(event).get("user_id"), sealed, event.originator_version, n.id))
        self._visit_tasks(cur, row, event.visitors, None if shredded else event.purpose, n)

    def _visit_tasks(self, cur: Cursor, row: dict[str, Any], visitors: list[str],
                     purpose: str | None, n: Notification) -> None:
        """Each person going has the visit in "my tasks" until it is done, not met or off."""
        for user_id in visitors:
            task_id = visit_task_id(row["visit_id"], f"visit:{user_id}")
            sealed = None
            if purpose is not None:
                sealed = self._seal(row["household_id"], {"title": purpose}, task_aad(task_id))
            cur.execute(
                "INSERT INTO {s}visit_task_view (task_id, kind, source_id, case_id,"
                " household_id, contract_id, owner_user_id, due_on, status, sealed, position)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s)",
                (task_id, VISIT_TASK, row["visit_id"], row["case_id"], row["household_id"],
                 row["contract_id"], user_id, row["planned_on"], sealed, n.id))

    def _close_visit_tasks(self, cur: Cursor, row: dict[str, Any], status: str,
                           on: str | None, n: Notification) -> None:
        cur.execute("UPDATE {s}visit_task_view SET status = %s, completed_on = %s,"
                    " position = %s WHERE source_id = %s AND kind = %s",
                    (status, on, n.id, row["visit_id"], VISIT_TASK))

    def _closed(self, cur: Cursor, row: dict[str, Any], event: Any, n: Notification, *,
                summary: str | None, next_step_note: str | None) -> None:
        """Done or not met: the visit's tasks close; an agreed follow-up becomes one."""
        on = (getattr(event, "done_on", None) or event.attempted_on).isoformat()
        self._close_visit_tasks(cur, row, "done", on, n)
        self._reseal(cur, row, event, {"summary": summary, "next_step_note": next_step_note})
        if event.follow_up_on is None or not event.follow_up_owner:
            return
        task_id = visit_task_id(row["visit_id"], "follow_up")
        sealed = None
        if not vars(event).get("_shredded") and next_step_note:
            sealed = self._seal(row["household_id"], {"title": next_step_note},
                                task_aad(task_id))
        cur.execute(
            "INSERT INTO {s}visit_task_view (task_id, kind, source_id, case_id, household_id,"
            " contract_id, owner_user_id, due_on, status, sealed, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s)",
            (task_id, VISIT_FOLLOW_UP, row["visit_id"], row["case_id"], row["household_id"],
             row["contract_id"], event.follow_up_owner, event.follow_up_on.isoformat(), sealed,
             n.id))

    def _data(self, row: dict[str, Any], event: Any) -> dict[str, Any] | None:
        if vars(event).get("_shredded"):
            return None
        return self.keyring.open_json(UUID(row["household_id"]), row["sealed"],
                                      visit_aad(row["visit_id"]))

    def _reseal(self, cur: Cursor, row: dict[str, Any], event: Any,
                changes: dict[str, Any]) -> None:
        data = self._data(row, event)
        sealed = None
        if data is not None:  # None: shredded — it stays unreadable
            data.update(changes)
            sealed = self._seal(row["household_id"], data, visit_aad(row["visit_id"]))
        cur.execute("UPDATE {s}visit_view SET sealed = %s WHERE visit_id = %s",
                    (sealed, row["visit_id"]))
