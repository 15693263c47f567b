"""Event recorders with the tenant on every span, one wake-up channel and a one-round-trip insert.

The library notifies a channel named after the events table, which is the
same name in every tenant schema and carries no payload, so a worker could
not tell which tenant has news.  ``PostgresTenantRecorder`` notifies one
channel, ``yorisoi_events``, with the tenant schema as payload: one listening
connection serves every tenant, and an idle tenant costs nothing.

Its insert is one prepared call of a function in the tenant schema
(``yorisoi_insert_events``, created with the events table at provisioning):
the library's pipeline (``BEGIN``, ``SET LOCAL lock_timeout``, ``LOCK
TABLE``, ``NOTIFY``, ``INSERT``, ``COMMIT``) is five round trips and most of
a command's client time.  The function does the same things in the same
order, in the implicit transaction of one statement, so nothing about the
guarantees changes: a per-space transaction advisory lock (``ordering_lock_key``,
where the library takes ``LOCK TABLE … IN EXCLUSIVE MODE``) makes commit order
equal notification order (projections never pass over a gap that fills in
later), the unique (originator_id, version) key still refuses a concurrent
writer, and the ``NOTIFY`` still commits with the events.  It also checks,
under ``FOR SHARE``, that the household key of every event carrying sealed
personal fields is still live: a disposal that committed first is refused
here, one that comes later waits for this insert.  That check is what lets
the mapper seal with a cached household key (``HouseholdKeyring.for_event``).
There is no fallback to the library's insert: its table lock would not order
against the advisory lock.  A space provisioned before the function existed
refuses writes (``SpaceNotUpgradedError``) until ``yorisoi tenant upgrade``
creates it.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, Notification, StoredEvent
from eventsourcing.persistence import OperationalError as ESOperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from opentelemetry import trace
from psycopg.sql import SQL, Identifier, Literal

from yorisoi.infra.db import joined_connection
from yorisoi.infra.household_keys import HouseholdKeyDestroyedError

EVENTS_CHANNEL = "yorisoi_events"
INSERT_FUNCTION = "yorisoi_insert_events"
# SQLSTATE raised by the insert function when a household key is destroyed.
KEY_DESTROYED_STATE = "YK001"
# SQLSTATE raised by the insert function when an aggregate the command read has changed.
STALE_READ_STATE = "YK002"
# The attribute the mapper sets on a stored event whose personal fields it sealed.
SEALED_FOR = "_sealed_for"

_tracer = trace.get_tracer("yorisoi.sql")

# Aggregates a command read ahead (see ``PostgresTenantRecorder.read_ahead``).
_ahead: ContextVar[dict[Any, list[StoredEvent]] | None] = ContextVar(
    "yorisoi_read_ahead", default=None)


def join_units_of_work(datastore: Any) -> None:
    """Let the event store's statements join a unit of work open on ``datastore``.

    Outside ``Database.unit_of_work`` nothing changes: the pool lends a
    connection per statement as before.  Inside, every connection the
    library asks for is the unit's own (PostgreSQL), or every transaction
    it opens is a savepoint of the unit's (SQLite, whose pool lends one
    writer at a time and would otherwise wait on the unit itself), so a
    command's events and the rows written beside them commit together.
    """
    if hasattr(datastore, "schema"):  # PostgreSQL
        lend = datastore.get_connection

        @contextmanager
        def get_connection(*args: Any, **kwargs: Any) -> Iterator[Any]:
            conn = joined_connection(datastore)
            if conn is None:
                with lend(*args, **kwargs) as conn:
                    yield conn
                return
            try:
                yield conn
            except psycopg.IntegrityError as error:  # as the library's own lending says it
                raise IntegrityError(str(error)) from error
            except psycopg.OperationalError as error:
                # An outage is answered at once (503, retryable), not retried for seconds.
                from yorisoi.infra.outages import unavailable

                if (down := unavailable(error)) is not None:
                    raise down from error
                raise ESOperationalError(str(error)) from error

        datastore.get_connection = get_connection
        return
    begin = datastore.transaction

    @contextmanager
    def transaction(*, commit: bool) -> Iterator[Any]:
        conn = joined_connection(datastore)
        if conn is None:
            with begin(commit=commit) as cursor:
                yield cursor
            return
        from eventsourcing.sqlite import SQLiteCursor

        cursor = SQLiteCursor(conn.cursor())
        cursor.execute("SAVEPOINT yorisoi_events")
        try:
            yield cursor
        except BaseException as error:
            cursor.execute("ROLLBACK TO yorisoi_events")
            cursor.execute("RELEASE yorisoi_events")
            if isinstance(error, sqlite3.IntegrityError):  # as the library's own transaction says it
                raise IntegrityError(error) from error
            raise
        if not commit:
            cursor.execute("ROLLBACK TO yorisoi_events")
        cursor.execute("RELEASE yorisoi_events")

    datastore.transaction = transaction


class SpaceNotUpgradedError(RuntimeError):
    """The space has no insert function: it predates it and was not upgraded.

    Writes are refused (nothing is written) rather than falling back to the
    library's insert, whose table lock does not order against the function's
    advisory lock.  ``yorisoi tenant upgrade`` (the embedded ``serve`` runs it on
    start) creates the function.
    """

    def __init__(self, space: str) -> None:
        self.space = space
        super().__init__(f"space {space} has no {INSERT_FUNCTION}: run `yorisoi tenant upgrade`")


class StaleReadError(IntegrityError):
    """An aggregate the command read changed before the command's events were written.

    Nothing was written.  The command runner (``TenantApplication.run_command``)
    runs the command again on fresh reads; if that keeps happening the caller
    sees it as an ``IntegrityError`` (the API's ``concurrent_change``).
    """

    def __init__(self, originator_id: UUID | None) -> None:
        self.originator_id = originator_id
        self.current_version: int | None = None  # filled in where the answer is built
        super().__init__("an aggregate read by the command has changed")


@dataclass
class ReadSet:
    """What one command attempt read: aggregate id → version (0: it did not exist).

    The insert function refuses the command's events (``StaleReadError``)
    unless every aggregate in it is still at that version once the events
    table is locked, so a command's decisions rest on what was current when
    its events were written — whether the reads came from the database or
    from the application's aggregate cache.
    """

    versions: dict[Any, int] = field(default_factory=dict)
    # Whether this attempt may be served from the aggregate cache, and how often it was.
    use_cache: bool = True
    cache_hits: int = 0
    # Inserts this attempt has committed: a command that wrote is never run again.
    committed: int = 0

    def note(self, originator_id: Any, version: int) -> None:
        # The first version read (or written by this command) is what its decisions used.
        self.versions.setdefault(originator_id, version)


_reads: ContextVar[ReadSet | None] = ContextVar("yorisoi_read_set", default=None)

# Households whose keys sealed events written in this context (``noting_sealed``).
_sealed: ContextVar[set[str] | None] = ContextVar("yorisoi_sealed_written", default=None)


@contextmanager
def noting_sealed() -> Iterator[set[str]]:
    """Within the block, the ids of households whose personal data was written are collected."""
    found: set[str] = set()
    token = _sealed.set(found)
    try:
        yield found
    finally:
        _sealed.reset(token)


# Whether the read models were caught up in this context after its last write
# (``mark_caught_up``): a mutation's answer that already caught up needs no second
# catch-up, which would find nothing (8 statements, ~1.3 ms on every mutation).
_current_views: ContextVar[bool] = ContextVar("yorisoi_views_current", default=False)


# The highest notification id this context wrote (``last_written``): a catch-up
# that finds another one already applied it can skip its own.
_last_written: ContextVar[int | None] = ContextVar("yorisoi_last_written", default=None)


def mark_caught_up() -> None:
    _current_views.set(True)


def last_written() -> int | None:
    """The highest notification id written in this context (None: none, or not known)."""
    return _last_written.get()


def caught_up_since_write() -> bool:
    """True when this context caught the views up after the last events it wrote."""
    return _current_views.get()


def _note_sealed(stored_events: Sequence[StoredEvent]) -> None:
    _current_views.set(False)
    found = _sealed.get()
    if found is not None:
        found.update(str(h) for e in stored_events if (h := sealed_for(e)) is not None)


def current_reads() -> ReadSet | None:
    """The read set of the command running in this context, if its reads are validated."""
    return _reads.get()


def ordering_lock_key(space: str) -> int:
    """The advisory lock that orders one space's event inserts: a stable signed 64-bit number.

    Derived from the space's name alone, so it is the same on every node of a
    Citus cluster and before and after a tenant moves between them.
    """
    digest = hashlib.blake2b(f"yorisoi.events:{space}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def sealed_for(stored_event: StoredEvent) -> UUID | None:
    """The household whose key sealed this stored event's personal fields, if any."""
    return getattr(stored_event, SEALED_FOR, None)


def mark_sealed(stored_event: StoredEvent, household_id: UUID) -> StoredEvent:
    # StoredEvent is a frozen dataclass without slots: a side attribute, not a field,
    # so equality and the library's handling stay as they are.
    object.__setattr__(stored_event, SEALED_FOR, household_id)
    return stored_event


def _count_read() -> None:
    span = trace.get_current_span()
    if span.is_recording():
        reads = getattr(span, "attributes", None) or {}
        span.set_attribute("yorisoi.sql.event_reads",
                           int(reads.get("yorisoi.sql.event_reads", 0)) + 1)


class _Traced:
    """Spans for the recorder's writes, with the tenant and never any values.

    Reads of an aggregate's events get no span of their own (a command reads
    up to five aggregates; a span costs ~20 µs): they are counted on the
    current span (the command's) as ``yorisoi.sql.event_reads``.
    """

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
            ids = super().insert_events(stored_events, **kwargs)  # type: ignore[misc]
        _note_sealed(stored_events)
        _last_written.set(max(ids) if ids else None)
        return ids

    def select_events(self, originator_id: Any, **kwargs: Any):  # noqa: ANN201
        _count_read()
        return super().select_events(originator_id, **kwargs)  # type: ignore[misc]

    def select_notifications(self, start: int | None, limit: int, *args: Any,
                             **kwargs: Any) -> Sequence[Notification]:
        with self._span("SELECT notifications"):
            return super().select_notifications(start, limit, *args, **kwargs)  # type: ignore[misc]


class PostgresTenantRecorder(_Traced, PostgresApplicationRecorder):
    """The PostgreSQL recorder of one tenant schema."""

    db_system = "postgresql"
    keyring: Any = None  # the application's HouseholdKeyring (told when keys are checked here)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema, table = Identifier(self.datastore.schema), Identifier(self.events_table_name)
        # Statements as bytes once: psycopg re-renders a Composed query at every
        # execute (~80 µs, more than the statement's round trip here).  Array
        # parameters in binary (%b): in text, psycopg escapes every element in Python
        # (the insert's seven arrays: ~130 µs to convert and dump, ~40 µs in binary).
        self._insert_function = SQL(
            "SELECT * FROM {schema}.{fn}(%b::uuid[], %b::int8[], %b::text[], %b::bytea[],"
            " %b::text[], %b::uuid[], %b::int8[]) AS n").format(schema=schema, fn=Identifier(INSERT_FUNCTION)).as_bytes()
        self._select_all = SQL("SELECT * FROM {schema}.{table} WHERE originator_id = %s"
                               " ORDER BY originator_version ASC").format(
                                   schema=schema, table=table).as_bytes()
        self._select_many = SQL("SELECT * FROM {schema}.{table} WHERE originator_id = ANY(%b)"
                                " ORDER BY originator_id, originator_version").format(
                                    schema=schema, table=table).as_bytes()
        self.sql_create_statements.append(self._create_insert_function())
        # None: no insert yet; True: the function ran (it checks household keys).
        self._function_ok: bool | None = None

    def _tenant(self) -> str:
        return self.datastore.schema

    def _notify_channel(self, curs: Any) -> None:
        curs.execute(SQL("NOTIFY {0}, {1}").format(
            SQL(EVENTS_CHANNEL), Literal(self.datastore.schema)))

    def _create_insert_function(self) -> Any:
        schema = Identifier(self.datastore.schema)
        return SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{fn}(ids uuid[], versions int8[],"
            " topics text[], states bytea[], households text[], read_ids uuid[],"
            " read_versions int8[])"
            " RETURNS SETOF int8 LANGUAGE plpgsql AS $body$"
            " DECLARE live int; gone text; stale uuid;"
            " BEGIN"
            "  SET LOCAL lock_timeout = {lock_timeout};"
            # Keys first, then the table lock (a disposal takes them in that order too).
            "  IF cardinality(households) > 0 THEN"
            "   PERFORM 1 FROM {schema}.household_keys WHERE household_id = ANY(households)"
            "    AND wrapped_key IS NOT NULL FOR SHARE;"
            "   GET DIAGNOSTICS live = ROW_COUNT;"
            "   IF live < cardinality(households) THEN"
            "    SELECT h INTO gone FROM unnest(households) h WHERE NOT EXISTS (SELECT 1 FROM"
            "     {schema}.household_keys k WHERE k.household_id = h"
            "     AND k.wrapped_key IS NOT NULL) LIMIT 1;"
            "    RAISE EXCEPTION 'household key destroyed'"
            "     USING ERRCODE = {state}, DETAIL = gone;"
            "   END IF;"
            "  END IF;"
            # The ordering lock: commit order = notification order.  A transaction
            # advisory lock of this space, not the library's LOCK TABLE … EXCLUSIVE:
            # that conflicts with the ROW EXCLUSIVE lock Citus holds on every table
            # of a tenant being moved (each write would wait for the whole move),
            # and it needs UPDATE on the events table.  Every insert goes through
            # this function (there is no other writer of the table), so holding
            # this lock until commit serialises the space's inserts as before.
            "  PERFORM pg_advisory_xact_lock({order_lock});"
            # Under the lock no other insert can interleave: the command's reads are
            # checked against the log as it will be when these events commit.
            "  IF cardinality(read_ids) > 0 THEN"
            "   SELECT r.id INTO stale FROM unnest(read_ids, read_versions) AS r(id, v)"
            "    WHERE COALESCE((SELECT max(e.originator_version) FROM {schema}.{table} e"
            "     WHERE e.originator_id = r.id), 0) <> r.v LIMIT 1;"
            "   IF FOUND THEN"
            "    RAISE EXCEPTION 'stale read' USING ERRCODE = {stale_state}, DETAIL = stale::text;"
            "   END IF;"
            "  END IF;"
            "  PERFORM pg_notify({channel}, {space});"
            "  RETURN QUERY INSERT INTO {schema}.{table}"
            "   (originator_id, originator_version, topic, state)"
            "   SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id;"
            " END $body$"
        ).format(schema=schema, fn=Identifier(INSERT_FUNCTION),
                 table=Identifier(self.events_table_name),
                 lock_timeout=Literal(f"{self.datastore.lock_timeout}s"),
                 state=Literal(KEY_DESTROYED_STATE), stale_state=Literal(STALE_READ_STATE),
                 channel=Literal(EVENTS_CHANNEL),
                 space=Literal(self.datastore.schema),
                 order_lock=Literal(ordering_lock_key(self.datastore.schema)))

    def _keys_checked(self, checked: bool) -> None:
        self._function_ok = checked
        if self.keyring is not None:
            self.keyring.keys_checked_on_insert = checked

    @retry((InterfaceError, ESOperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        if any(v is not None for v in kwargs.values()):  # tracking records: not ours to write
            raise NotImplementedError("process recorders are not used by this application")
        households = list(dict.fromkeys(str(h) for e in stored_events
                                        if (h := sealed_for(e)) is not None))
        reads = _reads.get()
        read_set = reads.versions if reads is not None else {}
        params = ([e.originator_id for e in stored_events],
                  [e.originator_version for e in stored_events],
                  [e.topic for e in stored_events], [e.state for e in stored_events],
                  households, list(read_set), list(read_set.values()))
        ahead = _ahead.get()
        if ahead:  # a write in a read-ahead scope: what was read ahead may be stale now
            ahead.clear()
        # Past _Traced: the span is opened here, once, around the one statement.
        with self._span("INSERT stored_events") as span:
            span.set_attribute("yorisoi.events.count", len(stored_events))
            try:
                with self.datastore.get_connection() as conn, (
                        # In a unit of work: a savepoint, so a refusal leaves the unit usable.
                        conn.transaction() if joined_connection(self.datastore) is not None
                        else nullcontext()), conn.cursor() as curs:
                    curs.execute(self._insert_function, params, prepare=True, binary=True)
                    ids = [row["n"] for row in curs.fetchall()]
            except Exception as error:  # noqa: BLE001 - only two causes are ours to translate
                cause = error.__cause__ if isinstance(error.__cause__, psycopg.Error) else error
                state = getattr(cause, "sqlstate", None)
                detail = getattr(getattr(cause, "diag", None), "message_detail", None)
                if state == KEY_DESTROYED_STATE:
                    raise HouseholdKeyDestroyedError(
                        UUID(detail) if detail else None) from None
                if state == STALE_READ_STATE:
                    raise StaleReadError(UUID(detail) if detail else None) from None
                if state == "42883":  # undefined_function: the space was never upgraded
                    raise SpaceNotUpgradedError(self.datastore.schema) from None
                raise
        _note_sealed(stored_events)
        if ids:
            _last_written.set(max(ids))
        if self._function_ok is None:
            self._keys_checked(True)
        if reads is not None:  # later writes of this command build on these versions
            reads.committed += 1
            for e in stored_events:
                read_set[e.originator_id] = e.originator_version
        return ids

    @property
    def validates_reads(self) -> bool:
        """Whether inserts check the command's read set (the insert function is there)."""
        return self._function_ok is True

    @contextmanager
    def validating_reads(self, *, use_cache: bool) -> Iterator[ReadSet | None]:
        """One command attempt whose reads the insert will validate (nested: the outer one)."""
        outer = _reads.get()
        if outer is not None:
            yield outer
            return
        token = _reads.set(ReadSet(use_cache=use_cache))
        try:
            yield _reads.get()
        finally:
            _reads.reset(token)

    def select_events(self, originator_id: Any, *, gt: int | None = None,
                      lte: int | None = None, desc: bool = False,
                      limit: int | None = None) -> Sequence[StoredEvent]:
        if gt is not None or lte is not None or desc or limit is not None:
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        _count_read()
        ahead = _ahead.get()
        if ahead is not None and (stored := ahead.pop(originator_id, None)) is not None:
            return stored
        return self._select_whole(originator_id)

    @contextmanager
    def reading_ahead(self) -> Iterator[None]:
        """A scope (one command) in which ``read_ahead`` may fetch aggregates early.

        Nested scopes share the outer one, so a write anywhere inside drops
        everything read ahead in it.
        """
        if _ahead.get() is not None:
            yield
            return
        token = _ahead.set({})
        try:
            yield
        finally:
            _ahead.reset(token)

    def read_ahead(self, originator_ids: Sequence[Any]) -> None:
        """Fetch several aggregates' events with one statement, for this scope's next reads.

        A command that will read aggregates whose ids it already knows (the
        case and the municipality's taxonomy; the household's consent and
        request indexes) fetches them together: one round trip instead of
        one each.  Each is served once, to the next read of it in the same
        ``reading_ahead`` scope (what is not used ends with the scope), and
        any insert in the scope drops them all, so nothing served is older
        than the command's own start or its own writes.
        """
        ahead = _ahead.get()
        if ahead is None:
            return
        wanted = [i for i in dict.fromkeys(originator_ids) if i not in ahead]
        if not wanted:
            return
        found: dict[Any, list[StoredEvent]] = {i: [] for i in wanted}
        for row in self._select_rows(self._select_many, wanted):
            found[row["originator_id"]].append(
                StoredEvent(originator_id=row["originator_id"],
                            originator_version=row["originator_version"],
                            topic=row["topic"], state=bytes(row["state"])))
        ahead.update(found)

    @retry((InterfaceError, ESOperationalError), max_attempts=10, wait=0.2)
    def _select_rows(self, statement: bytes, ids: list[Any]) -> list[Any]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (ids,), prepare=True)
            return curs.fetchall()

    @retry((InterfaceError, ESOperationalError), max_attempts=10, wait=0.2)
    def _select_whole(self, originator_id: Any) -> Sequence[StoredEvent]:
        """A whole aggregate's events: the statement every command's get runs, pre-built."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_all, (originator_id,), prepare=True)
            return [StoredEvent(originator_id=row["originator_id"],
                                originator_version=row["originator_version"],
                                topic=row["topic"], state=bytes(row["state"]))
                    for row in curs.fetchall()]


class SQLiteTenantRecorder(_Traced, SQLiteApplicationRecorder):
    """The SQLite recorder of one tenant file (reads are local: nothing to read ahead)."""

    db_system = "sqlite"
    tenant = ""

    validates_reads = False  # no insert function: commands read the file, uncached

    def reading_ahead(self) -> Any:
        return nullcontext()

    def validating_reads(self, *, use_cache: bool) -> Any:
        return nullcontext()

    def read_ahead(self, originator_ids: Sequence[Any]) -> None:
        pass

    def _tenant(self) -> str:
        return self.tenant
