"""The database side of tenant bundles: every statement export, import and restore run.

``services/bundles`` holds the workflow (what is verified, in which order, what a
failure undoes); this adapter holds the SQL and the database-level copies it needs —
whether a space exists, dropping it whole, loading a bundle's rows (``COPY`` of the
log on PostgreSQL, batched inserts elsewhere, the serial sequences moved past the
loaded ids), registry events added under the library's ordering lock, the pages an
export reads, and a space replaced from a SQLite file or a ``pg_dump`` archive.

Table names are this module's own constants, never input; values are parameters.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

from yorisoi.infra.db import Database

BATCH = 1000

HOUSEHOLD_KEY_COLUMNS = ("household_id", "wrapped_key", "created_at", "destroyed_at")
# On SQLite the authorisation rows are loaded whole; PostgreSQL derives the rest of each
# row from the batch's events (its trigger) and takes only the two ids.
AUTHORISATION_COLUMNS_SQLITE = ("batch_id", "household_id", "proposed_by", "approved_by",
                                "authorised_at", "txid")
AUTHORISATION_COLUMNS_POSTGRES = ("batch_id", "household_id")


class SpaceCopyError(Exception):
    """A database-level copy could not be restored (``detail``: the tool's own words,
    which name objects, never row values)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PgRestoreMissingError(SpaceCopyError):
    """``pg_restore`` is neither on PATH nor named by ``YORISOI_PG_RESTORE``."""

    def __init__(self) -> None:
        super().__init__("pg_restore is not on PATH (set YORISOI_PG_RESTORE).")


# --------------------------------------------------------------------------- spaces


def _admin_connection(settings: Any) -> Any:
    import psycopg

    return psycopg.connect(host=settings.pg_host, port=settings.pg_port,
                           dbname=settings.pg_dbname, user=settings.pg_admin_user,
                           password=settings.pg_admin_password.get_secret_value(),
                           autocommit=True)


def space_exists(settings: Any, space: str, platform_db: Database) -> bool:
    """Whether the space (a PostgreSQL schema, a SQLite file) is there."""
    if settings.backend == "sqlite":
        return (settings.sqlite_dir / f"{space}.sqlite").exists()
    with platform_db.transaction(write=False) as cur:
        # pg_namespace, not information_schema: the latter hides schemas the role may not use.
        return cur.execute("SELECT 1 AS one FROM pg_catalog.pg_namespace WHERE nspname = %s",
                           (space,)).fetchone() is not None


def drop_space(settings: Any, space: str) -> None:
    """Remove a municipality's space whole (a failed import, or before a restore)."""
    if settings.backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            (settings.sqlite_dir / f"{space}.sqlite{suffix}").unlink(missing_ok=True)
        return
    from psycopg import sql

    with _admin_connection(settings) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(space)))


def copy_sqlite_space(source: Path, target: Path) -> None:
    """Replace a SQLite space file with a copy of ``source``.

    SQLite's backup API writes the copy *through* the target's own locks and journal:
    a consistent image, whatever connection (a server, a worker) still has it open.
    """
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as origin, \
            sqlite3.connect(target, timeout=30) as restored:
        origin.backup(restored)


