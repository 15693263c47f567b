"""Batched, exactly-once projection of a tenant's notification log.

The library's ProjectionRunner needs subscriptions (SQLite has none) and
commits one event per transaction (~25× slower).  Here one transaction
reads a batch of notifications, applies them to the view and moves the
view's position: all or nothing.  The position row is locked (``FOR UPDATE``
on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two runners never apply
the same event twice.  A handler that fails stops the runner: a projection
never skips an event.

A view may say which event classes it acts on (``handles(event_cls)``);
the group then hands each event only to the views that want it (asked
once per class), instead of calling every view's ``apply`` for every event.
Positions are unchanged by routing: every view still passes every event.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Notification
from opentelemetry import trace

from yorisoi.infra.db import Cursor, Database, counted_statements
from yorisoi.projections.id_text import id_text

_tracer = trace.get_tracer("yorisoi.projections")

POSITIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS {s}projection_positions ("
    " name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
)


class View(Protocol):
    """A read model fed by a projection.

    A view may also have ``batch(cur)``, a context manager the projector
    opens around each batch's ``apply`` calls: the view may then hold its
    writes and make them, set-based, when the block ends (``CaseView``).

    And ``handles(event_cls) -> bool``: False only for event classes its
    ``apply`` ignores (``ProjectorGroup`` then does not call it for them;
    tests/projections/test_routing.py checks the answers against ``apply``).
    A view without it receives every event.
    """

    name: str

    def ddl(self) -> list[str]: ...

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None: ...

    def reset(self, cur: Cursor) -> None: ...


class Mapper(Protocol):
    def to_domain_event(self, stored: Any) -> Any: ...


def position_key(db: Database) -> str:
    """The column that orders a space's log: the notification id (SQLite: its rowid)."""
    return "notification_id" if db.dialect == "postgres" else "rowid"


def log_head(db: Database) -> int:
    """The position of the last event recorded in the space (0: none)."""
    with db.transaction(write=False) as cur:
        row = cur.execute(f"SELECT MAX({position_key(db)}) AS head FROM {{events}}").fetchone()
    return int(row["head"] or 0)


def _select_notifications(db: Database) -> str:
    key = position_key(db)
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
        ) as span, counted_statements() as statements:
            position = self._position(cur, lock=True)
            rows = cur.execute(self._select, (position, self.batch_size),
                               binary=True).fetchall()
            notifications = [_notification(row) for row in rows]
            with _batch(self.view, cur):
                for event, notification in zip(_decode(self.mapper, notifications),
                                               notifications, strict=True):
                    self.view.apply(cur, event, notification)
            if rows:
                cur.execute("UPDATE {s}projection_positions SET position = %s WHERE name = %s",
                            (int(rows[-1]["id"]), self.view.name))
            span.set_attribute("yorisoi.events.count", len(rows))
            span.set_attribute("yorisoi.sql.statements", statements[0])
            return len(rows)

    def catch_up(self) -> int:
        """Apply everything recorded so far; returns how many events were applied.

        One transaction per batch, so a long catch-up neither holds locks for
        long nor loses its progress when it is interrupted.  On PostgreSQL the
        batch's statements are pipelined: a view's writes do not wait for
        their answers, only its reads do.
        """
        total = 0
        while True:
            with self.db.transaction(pipeline=True, **self._scope) as cur:
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
        with self.db.transaction(pipeline=True, **self._scope) as cur:
            self._position(cur, lock=True)
            self.view.reset(cur)
            cur.execute("UPDATE {s}projection_positions SET position = 0 WHERE name = %s",
                        (self.view.name,))
            while (applied := self._apply_batch(cur)) > 0:
                total += applied
        return total

    def status(self) -> ProjectionStatus:
        with self.db.transaction(write=False, **self._scope) as cur:
            position = self._position(cur, lock=False)
            head = cur.execute(f"SELECT MAX({position_key(self.db)}) AS head"
                               " FROM {events}").fetchone()
        return ProjectionStatus(self.view.name, position, int(head["head"] or 0))


def _batch(view: View, cur: Cursor) -> AbstractContextManager[Any]:
    """The view's batch (writes held until the batch ends), if it has one."""
    batch = getattr(view, "batch", None)
    return batch(cur) if batch is not None else nullcontext()


