"""Per-tenant runtimes, cached: cost follows active tenants, not registered ones.

A runtime is a municipality's casework application (with its small, lazily
filled connection pool), its case-view projector and queries.  At most
``max_active_tenants`` stay open; one idle longer than ``tenant_idle_seconds``
is closed on the next visit to the cache, so an idle tenant holds no
connection, thread or poll loop.  Leases keep a runtime open while a request
uses it, even if it is evicted meanwhile.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

from yorisoi.infra.access_log_store import AccessLogStore
from yorisoi.infra.db import Cursor
from yorisoi.infra.keys import TenantKeyProvider
from yorisoi.infra.recorders import last_written, mark_caught_up
from yorisoi.infra.settings import Settings
from yorisoi.projections import fresh_rows
from yorisoi.projections.case_queries import CaseQueries
from yorisoi.projections.runner import Projector, ProjectorGroup
from yorisoi.projections.tenant_views import TENANT_VIEWS
from yorisoi.services.audit_ledger import AuditChainer
from yorisoi.services.casework import CaseworkApplication
from yorisoi.services.personal_access import PersonalAccess
from yorisoi.tenants.spaces import event_store_env, municipality_space

# The read models every command's answer may be built from right after the command:
# kept current on the request path (the others follow on the next read).
ANSWER_VIEWS = frozenset({"case_view"})


class TenantRuntime:
    """One municipality's application, projector and read queries."""

    def __init__(self, settings: Settings, municipality_code: str,
                 key_provider: TenantKeyProvider) -> None:
        self.municipality_code = municipality_code
        self.space = municipality_space(municipality_code)
        self.casework = CaseworkApplication(event_store_env(settings, self.space),
                                            tenant=self.space, key_provider=key_provider)
        db, keyring = self.casework.database, self.casework.keyring
        self.cases = CaseQueries(db, keyring)
        self.projectors = [Projector(db, self.casework.mapper, view(keyring))
                           for view in TENANT_VIEWS]
        self.case_projector = self.projectors[0]  # the case view: lists and case pages
        # catch_up reads and decodes each batch once for every view.
        self.read_models = ProjectorGroup(self.projectors)
        # What a command's answer reads (catch_up_answer): the case view alone.
        self.answer_models = ProjectorGroup(
            [p for p in self.projectors if p.view.name in ANSWER_VIEWS])
        self.ledger = AuditChainer(db, municipality_code)
        self.last_used = time.monotonic()
        self.leases = 0
        self.evicted = False
        # True after catch_up_answer: the other views may lag this process's writes
        # until the next full catch-up (the next read's lease, the worker).
        self.behind = False
        # Two requests of one tenant catching up at once would only queue on the
        # position lock while each holds a connection of a two-connection pool.
        # Re-entrant: a catch-up may start another in the same thread (a view's
        # reset, a worker's turn).  Commands' answer catch-ups do not take it on
        # PostgreSQL (catch_up_answer).
        self._catch_up_lock = threading.RLock()

    def catch_up(self) -> int:
        """Bring every read model up to date (what reads and background work use).

        The audit ledger is not chained here: the worker (or the embedded
        server's keeper) chains it within ``CHAIN_SECONDS``, off the request path.
        """
        unit = _unit.get()
        if unit is not None and unit.runtime is self and unit.is_open:
            # A command catching up everything after its answer's catch-up: commit that
            # first, so no connection is held while waiting for the lock (and no view
            # is locked twice in one transaction, in two orders).
            unit.commit()
        with self._catch_up_lock:
            applied = self.read_models.catch_up()
            self.behind = False
        mark_caught_up()
        return applied

    def catch_up_and_chain(self) -> int:
        """What the worker does for a tenant: every view, then the audit ledger."""
        applied = self.catch_up()
        self.ledger.chain()
        return applied

    def catch_up_turn(self, max_batches: int = 1) -> tuple[int, str]:
        """The worker's turn on this tenant (``ProjectorGroup.catch_up_turn``): never waits."""
        applied, state = self.read_models.catch_up_turn(max_batches)
        if state == "done":
            self.behind = False
        return applied, state

    def catch_up_answer(self) -> int:
        """Read-your-writes for a command's answer: only the views answers are built from.

        The rest (timeline, statistics, search index, …) follow on the next
        read in this process (``TenantRuntimes.lease``) or in the worker.  A
        request whose events another request's catch-up has already applied
        (it waited for it on the lock) runs none of its own.
        """
        wrote = last_written()
        unit = _unit.get()
        if unit is None:  # SQLite (one writer), or a caller outside a command's run
            with self._catch_up_lock:
                applied = (0 if wrote is not None and self.answer_models.position >= wrote
                           else self.answer_models.catch_up())
        elif wrote is not None and self.answer_models.position >= wrote:
            applied = 0  # another request's committed catch-up applied these events
        else:
            # No process lock here: a thread that holds a connection (this unit's, an
            # idempotent unit of work's) must never wait for one that may be waiting for
            # a connection — with a two-connection pool that is a deadlock until the
            # pool's timeout.  Concurrent catch-ups queue on the position row instead.
            if unit.takes(self):
                # Held open until the answer is built: its access-log entries commit
                # with the catch-up (one transaction fewer per mutation).
                unit.open()
            applied = self.answer_models.catch_up()
            if unit.is_open:
                unit.reached = max(unit.reached, self.answer_models.reached)
        self.behind = True
        mark_caught_up()
        return applied

    @contextmanager
    def answering(self, access: PersonalAccess | None) -> Iterator[None]:
        """Around one command's run: its answer is built from what its catch-up wrote.

        The case view's rows the catch-up writes are kept for the answer
        (``projections/fresh_rows.py``: no statements to read them back), and on
        PostgreSQL the catch-up's transaction stays open until the command's run
        ends, when the personal reads its answer made (``access``) are written to
        the access log in that same transaction — so a mutation commits twice (its
        events, then its views with its reads) instead of three times.  A read
        that cannot be logged is not answered: if that commit fails, so does the
        command's answer, and the entries stay pending for the request's own flush.
        """
        unit = (_AnswerUnit(self, access)
                if self.casework.database.dialect == "postgres" else None)
        with fresh_rows.answering():
            token = _unit.set(unit)
            try:
                yield
            except BaseException:
                if unit is not None:
                    unit.close(*sys.exc_info())
                raise
            else:
                if unit is not None:
                    unit.commit()
            finally:
                _unit.reset(token)

    def close(self) -> None:
        self.casework.close()


