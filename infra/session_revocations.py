"""Console sessions signed out, shared by every process of the deployment.

A console session is a sealed cookie that any process can open (infra/console/
session.py), so signing out must be known to every process, not only the one
that answered the sign-out: the session's id is recorded in the platform space
(``console_revocations``; PostgreSQL, or the platform's SQLite file) until the
session's absolute expiry, after which the cookie is refused anyway and the row
is deleted.  Ids are kept as keyed digests: a row never names a live cookie.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from yorisoi.infra.db import Database

REVOCATIONS_TABLE = "console_revocations"


def revocations_ddl(dialect: str) -> list[str]:
    """The table in the platform space (idempotent; ``yorisoi platform init``)."""
    real = "DOUBLE PRECISION" if dialect == "postgres" else "REAL"
    return [
        (f"CREATE TABLE IF NOT EXISTS {{s}}{REVOCATIONS_TABLE} ("
         f" session_digest TEXT PRIMARY KEY, until {real} NOT NULL)"),
        (f"CREATE INDEX IF NOT EXISTS console_revocations_until"
         f" ON {{s}}{REVOCATIONS_TABLE} (until)"),
    ]


def _digest(sid: str) -> str:
    return hashlib.sha256(f"yorisoi-console-session\x00{sid}".encode()).hexdigest()


class SessionRevocations:
    """Signed-out session ids in the platform database."""

    def __init__(self, database: Callable[[], Database], clock: Callable[[], float] = time.time
                 ) -> None:
        self._database = database
        self.clock = clock

    def revoke(self, sid: str, until: float) -> None:
        """Refuse ``sid`` in every process until ``until`` (its absolute expiry)."""
        from yorisoi.infra.rate_limits import _autocommit

        db = self._database()
        _autocommit(db, f"INSERT INTO {{s}}{REVOCATIONS_TABLE} (session_digest, until)"
                        f" VALUES (%s, %s) ON CONFLICT (session_digest) DO NOTHING",
                    [_digest(sid), until])
        # Sign-outs are rare: each one also forgets the ids whose cookies have expired.
        _autocommit(db, f"DELETE FROM {{s}}{REVOCATIONS_TABLE} WHERE until < %s",
                    [self.clock()])

    def is_revoked(self, sid: str) -> bool:
        db = self._database()
        rows = db.select(f"SELECT 1 AS revoked FROM {{s}}{REVOCATIONS_TABLE}"
                         f" WHERE session_digest = %s", [_digest(sid)])
        return bool(rows)

    @staticmethod
    def probe(sid: str) -> tuple[str, tuple[str, ...]]:
        """``is_revoked`` as a statement selecting one row (``revoked``), for another
        statement of the platform space to carry along (one round trip for both)."""
        return (f"SELECT EXISTS (SELECT 1 FROM {{s}}{REVOCATIONS_TABLE}"
                f" WHERE session_digest = %s) AS revoked", (_digest(sid),))
