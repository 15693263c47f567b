"""Citus: each municipality's schema is a distributed schema; ``platform`` stays on the coordinator.

Schema-based sharding puts every table of a distributed schema on one node, together
(one colocation group), so a municipality's events, read models and keys move as a
whole and no query ever joins two nodes.  The registry (``platform``) is a plain schema
on the coordinator: its row-level security reads transaction-scoped settings
(``set_config(…, true)``), which Citus does not carry to a worker.

Nothing here relies on a database-wide setting.  Sharding is switched on in the one
session that creates a ``t_*`` schema, and off in the one that creates ``platform``
(so ``tenant upgrade`` cannot turn ``platform`` into a distributed schema even where an
administrator set ``citus.enable_schema_based_sharding`` for the whole database).
Triggers on distributed tables need ``citus.enable_unsafe_triggers``: set for the
provisioning transaction of a municipality's space only (``space_ddl_preamble``).  The
triggers only refuse changes (``RAISE``) or read their own space, which lives on the
same node, so the visibility and deadlock hazards the setting warns of do not arise.

``YORISOI_PG_CITUS``: ``auto`` (default) detects the extension in ``pg_extension``;
``on`` requires it; ``off`` treats the database as plain PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from yorisoi.domain.errors import DomainError
from yorisoi.infra.settings import Settings

MUNICIPALITY_PREFIX = "t_"


class CitusNotInstalledError(DomainError):
    code = "citus_not_installed"
    message = ("YORISOI_PG_CITUS is on but the database has no citus extension "
               "(CREATE EXTENSION citus, on the coordinator and every worker).")
    message_ja = ("YORISOI_PG_CITUS が on ですが、データベースに citus 拡張がありません"
                  "（コーディネーターと全ワーカーで CREATE EXTENSION citus を実行してください）。")


class PlatformDistributedError(DomainError):
    code = "platform_schema_distributed"
    message = ("The platform schema is a distributed schema; it must stay a plain schema "
               "on the coordinator (docs/citus.md, 'Repairing platform').")
    message_ja = ("platform スキーマが分散スキーマになっています。コーディネーター上の通常の"
                  "スキーマである必要があります（docs/citus.md「platform の修復」）。")


def citus_installed(conn: Any) -> bool:
    """Whether the connected database has the citus extension."""
    return conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone() \
        is not None


def citus_active(settings: Settings, conn: Any) -> bool:
    """Whether this deployment runs on Citus (``conn``: any connection to the coordinator)."""
    mode = settings.pg_citus
    if settings.backend != "postgres" or mode == "off":
        return False
    installed = citus_installed(conn)
    if mode == "on" and not installed:
        raise CitusNotInstalledError()
    return installed


def is_municipality_space(space: str) -> bool:
    return space.startswith(MUNICIPALITY_PREFIX)


def create_schema(conn: Any, space: str, *, citus: bool) -> None:
    """``CREATE SCHEMA IF NOT EXISTS`` in an autocommit session of the owner.

    On Citus the session says whether the new schema is distributed: on for a
    municipality's space, off for anything else (``platform``).  A schema that already
    exists gets it off too: Citus registers even an existing schema named by ``CREATE
    SCHEMA IF NOT EXISTS`` while the setting is on, and the next ``CREATE TABLE IF NOT
    EXISTS`` then fails half-way (the table has triggers).  ``distribute_schema``
    converts an existing plain one whole.
    """
    if citus:
        exists = conn.execute("SELECT to_regnamespace(%s) IS NOT NULL AS e",
                              (space,)).fetchone()
        new = not (exists["e"] if isinstance(exists, dict) else exists[0])
        conn.execute("SELECT set_config('citus.enable_schema_based_sharding', %s, false)",
                     ("on" if new and is_municipality_space(space) else "off",))
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(space)))
    if citus and not is_municipality_space(space) and is_distributed(conn, space):
        raise PlatformDistributedError()


def is_distributed(conn: Any, space: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_dist_schema WHERE schemaid = to_regnamespace(%s)",
                        (space,)).fetchone() is not None


def distribute_schema(conn: Any, space: str) -> bool:
    """Make a municipality's plain schema (provisioned before Citus) distributed.

    Returns True when it converted one.  Its tables move from the coordinator to a
    colocation group of their own; the immutability triggers come along (the
    setting is the session's, for this call).
    """
    if not is_municipality_space(space) or is_distributed(conn, space):
        return False
    with conn.transaction():
        conn.execute("SET LOCAL citus.enable_unsafe_triggers = on")
        conn.execute("SELECT citus_schema_distribute(%s::regnamespace)", (space,))
    return True


def space_ddl_preamble(space: str, *, citus: bool) -> list[str]:
    """Statements that open a space's provisioning transaction (before its DDL)."""
    if citus and is_municipality_space(space):
        return ["SET LOCAL citus.enable_unsafe_triggers = on"]
    return []
