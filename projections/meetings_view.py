"""The meetings view: case meetings (calendar), their role assignments as tasks, and
representative meetings.  Its reads are in ``meeting_queries.py``.

Personal values (place, agenda, the 要対協 decision, names of external people,
minutes, what each task asks) are re-sealed under the household key before
they reach a row; times, sites, statuses, owners and confidentiality bases
stay plaintext for calendars, task lists and audits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from yorisoi.domain.case_meetings import CaseMeeting
from yorisoi.domain.representative_meetings import RepresentativeMeeting
from yorisoi.infra.db import Cursor
from yorisoi.services.event_mapper import event_metadata
from yorisoi.services.personal_data import HouseholdKeyring

MEETINGS_TABLES = ("meeting_view", "task_view", "representative_meeting_view")
MEETING_ACTION = "meeting_action"


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
            " suppressed_themes INTEGER NOT NULL, recorded_by TEXT, recorded_at TEXT NOT NULL, position BIGINT NOT NULL)"),
            ("CREATE INDEX IF NOT EXISTS representative_meeting_view_held"
            " ON {s}representative_meeting_view (held_on DESC, meeting_id DESC)"),
        ]

    def reset(self, cur: Cursor) -> None:
        for table in MEETINGS_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def purge(self, cur: Cursor, household_id: UUID | str) -> None:
        """Disposal: meetings and tasks keep times and owners, lose their sealed content."""
        for table in ("meeting_view", "task_view"):
            cur.execute(f"UPDATE {{s}}{table} SET sealed = NULL WHERE household_id = %s",
                        (str(household_id),))

    @staticmethod
    def handles(event_cls: type) -> bool:
        """Every CaseMeeting event (each moves the version) and representative meetings."""
        return (issubclass(event_cls, (CaseMeeting.Scheduled, RepresentativeMeeting.Recorded))
                or event_cls.__qualname__.startswith("CaseMeeting."))

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
        # A view re-seals with the reading key: None once the household was disposed of.
        return self.keyring.reseal_json(UUID(household_id), value, aad)

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
            " suppressed_themes, recorded_by, recorded_at, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (str(event.originator_id), event.held_on.isoformat(),
             json.dumps(event.attendees, ensure_ascii=False),
             json.dumps(event.regional_issues, ensure_ascii=False),
             json.dumps(event.resources_to_develop, ensure_ascii=False),
             event.themes_from.isoformat(), event.themes_to.isoformat(),
             json.dumps(event.theme_counts, sort_keys=True), event.suppressed_themes,
             event_metadata(event).get("user_id"), event.timestamp.isoformat(), n.id))
