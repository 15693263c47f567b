"""Restoring one municipality from a copy of its space: a SQLite file, or a ``pg_dump`` archive.

A bundle restores through ``load.restore_bundle``; a database-level copy
through here.  Either way the space is replaced whole (events are immutable
rows: nothing is edited in place), the space's DDL is re-run (tables added
since the copy, the application role's grants), and a signed restore record
names the restored position and the checkpoints it supersedes
(``load.record_custody``).  The registry (the platform's space) is not
touched: it keeps its own chain.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from yorisoi.services.bundles.errors import BundleFormatError
from yorisoi.services.bundles.load import drop_space, record_custody
from yorisoi.tenants.spaces import municipality_space

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PGDUMP_MAGIC = b"PGDMP"


def _magic(path: Path, length: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(length)


def restore_space_file(services: Any, code: str, source: Path) -> tuple[int, dict[str, Any]]:
    """Replace ``code``'s space with ``source``, then chain the restore record."""
    settings = services.settings
    space = municipality_space(code)
    head = _magic(source, len(_SQLITE_MAGIC))
    services.runtimes.close()
    if settings.backend == "sqlite":
        if head != _SQLITE_MAGIC:
            raise BundleFormatError(message="On SQLite, --from takes a bundle or a copy of the"
                                    " municipality's space file.",
                                    message_ja="SQLite では --from にバンドルまたは市区町村の"
                                    "データファイルの写しを指定してください。")
        target = settings.sqlite_dir / f"{space}.sqlite"
        # SQLite's backup API writes the copy *through* the target's own locks and journal:
        # a consistent image, whatever connection (a server, a worker) still has it open.
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as origin, \
                sqlite3.connect(target, timeout=30) as restored:
            origin.backup(restored)
    else:
        if not head.startswith(_PGDUMP_MAGIC):
            raise BundleFormatError(message="On PostgreSQL, --from takes a bundle or a custom-format"
                                    " pg_dump archive of the municipality's schema.",
                                    message_ja="PostgreSQL では --from にバンドルまたは市区町村の"
                                    "スキーマの pg_dump（カスタム形式）を指定してください。")
        _pg_restore(settings, space, source)
    # Tables and columns added since the copy was taken, and the application role's grants.
    services.directory.upgrade_spaces([code])
    return record_custody(services, code, action="restore")


def _pg_restore(settings: Any, space: str, source: Path) -> None:
    binary = shutil.which("pg_restore") or os.environ.get("YORISOI_PG_RESTORE", "")
    if not binary:
        raise BundleFormatError(message="pg_restore is not on PATH (set YORISOI_PG_RESTORE).",
                                message_ja="pg_restore が見つかりません（YORISOI_PG_RESTORE を"
                                "設定してください）。")
    import psycopg
    from psycopg import sql

    drop_space(settings, space)
    # pg_restore --schema restores the schema's objects, not the schema itself.
    with psycopg.connect(host=settings.pg_host, port=settings.pg_port, dbname=settings.pg_dbname,
                         user=settings.pg_admin_user,
                         password=settings.pg_admin_password.get_secret_value(),
                         autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(space)))
    env = {**os.environ, "PGPASSWORD": settings.pg_admin_password.get_secret_value()}
    done = subprocess.run([binary, "--host", settings.pg_host, "--port", str(settings.pg_port),
                           "--username", settings.pg_admin_user, "--dbname", settings.pg_dbname,
                           "--schema", space, "--no-owner", "--exit-on-error", str(source)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # pg_restore's message names objects, never row values (no data is printed).
        raise BundleFormatError(message=f"pg_restore failed: {done.stderr.strip()[-300:]}",
                                message_ja="pg_restore が失敗しました（詳細は英語のメッセージ）。")
