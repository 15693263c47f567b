"""Columns added to a read model's table after spaces were provisioned with it.

Provisioning's DDL is idempotent (``CREATE … IF NOT EXISTS``) and so creates
new tables in existing spaces, but not new columns of existing tables.  A view
that gains a column lists it here; ``yorisoi tenant upgrade`` (and the embedded
``serve``) adds the missing ones to every space before re-running the DDL (whose
indexes may name them).  A column is added empty (NULL): views list only columns
whose value older events did not have either (the reception number: cases
opened before numbers were given have none), so no rebuild is needed.

Both backends: PostgreSQL's ``ADD COLUMN IF NOT EXISTS``; SQLite has no such
guard, so the table's columns are read first (``PRAGMA table_info``).
"""

from __future__ import annotations

from yorisoi.infra.db import Database
from yorisoi.projections.case_view import CASE_VIEW_ADDED_COLUMNS

# (table, column, SQL type) — every view's added columns.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (*CASE_VIEW_ADDED_COLUMNS,)


def add_missing_columns(db: Database,
                        columns: tuple[tuple[str, str, str], ...] = ADDED_COLUMNS) -> list[str]:
    """Add the listed columns a space's tables lack (tables not there yet are left to the DDL).

    Returns ``table.column`` of what was added.  Run as the schema owner.
    """
    added = []
    with db.transaction() as cur:
        for table, column, sql_type in columns:
            present = _columns(cur, db, table)
            if present is None or column in present:
                continue
            if db.dialect == "postgres":
                cur.execute(f"ALTER TABLE {{s}}{table} ADD COLUMN IF NOT EXISTS {column} {sql_type}")
            else:
                cur.execute(f"ALTER TABLE {{s}}{table} ADD COLUMN {column} {sql_type}")
            added.append(f"{table}.{column}")
    return added


def _columns(cur, db: Database, table: str) -> set[str] | None:  # noqa: ANN001 - infra Cursor
    """The table's column names, or None when the table does not exist."""
    if db.dialect == "postgres":
        rows = cur.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s", (db.schema, table)).fetchall()
        names = {row["column_name"] for row in rows}
    else:
        names = {row["name"] for row in cur.execute(f"PRAGMA table_info({table})").fetchall()}
    return names or None
