"""When a dependency is down: one typed error, a fast "database is down" circuit, hardened pools.

An outage of PostgreSQL (or of the key provider, or of object storage) must not
look like a bug to a client (HTTP 500, the pool's own text) nor hold every request
for the pool's 10 s: each request is told at once, honestly, to come back
(``ServiceUnavailableError`` → HTTP 503 with ``Retry-After``, GraphQL
``service_unavailable`` with ``retryable: true``).

* **Classification** (``outage_of``): which exceptions mean "a dependency is not
  reachable" — connection failures, the server shutting down or starting up, a
  pool that could not lend a connection, a botocore connection error — as opposed
  to a lock timeout or a refused statement, which are the request's own.
* **The circuit** (``Circuit``, one per database server in this process): the first
  connection failure opens it, and while it is open a request fails in
  microseconds instead of queueing on the pool; one request per ``probe_seconds``
  is let through to try, and the first success (or the readiness probe's, see
  ``infra/http/readiness.py``) closes it.  Each outage is logged once when it starts
  and once when it ends — the kind of error and the duration, never its text.
* **Pools** (``guard_datastore``): every connection is checked before it is lent
  (``check_connection``: the library's check whenever the server has spoken on the
  idle connection, so none left dead by a server restart reaches a request), a
  borrower waits ``pg_pool_timeout_seconds`` at most for a busy pool but hears of
  an outage within a quarter of a second, a connection attempt takes
  ``pg_connect_timeout_seconds`` at most, and a failed attempt gives up at once (psycopg_pool would otherwise retry in the background for five minutes
  with a growing delay, and keep a recovered server waiting for its next try).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from select import POLLIN as _POLLIN
from select import poll as _poll
from typing import Any

_log = logging.getLogger("yorisoi.outages")

MESSAGE = "The service is briefly unavailable. Nothing was saved; please try again shortly."
MESSAGE_JA = ("ただいまサービスを一時的に利用できません。保存はされていません。"
              "しばらくしてからもう一度お試しください。")

# SQLSTATEs that mean the server is not there for us (class 08: connection exception;
# 57P01-03: shutting down, crashed, starting up; 53300: no connection slot left).
_OUTAGE_STATES = ("57P01", "57P02", "57P03", "53300")


class ServiceUnavailableError(Exception):
    """A dependency (``database``, ``key_provider``, ``object_storage``) is not reachable.

    Nothing was written by the request that meets it; a retry after ``retry_after``
    seconds may succeed.  ``dependency`` is for logs and metrics, never for clients.
    """

    code = "service_unavailable"
    message = MESSAGE
    message_ja = MESSAGE_JA
    retryable = True

    def __init__(self, dependency: str = "database", retry_after: int | None = None) -> None:
        super().__init__(f"{dependency} unavailable")
        self.dependency = dependency
        self.retry_after = retry_after if retry_after is not None else POLICY.retry_after_seconds
        note(self)  # the request that meets it answers 503, whoever catches it on the way


@dataclass
class OutagePolicy:
    """The process's timeouts (``configure`` sets them from Settings; defaults equal Settings')."""

    pool_timeout_seconds: float = 5.0
    connect_timeout_seconds: int = 2
    probe_seconds: float = 1.0
    retry_after_seconds: int = 2
    check_connections: bool = True


POLICY = OutagePolicy()


def configure(settings: Any) -> None:
    """Take the timeouts from ``settings`` (before any pool is made: ``Services`` does it)."""
    POLICY.pool_timeout_seconds = settings.pg_pool_timeout_seconds
    POLICY.connect_timeout_seconds = settings.pg_connect_timeout_seconds
    POLICY.probe_seconds = settings.outage_probe_seconds
    POLICY.retry_after_seconds = settings.outage_retry_after_seconds
    POLICY.check_connections = settings.pg_check_connections


# --------------------------------------------------------------------------- classification


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_database_outage(error: BaseException) -> bool:
    import psycopg
    from psycopg_pool import PoolClosed, PoolTimeout, TooManyRequests

    if isinstance(error, (PoolTimeout, TooManyRequests)):
        return True
    if isinstance(error, PoolClosed):  # this process closed it: a bug or shutdown, no outage
        return False
    if isinstance(error, psycopg.OperationalError):
        state = error.sqlstate
        # No SQLSTATE: the connection failed or broke (refused, reset, closed by the server).
        return state is None or state.startswith("08") or state in _OUTAGE_STATES
    return False


_BOTOCORE_UNREACHABLE = {"EndpointConnectionError", "ConnectionClosedError",
                         "ConnectTimeoutError", "ReadTimeoutError", "ConnectionError"}


def _is_remote_outage(error: BaseException) -> bool:
    # By class name: importing botocore here would slow every CLI command's start.
    return any(kind.__module__.startswith("botocore") and kind.__name__ in _BOTOCORE_UNREACHABLE
               for kind in type(error).__mro__)


def _is_key_missing(error: BaseException) -> bool:
    # A tenant's key file not mounted (or its KMS key disabled): the operator's to fix,
    # and until then nothing personal of that tenant can be read or written.  A key
    # retired by disposal is no outage: that data is gone for good.
    from yorisoi.infra.keys import TenantKeyMissingError, TenantKeyRetiredError

    return isinstance(error, TenantKeyMissingError) and \
        not isinstance(error, TenantKeyRetiredError)


def outage_of(error: BaseException) -> str | None:
    """The dependency ``error`` says is unreachable (``database`` …), or None if it is no outage."""
    for link in _chain(error):
        if isinstance(link, ServiceUnavailableError):
            return link.dependency
        if _is_database_outage(link):
            return "database"
        if _is_key_missing(link):
            return "key_provider"
        if _is_remote_outage(link):
            module = type(error).__module__
            return "object_storage" if "storage" in module else "key_provider"
    return None


def unavailable(error: BaseException) -> ServiceUnavailableError | None:
    """``error`` as a ``ServiceUnavailableError`` when it is an outage, else None."""
    if isinstance(error, ServiceUnavailableError):
        return error
    dependency = outage_of(error)
    return None if dependency is None else ServiceUnavailableError(dependency)


def _saturated(error: BaseException) -> bool:
    """No connection free in time: busy, not necessarily down (a failed connection
    attempt trips the circuit itself, through the pool's ``reconnect_failed``)."""
    from psycopg_pool import PoolTimeout, TooManyRequests

    return any(isinstance(link, (PoolTimeout, TooManyRequests)) for link in _chain(error))


# --------------------------------------------------------------------------- the circuit


class Circuit:
    """Whether one dependency is down, as this process last saw it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self._next_try = 0.0
        self.outages = 0  # how many began since the process started (tests, metrics)

    @property
    def is_open(self) -> bool:
        return self.down_since is not None

    def admit(self) -> None:
        """Return if a request may use the dependency; raise at once while it is down."""
        if self.down_since is None:
            return
        now = time.monotonic()
        with self._lock:
            if self.down_since is not None and now < self._next_try:
                raise ServiceUnavailableError(self.name)
            # One request per probe interval tries; the others keep failing fast.
            self._next_try = now + POLICY.probe_seconds

    def failed(self, error: BaseException | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            self._next_try = now + POLICY.probe_seconds
            if self.down_since is not None:
                return
            self.down_since = now
            self.outages += 1
        # The kind only: a driver's message names hosts and sometimes values.
        _log.warning("outage: %s unreachable (%s); answering 503 until it is back",
                     self.name, type(error).__name__ if error is not None else "probe")

    def succeeded(self) -> None:
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is None:
                return
            lasted = time.monotonic() - self.down_since
            self.down_since = None
        _log.warning("recovered: %s reachable again after %.1f s", self.name, lasted)


_circuits: dict[tuple[Any, ...], Circuit] = {}
_circuits_lock = threading.Lock()


def circuit_for(*server: Any, name: str = "database") -> Circuit:
    """The process's circuit for one server (host, port, database)."""
    with _circuits_lock:
        circuit = _circuits.get(server)
        if circuit is None:
            circuit = _circuits[server] = Circuit(name)
        return circuit


def database_circuit(settings: Any) -> Circuit:
    return circuit_for(settings.pg_host, int(settings.pg_port), settings.pg_dbname)


# --------------------------------------------------------------------------- pools


def check_connection(conn: Any) -> None:
    """``ConnectionPool.check_connection`` when the server has spoken since; else nothing.

    An idle pooled connection has nothing to read.  A server that shut down,
    restarted or terminated the session sent its FATAL message and closed the
    socket: it is readable, and then the round trip of the library's check (an
    empty query) finds it dead and the pool replaces it.  Otherwise the check
    costs one ``poll`` instead of a round trip on every borrow (measured:
    bench/bench_outage_guards.py).
    """
    if conn.closed or conn.broken:
        import psycopg

        raise psycopg.OperationalError("the connection is closed")
    poller = _poll()
    poller.register(conn.fileno(), _POLLIN)
    if poller.poll(0):
        from psycopg_pool import ConnectionPool

        ConnectionPool.check_connection(conn)


# A borrower waits for a pooled connection in slices this long, asking the circuit
# between them: busy pools are waited for (``pg_pool_timeout_seconds``), a database
# found down meanwhile (by any borrower, or the readiness probe) ends the wait at once.
WAIT_SLICE_SECONDS = 0.25


def _lent(lend: Any, circuit: Circuit, args: Any, kwargs: Any) -> tuple[Any, Any]:
    """(the entered context of ``lend``, its connection), waiting in slices for a busy pool."""
    deadline = 0.0
    while True:
        lending = lend(*args, **kwargs)
        try:
            return lending, lending.__enter__()
        except Exception as error:
            if not _saturated(error) or circuit.is_open:
                raise
            now = time.monotonic()
            deadline = deadline or now + POLICY.pool_timeout_seconds - WAIT_SLICE_SECONDS
            if now >= deadline:
                raise


def guard_datastore(datastore: Any) -> None:
    """Harden an eventsourcing PostgreSQL datastore's pool and put the circuit in front of it.

    Idempotent.  Every connection the datastore lends (the event store's, and
    ``infra/db.Database``'s through it) passes the circuit; an outage met while
    borrowing or using one trips it and surfaces as ``ServiceUnavailableError``
    (the library's own retries — ten times 0.2 s — stop there instead of
    holding the request).
    """
    if getattr(datastore, "_yorisoi_guarded", False):
        return
    datastore._yorisoi_guarded = True
    pool = datastore.pool
    kwargs = pool.kwargs or {}
    circuit = circuit_for(kwargs.get("host"), int(kwargs.get("port") or 5432),
                          kwargs.get("dbname"))
    if POLICY.check_connections:
        pool._check = check_connection  # the constructor's `check`
    # Waits in short slices (``_lent``): a borrower hears of an outage within one.
    pool.timeout = min(WAIT_SLICE_SECONDS, POLICY.pool_timeout_seconds)
    kwargs["connect_timeout"] = POLICY.connect_timeout_seconds
    pool.kwargs = kwargs
    pool.reconnect_timeout = 0.0  # give up a failed attempt now; the next borrower tries anew

    def gave_up(_pool: Any) -> None:
        circuit.failed()

    pool._reconnect_failed = gave_up
    lend = datastore.get_connection
    # The recorder's constructor reads the event type's definition from the database
    # (a composite type adapter): with the database down, no process could even
    # start.  Read it at the first connection that works instead.
    register = datastore.register_type_adapters
    pending = [False]

    def register_when_reachable() -> None:
        try:
            register()
        except ServiceUnavailableError:
            pending[0] = True

    datastore.register_type_adapters = register_when_reachable

    @contextmanager
    def get_connection(*args: Any, **kwargs: Any) -> Iterator[Any]:
        if circuit.down_since is not None:
            circuit.admit()
        if pending[0]:
            pending[0] = False
            try:
                register()  # borrows a connection of its own, through here
            except BaseException:
                pending[0] = True
                raise
        try:
            # The lender's context entered and left by hand: one generator less per borrow.
            lending, conn = _lent(lend, circuit, args, kwargs)
            try:
                yield conn
            except BaseException as error:
                if not lending.__exit__(type(error), error, error.__traceback__):
                    raise
            else:
                lending.__exit__(None, None, None)
        except ServiceUnavailableError:
            raise
        except Exception as error:
            down = unavailable(error)
            if down is None or down.dependency != "database":
                raise
            if not _saturated(error):
                circuit.failed(error)
            raise down from error
        circuit.succeeded()

    datastore.get_connection = get_connection


# --------------------------------------------------------------------------- a request's outages

# The outages a request met but answered itself (a GraphQL field error): the HTTP
# middleware turns the response into a 503 with Retry-After.  A list, not a flag,
# so that resolvers on worker threads (copies of the context) add to the same one.
_noted: ContextVar[list[ServiceUnavailableError] | None] = ContextVar(
    "yorisoi_outages_noted", default=None)


@contextmanager
def noting_outages() -> Iterator[list[ServiceUnavailableError]]:
    noted: list[ServiceUnavailableError] = []
    token = _noted.set(noted)
    try:
        yield noted
    finally:
        _noted.reset(token)


def note(error: ServiceUnavailableError) -> None:
    """This request answered an outage (its HTTP status becomes 503)."""
    noted = _noted.get()
    if noted is not None:
        noted.append(error)