def pg_restore_space(settings: Any, space: str, source: Path) -> None:
    """Replace a schema with the one in a custom-format ``pg_dump`` archive."""
    binary = shutil.which("pg_restore") or os.environ.get("YORISOI_PG_RESTORE", "")
    if not binary:
        raise PgRestoreMissingError()
    from psycopg import sql

    drop_space(settings, space)
    # pg_restore --schema restores the schema's objects, not the schema itself.
    with _admin_connection(settings) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(space)))
    env = {**os.environ, "PGPASSWORD": settings.pg_admin_password.get_secret_value()}
    done = subprocess.run([binary, "--host", settings.pg_host, "--port", str(settings.pg_port),
                           "--username", settings.pg_admin_user, "--dbname", settings.pg_dbname,
                           "--schema", space, "--no-owner", "--exit-on-error", str(source)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SpaceCopyError(f"pg_restore failed: {without_row_values(done.stderr)[-300:]}")


# PostgreSQL quotes rows in its DETAIL and CONTEXT lines ("Key (household_id)=(…) already
# exists", "COPY access_log, line 3: …"), and an ERROR line may end with the value it
# refused ('invalid input syntax for type uuid: "…"'); object names stay (relation "x").
_ROW_LINE = re.compile(r"(?:pg_restore: )?(?:DETAIL|CONTEXT|HINT|QUERY|LINE \d+):")
_REFUSED_VALUE = re.compile(r':\s*"[^"]*"?')


def without_row_values(stderr: str) -> str:
    """A database tool's error output with the lines and quotes that carry row values removed."""
    lines = [line for line in stderr.splitlines() if not _ROW_LINE.match(line.strip())]
    return _REFUSED_VALUE.sub(': "…"', "\n".join(lines)).strip()


# --------------------------------------------------------------------------- loading


def insert_rows(db: Database, table: str, columns: tuple[str, ...],
                rows: Iterable[tuple[Any, ...]]) -> int:
    """Insert ``rows`` into ``{s}<table>`` in batches, in one transaction; the count."""
    sql = (f"INSERT INTO {{s}}{table} ({', '.join(columns)})"
           f" VALUES ({', '.join(['%s'] * len(columns))})")
    total, batch = 0, []
    with db.transaction() as cur:
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH:
                cur.executemany(sql, batch)
                total += len(batch)
                batch.clear()
        cur.executemany(sql, batch)
    return total + len(batch)


def _move_serial_past(cur: Any, table: str, column: str) -> None:
    """The serial column's sequence after the largest loaded id (new rows follow on)."""
    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f" GREATEST((SELECT MAX({column}) FROM {table}), 1))")


def load_events(db: Database, events: Iterator[tuple[int, str, int, str, bytes]]) -> int:
    """Stored events with their notification ids: (id, originator, version, topic, state)."""
    if db.dialect == "sqlite":
        # The library stores an originator id as 32 hex digits on SQLite.
        return insert_rows(db, "stored_events",
                           ("rowid", "originator_id", "originator_version", "topic", "state"),
                           ((i, UUID(o).hex, v, t, s) for i, o, v, t, s in events))
    table = db.render("{events}")
    total = 0
    with db.transaction() as cur:
        with cur.connection.cursor().copy(
                f"COPY {table} (notification_id, originator_id, originator_version, topic,"
                " state) FROM STDIN") as copy:
            for row in events:
                copy.write_row((row[0], UUID(row[1]), row[2], row[3], row[4]))
                total += 1
        _move_serial_past(cur, table, "notification_id")
    return total


def load_access_log(db: Database, columns: tuple[str, ...],
                    rows: Iterable[tuple[Any, ...]]) -> int:
    """Access-log rows as stored: ``entry_id`` first, then ``columns``."""
    total = insert_rows(db, "access_log", ("entry_id", *columns), rows)
    if db.dialect == "postgres":
        with db.transaction() as cur:
            _move_serial_past(cur, db.render("{s}access_log"), "entry_id")
    return total


def load_household_keys(db: Database, rows: Iterable[tuple[Any, ...]]) -> int:
    """(household id, wrapped key or None when destroyed, created at, destroyed at)."""
    return insert_rows(db, "household_keys", HOUSEHOLD_KEY_COLUMNS, rows)


def load_disposal_authorisations(db: Database, records: list[dict[str, Any]]) -> int:
    columns = (AUTHORISATION_COLUMNS_POSTGRES if db.dialect == "postgres"
               else AUTHORISATION_COLUMNS_SQLITE)
    return insert_rows(db, "disposal_authorisations", columns,
                       (tuple(r.get(c) for c in columns) for r in records))


def add_registry_events(platform: Database,
                        by_aggregate: dict[str, list[tuple[int, str, bytes]]]
                        ) -> tuple[int, int]:
    """Each aggregate's events (version, topic, state) unless the registry holds it already.

    Returns (aggregates added, aggregates kept as they were here).
    """
    added = kept = 0
    postgres = platform.dialect == "postgres"
    with platform.transaction(lookup="platform") as cur:
        if postgres:  # the library's ordering lock: notification ids commit in order
            cur.execute("LOCK TABLE {events} IN EXCLUSIVE MODE")
        for originator, events in by_aggregate.items():
            key = originator if postgres else UUID(originator).hex
            if cur.execute("SELECT 1 AS one FROM {events} WHERE originator_id = %s LIMIT 1",
                           (key,)).fetchone():
                kept += 1
                continue
            cur.executemany(
                "INSERT INTO {events} (originator_id, originator_version, topic, state)"
                " VALUES (%s, %s, %s, %s)",
                [(key, version, topic, state) for version, topic, state in events])
            added += 1
    return added, kept


# --------------------------------------------------------------------------- exporting


def household_keys_after(cur: Any, after: str, limit: int) -> list[dict[str, Any]]:
    """A page of household key rows by household id (an export reads them all so)."""
    return cur.execute(
        f"SELECT {', '.join(HOUSEHOLD_KEY_COLUMNS)} FROM {{s}}household_keys"
        " WHERE household_id > %s ORDER BY household_id LIMIT %s", (after or "", limit)
    ).fetchall()


def disposal_authorisations(db: Database) -> list[dict[str, Any]]:
    with db.transaction(write=False) as cur:
        return cur.execute("SELECT * FROM {s}disposal_authorisations"
                           " ORDER BY batch_id, household_id").fetchall()


def newest_live_household_key(db: Database) -> dict[str, Any] | None:
    """The most recently made household key that is not destroyed (a readiness probe's
    sample: if the tenant key opens it, the tenant key is the one this space needs)."""
    with db.transaction(write=False) as cur:
        return cur.execute("SELECT household_id, wrapped_key FROM {s}household_keys"
                           " WHERE wrapped_key IS NOT NULL ORDER BY created_at DESC LIMIT 1"
                           ).fetchone()
