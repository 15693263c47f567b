"""One narrow SQL door for read models, key stores and registries.

Everything outside the event store's own recorders runs SQL through
``Database``: it borrows connections from the eventsourcing datastore (so a
tenant's events, its read models and its keys share one pool and one schema),
gives both backends one parameter style (``%s``) and one way to name tables
(``{s}table`` becomes ``"t_131016".table`` on PostgreSQL and ``table`` on
SQLite, where each tenant has its own file; ``{events}`` is the event store's
table, ``{bytes}`` is BYTEA or BLOB),
and returns rows as dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from opentelemetry import trace
from psycopg import IsolationLevel
from psycopg.pq import TransactionStatus

from yorisoi.infra.binary_arrays import binary_columns

_tracer = trace.get_tracer("yorisoi.sql")

Dialect = Literal["postgres", "sqlite"]

# The transaction this thread of work has open, per database: a nested
# transaction joins it instead of taking a second connection from a small
# pool (a projection batch unwraps household keys while it holds the lock).
_open: ContextVar[dict[int, tuple[Cursor, bool, Scope]] | None] = ContextVar(
    "yorisoi_open_tx", default=None)

# What a transaction declares to the row-level-security policies of the
# ``platform`` tables (tenants/provisioning.py): the tenant it works for, or a
# platform-wide lookup.  Only ever set with ``set_config(..., true)``, which
# lasts until the transaction ends: a session-level SET would outlive it and
# leak one request's tenant to the next borrower of the pooled connection.
Scope = tuple[tuple[str, str], ...]
TENANT_SETTING = "yorisoi.tenant"
LOOKUP_SETTING = "yorisoi.lookup"


# Statements run inside a ``counted_statements()`` block get no span each, only
# a count: a projection batch runs thousands, and one span costs ~20 µs (more
# than the statement's own client work); the batch's span carries the count.
_counted: ContextVar[list[int] | None] = ContextVar("yorisoi_counted_sql", default=None)


@contextmanager
def counted_statements() -> Iterator[list[int]]:
    """Within the block, SQL through ``Cursor`` is counted in ``counter[0]``, not traced."""
    counter = [0]
    token = _counted.set(counter)
    try:
        yield counter
    finally:
        _counted.reset(token)


@dataclass(frozen=True)
class SpaceTables:
    """Tables of a municipality's space that are not projections (tenants/space_tables.py
    lists them): defined here, with the database, so the stores that own such tables
    (access log, audit ledger, idempotency keys) need nothing from the layers above."""

    name: str
    ddl: Callable[[str], list[str]]  # dialect ("postgres" | "sqlite") -> statements
    writable: tuple[str, ...] = ()


class Cursor:
    """A cursor that speaks ``%s`` and ``{s}`` on both backends and yields dict rows."""

    def __init__(self, raw: Any, database: Database) -> None:
        self._raw = raw
        self._db = database

    def execute(self, sql: str, params: Sequence[Any] = (), *, binary: bool = False) -> Cursor:
        """Run ``sql``; ``binary`` asks PostgreSQL for binary results (SQLite ignores it).

        Binary results carry ``bytea`` as its bytes instead of hex text (half
        the size, no hex encoding on the server nor decoding here): the
        projector's page read (event states) is the caller that needs it.
        """
        statement = self._db.render(sql)
        options = {"binary": True} if binary and self._db.dialect == "postgres" else {}
        counter = _counted.get()
        if counter is not None:
            counter[0] += 1
            self._raw.execute(statement, tuple(params), **options)
            return self
        with _tracer.start_as_current_span(
            "SQL " + statement.split(None, 1)[0].upper(),
            attributes={"db.system": self._db.dialect,
                        "yorisoi.tenant": self._db.tenant},
        ):
            self._raw.execute(statement, tuple(params), **options)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            counter = _counted.get()
            if counter is not None:
                counter[0] += len(rows)
            self._raw.executemany(self._db.render(sql), [tuple(r) for r in rows])

    # -- set-based writes (a projection batch writes each table once) ----------
    #
    # _ONE_ROW: a single row (what a command's own catch-up writes: its case, its
    # consultation) goes as typed scalar parameters, not one-element arrays: psycopg
    # finds an array's dumper by inspecting its elements in Python, ~35 µs for a
    # case_view row's sixteen columns against ~2 µs for the scalars.

    @property
    def dialect(self) -> Dialect:
        return self._db.dialect

    @property
    def database(self) -> Database:
        return self._db

    def insert_many(self, table: str, columns: Sequence[str], types: Sequence[str],
                    rows: Sequence[Sequence[Any]], suffix: str = "") -> None:
        """Insert ``rows`` into ``{s}table`` with one statement (PostgreSQL) or executemany.

        ``types`` are PostgreSQL type names of the columns (``text``, ``bytea``,
        ``int8``, ``bool``…): the rows travel as one typed array per column,
        so the statement text, and its prepared plan, do not depend on the
        number of rows.  ``suffix`` follows the statement (``ON CONFLICT …``).
        """
        if not rows:
            return
        names = ", ".join(columns)
        if self._db.dialect == "postgres":
            if len(rows) == 1:  # a request's own row: typed scalars (see _ONE_ROW)
                marks = ", ".join(f"%s::{t}" for t in types)
                self._run(f"INSERT INTO {{s}}{table} ({names}) VALUES ({marks}) {suffix}",
                          rows[0], 1)
                return
            # binary arrays: no escaping; encoded by infra/binary_arrays.py where it can
            arrays = ", ".join(f"%b::{t}[]" for t in types)
            self._run(f"INSERT INTO {{s}}{table} ({names}) SELECT * FROM unnest({arrays})"
                      f" {suffix}", binary_columns(types, rows), len(rows))
        else:
            marks = ", ".join(["%s"] * len(columns))
            self.executemany(f"INSERT INTO {{s}}{table} ({names}) VALUES ({marks}) {suffix}",
                             rows)

    def update_many(self, table: str, key: str, columns: Sequence[str], types: Sequence[str],
                    rows: Sequence[Sequence[Any]]) -> None:
        """Set ``columns`` of the rows whose ``key`` is each row's first value (key type first)."""
        if not rows:
            return
        if self._db.dialect == "postgres":
            if len(rows) == 1:  # a request's own row: typed scalars (see _ONE_ROW)
                sets = ", ".join(f"{c} = %s::{t}" for c, t in zip(columns, types[1:],
                                                                 strict=True))
                self._run(f"UPDATE {{s}}{table} SET {sets} WHERE {key} = %s::{types[0]}",
                          [*rows[0][1:], rows[0][0]], 1)
                return
            arrays = ", ".join(f"%b::{t}[]" for t in types)  # binary arrays: no escaping
            sets = ", ".join(f"{c} = v.{c}" for c in columns)
            self._run(f"UPDATE {{s}}{table} AS t SET {sets} FROM unnest({arrays})"
                      f" AS v({key}, {', '.join(columns)}) WHERE t.{key} = v.{key}",
                      binary_columns(types, rows), len(rows))
        else:
            sets = ", ".join(f"{c} = %s" for c in columns)
            self.executemany(f"UPDATE {{s}}{table} SET {sets} WHERE {key} = %s",
                             [(*row[1:], row[0]) for row in rows])

    def select_in(self, sql: str, column: str, values: Sequence[Any]) -> list[dict[str, Any]]:
        """Rows of ``sql`` (ending in WHERE or AND) whose ``column`` is one of ``values``."""
        values = list(values)
        if not values:
            return []
        if self._db.dialect == "postgres":
            if len(values) == 1:  # a command's own row: a scalar (see _ONE_ROW)
                return self.execute(f"{sql} {column} = %s", values).fetchall()
            return self.execute(f"{sql} {column} = ANY(%s)", (values,)).fetchall()
        found: list[dict[str, Any]] = []
        for start in range(0, len(values), 500):  # SQLite's host-parameter limit
            chunk = values[start:start + 500]
            found += self.execute(f"{sql} {column} IN ({', '.join(['%s'] * len(chunk))})",
                                  chunk).fetchall()
        return found

    def _run(self, sql: str, params: Sequence[Any], rows: int) -> None:
        statement = self._db.render(sql)
        counter = _counted.get()
        if counter is not None:
            counter[0] += 1
            self._raw.execute(statement, tuple(params), binary=True)
            return
        with _tracer.start_as_current_span(
            "SQL " + statement.split(None, 1)[0].upper(),
            attributes={"db.system": self._db.dialect, "yorisoi.tenant": self._db.tenant,
                        "yorisoi.rows.count": rows},
        ):
            self._raw.execute(statement, tuple(params), binary=True)

    def fetchall(self) -> list[dict[str, Any]]:
        rows = self._raw.fetchall()
        # psycopg's dict_row hands out a new plain dict per row already; SQLite's
        # rows are sqlite3.Row (read-only, tied to the cursor) and are copied.
        if rows and type(rows[0]) is dict:
            return rows
        return [dict(row) for row in rows]

    def fetchone(self) -> dict[str, Any] | None:
        row = self._raw.fetchone()
        return dict(row) if row is not None else None

    @property
    def rowcount(self) -> int:
        return self._raw.rowcount

    @property
    def connection(self) -> Any:
        """The driver's connection this cursor runs on (psycopg or sqlite3)."""
        return self._raw.connection


