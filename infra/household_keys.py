"""The ``household_keys`` table: wrapped household data keys and the proof of their destruction.

Only SQL lives here; what the keys mean (wrapping, caching, refusing writes
after disposal, re-wrapping when the tenant key rotates) is
``services/personal_data.HouseholdKeyring``.

Wrapping a new key and rotating the tenant key exclude each other through a
transaction-scoped advisory lock per space (shared for a new key, exclusive
for a rotation): a key wrapped under the old version while a rotation runs
would be left behind when that version is retired, and could never be opened
again.  (``LOCK TABLE`` would need table-wide UPDATE, which the application
role deliberately lacks.)  On SQLite a write transaction already excludes
every other writer.

**A key is destroyed only by the approved disposal batch that names it**
(PostgreSQL; ``tenants/provisioning.py`` installs the triggers).  Destroying
writes a ``disposal_authorisations`` row in the same transaction; a trigger on
that table checks the batch in the space's own (immutable) event log — a
proposal naming the household, an approval, by a second person where the batch
requires two — and a trigger on ``household_keys`` refuses setting
``wrapped_key`` to NULL unless such a row was written by the same transaction.
A stray ``UPDATE … SET wrapped_key = NULL`` by the application role is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from yorisoi.infra.db import Cursor, Database


class HouseholdKeyDestroyedError(Exception):
    """The household was disposed of: its personal data can no longer be written."""

    code = "household_disposed"
    message = "This household's records have been disposed of."
    message_ja = "この世帯の記録は廃棄済みです。"


HOUSEHOLD_KEYS_DDL = (
    "CREATE TABLE IF NOT EXISTS {s}household_keys ("
    " household_id TEXT PRIMARY KEY,"
    " wrapped_key {bytes},"  # NULL once destroyed: the proof that the key is gone
    " created_at TEXT NOT NULL,"
    " destroyed_at TEXT)"
)

# Which disposal batch authorised destroying which key (PostgreSQL checks each row
# against the batch's events; ``txid`` ties it to the destroying transaction).
DISPOSAL_AUTHORISATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS {s}disposal_authorisations ("
    " batch_id TEXT NOT NULL,"
    " household_id TEXT NOT NULL,"
    " proposed_by TEXT,"
    " approved_by TEXT,"
    " authorised_at TEXT,"
    " txid BIGINT,"
    " PRIMARY KEY (batch_id, household_id))"
)

_PROPOSED = "yorisoi.domain.disposal:DisposalBatch.Proposed"
_APPROVED = "yorisoi.domain.disposal:DisposalBatch.Approved"

# Not yet stored, stored, destroyed.
MISSING = object()


class KeyDestructionRefusedError(Exception):
    """The database refused destroying a key: no approved disposal batch names the household."""

    code = "key_destruction_unauthorised"
    message = "A household's key is destroyed only by an approved disposal batch that names it."
    message_ja = "世帯の鍵は、その世帯を含む承認済みの廃棄案件によってのみ破棄できます。"


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

    def wrapped_many(self, household_ids: list[UUID]) -> dict[UUID, bytes]:
        """The live wrapped keys of several households, in one statement per 500."""
        ids = [str(h) for h in household_ids]
        found: dict[UUID, bytes] = {}
        with self.db.transaction(write=False) as cur:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ", ".join(["%s"] * len(chunk))
                for row in cur.execute(
                        "SELECT household_id, wrapped_key FROM {s}household_keys"
                        f" WHERE household_id IN ({marks}) AND wrapped_key IS NOT NULL",
                        chunk).fetchall():
                    found[UUID(row["household_id"])] = bytes(row["wrapped_key"])
        return found

    def insert(self, household_id: UUID, wrapped: bytes) -> bool:
        """Store a new wrapped key; a concurrent writer's row wins (no error, False)."""
        with self.db.transaction() as cur:
            return cur.execute(
                "INSERT INTO {s}household_keys (household_id, wrapped_key, created_at) "
                "VALUES (%s, %s, %s) ON CONFLICT (household_id) DO NOTHING",
                (str(household_id), wrapped, datetime.now(UTC).isoformat()),
            ).rowcount == 1

    def destroy(self, household_id: UUID, batch_id: UUID | None = None) -> bool:
        """Set the wrapped key to NULL and record when. True if a live key was destroyed.

        ``batch_id`` is the approved disposal batch that names the household
        (disposal passes it).  Without one, the batches of the space's event
        log that name the household and were approved are offered (PostgreSQL);
        the database decides, and refuses with :class:`KeyDestructionRefusedError`.
        """
        try:
            with self.db.transaction() as cur:
                if batch_id is not None:
                    batches = [str(batch_id)]
                elif self.db.dialect == "postgres" and cur.execute(
                        "SELECT 1 FROM {s}household_keys"
                        " WHERE household_id = %s AND wrapped_key IS NOT NULL",
                        (str(household_id),)).fetchone():
                    batches = self._approved_batches_naming(cur, household_id)
                else:
                    # Nothing live to destroy, or SQLite (the embedded default's file
                    # is the application's own: no role to defend against).
                    batches = []
                for batch in batches[:1]:
                    cur.execute(
                        "INSERT INTO {s}disposal_authorisations (batch_id, household_id)"
                        " VALUES (%s, %s) ON CONFLICT (batch_id, household_id) DO NOTHING",
                        (batch, str(household_id)))
                    # (A row already there was committed with the key's destruction,
                    # so the update below finds no live key and no guard is asked.)
                return cur.execute(
                    "UPDATE {s}household_keys SET wrapped_key = NULL, destroyed_at = %s "
                    "WHERE household_id = %s AND wrapped_key IS NOT NULL",
                    (datetime.now(UTC).isoformat(), str(household_id)),
                ).rowcount > 0
        except Exception as error:
            if _refused(error):
                raise KeyDestructionRefusedError(household_id) from None
            raise

    def _approved_batches_naming(self, cur: Cursor, household_id: UUID) -> list[str]:
        """Approved disposal batches whose proposal names the household."""
        rows = cur.execute(
            "SELECT p.originator_id::text AS batch_id FROM {events} p"
            " WHERE p.topic = %s AND p.originator_version = 1"
            " AND convert_from(p.state, 'UTF8')::jsonb -> 'households'"
            "  @> jsonb_build_array(jsonb_build_object('household_id', %s::text))"
            " AND EXISTS (SELECT 1 FROM {events} a"
            "  WHERE a.originator_id = p.originator_id AND a.topic = %s)"
            " ORDER BY p.originator_id",
            (_PROPOSED, str(household_id), _APPROVED)).fetchall()
        return [row["batch_id"] for row in rows]

    # ------------------------------------------------------------ tenant-key rotation

    def _lock_id(self) -> int:
        # One advisory lock per space (schemas share a database): a stable 31-bit number.
        return zlib.crc32(f"yorisoi.household_keys:{self.db.schema}".encode()) & 0x7FFFFFFF

    def lock_for_new_key(self, cur: Cursor) -> None:
        """Hold off a rotation until this transaction has stored its new key."""
        if self.db.dialect == "postgres":
            cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", (self._lock_id(),))

    def lock_for_rotation(self, cur: Cursor) -> None:
        """Wait for new keys being stored, and keep new ones out until this transaction ends."""
        if self.db.dialect == "postgres":
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_id(),))

    def live(self, cur: Cursor, batch: int = 1000) -> Iterator[tuple[UUID, bytes]]:
        """Every live (not destroyed) wrapped key, in household order, in batches."""
        after = ""
        while True:
            rows = cur.execute(
                "SELECT household_id, wrapped_key FROM {s}household_keys"
                " WHERE wrapped_key IS NOT NULL AND household_id > %s"
                " ORDER BY household_id LIMIT %s", (after, batch)).fetchall()
            for row in rows:
                yield UUID(row["household_id"]), bytes(row["wrapped_key"])
            if len(rows) < batch:
                return
            after = rows[-1]["household_id"]

    def rewrap(self, cur: Cursor, rows: list[tuple[UUID, bytes]]) -> None:
        """Replace live wrapped keys (a key destroyed meanwhile stays destroyed)."""
        cur.executemany(
            "UPDATE {s}household_keys SET wrapped_key = %s"
            " WHERE household_id = %s AND wrapped_key IS NOT NULL",
            [(wrapped, str(household_id)) for household_id, wrapped in rows])

    def authorisations(self, household_id: UUID) -> list[dict[str, Any]]:
        """The disposal batches recorded as authorising the key's destruction."""
        with self.db.transaction(write=False) as cur:
            return cur.execute(
                "SELECT batch_id, household_id, proposed_by, approved_by, authorised_at"
                " FROM {s}disposal_authorisations WHERE household_id = %s ORDER BY batch_id",
                (str(household_id),)).fetchall()

    def row(self, household_id: UUID) -> dict[str, Any] | None:
        """The key's row as stored: after disposal, the proof that the key is gone."""
        with self.db.transaction(write=False) as cur:
            row = cur.execute(
                "SELECT household_id, wrapped_key, created_at, destroyed_at"
                " FROM {s}household_keys WHERE household_id = %s",
                (str(household_id),)).fetchone()
        if row is not None and row["wrapped_key"] is not None:
            row["wrapped_key"] = bytes(row["wrapped_key"])
        return row


# SQLSTATEs of the guard's refusals (tenants/provisioning.py): the key guard, the
# authorisation check.
GUARD_REFUSALS = ("YKD01", "YKD02")


def _refused(error: BaseException) -> bool:
    """Whether a database error is one of the disposal guard's refusals.

    The library wraps the driver's error; its SQLSTATE is on the cause.
    """
    seen: BaseException | None = error
    while seen is not None:
        if getattr(seen, "sqlstate", None) in GUARD_REFUSALS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
