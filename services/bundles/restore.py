"""Restoring one municipality from a copy of its space: a SQLite file, or a ``pg_dump`` archive.

A bundle restores through ``load.restore_bundle``; a database-level copy
through here.  Either way the space is replaced whole (events are immutable
rows: nothing is edited in place), the space's DDL is re-run (tables added
since the copy, the application role's grants), and a signed restore record
names the restored position and the checkpoints it supersedes
(``load.record_custody``).  While the space is replaced it is out of the
upgrade journal, and it is journalled again once upgraded
(``tenants/upgrades.replacing_space``), so ``tenant upgrade`` never takes a
restored space for current when it is not.  The registry (the platform's
space) is not touched: it keeps its own chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yorisoi.infra import bundle_store
from yorisoi.services.bundles.errors import BundleFormatError
from yorisoi.services.bundles.load import record_custody
from yorisoi.tenants.spaces import municipality_space
from yorisoi.tenants.upgrades import replacing_space

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
    if settings.backend == "sqlite" and head != _SQLITE_MAGIC:
        raise BundleFormatError(message="On SQLite, --from takes a bundle or a copy of the"
                                " municipality's space file.",
                                message_ja="SQLite では --from にバンドルまたは市区町村の"
                                "データファイルの写しを指定してください。")
    if settings.backend != "sqlite" and not head.startswith(_PGDUMP_MAGIC):
        raise BundleFormatError(message="On PostgreSQL, --from takes a bundle or a custom-format"
                                " pg_dump archive of the municipality's schema.",
                                message_ja="PostgreSQL では --from にバンドルまたは市区町村の"
                                "スキーマの pg_dump（カスタム形式）を指定してください。")
    services.runtimes.close()
    # Leaving replacing_space, the space is upgraded (tables and columns added since the
    # copy was taken, the application role's grants) and journalled as such.
    with replacing_space(services.directory, code):
        if settings.backend == "sqlite":
            bundle_store.copy_sqlite_space(source, settings.sqlite_dir / f"{space}.sqlite")
        else:
            _pg_restore(settings, space, source)
    return record_custody(services, code, action="restore")


def _pg_restore(settings: Any, space: str, source: Path) -> None:
    try:
        bundle_store.pg_restore_space(settings, space, source)
    except bundle_store.PgRestoreMissingError as error:
        raise BundleFormatError(message=error.detail,
                                message_ja="pg_restore が見つかりません（YORISOI_PG_RESTORE を"
                                "設定してください）。") from None
    except bundle_store.SpaceCopyError as error:
        raise BundleFormatError(message=error.detail,
                                message_ja="pg_restore が失敗しました（詳細は英語のメッセージ）。"
                                ) from None


def restore_in_place(services: Any, code: str) -> tuple[int, dict[str, Any]]:
    """The database was restored already (PITR, ``pg_restore`` by hand): upgrade the space
    its copy left, journal it, then chain the restore record."""
    services.runtimes.close()
    with replacing_space(services.directory, code):
        pass  # replaced before this command ran
    return record_custody(services, code, action="restore")