# The connection of a unit of work that the event store joins (``Database.unit_of_work``),
# per datastore: the recorder's inserts and reads run on it instead of the pool.
_joined: ContextVar[dict[int, Any] | None] = ContextVar("yorisoi_joined_store", default=None)


def joined_connection(datastore: Any) -> Any | None:
    """The driver connection of the unit of work open on ``datastore`` in this context, if any."""
    joined = _joined.get()
    return None if joined is None else joined.get(id(datastore))


def declare_platform_lookup(pool: Any) -> None:
    """Connections of the registry's own pool declare the platform lookup for their session.

    The registry's event log (``platform_events``) is readable only under that
    declaration (row-level security, ``tenants/provisioning.py``): the
    application role on any other connection — a tenant's pool, a request's
    transaction scoped to one tenant — reads none of it.  Session-level is
    safe here, unlike a tenant scope: this pool serves the registry and
    nothing else, and its scope never changes.
    """
    configure = pool._configure  # noqa: SLF001 - psycopg_pool keeps the callback here

    def declared(conn: Any) -> None:
        if configure is not None:
            configure(conn)
        conn.execute(f"SELECT set_config('{LOOKUP_SETTING}', 'platform', false)")

    pool._configure = declared  # noqa: SLF001
    pool.drain()  # connections made before: replaced by declared ones


