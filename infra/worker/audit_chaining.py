"""Every audit ledger chained and checkpointed within seconds, off the request path.

Reads write access-log rows and no event, so nothing in a request chains
them; registry commands do not chain the platform's ledger either.  The
:class:`LedgerKeeper` does, in the background: every few seconds it chains the
platform's registry ledger and each municipality whose events or access log
moved past its ledger, and writes a signed checkpoint when one is due
(``infra/checkpoints.Checkpointer.checkpoint_if_due``: 1,000 new entries, or
an hour with anything new; the first one at once).

- ``yorisoi worker`` runs it between notifications (PostgreSQL deployments).
- The embedded server (``yorisoi serve``: SQLite, no worker) runs it as a
  task of the app's lifespan (:func:`keep_ledgers`), so a newcomer's instance
  is never left with unchained rows and no checkpoint.

Which municipalities are behind is one statement on PostgreSQL (every space's
maxima side by side, 100 spaces a statement), so an idle tenant costs no
runtime; once a minute the same kind of statement finds ledgers due a
checkpoint (the hourly rule).  On SQLite each file is asked (few tenants).  Trouble is logged by
kind and never stops the keeper; no logged text holds a stored value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from yorisoi.domain.registry import check_municipality_code
from yorisoi.infra.audit_ledger_store import PLATFORM_LEDGER, AuditLedgerStore, ledger_transaction
from yorisoi.infra.checkpoints import checkpoint_due, is_due, ledger_checkpoint_due
from yorisoi.services.audit_ledger import AuditChainer
from yorisoi.tenants.spaces import municipality_space

_log = logging.getLogger("yorisoi.audit")

# How often the keeper looks: "within seconds" of a read being logged.
CHAIN_SECONDS = 2.0
# How often every municipality is asked whether a checkpoint is due (the hourly
# rule also covers a ledger that stopped growing).
CHECKPOINT_SWEEP_SECONDS = 60.0
_SPACES_PER_STATEMENT = 100
_CASEWORK_EVENTS = "casework_events"  # the library names it after the application


class LedgerKeeper:
    """One pass (:meth:`keep`) brings every ledger up to date and checkpoints those due."""

    def __init__(self, services: Any) -> None:
        self.services = services
        platform_db = services.directory.platform.database
        self._platform = AuditChainer(platform_db, PLATFORM_LEDGER)
        self._swept = float("-inf")

    def keep_platform(self) -> int:
        """Chain the registry's new events; checkpoint the registry ledger when due."""
        added = self._platform.chain()
        ledger_checkpoint_due(self.services, self._platform.db, PLATFORM_LEDGER)
        return added

    def keep_municipality(self, code: str, *, chain: bool = True) -> int:
        with self.services.runtimes.lease(code) as runtime:
            added = runtime.ledger.chain() if chain else 0
            checkpoint_due(self.services, runtime)
            return added

    def keep(self) -> int:
        """One pass over the platform and every municipality that is behind; entries added."""
        added = self.guarded(PLATFORM_LEDGER, self.keep_platform)
        behind = self.behind()
        for code in behind:
            added += self.guarded(code, lambda code=code: self.keep_municipality(code))
        if time.monotonic() - self._swept > CHECKPOINT_SWEEP_SECONDS:
            self._swept = time.monotonic()
            for code in self.checkpoints_due(exclude=set(behind)):
                self.guarded(code, lambda code=code: self.keep_municipality(code, chain=False))
        return added

    def guarded(self, what: str, step: Any) -> int:
        try:
            return int(step())
        except Exception as error:  # noqa: BLE001 - the next pass tries again
            _log.warning("audit chaining of %s failed: %s", what, type(error).__name__)
            return 0

    # -- who is behind -----------------------------------------------------------

    def behind(self) -> list[str]:
        """Municipalities whose events or access log hold sources their ledger does not."""
        codes = [t.tenant_id for t in self.services.directory.registry.municipalities()]
        if self.services.settings.backend != "postgres":
            return [code for code in codes if self._sqlite_behind(code)]
        found: list[str] = []
        for start in range(0, len(codes), _SPACES_PER_STATEMENT):
            chunk = codes[start:start + _SPACES_PER_STATEMENT]
            try:
                found += self._postgres_behind(chunk)
            except Exception as error:  # noqa: BLE001 - e.g. a space not upgraded yet
                _log.warning("audit chaining: positions unreadable (%s); visiting all",
                             type(error).__name__)
                found += chunk
        return found

    def checkpoints_due(self, *, exclude: set[str]) -> list[str]:
        """Municipalities whose ledger grew since its last checkpoint and is due one.

        The hourly rule must also reach a ledger that stopped growing (it is not
        behind, so the pass did not visit it).
        """
        codes = [t.tenant_id for t in self.services.directory.registry.municipalities()
                 if t.tenant_id not in exclude]
        if self.services.settings.backend != "postgres":
            return codes  # each file is asked by the checkpointer itself (few tenants)
        found: list[str] = []
        for start in range(0, len(codes), _SPACES_PER_STATEMENT):
            chunk = codes[start:start + _SPACES_PER_STATEMENT]
            try:
                rows = self._spaces(chunk, lambda space: (
                    f"COALESCE((SELECT MAX(sequence) FROM {space}.audit_ledger), 0) AS head,"
                    f" (SELECT sequence FROM {space}.audit_checkpoints"
                    " ORDER BY sequence DESC LIMIT 1) AS done,"
                    f" (SELECT created_at FROM {space}.audit_checkpoints"
                    " ORDER BY sequence DESC LIMIT 1) AS created_at"))
            except Exception as error:  # noqa: BLE001 - e.g. a space not upgraded yet
                _log.warning("audit checkpoints: positions unreadable (%s); visiting all",
                             type(error).__name__)
                found += chunk
                continue
            found += [r["code"] for r in rows
                      if is_due(int(r["head"]), r["done"], r["created_at"])]
        return found

    def _sqlite_behind(self, code: str) -> bool:
        with self.services.runtimes.lease(code) as runtime:
            store = AuditLedgerStore(runtime.casework.database)
            with ledger_transaction(runtime.casework.database, write=False) as cur:
                state = store.state(cur)
        return state["event_head"] > state["event"] or state["access_head"] > state["access"]

    def _postgres_behind(self, codes: list[str]) -> list[str]:
        rows = self._spaces(codes, lambda space: (
            f"COALESCE((SELECT MAX(notification_id) FROM {space}.{_CASEWORK_EVENTS}), 0)"
            f" > COALESCE((SELECT MAX(source_id) FROM {space}.audit_ledger"
            " WHERE kind = 'event'), 0)"
            f" OR COALESCE((SELECT MAX(entry_id) FROM {space}.access_log), 0)"
            f" > COALESCE((SELECT MAX(source_id) FROM {space}.audit_ledger"
            " WHERE kind = 'access'), 0) AS behind"))
        return [row["code"] for row in rows if row["behind"]]

    def _spaces(self, codes: list[str], columns: Any) -> list[dict[str, Any]]:
        """One row per municipality with ``columns(space)``: one statement for all of them."""
        if not codes:
            return []
        # Codes are validated six-digit municipality codes: safe as literals and identifiers.
        parts = []
        for code in codes:
            space = f'"{municipality_space(code)}"'
            parts.append(f"SELECT '{check_municipality_code(code)}' AS code, {columns(space)}")
        db = self.services.directory.platform.database
        with db.transaction(write=False) as cur:
            return cur.execute(" UNION ALL ".join(parts)).fetchall()