class _AnswerUnit:
    """A command's answer-view catch-up transaction, open until the command's run ends."""

    def __init__(self, runtime: TenantRuntime, access: PersonalAccess | None) -> None:
        self.runtime = runtime
        self.access = access
        self.reached = 0
        self._transaction: AbstractContextManager[Cursor] | None = None
        self._cursor: Cursor | None = None

    def takes(self, runtime: TenantRuntime) -> bool:
        """Whether this catch-up opens the unit's transaction (not inside another one)."""
        return (runtime is self.runtime and self._transaction is None
                and not runtime.casework.database.in_transaction())

    @property
    def is_open(self) -> bool:
        return self._transaction is not None

    def open(self) -> None:
        # The group's position moves only after this commits (``commit``): until then
        # another request of this process runs its own catch-up, which waits on the
        # position row and then finds these events applied.
        transaction = self.runtime.casework.database.transaction(pipeline=True)
        self._cursor = transaction.__enter__()
        self._transaction = transaction

    def commit(self) -> None:
        """Write the reads the answer made in the transaction, then commit it."""
        transaction, self._transaction = self._transaction, None
        if transaction is None:
            return
        space = self.runtime.casework.keyring.tenant
        entries = self.access.take(space) if self.access is not None else []
        try:
            try:
                if entries:
                    AccessLogStore(self.runtime.casework.database).append(entries,
                                                                          cur=self._cursor)
            except BaseException:
                transaction.__exit__(*sys.exc_info())  # rolls back
                raise
            transaction.__exit__(None, None, None)  # commits
        except BaseException:
            if entries:  # not logged: pending again for the request's own flush
                self.access.give_back(space, entries)  # type: ignore[union-attr]
            raise
        group = self.runtime.answer_models
        group.position = max(group.position, self.reached)

    def close(self, *exc_info: object) -> None:
        """The command failed: roll the catch-up back (the views follow later)."""
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            transaction.__exit__(*exc_info)


# The answer unit of the command running in this context (``TenantRuntime.answering``).
_unit: ContextVar[_AnswerUnit | None] = ContextVar("yorisoi_answer_unit", default=None)


class TenantRuntimes:
    """A bounded cache of tenant runtimes with idle eviction."""

    def __init__(self, settings: Settings, key_provider: TenantKeyProvider) -> None:
        self.settings = settings
        self.key_provider = key_provider
        self._runtimes: OrderedDict[str, TenantRuntime] = OrderedDict()
        self._lock = threading.Lock()

    def _evict(self, runtime: TenantRuntime) -> None:
        # Called with the lock held.
        self._runtimes.pop(runtime.municipality_code, None)
        runtime.evicted = True
        if runtime.leases == 0:
            runtime.close()

    def _sweep(self, now: float) -> None:
        idle = self.settings.tenant_idle_seconds
        for runtime in list(self._runtimes.values()):
            if runtime.leases == 0 and now - runtime.last_used > idle:
                self._evict(runtime)
        while len(self._runtimes) > self.settings.max_active_tenants:
            self._evict(next(iter(self._runtimes.values())))

    @contextmanager
    def lease(self, municipality_code: str, *, current: bool = True) -> Iterator[TenantRuntime]:
        """A runtime for the duration of a request or job.

        ``current``: if a command of this process left views behind
        (``catch_up_answer``), bring them up to date before handing the runtime
        out — reads see this process's writes.  Commands pass False: they catch
        up what their answer needs themselves.
        """
        built: TenantRuntime | None = None
        while True:
            with self._lock:
                runtime = self._runtimes.get(municipality_code)
                if runtime is None and built is not None:
                    runtime, built = built, None
                    self._runtimes[municipality_code] = runtime
                if runtime is not None:
                    now = time.monotonic()
                    self._runtimes.move_to_end(municipality_code)
                    runtime.leases += 1
                    runtime.last_used = now
                    self._sweep(now)
                    break
            # Built outside the cache's lock: opening one tenant must not stall
            # requests of every other tenant.
            built = TenantRuntime(self.settings, municipality_code, self.key_provider)
        if built is not None:  # another request built the same tenant first
            built.close()
        try:
            if current and runtime.behind:
                runtime.catch_up()
            yield runtime
        finally:
            with self._lock:
                runtime.leases -= 1
                runtime.last_used = time.monotonic()
                if runtime.evicted and runtime.leases == 0:
                    runtime.close()

    def active(self) -> list[str]:
        with self._lock:
            return list(self._runtimes)

    def sweep(self) -> None:
        with self._lock:
            self._sweep(time.monotonic())

    def close(self) -> None:
        with self._lock:
            for runtime in list(self._runtimes.values()):
                self._evict(runtime)
