"""Tables of a municipality's space that are not projections (ledgers, logs, workflows).

Read models register in ``projections/tenant_views.py``; anything else a
municipality's space holds registers here, so provisioning creates it with the
same owner-only DDL and the same grants.  ``ddl(dialect)`` returns statements
using the ``{s}`` schema token; ``writable`` lists tables the application role
may UPDATE and DELETE (everything else it may only SELECT and INSERT).
"""

from __future__ import annotations

from yorisoi.infra.db import SpaceTables  # defined with the database: the stores use it


def _entries() -> list[SpaceTables]:
    # Imported here, not at module level: only provisioning and upgrades read the list.
    from yorisoi.infra.access_log_store import ACCESS_LOG_TABLES
    from yorisoi.infra.audit_ledger_store import AUDIT_LEDGER_TABLES
    from yorisoi.infra.idempotency_store import IDEMPOTENCY_TABLES

    # Each feature adds its entry here (one line each).
    return [ACCESS_LOG_TABLES, AUDIT_LEDGER_TABLES, IDEMPOTENCY_TABLES]


def space_table_ddl(dialect: str) -> list[str]:
    return [statement for entry in _entries() for statement in entry.ddl(dialect)]


def space_writable_tables() -> list[str]:
    return [table for entry in _entries() for table in entry.writable]