_BEGIN = {True: "BEGIN", False: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"}


@contextmanager
def _pipelined(conn: Any, write: bool) -> Iterator[Any]:
    """A transaction on a pooled (autocommit) connection, BEGIN and COMMIT inside one pipeline.

    psycopg's ``transaction()`` in pipeline mode nests two more pipelines around
    its BEGIN and COMMIT, and each nesting syncs: a round trip after BEGIN and
    one before COMMIT besides the one the commit needs.  Sent as statements of
    the pipeline, BEGIN travels with the first query and COMMIT with the last
    writes: measured on a catch-up-like transaction (two reads, four writes),
    ~110 µs less client CPU and ~60 µs less backend CPU, two round trips fewer
    (``bench/probe_two_processes.py`` puts a mutation at ~6 ms of CPU).  On
    any error the pipeline is synced and the transaction rolled back.
    """
    raw = conn.cursor()
    failed = True
    try:
        with conn.pipeline():
            raw.execute(_BEGIN[write])
            yield raw
            raw.execute("COMMIT")
            failed = False
    finally:
        if failed and conn.info.transaction_status != TransactionStatus.IDLE:
            try:
                conn.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - a broken connection: the pool must not reuse it
                conn.close()


def _reset_read_only(conn: Any) -> None:
    """Back to the pool's defaults, or out of the pool: a pooled connection left
    READ ONLY would begin the next borrower's write transaction read-only."""
    try:
        conn.isolation_level = None
        conn.read_only = None
    except Exception:  # noqa: BLE001 - a broken connection: the pool must not reuse it
        conn.close()


@lru_cache(maxsize=4096)
def _render(sql: str, dialect: Dialect, prefix: str, events: str) -> str:
    text = sql.replace("{events}", prefix + events).replace("{s}", prefix).replace(
        "{bytes}", "BLOB" if dialect == "sqlite" else "BYTEA")
    return text.replace("%s", "?") if dialect == "sqlite" else text


class Database:
    """SQL access to one tenant's schema (or the platform's), through its datastore."""

    def __init__(self, datastore: Any, dialect: Dialect, schema: str | None,
                 tenant: str) -> None:
        self.datastore = datastore
        self.dialect: Dialect = dialect
        self.schema = schema
        self.tenant = tenant
        self._prefix = f'"{schema}".' if dialect == "postgres" and schema else ""
        # The event store's table (named by the library after the application).
        self.events_table = "stored_events"
        # True where the pool's sessions carry a scope of their own (the registry's:
        # declare_platform_lookup): every transaction then declares both settings, so
        # one scoped to a tenant (or to nothing) does not inherit the session's lookup.
        self.declares_every_setting = False
        if dialect == "postgres" and hasattr(datastore, "pool"):
            # The pool the library made: checked connections, short timeouts, and the
            # "database is down" circuit in front of it (outages answer fast, 503).
            from yorisoi.infra.outages import guard_datastore

            guard_datastore(datastore)

    def render(self, sql: str) -> str:
        return _render(sql, self.dialect, self._prefix, self.events_table)

    @contextmanager
    def transaction(self, *, write: bool = True, tenant: str | None = None,
                    lookup: Literal["platform"] | None = None,
                    pipeline: bool = False) -> Iterator[Cursor]:
        """A transaction: committed on success, rolled back on any exception.

        Read-only transactions see one snapshot (REPEATABLE READ on PostgreSQL,
        a WAL read transaction on SQLite), so a count and a page agree.  Inside
        an open transaction on the same database, a nested one joins it.

        ``tenant`` / ``lookup`` declare the transaction's scope to row-level
        security on PostgreSQL (``platform`` tables show only that tenant's
        rows, or all rows for a platform lookup); SQLite has no such policies
        (one file per space) and ignores them.

        ``pipeline`` (PostgreSQL, a new transaction only) sends statements
        without waiting for each one's answer: a statement whose rows are
        fetched waits for everything before it, the others cost no round
        trip.  An error surfaces at the next fetch or at commit at the
        latest, and the whole transaction rolls back as usual; ``rowcount``
        is not known before a fetch.  For batches of writes (projections).
        """
        scope: Scope = tuple((name, value) for name, value in (
            (TENANT_SETTING, tenant), (LOOKUP_SETTING, lookup)) if value is not None)
        outer = (_open.get() or {}).get(id(self))
        if outer is not None and (outer[1] or not write):
            if scope == outer[2] or self.dialect != "postgres":
                yield outer[0]
                return
            # A nested scope holds for the nested block only, then the outer's returns.
            self._declare(outer[0], scope, clear=True)
            yield outer[0]
            self._declare(outer[0], outer[2], clear=True)
            return
        with self._new_transaction(write, scope, pipeline) as cursor:
            opened = dict(_open.get() or {})
            opened[id(self)] = (cursor, write, scope)
            token = _open.set(opened)
            try:
                yield cursor
            finally:
                _open.reset(token)

    @contextmanager
    def unit_of_work(self) -> Iterator[Cursor]:
        """A write transaction that the event store joins: its events commit with it or not at all.

        Inside, the recorder's inserts and reads run on this transaction's
        connection (each insert in a savepoint of its own, so a refused insert
        — a stale read the command runner retries — leaves the rest intact),
        and rows written through the cursor commit in the same transaction as
        the events: what exactly-once writes need (``services/idempotency.py``).
        """
        with self.transaction() as cursor:
            opened = dict(_joined.get() or {})
            opened[id(self.datastore)] = cursor.connection
            token = _joined.set(opened)
            try:
                yield cursor
            finally:
                _joined.reset(token)

    def in_transaction(self) -> bool:
        """Whether this context has a transaction open on this database (reads join it)."""
        return (_open.get() or {}).get(id(self)) is not None

    def select(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of one SELECT, read in a snapshot of its own.

        A single statement sees one snapshot whatever the isolation level, so
        a statement that reads a count and a page together needs no
        transaction around it: on PostgreSQL it runs alone on the pool's
        autocommit connection, one round trip, instead of BEGIN … COMMIT
        (a REPEATABLE READ transaction costs two more).  Inside an open
        transaction on this database it joins that one, as a nested
        ``transaction(write=False)`` does.  No scope is declared: not for ``platform`` tables under
        row-level security, which read through ``transaction(tenant=…)``.
        """
        if self.dialect != "postgres" or self.in_transaction():
            with self.transaction(write=False) as cursor:
                return cursor.execute(sql, params).fetchall()
        with self.datastore.get_connection() as conn:
            if not conn.autocommit:  # not the pool we know: keep the statement's own BEGIN
                with conn.transaction():
                    return Cursor(conn.cursor(), self).execute(sql, params).fetchall()
            return Cursor(conn.cursor(), self).execute(sql, params).fetchall()

    @contextmanager
    def alone(self) -> Iterator[Cursor]:
        """A cursor for one write statement that is a transaction of its own.

        On PostgreSQL, outside any open transaction, the statement runs on the
        pool's autocommit connection: one round trip instead of BEGIN, the
        statement and COMMIT.  Only for a single statement with no tenant scope
        to declare (one statement commits or fails whole).  Inside an open
        transaction, or on SQLite, it is an ordinary (nested) write transaction.
        """
        if self.dialect != "postgres" or self.in_transaction():
            with self.transaction() as cursor:
                yield cursor
            return
        with self.datastore.get_connection() as conn:
            if not conn.autocommit:  # not the pool we know: keep the statement's own BEGIN
                with conn.transaction():
                    yield Cursor(conn.cursor(), self)
                return
            yield Cursor(conn.cursor(), self)

    def _declare(self, cursor: Cursor, scope: Scope, *, clear: bool = False) -> None:
        values = dict(scope)
        names = (TENANT_SETTING, LOOKUP_SETTING) if clear else tuple(values)
        if names:
            cursor.execute("SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
                           [p for name in names for p in (name, values.get(name, ""))])

    @contextmanager
    def _new_transaction(self, write: bool, scope: Scope,
                         pipeline: bool = False) -> Iterator[Cursor]:
        if self.dialect == "postgres":
            with self.datastore.get_connection() as conn:
                if (pipeline or not write) and conn.autocommit:
                    with _pipelined(conn, write) as raw:
                        cursor = Cursor(raw, self)
                        self._declare(cursor, scope, clear=self.declares_every_setting)
                        yield cursor
                    return
                if not write:
                    # One "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" instead of
                    # BEGIN and SET TRANSACTION (client-side settings, no round trip).
                    conn.isolation_level = IsolationLevel.REPEATABLE_READ
                    conn.read_only = True
                try:
                    # Read-only transactions end in COMMIT too: a ROLLBACK makes psycopg
                    # discard the connection's prepared statements (DEALLOCATE ALL).
                    # They are pipelined as well: BEGIN, the scope's set_config and the
                    # first query travel together (two round trips, not four).
                    with (conn.pipeline() if pipeline or not write else nullcontext()), \
                            conn.transaction():
                        cursor = Cursor(conn.cursor(), self)
                        self._declare(cursor, scope, clear=self.declares_every_setting)
                        yield cursor
                finally:
                    if not write:
                        _reset_read_only(conn)
            return
        with self.datastore.get_connection(commit=write) as conn:
            raw = conn.cursor().sqlite_cursor  # the plain sqlite3 cursor has rowcount
            # IMMEDIATE takes the write lock up front, so two writers (a server
            # and a worker) never both read a projection position and race.
            raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Cursor(raw, self)
            except BaseException:
                conn.rollback()
                raise
            if write:
                conn.commit()
            else:
                conn.rollback()
