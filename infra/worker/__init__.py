"""The projection worker: keeps every tenant's read models caught up.

On PostgreSQL it listens on one channel (``yorisoi_events``, payload: the
tenant's space) with one connection for all tenants, and sweeps every tenant
at a slow interval as a safety net.  On SQLite (embedded default) it polls.

Between notifications it keeps the audit ledgers (``infra/audit_chaining``):
every couple of seconds the platform's registry ledger and each municipality
whose access log or events moved past its ledger are chained, and checkpoints
written when due — reads log access rows but notify no one.

It heals itself: a database that goes away (or is not there yet when the
worker starts) is waited for with capped exponential backoff and jitter, logged
once when the outage begins and once when it ends, and the worker carries on
where it was — a full pass first, since notifications sent while it was away
are lost.  SIGTERM and SIGINT end it after the batch in hand (a tenant's
catch-up is one transaction either way: nothing is half-applied).
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from yorisoi.infra.checkpoints import checkpoint_due
from yorisoi.infra.outages import database_circuit, outage_of
from yorisoi.infra.recorders import EVENTS_CHANNEL
from yorisoi.infra.wiring.bootstrap import Services
from yorisoi.infra.worker.audit_chaining import CHAIN_SECONDS, LedgerKeeper, keep_every
from yorisoi.tenants.spaces import space_municipality

_log = logging.getLogger("yorisoi.worker")

# Backoff after a failed pass: 0.5 s doubling to 30 s, each wait drawn from
# [half, all] of it (jitter: N workers do not hammer a recovering server together).
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 30.0


def catch_up(services: Services, municipality_code: str) -> int:
    with services.runtimes.lease(municipality_code) as runtime:
        # The ledger follows the log here, off the request path (requests no longer chain).
        applied = runtime.catch_up_and_chain()
        checkpoint_due(services, runtime)  # signed audit checkpoint when enough is new
        return applied


def take_turn(services: Services, municipality_code: str) -> str:
    """One worker's turn on a tenant: at most a batch, never waiting for another worker.

    Returns ``"done"``, ``"more"`` (a batch applied, more to come: come back after
    the other due tenants) or ``"busy"`` (another worker holds the tenant's
    positions: come back shortly — events committed after its read are not in
    its batch).  When caught up, the tenant's ledger is chained and its
    checkpoint written if due.  A failure of the tenant's own is logged by kind
    and counts as done (the next notification or sweep tries again); an outage
    is raised.
    """
    try:
        with services.runtimes.lease(municipality_code) as runtime:
            _, state = runtime.catch_up_turn(max_batches=1)
            if state == "done":
                runtime.ledger.chain()
                checkpoint_due(services, runtime)
            return state
    except Exception as error:
        if outage_of(error) is not None:
            raise
        _log.error("worker: catch-up of municipality %s failed (%s); the others go on",
                   municipality_code, type(error).__name__)
        return "done"


# A tenant another worker holds is tried again this much later (seconds).
BUSY_RETRY = 0.05


def caught_up_or_skipped(services: Services, municipality_code: str) -> int:
    """``catch_up``, except that a failure of this tenant's own (a bug, a bad row) is
    logged by kind and skipped, so one tenant cannot hold every other one back; an
    outage is raised (the worker backs off: no other tenant would fare better)."""
    try:
        return catch_up(services, municipality_code)
    except Exception as error:
        if outage_of(error) is not None:
            raise
        _log.error("worker: catch-up of municipality %s failed (%s); the others go on",
                   municipality_code, type(error).__name__)
        return 0


def catch_up_all(services: Services,
                 progress: Callable[[str, int], None] | None = None,
                 stop: Callable[[], bool] = lambda: False, *, skip_failed: bool = False) -> int:
    """One pass over every municipality; returns how many events were applied.

    ``skip_failed`` (the worker): a tenant whose catch-up fails other than by an
    outage is logged and passed over instead of ending the pass."""
    keeper = LedgerKeeper(services)  # the registry's ledger, and its checkpoint when due
    keeper.guarded("platform", keeper.keep_platform)
    one = caught_up_or_skipped if skip_failed else catch_up
    total = 0
    for tenant in services.directory.registry.municipalities():
        if stop():
            break  # asked to end: the tenants after this one wait for the next worker
        applied = one(services, tenant.tenant_id)
        total += applied
        if progress is not None:
            progress(tenant.tenant_id, applied)
    services.runtimes.sweep()
    return total


class Backoff:
    """Capped exponential backoff with jitter, and the outage's one log line each way."""

    def __init__(self, first: float = BACKOFF_FIRST, cap: float = BACKOFF_CAP,
                 rng: random.Random | None = None) -> None:
        self.first, self.cap = first, cap
        self.failures = 0
        self.since: float | None = None
        self._rng = rng or random.Random()

    def failed(self, error: BaseException) -> float:
        """Note a failed pass; return how long to wait before the next one."""
        if self.failures == 0:
            self.since = time.monotonic()
            # The kind only: a driver's message names hosts and sometimes values.
            _log.warning("worker: %s unavailable (%s); retrying with backoff",
                         outage_of(error) or "a dependency", type(error).__name__)
        self.failures += 1
        ceiling = min(self.cap, self.first * 2 ** (self.failures - 1))
        return self._rng.uniform(ceiling / 2, ceiling)

    def succeeded(self) -> None:
        if self.failures:
            lasted = time.monotonic() - (self.since or time.monotonic())
            _log.warning("worker: recovered after %.1f s (%d failed attempts)",
                         lasted, self.failures)
        self.failures, self.since = 0, None


