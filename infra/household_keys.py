"""The ``household_keys`` table: wrapped household data keys and the proof of their destruction.

Only SQL lives here; what the keys mean (wrapping, caching, refusing writes
after disposal) is ``services/personal_data.HouseholdKeyring``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from yorisoi.infra.db import Database

HOUSEHOLD_KEYS_DDL = (
    "CREATE TABLE IF NOT EXISTS {s}household_keys ("
    " household_id TEXT PRIMARY KEY,"
    " wrapped_key {bytes},"  # NULL once destroyed: the proof that the key is gone
    " created_at TEXT NOT NULL,"
    " destroyed_at TEXT)"
)

# Not yet stored, stored, destroyed.
MISSING = object()


class HouseholdKeyStore:
    """Rows of one space's ``household_keys`` table."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def wrapped(self, household_id: UUID) -> bytes | None | object:
        """The wrapped key, None once destroyed, or MISSING when never stored."""
        with self.db.transaction(write=False) as cur:
            row = cur.execute(
                "SELECT wrapped_key FROM {s}household_keys WHERE household_id = %s",
                (str(household_id),),
            ).fetchone()
        if row is None:
            return MISSING
        return None if row["wrapped_key"] is None else bytes(row["wrapped_key"])

    def insert(self, household_id: UUID, wrapped: bytes) -> None:
        """Store a new wrapped key; a concurrent writer's row wins (no error)."""
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO {s}household_keys (household_id, wrapped_key, created_at) "
                "VALUES (%s, %s, %s) ON CONFLICT (household_id) DO NOTHING",
                (str(household_id), wrapped, datetime.now(UTC).isoformat()),
            )

    def destroy(self, household_id: UUID) -> bool:
        """Set the wrapped key to NULL and record when. True if a live key was destroyed."""
        with self.db.transaction() as cur:
            return cur.execute(
                "UPDATE {s}household_keys SET wrapped_key = NULL, destroyed_at = %s "
                "WHERE household_id = %s AND wrapped_key IS NOT NULL",
                (datetime.now(UTC).isoformat(), str(household_id)),
            ).rowcount > 0
