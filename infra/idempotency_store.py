"""The ``idempotency_keys`` table: one row per command a keyed request ran.

Only SQL lives here; what a row means (claiming a key, replaying an answer,
sealing it) is ``services/idempotency.py``.  A row is written in the unit of
work that writes the command's events (``Database.unit_of_work``), so a
command whose events committed always has its row, and one whose events did
not has none.  The primary key makes a concurrent request with the same key
wait for the first one's transaction (PostgreSQL: the unique index; SQLite:
the write lock) and then find its row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yorisoi.infra.db import Cursor, SpaceTables


def _ddl(dialect: str) -> list[str]:  # noqa: ARG001 - one shape on both backends
    return [
        "CREATE TABLE IF NOT EXISTS {s}idempotency_keys ("
        " caller TEXT NOT NULL,"          # who sent it: tenant kind, tenant, subject
        " key_digest TEXT NOT NULL,"      # SHA-256 of the client's key (never the key itself)
        " step INTEGER NOT NULL,"         # the n-th command of the request (GraphQL: field order)
        " request_digest TEXT NOT NULL,"  # SHA-256 of what was asked
        " outcome {bytes},"               # the command's answer, sealed
        " sealed_for TEXT NOT NULL,"      # households whose keys also seal it (comma-separated)
        " created_at TEXT NOT NULL,"
        " expires_at TEXT NOT NULL,"
        " PRIMARY KEY (caller, key_digest, step))",
        "CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON {s}idempotency_keys (expires_at)",
    ]


IDEMPOTENCY_TABLES = SpaceTables("idempotency_keys", _ddl, writable=("idempotency_keys",))


@dataclass(frozen=True)
class StoredRequest:
    request_digest: str
    outcome: bytes | None
    sealed_for: tuple[str, ...]
    expires_at: str


class IdempotencyStore:
    """Rows of one space's ``idempotency_keys`` table (inside the caller's unit of work)."""

    def claim(self, cur: Cursor, caller: str, key_digest: str, step: int, request_digest: str,
              now: datetime, expires: datetime) -> StoredRequest | None:
        """Claim the key for this step; the row already there (committed) if another has it.

        A row past its expiry is taken over: the key may be used afresh.
        """
        for _ in range(2):
            inserted = cur.execute(
                "INSERT INTO {s}idempotency_keys (caller, key_digest, step, request_digest,"
                " outcome, sealed_for, created_at, expires_at)"
                " VALUES (%s, %s, %s, %s, NULL, '', %s, %s)"
                " ON CONFLICT (caller, key_digest, step) DO NOTHING",
                (caller, key_digest, step, request_digest, now.isoformat(),
                 expires.isoformat())).rowcount
            if inserted:
                return None
            row = cur.execute(
                "SELECT request_digest, outcome, sealed_for, expires_at"
                " FROM {s}idempotency_keys WHERE caller = %s AND key_digest = %s AND step = %s",
                (caller, key_digest, step)).fetchone()
            if row is None:  # expired and purged meanwhile: claim again
                continue
            if row["expires_at"] > now.isoformat():
                return StoredRequest(
                    row["request_digest"],
                    None if row["outcome"] is None else bytes(row["outcome"]),
                    tuple(h for h in row["sealed_for"].split(",") if h), row["expires_at"])
            cur.execute("DELETE FROM {s}idempotency_keys"
                        " WHERE caller = %s AND key_digest = %s AND step = %s",
                        (caller, key_digest, step))
        raise RuntimeError("an idempotency key could not be claimed")  # pragma: no cover

    def finish(self, cur: Cursor, caller: str, key_digest: str, step: int, outcome: bytes,
               sealed_for: tuple[str, ...]) -> None:
        cur.execute(
            "UPDATE {s}idempotency_keys SET outcome = %s, sealed_for = %s"
            " WHERE caller = %s AND key_digest = %s AND step = %s",
            (outcome, ",".join(sealed_for), caller, key_digest, step))

    def purge_expired(self, cur: Cursor, now: datetime) -> int:
        return cur.execute("DELETE FROM {s}idempotency_keys WHERE expires_at <= %s",
                           (now.isoformat(),)).rowcount
