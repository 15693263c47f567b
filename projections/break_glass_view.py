"""Break-glass uses: who unmasked which case, why, until when — and the reads that rely on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Notification

from yorisoi.domain.break_glass import BreakGlass
from yorisoi.infra.db import Cursor, Database
from yorisoi.services.event_mapper import event_metadata

BREAK_GLASS_TABLES = ("break_glass_view",)


@dataclass(frozen=True)
class BreakGlassRecord:
    break_glass_id: str
    case_id: str
    household_id: str
    actor: str
    role: str
    organisation_id: str
    reason_code: str
    justification: str  # recorded without personal data (the form says so)
    recorded_at: str
    expires_at: str
    request_id: str | None


class BreakGlassView:
    name = "break_glass"
    tables = BREAK_GLASS_TABLES

    def __init__(self, keyring: Any = None) -> None:
        self.keyring = keyring  # unused: nothing here is sealed

    @staticmethod
    def ddl() -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {s}break_glass_view (break_glass_id TEXT PRIMARY KEY,"
            " case_id TEXT NOT NULL, household_id TEXT NOT NULL, actor TEXT NOT NULL,"
            " role TEXT NOT NULL, organisation_id TEXT NOT NULL, reason_code TEXT NOT NULL,"
            " justification TEXT NOT NULL, recorded_at TEXT NOT NULL, expires_at TEXT NOT NULL,"
            " request_id TEXT, position BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS break_glass_actor"
            " ON {s}break_glass_view (actor, expires_at)",
        ]

    def reset(self, cur: Cursor) -> None:
        cur.execute("DELETE FROM {s}break_glass_view")

    def purge(self, cur: Cursor, household_id: str) -> None:
        """Nothing personal: who unmasked which case, and why (a code and a non-personal note)."""

    @staticmethod
    def handles(event_cls: type) -> bool:
        return issubclass(event_cls, BreakGlass.Recorded)

    def apply(self, cur: Cursor, event: Any, n: Notification) -> None:
        if not isinstance(event, BreakGlass.Recorded):
            return
        meta = event_metadata(event)
        cur.execute(
            "INSERT INTO {s}break_glass_view VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (str(event.originator_id), str(event.case_id), str(event.household_id),
             meta.get("user_id") or "unknown", meta.get("role") or "unknown",
             meta.get("organisation_id") or "unknown", event.reason_code, event.justification,
             event.timestamp.astimezone(UTC).isoformat(),
             event.expires_at.astimezone(UTC).isoformat(), meta.get("request_id"), n.id))


def _record(row: dict[str, Any]) -> BreakGlassRecord:
    return BreakGlassRecord(**{k: row[k] for k in BreakGlassRecord.__dataclass_fields__})


class BreakGlassQueries:
    def __init__(self, database: Database) -> None:
        self.db = database

    def active_for(self, actor: str, now: datetime | None = None) -> dict[str, str]:
        """Households the actor may read unmasked now: household id -> break-glass id."""
        now = now or datetime.now(UTC)
        with self.db.transaction(write=False) as cur:
            rows = cur.execute("SELECT household_id, break_glass_id FROM {s}break_glass_view"
                               " WHERE actor = %s AND expires_at > %s ORDER BY expires_at",
                               (actor, now.astimezone(UTC).isoformat())).fetchall()
        return {r["household_id"]: r["break_glass_id"] for r in rows}

    def uses(self, *, actor: str | None = None, case_id: str | None = None,
             first: int = 50, before_position: int | None = None) -> list[BreakGlassRecord]:
        """Break-glass uses, newest first (optionally one person's or one case's)."""
        sql, params = "SELECT * FROM {s}break_glass_view WHERE 1 = 1", []
        for column, value in (("actor", actor), ("case_id", case_id)):
            if value is not None:
                sql += f" AND {column} = %s"
                params.append(value)
        if before_position is not None:
            sql += " AND position < %s"
            params.append(before_position)
        with self.db.transaction(write=False) as cur:
            rows = cur.execute(sql + " ORDER BY position DESC LIMIT %s",
                               [*params, first]).fetchall()
        return [_record(r) for r in rows]
