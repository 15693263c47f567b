"""The ``access_log`` table: one row per read of personal data (who, what, why), append-only.

Only SQL lives here; what is logged and when (batched per request) is
``services/personal_access.py``.  Rows are never updated or deleted (a
trigger refuses it, as for events) and hold no personal values: the household
and record ids, the *names* of the fields read, the grant or break-glass
reason id, and the request and trace ids.  The audit ledger chains every row
by ``entry_id`` through ``entry_bytes`` (the exact bytes hashed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from yorisoi.infra.db import Cursor, Database, SpaceTables
from yorisoi.infra.signing import canonical_json

COLUMNS = ("recorded_at", "actor", "role", "organisation_kind", "organisation_id",
           "contract_id", "household_id", "record_kind", "record_id", "fields", "basis",
           "basis_ref", "request_id", "trace_id", "channel")


@dataclass(frozen=True)
class AccessEntry:
    recorded_at: str  # ISO 8601, UTC
    actor: str
    role: str
    organisation_kind: str
    organisation_id: str
    contract_id: str | None
    household_id: str
    record_kind: str  # household | consultation | support_note | referral | meeting | ...
    record_id: str
    fields: tuple[str, ...]  # names only, never values
    basis: str  # grant | break_glass | system
    basis_ref: str | None  # the break-glass id when basis == break_glass
    request_id: str | None
    trace_id: str | None
    channel: str  # graphql | rest | export | console


def _ddl(dialect: str) -> list[str]:
    key = ("entry_id BIGSERIAL PRIMARY KEY" if dialect == "postgres"
           else "entry_id INTEGER PRIMARY KEY AUTOINCREMENT")
    columns = ", ".join(f"{c} TEXT" + ("" if c in {"contract_id", "basis_ref", "request_id",
                                                    "trace_id"} else " NOT NULL")
                        for c in COLUMNS)
    statements = [
        f"CREATE TABLE IF NOT EXISTS {{s}}access_log ({key}, {columns})",
        "CREATE INDEX IF NOT EXISTS access_log_household ON {s}access_log (household_id)",
        "CREATE INDEX IF NOT EXISTS access_log_actor ON {s}access_log (actor, recorded_at)",
        # Compliance queries (projections/compliance*.py): one record's reads, reads in a
        # period (after hours, bulk access), the reads under a break-glass or request
        # (partial: most rows have no basis_ref), and exports (partial: rare).
        "CREATE INDEX IF NOT EXISTS access_log_record ON {s}access_log (record_id)",
        "CREATE INDEX IF NOT EXISTS access_log_time ON {s}access_log (recorded_at)",
        "CREATE INDEX IF NOT EXISTS access_log_basis_ref ON {s}access_log (basis_ref)"
        " WHERE basis_ref IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS access_log_exports ON {s}access_log (recorded_at)"
        " WHERE channel = 'export'",
    ]
    if dialect == "postgres":
        statements += [
            "CREATE OR REPLACE FUNCTION {s}forbid_access_log_change() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            " RAISE EXCEPTION 'the access log is append-only'; END $$",
            "DROP TRIGGER IF EXISTS access_log_append_only ON {s}access_log",
            "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON {s}access_log"
            " FOR EACH ROW EXECUTE FUNCTION {s}forbid_access_log_change()",
        ]
    else:
        statements += [
            "CREATE TRIGGER IF NOT EXISTS access_log_no_update BEFORE UPDATE ON access_log"
            " BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END",
            "CREATE TRIGGER IF NOT EXISTS access_log_no_delete BEFORE DELETE ON access_log"
            " BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END",
        ]
    return statements


ACCESS_LOG_TABLES = SpaceTables("access_log", _ddl)


def entry_bytes(row: dict[str, Any]) -> bytes:
    """The bytes of a stored row that the audit ledger hashes (id included: order matters)."""
    return canonical_json({"entry_id": int(row["entry_id"]),
                           **{c: row[c] for c in COLUMNS}})


class AccessLogStore:
    """Appends and reads one space's access log."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def append(self, entries: Sequence[AccessEntry], cur: Cursor | None = None) -> None:
        if not entries:
            return
        rows = [[json.dumps(list(e.fields)) if c == "fields" else getattr(e, c)
                 for c in COLUMNS] for e in entries]
        if cur is not None:
            self._insert(cur, rows)
            return
        # Alone, one statement is its own transaction: no BEGIN/COMMIT round trips
        # on the request path (every answer that showed personal data ends here).
        with self.db.alone() as tx:
            self._insert(tx, rows)

    def _insert(self, cur: Cursor, rows: list[list[Any]]) -> None:
        names = ", ".join(COLUMNS)
        if len(rows) == 1:  # a command's answer read one record: the cursor's one-row insert
            cur.insert_many("access_log", COLUMNS, ("text",) * len(COLUMNS), rows)
            return
        if self.db.dialect == "postgres":
            # One statement per batch: executemany costs a round trip per row (30 ms
            # for a 150-read page, bench/bench_access_log.py).  One array per column
            # keeps the text the same for every batch size (prepared once), sent in
            # binary (%b: text-mode arrays are escaped element by element in Python,
            # 3 ms a page); the ordinality keeps entry ids in the batch's order.
            arrays = ", ".join(["%b::text[]"] * len(COLUMNS))
            cur.execute(f"INSERT INTO {{s}}access_log ({names}) SELECT {names}"
                        f" FROM unnest({arrays}) WITH ORDINALITY AS u({names}, n) ORDER BY n",
                        [list(column) for column in zip(*rows, strict=True)])
            return
        cur.executemany(f"INSERT INTO {{s}}access_log ({names})"
                        f" VALUES ({', '.join(['%s'] * len(COLUMNS))})", rows)

    def for_household(self, household_id: str) -> list[dict[str, Any]]:
        """One household's rows in entry order (a disclosure request shows them)."""
        with self.db.transaction(write=False) as cur:
            return cur.execute("SELECT * FROM {s}access_log WHERE household_id = %s"
                               " ORDER BY entry_id", (household_id,)).fetchall()

    def rows(self, *, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Rows in entry order (for the ledger and for compliance queries)."""
        with self.db.transaction(write=False) as cur:
            return cur.execute("SELECT * FROM {s}access_log WHERE entry_id > %s"
                               " ORDER BY entry_id LIMIT %s", (after, limit)).fetchall()
