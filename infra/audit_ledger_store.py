"""The ``audit_ledger`` and ``audit_checkpoints`` tables, and reads of what the ledger chains.

Only SQL lives here; the chain's format, the chainer and verification are
``services/audit_ledger.py`` and ``services/audit_verify.py``.  Both tables
are append-only (a trigger refuses UPDATE and DELETE, as for events and the
access log): the application role may only add to them.  The sources the
ledger chains are the events table (by notification id: ``notification_id``
on PostgreSQL, ``rowid`` on SQLite) and ``access_log`` (by ``entry_id``).

The platform's space holds the same two tables for the registry's events
(``platform_events``; no access log there), with one more column, ``scope``:
the tenants each registry entry concerns, chained with the entry so that a
municipality's verification checks the registry entries it depends on.  They
are created by :func:`platform_ledger_ddl` (``yorisoi platform init``) under
the platform's row-level security: rows are visible only to a platform-wide
lookup, which every transaction here declares (:func:`ledger_transaction`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from yorisoi.infra.db import Cursor, Database, SpaceTables

LEDGER_COLUMNS = ("sequence", "kind", "source_id", "source_sha256", "chained_at",
                  "prev_hash", "entry_hash")
SCOPED_LEDGER_COLUMNS = (*LEDGER_COLUMNS, "scope")
# The platform space's name (tenants/spaces.PLATFORM_SPACE; not imported: tenants imports this).
PLATFORM_LEDGER = "platform"


@contextmanager
def ledger_transaction(db: Database, *, write: bool = True) -> Iterator[Cursor]:
    """A transaction on ``db`` that may see its ledger rows.

    The platform's tables are under row-level security on PostgreSQL: the
    registry ledger is read and written as a platform-wide lookup (a
    municipality's space has no such policy and needs no scope).
    """
    lookup = "platform" if db.tenant == PLATFORM_LEDGER else None
    with db.transaction(write=write, lookup=lookup) as cur:
        yield cur


def _append_only(dialect: str, table: str) -> list[str]:
    if dialect == "postgres":
        return [
            f"CREATE OR REPLACE FUNCTION {{s}}forbid_{table}_change() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            f" RAISE EXCEPTION '{table} is append-only'; END $$",
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {{s}}{table}",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {{s}}{table}"
            f" FOR EACH ROW EXECUTE FUNCTION {{s}}forbid_{table}_change()",
        ]
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}"
        f" BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}"
        f" BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
    ]


def _ddl(dialect: str, *, scoped: bool = False) -> list[str]:
    return [
        # (kind, source_id) is unique: a source enters the chain once; its index
        # also answers "how far has each kind been chained" without a scan.
        # ``scope`` (platform only): JSON list of the tenants an entry concerns.
        "CREATE TABLE IF NOT EXISTS {s}audit_ledger ("
        " sequence BIGINT PRIMARY KEY,"
        " kind TEXT NOT NULL CHECK (kind IN ('event', 'access')),"
        " source_id BIGINT NOT NULL,"
        " source_sha256 TEXT NOT NULL,"
        " chained_at TEXT NOT NULL,"
        " prev_hash TEXT NOT NULL,"
        " entry_hash TEXT NOT NULL,"
        + (" scope TEXT NOT NULL," if scoped else "")
        + " UNIQUE (kind, source_id))",
        # Which checkpoints were written: verification notices one missing from storage.
        "CREATE TABLE IF NOT EXISTS {s}audit_checkpoints ("
        " sequence BIGINT PRIMARY KEY,"
        " head_hash TEXT NOT NULL,"
        " object_key TEXT NOT NULL,"
        " version_id TEXT,"
        " created_at TEXT NOT NULL)",
        *_append_only(dialect, "audit_ledger"),
        *_append_only(dialect, "audit_checkpoints"),
    ]


AUDIT_LEDGER_TABLES = SpaceTables("audit_ledger", _ddl)

# Visible (and writable) only inside a platform-wide lookup: the ledger holds no
# personal value, but nothing a tenant's request does needs it either.
_PLATFORM_LOOKUP = "current_setting('yorisoi.lookup', true) = 'platform'"


def platform_ledger_ddl(dialect: str) -> list[str]:
    """The registry's ledger and checkpoint records in the platform space (idempotent)."""
    statements = _ddl(dialect, scoped=True)
    if dialect == "postgres":
        for table in ("audit_ledger", "audit_checkpoints"):
            statements += [
                f"ALTER TABLE {{s}}{table} ENABLE ROW LEVEL SECURITY",
                f"ALTER TABLE {{s}}{table} FORCE ROW LEVEL SECURITY",
                f"DROP POLICY IF EXISTS platform_lookup ON {{s}}{table}",
                f"CREATE POLICY platform_lookup ON {{s}}{table}"
                f" USING ({_PLATFORM_LOOKUP}) WITH CHECK ({_PLATFORM_LOOKUP})",
            ]
    return statements


class AuditLedgerStore:
    """SQL over one space's ledger, checkpoint records and chained sources."""

    def __init__(self, database: Database) -> None:
        self.db = database
        # The platform's space chains its events only (it has no access log),
        # and its entries carry their scope.
        self.platform = database.tenant == PLATFORM_LEDGER
        self.columns = SCOPED_LEDGER_COLUMNS if self.platform else LEDGER_COLUMNS
        postgres = database.dialect == "postgres"
        self._event_key = "notification_id" if postgres else "rowid"
        self._events = (f"SELECT {self._event_key} AS id, originator_id, originator_version,"
                        " topic, state FROM {events}")

    # -- the chainer's lock ----------------------------------------------------

    def lock(self, cur: Cursor) -> None:
        """Serialise chainers of this space until the transaction ends.

        PostgreSQL: a transaction-scoped advisory lock (the app role may not
        lock the ledger table itself).  SQLite: the transaction already holds
        the write lock (``BEGIN IMMEDIATE``).
        """
        if self.db.dialect == "postgres":
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                        (f"yorisoi.audit_ledger:{self.db.schema}",))

    # -- the ledger -------------------------------------------------------------

    def head(self, cur: Cursor, *, at_most: int | None = None) -> tuple[int, str | None]:
        """(sequence, entry hash) of the last entry; (0, None) when empty."""
        sql = "SELECT sequence, entry_hash FROM {s}audit_ledger"
        params: tuple[Any, ...] = ()
        if at_most is not None:
            sql, params = sql + " WHERE sequence <= %s", (at_most,)
        row = cur.execute(sql + " ORDER BY sequence DESC LIMIT 1", params).fetchone()
        return (int(row["sequence"]), row["entry_hash"]) if row else (0, None)

    def state(self, cur: Cursor) -> dict[str, Any]:
        """The head (sequence, hash), the last source chained and the last stored, per kind.

        One round trip: the chainer runs after every command.
        """
        row = cur.execute(
            "SELECT h.sequence, h.entry_hash,"
            " (SELECT MAX(source_id) FROM {s}audit_ledger WHERE kind = 'event') AS event,"
            " (SELECT MAX(source_id) FROM {s}audit_ledger WHERE kind = 'access') AS access,"
            f" (SELECT MAX({self._event_key}) FROM {{events}}) AS event_head,"
            + (" 0 AS access_head" if self.platform
               else " (SELECT MAX(entry_id) FROM {s}access_log) AS access_head")
            + " FROM (SELECT 1 AS one) o LEFT JOIN (SELECT sequence, entry_hash"
            " FROM {s}audit_ledger ORDER BY sequence DESC LIMIT 1) h ON TRUE").fetchone()
        assert row is not None
        return {key: (row[key] if key == "entry_hash" else int(row[key] or 0)) for key in row}

    def chained_up_to(self, cur: Cursor, kind: str, *, at_most: int | None = None) -> int:
        """The highest source id of ``kind`` in the ledger (0 when none)."""
        sql = "SELECT MAX(source_id) AS m FROM {s}audit_ledger WHERE kind = %s"
        params: tuple[Any, ...] = (kind,)
        if at_most is not None:
            sql, params = sql + " AND sequence <= %s", (kind, at_most)
        row = cur.execute(sql, params).fetchone()
        return int(row["m"] or 0) if row else 0

    def append(self, cur: Cursor, rows: Sequence[Sequence[Any]]) -> None:
        cur.executemany(f"INSERT INTO {{s}}audit_ledger ({', '.join(self.columns)})"
                        f" VALUES ({', '.join(['%s'] * len(self.columns))})", rows)

    def scopes(self, cur: Cursor, *, up_to: int) -> list[str]:
        """Every entry's scope (JSON text) up to ``up_to``: the registry entries a tenant needs."""
        return [r["scope"] for r in cur.execute(
            "SELECT scope FROM {s}audit_ledger WHERE sequence <= %s", (up_to,)).fetchall()]

    def entries(self, cur: Cursor, *, after: int, up_to: int, limit: int) -> list[dict[str, Any]]:
        return cur.execute(
            "SELECT * FROM {s}audit_ledger WHERE sequence > %s AND sequence <= %s"
            " ORDER BY sequence LIMIT %s", (after, up_to, limit)).fetchall()

    # -- sources ----------------------------------------------------------------

    def events_after(self, cur: Cursor, position: int, limit: int) -> list[dict[str, Any]]:
        return cur.execute(self._events + f" WHERE {self._event_key} > %s"
                           f" ORDER BY {self._event_key} LIMIT %s", (position, limit)).fetchall()

    def access_after(self, cur: Cursor, position: int, limit: int) -> list[dict[str, Any]]:
        return cur.execute("SELECT * FROM {s}access_log WHERE entry_id > %s"
                           " ORDER BY entry_id LIMIT %s", (position, limit)).fetchall()

    def first_event(self, cur: Cursor, originator_id: Any) -> dict[str, Any] | None:
        """An aggregate's first stored event (it names whom the aggregate concerns)."""
        return cur.execute(self._events + " WHERE originator_id = %s AND originator_version = 1",
                           (originator_id,)).fetchone()

    def written_at(self, cur: Cursor, kind: str, after: int, limit: int) -> list[tuple[int, Any]]:
        """(source id, what tells when it was written) of sources beyond ``after``.

        Access rows: ``recorded_at``; events: the stored state (its ``timestamp``).
        """
        if kind == "event":
            rows = self.events_after(cur, after, limit)
            return [(int(r["id"]), bytes(r["state"])) for r in rows]
        if self.platform:
            return []
        return [(int(r["entry_id"]), r["recorded_at"]) for r in cur.execute(
            "SELECT entry_id, recorded_at FROM {s}access_log WHERE entry_id > %s"
            " ORDER BY entry_id LIMIT %s", (after, limit)).fetchall()]

    def events_by_id(self, cur: Cursor, ids: Sequence[int], width: int) -> dict[int, dict[str, Any]]:
        where, params = self._any(self._event_key, ids, width)
        return {int(r["id"]): r for r in cur.execute(self._events + where, params).fetchall()}

    def access_by_id(self, cur: Cursor, ids: Sequence[int], width: int) -> dict[int, dict[str, Any]]:
        if self.platform:
            return {}
        where, params = self._any("entry_id", ids, width)
        return {int(r["entry_id"]): r for r in cur.execute(
            "SELECT * FROM {s}access_log" + where, params).fetchall()}

    def _any(self, key: str, ids: Sequence[int], width: int) -> tuple[str, list[Any]]:
        # PostgreSQL: one array parameter (a thousand placeholders cost more to
        # parse and plan than the rows cost to read).  SQLite: a list padded to
        # ``width``, so every batch reuses one statement text.
        if self.db.dialect == "postgres":
            return f" WHERE {key} = ANY(%s)", [list(ids)]
        return f" WHERE {key} IN ({', '.join(['%s'] * width)})", _padded(ids, width)

    def unchained(self, cur: Cursor, kind: str, up_to: int, limit: int = 10) -> list[int]:
        """Sources of ``kind`` at or below ``up_to`` that the ledger does not hold."""
        if kind == "access" and self.platform:
            return []
        table, key = (("{events}", self._event_key) if kind == "event"
                      else ("{s}access_log", "entry_id"))
        rows = cur.execute(
            f"SELECT src.{key} AS id FROM {table} src WHERE src.{key} <= %s AND NOT EXISTS"
            " (SELECT 1 FROM {s}audit_ledger l WHERE l.kind = %s"
            f" AND l.source_id = src.{key}) ORDER BY src.{key} LIMIT %s",
            (up_to, kind, limit)).fetchall()
        return [int(r["id"]) for r in rows]

    def pending(self, cur: Cursor, kind: str, after: int) -> int:
        """How many sources of ``kind`` lie beyond ``after`` (not yet chained)."""
        if kind == "access" and self.platform:
            return 0
        table, key = (("{events}", self._event_key) if kind == "event"
                      else ("{s}access_log", "entry_id"))
        row = cur.execute(f"SELECT COUNT(*) AS n FROM {table} WHERE {key} > %s",
                          (after,)).fetchone()
        return int(row["n"]) if row else 0

    # -- checkpoint records -------------------------------------------------------

    def record_checkpoint(self, cur: Cursor, sequence: int, head_hash: str, object_key: str,
                          version_id: str | None, created_at: str) -> None:
        cur.execute("INSERT INTO {s}audit_checkpoints"
                    " (sequence, head_hash, object_key, version_id, created_at)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (sequence) DO NOTHING",
                    (sequence, head_hash, object_key, version_id, created_at))

    def checkpoints(self, cur: Cursor) -> list[dict[str, Any]]:
        return cur.execute("SELECT * FROM {s}audit_checkpoints ORDER BY sequence").fetchall()

    def last_checkpoint(self, cur: Cursor) -> dict[str, Any] | None:
        return cur.execute("SELECT * FROM {s}audit_checkpoints"
                           " ORDER BY sequence DESC LIMIT 1").fetchone()


def _padded(ids: Sequence[int], width: int) -> list[int]:
    """``ids`` repeated up to ``width`` values: one statement text for every batch."""
    if not ids:
        return [0] * width
    return [*ids, *([ids[-1]] * (width - len(ids)))]