class StopFlag:
    """Set by SIGTERM/SIGINT (or by ``stop()``); waits end early when it is set."""

    def __init__(self, stop: Callable[[], bool] = lambda: False) -> None:
        self._asked = stop
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set() or self._asked()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` (in short steps, so ``stop()`` is heard); True if stopping."""
        deadline = time.monotonic() + seconds
        while not self():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._event.wait(min(left, 0.2))
        return True


@contextmanager
def ending_on_signals(flag: StopFlag) -> Iterator[None]:
    """SIGTERM and SIGINT set ``flag`` (the main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def asked_to_stop(signum: int, _frame: Any) -> None:
        if not flag():
            _log.warning("worker: %s received; ending after the batch in hand",
                         signal.Signals(signum).name)
        flag.set()

    previous = {s: signal.signal(s, asked_to_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_worker(services: Services, *, sweep_seconds: float = 300.0,
               poll_seconds: float = 1.0, chain_seconds: float = CHAIN_SECONDS,
               stop: Callable[[], bool] = lambda: False,
               backoff: Backoff | None = None) -> None:
    """Run until ``stop()`` says so (or SIGTERM/SIGINT), riding through outages."""
    flag = StopFlag(stop)
    backoff = backoff or Backoff(cap=services.settings.worker_backoff_cap_seconds)
    with ending_on_signals(flag):
        while not flag():
            try:
                _run(services, flag, backoff, sweep_seconds=sweep_seconds,
                     poll_seconds=poll_seconds, chain_seconds=chain_seconds)
                return  # asked to stop
            except Exception as error:  # noqa: BLE001 - outages and bugs alike: wait, retry
                if outage_of(error) is None:
                    # Not an outage: a bug or a bad row.  Logged by kind, retried all the
                    # same (after the backoff), so one tenant cannot end the worker.
                    _log.error("worker: pass failed (%s)", type(error).__name__)
                if flag.wait(backoff.failed(error)):
                    return
    _log.info("worker: stopped")


def _run(services: Services, flag: StopFlag, backoff: Backoff, *, sweep_seconds: float,
         poll_seconds: float, chain_seconds: float) -> None:
    """Listen and catch up until stopped; raises on any failure (the caller backs off)."""
    settings = services.settings
    keeper = LedgerKeeper(services)
    if settings.backend == "sqlite":
        catch_up_all(services, stop=flag, skip_failed=True)
        backoff.succeeded()
        kept = time.monotonic()
        while not flag.wait(poll_seconds):
            catch_up_all(services, stop=flag, skip_failed=True)
            kept = keep_every(keeper, kept, chain_seconds)
        return
    import psycopg

    # Listening first, then the pass: whatever commits after the pass began notifies us.
    with psycopg.connect(host=settings.pg_host, port=settings.pg_port,
                         dbname=settings.pg_dbname, user=settings.pg_user,
                         password=settings.pg_password.get_secret_value(),
                         connect_timeout=settings.pg_connect_timeout_seconds,
                         application_name="yorisoi-worker", autocommit=True) as conn:
        conn.execute(f"LISTEN {EVENTS_CHANNEL}")
        # A connection made and used: the database is back, for the pools too (their
        # circuit would otherwise let one trial a second through, and a pass makes
        # several nested reads at once).
        database_circuit(settings).succeeded()
        # Tenants due for a turn (code → when). Several workers share the tenants: a
        # turn takes at most a batch and skips a tenant another worker holds, so no
        # worker queues behind another and a busy tenant costs the rest one batch.
        due: dict[str, float] = dict.fromkeys(
            (t.tenant_id for t in services.directory.registry.municipalities()), 0.0)
        keeper.guarded("platform", keeper.keep_platform)
        kept = last_sweep = time.monotonic()
        swept = False
        while not flag():
            now = time.monotonic()
            ready = [code for code, at in due.items() if at <= now]
            if not ready:
                wait = min([poll_seconds, *(at - now for at in due.values())])
                for space in _notified(conn, max(wait, 0.0)):
                    try:
                        due.setdefault(space_municipality(space), 0.0)
                    except ValueError:
                        continue  # the platform's space, or nobody's: nothing to catch up
            for code in ready:
                if flag():
                    break
                state = take_turn(services, code)
                if state == "done":
                    due.pop(code, None)
                else:
                    due[code] = time.monotonic() + (BUSY_RETRY if state == "busy" else 0.0)
            if not swept:
                backoff.succeeded()  # a round of turns went through: the database is back
                swept = True
            if time.monotonic() - last_sweep > sweep_seconds:
                for tenant in services.directory.registry.municipalities():
                    due.setdefault(tenant.tenant_id, 0.0)
                services.runtimes.sweep()
                last_sweep = time.monotonic()
            kept = keep_every(keeper, kept, chain_seconds)  # access rows notify no one


def _notified(conn: Any, timeout: float) -> set[str]:
    """The spaces notified within ``timeout`` (returning at the first), and any queued with it."""
    spaces = {n.payload for n in conn.notifies(timeout=timeout, stop_after=1)}
    if spaces:
        spaces |= {n.payload for n in conn.notifies(timeout=0.01)}
    return spaces
