"""Event recorders with the tenant on every span and one wake-up channel.

The library notifies a channel named after the events table, which is the
same name in every tenant schema and carries no payload, so a worker could
not tell which tenant has news.  ``PostgresTenantRecorder`` notifies one
channel, ``yorisoi_events``, with the tenant schema as payload: one listening
connection serves every tenant, and an idle tenant costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from opentelemetry import trace
from psycopg.sql import SQL, Literal

EVENTS_CHANNEL = "yorisoi_events"

_tracer = trace.get_tracer("yorisoi.sql")


class _Traced:
    """Spans for the recorder's statements, with the tenant and never any values."""

    db_system = ""

    def _tenant(self) -> str:
        raise NotImplementedError

    def _span(self, operation: str):  # noqa: ANN202
        return _tracer.start_as_current_span(
            f"SQL {operation}",
            attributes={"db.system": self.db_system, "db.operation": operation,
                        "yorisoi.tenant": self._tenant()})

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any):  # noqa: ANN201
        with self._span("INSERT stored_events") as span:
            span.set_attribute("yorisoi.events.count", len(stored_events))
            return super().insert_events(stored_events, **kwargs)  # type: ignore[misc]

    def select_events(self, originator_id: Any, **kwargs: Any):  # noqa: ANN201
        with self._span("SELECT stored_events"):
            return super().select_events(originator_id, **kwargs)  # type: ignore[misc]

    def select_notifications(self, start: int | None, limit: int, *args: Any,
                             **kwargs: Any) -> Sequence[Notification]:
        with self._span("SELECT notifications"):
            return super().select_notifications(start, limit, *args, **kwargs)  # type: ignore[misc]


class PostgresTenantRecorder(_Traced, PostgresApplicationRecorder):
    """The PostgreSQL recorder of one tenant schema."""

    db_system = "postgresql"

    def _tenant(self) -> str:
        return self.datastore.schema

    def _notify_channel(self, curs: Any) -> None:
        curs.execute(SQL("NOTIFY {0}, {1}").format(
            SQL(EVENTS_CHANNEL), Literal(self.datastore.schema)))


class SQLiteTenantRecorder(_Traced, SQLiteApplicationRecorder):
    """The SQLite recorder of one tenant file."""

    db_system = "sqlite"
    tenant = ""

    def _tenant(self) -> str:
        return self.tenant