class KeeperTask:
    """The keeper as a background task of an asyncio application (the embedded server)."""

    def __init__(self, keeper: LedgerKeeper, seconds: float = CHAIN_SECONDS) -> None:
        self.keeper = keeper
        self.seconds = seconds
        self.passes = 0
        self._task: asyncio.Task[None] | None = None
        self._pass: asyncio.Future[int] | None = None

    def start(self) -> KeeperTask:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-chaining")
        return self

    async def _run(self) -> None:
        while True:
            # A thread: chaining is blocking database work, never on the event loop.
            self._pass = asyncio.ensure_future(asyncio.to_thread(self.keeper.keep))
            try:
                await asyncio.shield(self._pass)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the next pass tries again
                _log.warning("audit chaining pass failed: %s", type(error).__name__)
            self.passes += 1
            await asyncio.sleep(self.seconds)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        # A pass running in its thread finishes first: the services it uses are
        # closed after the lifespan ends.
        if self._pass is not None:
            with contextlib.suppress(Exception):
                await self._pass


def keep_ledgers(services: Any, seconds: float = CHAIN_SECONDS) -> KeeperTask | None:
    """Start the keeper in the running loop when this process has no worker beside it.

    The embedded default (SQLite) runs no worker; PostgreSQL deployments run
    ``yorisoi worker``, which keeps the ledgers itself.  Tests (environment
    ``test``) drive chaining explicitly.
    """
    settings = services.settings
    if settings.backend != "sqlite" or settings.environment == "test":
        return None
    return KeeperTask(LedgerKeeper(services), seconds).start()


def keep_every(keeper: LedgerKeeper, last: float, seconds: float = CHAIN_SECONDS) -> float:
    """The worker's loop step: a pass when ``seconds`` have gone by since ``last``."""
    now = time.monotonic()
    if now - last < seconds:
        return last
    keeper.keep()
    return now
