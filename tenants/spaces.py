"""Where a tenant's data lives: one PostgreSQL schema, or one SQLite file, per space.

A *space* is the unit of isolation: ``platform`` for the shared registry,
``t_<municipality code>`` for each municipality.  This module is the one
place that turns a space into event-store settings.
"""

from __future__ import annotations

from yorisoi.domain.registry import check_municipality_code
from yorisoi.infra.settings import Settings

PLATFORM_SPACE = "platform"


def municipality_space(code: str) -> str:
    """The space (schema / file stem) of a municipality's records."""
    return f"t_{check_municipality_code(code)}"


def space_municipality(space: str) -> str:
    """The municipality code of a municipality's space (the inverse of ``municipality_space``)."""
    if not space.startswith("t_"):
        raise ValueError("not a municipality's space")
    return check_municipality_code(space[2:])


def event_store_env(settings: Settings, space: str, *, admin: bool = False) -> dict[str, str]:
    """eventsourcing settings for one space; ``admin`` connects as the schema owner (DDL)."""
    common = {
        # Tables are made once, at provisioning: concurrent CREATE TABLE races.
        "CREATE_TABLE": "yes" if admin else "no",
        "IS_SNAPSHOTTING_ENABLED": "no",
        # Empty means "no cache" (0 would mean an unbounded one that keeps
        # decrypted personal fields in memory past a disposal).
        "AGGREGATE_CACHE_MAXSIZE": "",
        # Ours instead: non-personal aggregates, served only to validated commands.
        "YORISOI_COMMAND_CACHE_SIZE": str(settings.command_cache_size),
    }
    if settings.backend == "sqlite":
        settings.sqlite_dir.mkdir(parents=True, exist_ok=True)
        return {
            **common,
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.sqlite_dir / f"{space}.sqlite"),
            "SQLITE_LOCK_TIMEOUT": "10",
            "APPLICATION_RECORDER_TOPIC": "yorisoi.infra.recorders:SQLiteTenantRecorder",
        }
    user = settings.pg_admin_user if admin else settings.pg_user
    password = settings.pg_admin_password if admin else settings.pg_password
    return {
        **common,
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": settings.pg_dbname,
        "POSTGRES_HOST": settings.pg_host,
        "POSTGRES_PORT": str(settings.pg_port),
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": password.get_secret_value(),
        "POSTGRES_SCHEMA": space,
        # Small pools that start empty: an idle tenant holds no connection.
        "POSTGRES_POOL_SIZE": str(settings.tenant_pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.tenant_pool_max_overflow),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        "APPLICATION_RECORDER_TOPIC": "yorisoi.infra.recorders:PostgresTenantRecorder",
    }