def _decode(mapper: Mapper, notifications: list[Notification]) -> list[Any]:
    """Domain events of a batch; household keys fetched once per batch when the mapper can."""
    many = getattr(mapper, "to_domain_events", None)
    if many is not None:
        return many(notifications)
    return [mapper.to_domain_event(n) for n in notifications]


@dataclass(frozen=True)
class ViewNotification(Notification):
    """A notification as the views receive it, with what every view derives from it.

    ``originator_text`` is the originator id in the canonical text form the
    read models store (``str(UUID)``), converted once per event instead of
    by each view.
    """

    originator_text: str


def _notification(row: dict[str, Any]) -> ViewNotification:
    originator_id = row["originator_id"]
    text = id_text(originator_id if isinstance(originator_id, UUID)
                   else UUID(str(originator_id)))
    # Built without the frozen dataclass's __init__ (one object.__setattr__ per
    # field, ~1 µs an event): the same fields, the same equality.
    notification = object.__new__(ViewNotification)
    object.__setattr__(notification, "__dict__", {
        "originator_id": originator_id, "originator_version": int(row["originator_version"]),
        "topic": row["topic"], "state": bytes(row["state"]), "id": int(row["id"]),
        "originator_text": text})
    return notification


def handles(view: Any, event_cls: type) -> bool:
    """Whether ``view`` acts on events of ``event_cls`` (True unless it says otherwise).

    The answer of a view whose ``apply`` was overridden below the class that
    answers (a subclass acting on more, a patched instance) is not trusted:
    such a view receives every event, so routing never silently drops one.
    """
    if getattr(view, "handles", None) is None or not _answers_for_apply(view):
        return True
    return bool(view.handles(event_cls))


def _answers_for_apply(view: Any) -> bool:
    if "apply" in getattr(view, "__dict__", {}) or "handles" in getattr(view, "__dict__", {}):
        return False
    mro = type(view).__mro__
    applies = next((cls for cls in mro if "apply" in vars(cls)), object)
    answers = next((cls for cls in mro if "handles" in vars(cls)), object)
    return issubclass(answers, applies)


class Routes:
    """Which of a list of views each event class goes to, asked once per class."""

    def __init__(self, views: list[Any]) -> None:
        self.views = views
        self._by_class: dict[type, tuple[int, ...]] = {}

    def __call__(self, event_cls: type) -> tuple[int, ...]:
        targets = self._by_class.get(event_cls)
        if targets is None:
            targets = self.learn(event_cls)
        return targets

    def learn(self, event_cls: type) -> tuple[int, ...]:
        targets = tuple(i for i, view in enumerate(self.views) if handles(view, event_cls))
        self._by_class[event_cls] = targets
        return targets


