"""Batched, exactly-once projection of a tenant's notification log.

The library's ProjectionRunner needs subscriptions (SQLite has none) and
commits one event per transaction (~25× slower).  Here one transaction
reads a batch of notifications, applies them to the view and moves the
view's position: all or nothing.  The position row is locked (``FOR UPDATE``
on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two runners never apply
the same event twice.  A handler that fails stops the runner: a projection
never skips an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import Notification
from opentelemetry import trace

from yorisoi.infra.db import Cursor, Database

_tracer = trace.get_tracer("yorisoi.projections")

POSITIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS {s}projection_positions ("
    " name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
)


class View(Protocol):
    """A read model fed by a projection."""

    name: str

    def ddl(self) -> list[str]: ...

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None: ...

    def reset(self, cur: Cursor) -> None: ...


class Mapper(Protocol):
    def to_domain_event(self, stored: Any) -> Any: ...


def _select_notifications(db: Database) -> str:
    key = "notification_id" if db.dialect == "postgres" else "rowid"
    return (f"SELECT {key} AS id, originator_id, originator_version, topic, state "
            f"FROM {{events}} WHERE {key} > %s ORDER BY {key} LIMIT %s")


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


class Projector:
    """Keeps one view up to date with one tenant's event log."""

    def __init__(self, database: Database, mapper: Mapper, view: View,
                 batch_size: int = 500) -> None:
        self.db = database
        self.mapper = mapper
        self.view = view
        self.batch_size = batch_size
        self._select = _select_notifications(database)
        self._lock = " FOR UPDATE" if database.dialect == "postgres" else ""
        # A view over the row-level-secured platform tables writes rows of every
        # tenant: it says so with ``lookup = "platform"`` and each transaction
        # declares it (tenant views have no such attribute and declare nothing).
        self._scope = {"lookup": lookup} if (lookup := getattr(view, "lookup", None)) else {}

    def _position(self, cur: Cursor, *, lock: bool) -> int:
        row = cur.execute(
            "SELECT position FROM {s}projection_positions WHERE name = %s"
            + (self._lock if lock else ""), (self.view.name,)).fetchone()
        if row is None:
            if not lock:
                return 0
            cur.execute("INSERT INTO {s}projection_positions (name, position) VALUES (%s, 0)"
                        " ON CONFLICT (name) DO NOTHING", (self.view.name,))
            return self._position(cur, lock=True)
        return int(row["position"])

    def _apply_batch(self, cur: Cursor) -> int:
        """Apply the next batch after the (locked) position; returns its size."""
        with _tracer.start_as_current_span(
            "projection.batch",
            attributes={"yorisoi.tenant": self.db.tenant, "yorisoi.view": self.view.name},
        ) as span:
            position = self._position(cur, lock=True)
            rows = cur.execute(self._select, (position, self.batch_size)).fetchall()
            for row in rows:
                notification = Notification(
                    id=int(row["id"]), originator_id=row["originator_id"],
                    originator_version=int(row["originator_version"]), topic=row["topic"],
                    state=bytes(row["state"]))
                self.view.apply(cur, self.mapper.to_domain_event(notification), notification)
            if rows:
                cur.execute("UPDATE {s}projection_positions SET position = %s WHERE name = %s",
                            (int(rows[-1]["id"]), self.view.name))
            span.set_attribute("yorisoi.events.count", len(rows))
            return len(rows)

    def catch_up(self) -> int:
        """Apply everything recorded so far; returns how many events were applied.

        One transaction per batch, so a long catch-up neither holds locks for
        long nor loses its progress when it is interrupted.
        """
        total = 0
        while True:
            with self.db.transaction(**self._scope) as cur:
                applied = self._apply_batch(cur)
            total += applied
            if applied < self.batch_size:
                return total

    def rebuild(self) -> int:
        """Empty the view and replay the whole log in one transaction.

        Readers keep seeing the old rows until the new ones are complete; the
        result equals the live view (the tests compare them row for row).
        """
        total = 0
        with self.db.transaction(**self._scope) as cur:
            self._position(cur, lock=True)
            self.view.reset(cur)
            cur.execute("UPDATE {s}projection_positions SET position = 0 WHERE name = %s",
                        (self.view.name,))
            while (applied := self._apply_batch(cur)) > 0:
                total += applied
        return total

    def status(self) -> ProjectionStatus:
        key = "notification_id" if self.db.dialect == "postgres" else "rowid"
        with self.db.transaction(write=False, **self._scope) as cur:
            position = self._position(cur, lock=False)
            head = cur.execute(f"SELECT MAX({key}) AS head FROM {{events}}").fetchone()
        return ProjectionStatus(self.view.name, position, int(head["head"] or 0))
