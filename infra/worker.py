"""The projection worker: keeps every tenant's read models caught up.

On PostgreSQL it listens on one channel (``yorisoi_events``, payload: the
tenant's space) with one connection for all tenants, and sweeps every tenant
at a slow interval as a safety net.  On SQLite (embedded default) it polls.

Between notifications it keeps the audit ledgers (``infra/audit_chaining``):
every couple of seconds the platform's registry ledger and each municipality
whose access log or events moved past its ledger are chained, and checkpoints
written when due — reads log access rows but notify no one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import psycopg

from yorisoi.infra.audit_chaining import CHAIN_SECONDS, LedgerKeeper, keep_every
from yorisoi.infra.bootstrap import Services
from yorisoi.infra.checkpoints import checkpoint_due
from yorisoi.infra.recorders import EVENTS_CHANNEL
from yorisoi.tenants.spaces import space_municipality

_log = logging.getLogger("yorisoi.worker")


def catch_up(services: Services, municipality_code: str) -> int:
    with services.runtimes.lease(municipality_code) as runtime:
        applied = runtime.catch_up()
        checkpoint_due(services, runtime)  # signed audit checkpoint when enough is new
        return applied


def catch_up_all(services: Services,
                 progress: Callable[[str, int], None] | None = None) -> int:
    """One pass over every municipality; returns how many events were applied."""
    keeper = LedgerKeeper(services)  # the registry's ledger, and its checkpoint when due
    keeper.guarded("platform", keeper.keep_platform)
    total = 0
    for tenant in services.directory.registry.municipalities():
        applied = catch_up(services, tenant.tenant_id)
        total += applied
        if progress is not None:
            progress(tenant.tenant_id, applied)
    services.runtimes.sweep()
    return total


def run_worker(services: Services, *, sweep_seconds: float = 300.0,
               poll_seconds: float = 1.0, chain_seconds: float = CHAIN_SECONDS,
               stop: Callable[[], bool] = lambda: False) -> None:
    """Run until ``stop()`` says so."""
    catch_up_all(services)
    settings = services.settings
    keeper, kept = LedgerKeeper(services), time.monotonic()
    if settings.backend == "sqlite":
        while not stop():
            time.sleep(poll_seconds)
            catch_up_all(services)
            kept = keep_every(keeper, kept, chain_seconds)
        return
    with psycopg.connect(host=settings.pg_host, port=settings.pg_port,
                         dbname=settings.pg_dbname, user=settings.pg_user,
                         password=settings.pg_password.get_secret_value(),
                         autocommit=True) as conn:
        conn.execute(f"LISTEN {EVENTS_CHANNEL}")
        last_sweep = time.monotonic()
        while not stop():
            spaces = {n.payload for n in conn.notifies(timeout=poll_seconds)}
            for space in spaces:
                if space.startswith("t_"):
                    catch_up(services, space_municipality(space))
            if time.monotonic() - last_sweep > sweep_seconds:
                catch_up_all(services)
                last_sweep = time.monotonic()
            kept = keep_every(keeper, kept, chain_seconds)  # access rows notify no one