class ProjectorGroup:
    """The read models of one space, caught up together.

    Each view keeps its own position (so one can be rebuilt alone), but a
    batch of the log is read and decoded (JSON, AES-GCM) once for all of
    them, in one transaction that locks every position of the group (in name
    order, so two groups, or a group and a single projector, never deadlock)
    and applies each event to every view whose position is below it.  That
    is exactly what each ``Projector.catch_up`` would apply, in the same
    order per view; only the number of reads, decodes and transactions
    changes.  Events go only to the views that handle their class (see
    ``handles``): the others' ``apply`` would have returned without doing
    anything, and their positions move past the event all the same.
    ``Projector`` stays unrouted: it is the reference the tests compare the
    group with.  If any view fails, the batch rolls back for all of them and
    the views are caught up one by one instead, as before: the healthy views
    before the failing one advance, the failing one raises.
    """

    def __init__(self, projectors: list[Projector], batch_size: int = 500) -> None:
        self.projectors = projectors
        self.batch_size = batch_size
        first = projectors[0]
        self.db, self.mapper = first.db, first.mapper
        # One scope for the whole group (tenant views declare none).
        self._together = all(p.db is self.db and p.mapper is self.mapper
                             and p._scope == first._scope for p in projectors)
        self._scope = first._scope
        self._select = first._select
        self._by_name = {p.view.name: p for p in projectors}
        self._routes = Routes([p.view for p in projectors])
        # The log position every view of the group had reached at the end of the last
        # batch this process committed alone (not inside a caller's open transaction,
        # which may still roll back): what ``TenantRuntime`` uses to skip a catch-up
        # another request already did.
        self.position = 0
        self._reached = 0
        names = sorted(self._by_name)
        self._names = names
        if self.db.dialect == "postgres":
            # The group's view names (code's own identifiers) are part of the statements'
            # text, not a parameter: an array parameter costs psycopg ~10 µs of Python to
            # find its dumper on every catch-up (the request path's included).
            if not all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in names):
                raise ValueError("view names are lower-case identifiers")
            self._in_group = "ARRAY[" + ", ".join(f"'{name}'" for name in names) + "]::text[]"
            self._lock_sql = ("SELECT name, position FROM {s}projection_positions"
                              f" WHERE name = ANY({self._in_group}) ORDER BY name FOR UPDATE")
            self._lock_params: tuple[Any, ...] = ()
            self._move_sql = ("UPDATE {s}projection_positions SET position = %s"
                              f" WHERE name = ANY({self._in_group}) AND position < %s")
            # Lock the positions and read the page after the lowest, in one statement:
            # a first row with the positions (and no event), then the page's rows (no
            # positions: psycopg would parse the same JSON again on each of them).
            self._page_sql = (
                "WITH p AS (SELECT name, position FROM {s}projection_positions"
                f" WHERE name = ANY({self._in_group}) ORDER BY name FOR UPDATE),"
                " k AS (SELECT jsonb_object_agg(name, position) AS positions,"
                " min(position) AS low FROM p)"
                " SELECT k.positions, NULL::bigint AS id, NULL::uuid AS originator_id,"
                " NULL::bigint AS originator_version, NULL::text AS topic,"
                " NULL::bytea AS state FROM k"
                " UNION ALL (SELECT NULL, notification_id, originator_id, originator_version,"
                " topic, state FROM {events} WHERE notification_id > (SELECT low FROM k)"
                " ORDER BY notification_id LIMIT %s)")
        else:
            marks = ", ".join(["%s"] * len(names))
            self._lock_sql = ("SELECT name, position FROM {s}projection_positions"
                              f" WHERE name IN ({marks}) ORDER BY name")
            self._lock_params = tuple(names)
            self._move_sql = ("UPDATE {s}projection_positions SET position = %s"
                              f" WHERE name IN ({marks}) AND position < %s")

    @property
    def reached(self) -> int:
        """The log position the last batch applied reached (committed or not)."""
        return self._reached

    def catch_up(self) -> int:
        """Apply everything recorded so far to every view.

        Returns the sum over the views of the events each applied (what the
        views' own ``catch_up`` calls would have returned together).
        """
        if not self._together:
            return sum(p.catch_up() for p in self.projectors)
        total = 0
        alone = not self.db.in_transaction()  # else the caller's transaction may roll back
        try:
            while True:
                with self.db.transaction(pipeline=True, **self._scope) as cur:
                    applied, read = self._apply_batch(cur)
                if alone:  # committed
                    self.position = max(self.position, self._reached)
                total += applied
                if read < self.batch_size:
                    return total
        except Exception:  # noqa: BLE001 - re-raised by the failing view's own runner
            return total + sum(p.catch_up() for p in self.projectors)

    def catch_up_turn(self, max_batches: int = 1) -> tuple[int, str]:
        """A worker's turn on this group: at most ``max_batches`` batches, never waiting.

        Returns (events applied, state): ``"done"`` (caught up), ``"more"`` (the
        turn ended with events left: come back), or ``"busy"`` (another process
        holds the positions — it applies what it read; come back soon, since
        events committed after its read are not in its batch).  Several workers
        thus share the tenants (``FOR UPDATE SKIP LOCKED``) instead of queueing
        on one tenant's position lock, and one busy tenant costs the others at
        most a batch per turn.  On SQLite (one writer at a time) it simply runs.
        """
        if self.db.dialect != "postgres" or not self._together:
            return self.catch_up(), "done"
        total = 0
        for _ in range(max_batches):
            with self.db.transaction(pipeline=True, **self._scope) as cur:
                rows = cur.execute(self._lock_sql.replace("FOR UPDATE", "FOR UPDATE SKIP LOCKED"),
                                   self._lock_params).fetchall()
                if len(rows) < len(self._names):
                    if not self._any_missing(cur):
                        return total, "busy"
                applied, read = self._apply_batch(cur)
            self.position = max(self.position, self._reached)
            total += applied
            if read < self.batch_size:
                return total, "done"
        return total, "more"

    def _any_missing(self, cur: Cursor) -> bool:
        """Whether some position row does not exist yet (a new view: not a busy one)."""
        found = cur.execute("SELECT count(*) AS n FROM {s}projection_positions"
                            f" WHERE name = ANY({self._in_group})").fetchone()
        return int(found["n"]) < len(self._names)

    def _locked_page(self, cur: Cursor) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """The group's positions (locked) and the next page of the log beyond the lowest.

        On PostgreSQL one statement does both (a round trip fewer on every
        catch-up, the request path's included): the positions are locked in a CTE
        and the page read after the lowest of them; one row (no event) carries them.
        Where a position row is missing (a view new to this space) it falls back
        to creating them first.
        """
        if self.db.dialect == "postgres":
            rows = cur.execute(self._page_sql, (self.batch_size,),
                               binary=True).fetchall()
            known = next((row["positions"] for row in rows if row["id"] is None), None)
            if known is not None and len(known) == len(self._names):
                return ({name: int(position) for name, position in known.items()},
                        [row for row in rows if row["id"] is not None])
        positions = self._positions(cur)
        rows = cur.execute(self._select, (min(positions.values()), self.batch_size),
                           binary=True).fetchall()
        return positions, rows

    def _positions(self, cur: Cursor) -> dict[str, int]:
        rows = cur.execute(self._lock_sql, self._lock_params).fetchall()
        positions = {row["name"]: int(row["position"]) for row in rows}
        if len(positions) < len(self._names):
            for name in self._names:
                if name not in positions:
                    cur.execute("INSERT INTO {s}projection_positions (name, position)"
                                " VALUES (%s, 0) ON CONFLICT (name) DO NOTHING", (name,))
            rows = cur.execute(self._lock_sql, self._lock_params).fetchall()
            positions = {row["name"]: int(row["position"]) for row in rows}
        return positions

    def _apply_batch(self, cur: Cursor) -> tuple[int, int]:
        """(events applied over all views, notifications read) for the next batch."""
        with _tracer.start_as_current_span(
            "projection.batch",
            attributes={"yorisoi.tenant": self.db.tenant, "yorisoi.view": "*",
                        "yorisoi.views.count": len(self.projectors)},
        ) as span, counted_statements() as statements:
            positions, rows = self._locked_page(cur)
            since = [positions[p.view.name] for p in self.projectors]
            low = min(since)
            # Every notification read lies beyond at least one view's position.
            notifications = [_notification(row) for row in rows]
            with ExitStack() as batches:
                views = [p.view for p in self.projectors]
                for view in views:
                    batches.enter_context(_batch(view, cur))
                self._route(cur, [view.apply for view in views], since, low,
                            _decode(self.mapper, notifications), notifications)
            # Each view passes every notification beyond its own position.
            ids = [n.id for n in notifications]
            applied = sum(len(ids) - bisect_right(ids, position) for position in since)
            if rows:
                last = int(rows[-1]["id"])
                cur.execute(self._move_sql, (last, *self._lock_params, last))
            self._reached = int(rows[-1]["id"]) if rows else low
            span.set_attribute("yorisoi.events.count", len(rows))
            span.set_attribute("yorisoi.sql.statements", statements[0])
            return applied, len(rows)

    def _route(self, cur: Cursor, applies: list[Any], since: list[int], low: int,
               events: list[Any], notifications: list[ViewNotification]) -> None:
        """Hand each event to the views that handle it and have not yet seen it."""
        routes = self._routes
        known = routes._by_class  # read inline: this loop runs ~4 applies an event
        if all(position == low for position in since):  # the usual case: no view ahead
            for event, notification in zip(events, notifications, strict=True):
                targets = known.get(type(event))
                for i in routes.learn(type(event)) if targets is None else targets:
                    applies[i](cur, event, notification)
            return
        for event, notification in zip(events, notifications, strict=True):
            for i in routes(type(event)):
                if notification.id > since[i]:
                    applies[i](cur, event, notification)
