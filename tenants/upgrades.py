"""Upgrading every municipality's space, resumably (``yorisoi tenant upgrade``).

Provisioning's DDL is idempotent, so an upgrade is "run it again in every
space" — but a platform with thousands of municipalities takes a while, and
an interrupted run (a deploy window closing, a lost SSH session) must not
start from the first space again.  Each space that has been brought up to
date is journalled in the platform space (``space_upgrades``) with the
*fingerprint* of the DDL it was given; a later run skips the spaces whose
fingerprint is the current one and upgrades the rest.

The fingerprint is conservative: it covers the DDL texts themselves, the
columns added to existing views, and the provisioning module's source (its
triggers and grants), so any change to what provisioning would run makes
every space due again.  A false "changed" only costs a re-run of idempotent
DDL; ``--force`` ignores the journal altogether.

A space that fails (its key cannot be unwrapped, the database refuses) is
reported and the run goes on with the next: the failed one stays due.

A space *replaced* by a restore (a bundle, a copy of the space, a database
restored by hand) holds whatever DDL its copy had, which the journal cannot
know: ``replacing_space`` takes it out of the journal before the space is
touched and, once the restore has put it back, upgrades and journals it.  So a
restore leaves either an up-to-date space journalled as such, or (if it stopped
half-way) a space a plain ``tenant upgrade`` sees as due — never one the journal
calls current while it is not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from yorisoi.infra.db import Database
    from yorisoi.services.platform import PlatformApplication
    from yorisoi.tenants.directory import TenantDirectory

JOURNAL_DDL = (
    "CREATE TABLE IF NOT EXISTS {s}space_upgrades ("
    " municipality_code TEXT PRIMARY KEY,"
    " fingerprint TEXT NOT NULL,"
    " upgraded_at TEXT NOT NULL)"
)


def space_fingerprint(dialect: str) -> str:
    """What provisioning would run in a municipality's space today, as one hash."""
    from yorisoi.infra.household_keys import DISPOSAL_AUTHORISATIONS_DDL, HOUSEHOLD_KEYS_DDL
    from yorisoi.projections.runner import POSITIONS_DDL
    from yorisoi.projections.tenant_views import tenant_view_ddl, tenant_view_tables
    from yorisoi.tenants import provisioning
    from yorisoi.tenants.space_tables import space_table_ddl, space_writable_tables
    from yorisoi.tenants.view_columns import ADDED_COLUMNS

    parts = {
        "dialect": dialect,
        "ddl": [POSITIONS_DDL, HOUSEHOLD_KEYS_DDL, DISPOSAL_AUTHORISATIONS_DDL,
                *tenant_view_ddl(), *space_table_ddl(dialect)],
        "writable": [*tenant_view_tables(), *space_writable_tables()],
        "added_columns": [list(c) for c in ADDED_COLUMNS],
        # Triggers, guards and grants are written out in the module itself.
        "provisioning": hashlib.sha256(Path(provisioning.__file__).read_bytes()).hexdigest(),
    }
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class UpgradeOutcome:
    """What a run did: spaces upgraded, and those that failed (with the error's kind)."""

    upgraded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class SpaceUpgrades:
    """The journal of upgraded spaces and the resumable loop over them."""

    def __init__(self, directory: TenantDirectory) -> None:
        self.directory = directory
        self._owner: PlatformApplication | None = None

    def _journal(self) -> Database:
        # The platform space's database as the schema owner: the journal table is made
        # on first use, and the upgrade runs with the owner's credentials anyway.
        if self._owner is None:
            from yorisoi.services.platform import PlatformApplication
            from yorisoi.tenants.spaces import PLATFORM_SPACE, event_store_env

            provisioner = self.directory.provisioner
            self._owner = PlatformApplication(
                event_store_env(provisioner.settings, PLATFORM_SPACE, admin=True),
                tenant=PLATFORM_SPACE, key_provider=provisioner.key_provider)
        return self._owner.database

    def close(self) -> None:
        if self._owner is not None:
            self._owner.close()
            self._owner = None

    def _ensure_journal(self) -> None:
        with self._journal().transaction() as cur:
            cur.execute(JOURNAL_DDL)

    def current_codes(self, fingerprint: str) -> set[str]:
        """Municipalities whose space was upgraded with this fingerprint."""
        rows = self._journal().select(
            "SELECT municipality_code FROM {s}space_upgrades WHERE fingerprint = %s",
            (fingerprint,))
        return {row["municipality_code"] for row in rows}

    def _record(self, code: str, fingerprint: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._journal().transaction() as cur:
            cur.execute("DELETE FROM {s}space_upgrades WHERE municipality_code = %s", (code,))
            cur.execute("INSERT INTO {s}space_upgrades (municipality_code, fingerprint,"
                        " upgraded_at) VALUES (%s, %s, %s)", (code, fingerprint, now))

    def forget(self, code: str) -> None:
        """Make ``code``'s space due again, whatever fingerprint it was journalled with."""
        self.directory.provisioner.init_platform()
        self._ensure_journal()
        with self._journal().transaction() as cur:
            cur.execute("DELETE FROM {s}space_upgrades WHERE municipality_code = %s", (code,))

    def upgrade(self, code: str) -> None:
        """Upgrade one space now and journal it; an error is raised, not reported."""
        fingerprint = self.fingerprint()
        self.directory.upgrade_space(code)
        self._record(code, fingerprint)

    def plan(self, codes: Iterable[str], *, force: bool = False) -> tuple[list[str], list[str]]:
        """(due, current): which of ``codes`` this run upgrades and which it skips."""
        self.directory.provisioner.init_platform()
        self._ensure_journal()
        done = set() if force else self.current_codes(self.fingerprint())
        codes = list(dict.fromkeys(codes))
        return [c for c in codes if c not in done], [c for c in codes if c in done]

    def fingerprint(self) -> str:
        return space_fingerprint(self.directory.provisioner.settings.backend)

    def run(self, due: Iterable[str],
            progress: Callable[[str, str | None], None] | None = None,
            jobs: int = 1) -> UpgradeOutcome:
        """Upgrade each due space and journal it; ``progress(code, error)`` after each.

        ``jobs`` > 1 upgrades that many spaces at once (each space's DDL touches only
        its own schema or file); progress is still reported from the calling thread.
        """
        fingerprint = self.fingerprint()
        self._journal()  # made once, before any worker thread needs it
        outcome = UpgradeOutcome()

        def upgrade(code: str) -> str | None:
            try:
                self.directory.upgrade_space(code)
            except Exception as error:  # noqa: BLE001 - one space must not stop thousands
                # The error's class only: a driver's message may quote data.
                return type(error).__name__
            self._record(code, fingerprint)
            return None

        def settle(code: str, failure: str | None) -> None:
            if failure is None:
                outcome.upgraded.append(code)
            else:
                outcome.failed[code] = failure
            if progress is not None:
                progress(code, failure)

        if jobs <= 1:
            for code in due:
                settle(code, upgrade(code))
            return outcome
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="upgrade") as pool:
            futures = {pool.submit(upgrade, code): code for code in due}
            for future in as_completed(futures):
                settle(futures[future], future.result())
        return outcome


@contextmanager
def replacing_space(directory: TenantDirectory, code: str) -> Iterator[None]:
    """Around anything that replaces ``code``'s space whole (a restore).

    Before: the space leaves the journal, so an interrupted restore leaves it due.
    After the body succeeds: the space's DDL is run (tables and columns added since
    the copy was taken, the application role's grants) and the space is journalled
    at the current fingerprint.  ``tenant upgrade`` needs no ``--force`` either way.
    """
    upgrades = SpaceUpgrades(directory)
    try:
        upgrades.forget(code)
        yield
        upgrades.upgrade(code)
    finally:
        upgrades.close()
