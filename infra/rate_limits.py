"""Rate limits: token buckets per principal and per tenant, in this process.

A request is charged to two buckets: its principal's (tenant + subject of a
verified token) and its tenant's (every principal of that municipality or
contractor together), so one busy integration cannot starve its colleagues
and one tenant cannot starve the platform.  Requests without a verified token
(public queries, tokens that fail verification) are charged to a bucket per
client address.  A request is admitted only when every bucket it needs has a
token; a refused request takes none (a tenant-wide refusal does not also
drain the principal's own bucket).

Two limiters, one interface (``take``):

- ``SharedRateLimiter`` (the default, ``YORISOI_RATE_LIMIT_STORE=database``): the
  buckets are rows of the platform space (``rate_limit_buckets``; PostgreSQL, or the
  platform's SQLite file that every process of an embedded deployment opens), so N
  API processes enforce one limit.  A request costs one statement — ``INSERT … ON
  CONFLICT DO UPDATE … RETURNING`` over its buckets, on an autocommit connection: one
  round trip, row locks only on the buckets it charges.  A full bucket is the same
  as no bucket, so rows whose bucket has refilled are deleted now and then.
- ``RateLimiter`` (``memory``): the buckets in this process's memory; N processes
  admit up to N times the rates.  For a single process, and for tests.

The clock is injected (``time.monotonic`` / ``time.time`` by default) so tests need
no sleeps.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from yorisoi.infra.settings import Settings

if TYPE_CHECKING:
    from yorisoi.infra.db import Database

_log = logging.getLogger("yorisoi.rate_limits")

Clock = Callable[[], float]
# A statement selecting at most one row, and its parameters, to ride along a charge.
Probe = tuple[str, "tuple[Any, ...]"]

# Buckets kept at most (least recently used dropped first): a dropped bucket
# comes back full, which costs at most one extra burst for an idle principal.
MAX_BUCKETS = 100_000

MESSAGE = "Too many requests; please wait and try again."
MESSAGE_JA = "リクエストが多すぎます。しばらく待ってから再度お試しください。"


@dataclass(frozen=True)
class Rate:
    """``per_second`` tokens refill continuously up to ``burst``."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")


@dataclass(frozen=True)
class Refusal:
    """Which limit refused the request, and when a retry can succeed."""

    limit: str  # principal | tenant | client
    retry_after: float  # seconds

    @property
    def retry_after_header(self) -> str:
        # Retry-After takes whole seconds; round up so the retry is not early.
        return str(max(1, math.ceil(self.retry_after)))

    def body(self) -> dict[str, Any]:
        return {"detail": {"code": "rate_limited", "limit": self.limit,
                           "retryAfterSeconds": int(self.retry_after_header),
                           "message": MESSAGE, "messageJa": MESSAGE_JA}}


class RateLimiter:
    """Thread-safe token buckets keyed by (limit, key)."""

    def __init__(self, *, principal: Rate, tenant: Rate, clock: Clock = time.monotonic,
                 max_buckets: int = MAX_BUCKETS) -> None:
        self.rates = {"principal": principal, "tenant": tenant, "client": principal}
        self.clock = clock
        self._max_buckets = max_buckets
        self._lock = threading.Lock()
        # (limit, key) -> (tokens, last refill time)
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = time.monotonic) -> RateLimiter:
        return cls(principal=Rate(settings.rate_limit_principal_per_second,
                                  settings.rate_limit_principal_burst),
                   tenant=Rate(settings.rate_limit_tenant_per_second,
                               settings.rate_limit_tenant_burst),
                   clock=clock)

    def _level(self, name: tuple[str, str], now: float) -> float:
        rate = self.rates[name[0]]
        tokens, since = self._buckets.get(name, (float(rate.burst), now))
        return min(float(rate.burst), tokens + max(0.0, now - since) * rate.per_second)

    def take(self, **keys: str) -> Refusal | None:
        """Charge one token to each named bucket (``principal=…, tenant=…`` or
        ``client=…``); None when admitted, else the refusal (nothing charged)."""
        names = [(limit, key) for limit, key in keys.items()]
        with self._lock:
            now = self.clock()
            levels = {name: self._level(name, now) for name in names}
            short = [(name, (1.0 - level) / self.rates[name[0]].per_second)
                     for name, level in levels.items() if level < 1.0]
            if short:
                (limit, _), wait = max(short, key=lambda item: item[1])
                for name, level in levels.items():  # keep the refill, charge nothing
                    self._store(name, level, now)
                _counted_refusal(limit, keys)
                return Refusal(limit=limit, retry_after=wait)
            for name, level in levels.items():
                self._store(name, level - 1.0, now)
            return None

    def _store(self, name: tuple[str, str], tokens: float, now: float) -> None:
        self._buckets[name] = (tokens, now)
        self._buckets.move_to_end(name)
        while len(self._buckets) > self._max_buckets:
            self._buckets.popitem(last=False)


def _counted_refusal(limit: str, keys: dict[str, str]) -> None:
    """The refusal in the metrics, by limit and tenant (never the subject or address)."""
    from yorisoi.infra.metrics import rate_limit_refused

    rate_limit_refused(limit, keys.get("tenant"))


def _noted_outage(down: bool) -> None:
    from yorisoi.infra.metrics import note_outage

    note_outage("database", down)


def keys_for(principal: Any | None, client: str | None) -> dict[str, str]:
    """The buckets a request is charged to: its principal's and tenant's, or its client's."""
    if principal is None:
        return {"client": client or "unknown"}
    tenant = f"{principal.tenant_kind}:{principal.tenant_id}"
    return {"principal": f"{tenant}:{principal.subject}", "tenant": tenant}


# --------------------------------------------------------------------------- shared buckets

# The platform space's buckets.  ``bucket`` is a keyed digest of the limit and its key
# (a tenant, a subject, a client address: none kept in clear); ``tokens`` were left at
# ``refilled_at`` (seconds since the epoch); ``full_at`` is when the bucket is full
# again, so ``DELETE … WHERE full_at < now`` forgets only buckets that lost nothing.
RATE_LIMIT_TABLE = "rate_limit_buckets"


def rate_limit_ddl(dialect: str) -> list[str]:
    """The buckets' table in the platform space (idempotent; ``yorisoi platform init``).

    No index but the key: a busy tenant's row is updated by every request, and an
    update that changes no indexed column is a HOT update on PostgreSQL (the new row
    version stays on its page, no index entry is added), where an index on ``full_at``
    would add one to both indexes per request and slow every lookup of that row as
    they pile up.  Half-empty pages (``fillfactor``) leave room for those versions.
    The purge scans the table, once a minute: one row per active principal, tenant
    and anonymous address.
    """
    real = "DOUBLE PRECISION" if dialect == "postgres" else "REAL"
    room = " WITH (fillfactor = 50)" if dialect == "postgres" else ""
    return [
        (f"CREATE TABLE IF NOT EXISTS {{s}}{RATE_LIMIT_TABLE} ("
         f" bucket TEXT PRIMARY KEY, tokens {real} NOT NULL, refilled_at {real} NOT NULL,"
         f" per_second {real} NOT NULL, burst {real} NOT NULL, full_at {real} NOT NULL,"
         f" admitted BOOLEAN NOT NULL){room}"),
    ]


@lru_cache(maxsize=8)
def _charge_sql(dialect: str, buckets: int) -> str:
    """One upsert charging ``buckets`` rows: each refills by the time passed, then gives
    one token if it has one (``admitted``), else keeps its level (a refusal takes none)."""
    least, greatest = ("LEAST", "GREATEST") if dialect == "postgres" else ("min", "max")
    level = (f"{least}(excluded.burst, b.tokens + {greatest}(0, excluded.refilled_at"
             f" - b.refilled_at) * excluded.per_second)")
    left = f"(CASE WHEN {level} >= 1 THEN {level} - 1 ELSE {level} END)"
    since = f"{greatest}(b.refilled_at, excluded.refilled_at)"
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, TRUE)"] * buckets)
    return (f"INSERT INTO {{s}}{RATE_LIMIT_TABLE} AS b"
            f" (bucket, tokens, refilled_at, per_second, burst, full_at, admitted)"
            f" VALUES {values} ON CONFLICT (bucket) DO UPDATE SET"
            f" tokens = {left}, admitted = ({level} >= 1), refilled_at = {since},"
            f" per_second = excluded.per_second, burst = excluded.burst,"
            f" full_at = {since} + (excluded.burst - {left}) / excluded.per_second"
            f" RETURNING bucket, tokens, admitted")


@lru_cache(maxsize=8)
def _probing_sql(charge: str, probe: str) -> str:
    """The charge, and the one row ``probe`` selects, in one statement (one round trip).

    Every row of the charge carries the probe's columns (NULLs when it selects no row).
    Both read one snapshot, taken when the statement began.
    """
    return (f"WITH charged AS ({charge}) SELECT charged.*, probe.* FROM charged"
            f" LEFT JOIN ({probe}) AS probe ON TRUE")


def _bucket_id(limit: str, key: str) -> str:
    # A digest: subjects and client addresses are not kept in the table in clear.
    return hashlib.sha256(f"yorisoi-rate-limit\x00{limit}\x00{key}".encode()).hexdigest()[:40]


class SharedRateLimiter(RateLimiter):
    """Token buckets in the platform database, shared by every process that opens it.

    ``database`` is called for the platform's ``Database`` on first use (the app's
    services are built in its lifespan, after the limiter).  If the database cannot
    be reached the request is admitted (logged once per outage): it meets the same
    outage in its handler, which answers it; refusing it here would only hide why.
    """

    def __init__(self, *, principal: Rate, tenant: Rate,
                 database: Callable[[], Database], clock: Clock = time.time,
                 purge_every: float = 60.0, settings: Settings | None = None) -> None:
        super().__init__(principal=principal, tenant=tenant, clock=clock, max_buckets=0)
        self._database = database
        self._purge_every = purge_every
        self._next_purge = 0.0
        self._down = False
        # PostgreSQL: a connection of the limiter's own (see _OwnConnection).
        self._own = (_OwnConnection(settings)
                     if settings is not None and settings.backend == "postgres" else None)

    @classmethod
    def from_settings(cls, settings: Settings,  # type: ignore[override]
                      database: Callable[[], Database],
                      clock: Clock = time.time) -> SharedRateLimiter:
        return cls(principal=Rate(settings.rate_limit_principal_per_second,
                                  settings.rate_limit_principal_burst),
                   tenant=Rate(settings.rate_limit_tenant_per_second,
                               settings.rate_limit_tenant_burst),
                   database=database, clock=clock, settings=settings)

    def take(self, **keys: str) -> Refusal | None:
        """Charge one token to each named bucket; None when admitted, else the refusal
        (a bucket charged before another refused gets its token back)."""
        return self.take_probing(None, **keys)[0]

    @property
    def can_probe(self) -> bool:
        """Whether a probe rides along a charge (on the limiter's own connection): then
        ``take_probing`` answers None for the probe only when nothing was charged."""
        return self._own is not None

    def take_probing(self, probe: Probe | None, **keys: str
                     ) -> tuple[Refusal | None, dict[str, Any] | None]:
        """``take``, and the row ``probe`` (SQL, params) selects from the platform space,
        in the same statement: its columns (each None when it selected no row), or None
        when it could not ride along (SQLite, no connection of the limiter's own) or
        the store is down."""
        try:
            refusal, probed = self._take(keys, probe)
        except Exception as error:  # noqa: BLE001 - an outage: the handler answers it
            if not self._down:
                _log.warning("rate limits unavailable (%s): admitting until the database"
                             " answers", type(error).__name__)
                self._down = True
                _noted_outage(True)
            return None, None
        if self._down:
            _log.warning("rate limits available again")
            self._down = False
            _noted_outage(False)
        return refusal, probed

    async def take_async(self, **keys: str) -> Refusal | None:
        """``take`` in a worker thread: the event loop does not wait on the database."""
        import asyncio

        return await asyncio.to_thread(self.take, **keys)

    async def take_probing_async(self, probe: Probe | None, **keys: str
                                 ) -> tuple[Refusal | None, dict[str, Any] | None]:
        """``take_probing`` in a worker thread."""
        import asyncio

        return await asyncio.to_thread(self.take_probing, probe, **keys)

    def refund(self, **keys: str) -> None:
        """Give back the token ``take`` charged to each named bucket (a charge made on a
        guess that turned out wrong).  Best effort: during an outage nothing was charged."""
        try:
            db = self._database()
            for bucket in sorted(_bucket_id(limit, key) for limit, key in keys.items()):
                self._give_back(db, bucket)
        except Exception as error:  # noqa: BLE001 - the outage is logged by take
            _log.debug("rate-limit refund skipped (%s)", type(error).__name__)

    def _give_back(self, db: Database, bucket: str) -> None:
        self._run(db, f"UPDATE {{s}}{RATE_LIMIT_TABLE} SET tokens ="
                      f" {'LEAST' if db.dialect == 'postgres' else 'min'}(burst, tokens + 1)"
                      f" WHERE bucket = %s", [bucket])

    def _take(self, keys: dict[str, str], probe: Probe | None = None
              ) -> tuple[Refusal | None, dict[str, Any] | None]:
        db = self._database()
        now = self.clock()
        # Sorted, so two requests lock shared rows in one order (no deadlock).
        named = sorted((_bucket_id(limit, key), limit) for limit, key in keys.items())
        params: list[Any] = []
        for bucket, limit in named:
            rate = self.rates[limit]
            params += [bucket, rate.burst - 1.0, now, rate.per_second, float(rate.burst),
                       now + 1.0 / rate.per_second]
        sql = _charge_sql(db.dialect, len(named))
        probing = probe is not None and self.can_probe
        if probing:
            sql = _probing_sql(sql, probe[0])
            params += list(probe[1])
        rows = self._run(db, sql, params)
        # The probe's columns (all None when it found no row: read, nothing there), or
        # None when it did not ride along (not read at all).
        probed = ({name: value for name, value in rows[0].items()
                   if name not in ("bucket", "tokens", "admitted")}
                  if probing and rows else None)
        return self._settled(db, now, keys, named, rows), probed

    def _settled(self, db: Database, now: float, keys: dict[str, str],
                 named: list[tuple[str, str]], rows: list[dict[str, Any]]) -> Refusal | None:
        limits = dict(named)
        refused = [(limits[row["bucket"]], float(row["tokens"])) for row in rows
                   if not row["admitted"]]
        if now >= self._next_purge:
            self._next_purge = now + self._purge_every
            self._run(db, f"DELETE FROM {{s}}{RATE_LIMIT_TABLE} WHERE full_at < %s", [now])
        if not refused:
            return None
        charged = [row["bucket"] for row in rows if row["admitted"]]
        for bucket in charged:  # rare (a refusal): the token goes back
            self._give_back(db, bucket)
        limit, wait = max(((limit, (1.0 - tokens) / self.rates[limit].per_second)
                           for limit, tokens in refused), key=lambda item: item[1])
        _counted_refusal(limit, keys)
        return Refusal(limit=limit, retry_after=wait)

    def _run(self, db: Database, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        if self._own is not None:
            return self._own.run(db.render(sql), params)
        return _autocommit(db, sql, params)

    def close(self) -> None:
        if self._own is not None:
            self._own.close()


class _OwnConnection:
    """The shared limiter's own autocommit connection to PostgreSQL.

    Not the platform's pool: a pooled connection is checked before it is lent (one
    more round trip) and shared with the registry; the limiter runs on every request,
    so it keeps one connection, one statement per request, prepared by the server
    after a few uses.  Short timeouts: a stuck statement must not hold requests.
    After a failure it does not try again for a second (requests are admitted
    meanwhile, see ``SharedRateLimiter``), so an outage costs no connect per request.
    """

    RETRY_SECONDS = 1.0

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._conn: Any = None
        self._retry_at = 0.0

    def run(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        with self._lock:
            if time.monotonic() < self._retry_at:
                raise ConnectionError("rate-limit store: waiting before the next attempt")
            try:
                if self._conn is None or self._conn.closed:
                    s = self._settings
                    self._conn = psycopg.connect(
                        host=s.pg_host, port=s.pg_port, dbname=s.pg_dbname, user=s.pg_user,
                        password=s.pg_password.get_secret_value(), autocommit=True,
                        connect_timeout=2, row_factory=dict_row,
                        application_name="yorisoi-rate-limits",
                        options="-c statement_timeout=1000 -c lock_timeout=1000")
                    # Closed with the limiter (a test's limiter replaced), not left to warn.
                    weakref.finalize(self, _finished, self._conn)
                cursor = self._conn.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
            except psycopg.Error:
                self._retry_at = time.monotonic() + self.RETRY_SECONDS
                self.close_unlocked()
                raise

    def close_unlocked(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self.close_unlocked()


def _finished(conn: Any) -> None:
    with contextlib.suppress(Exception):  # closed already, or broken
        conn.close()


def _autocommit(db: Database, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """One statement committed on its own: on PostgreSQL a pooled autocommit connection
    (one round trip, no BEGIN/COMMIT), on SQLite a write transaction of its own."""
    from yorisoi.infra.db import Cursor

    returns = "RETURNING" in sql
    if db.dialect == "postgres" and not db.in_transaction():
        with db.datastore.get_connection() as conn:
            if conn.autocommit:
                cursor = Cursor(conn.cursor(), db).execute(sql, params)
                return cursor.fetchall() if returns else []
    with db.transaction() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if returns else []


def limiter_for(settings: Settings, services: Callable[[], Any]) -> Any:
    """The limiter ``settings`` choose (None: limits off).  ``services`` is called for the
    app's ``Services`` when the shared limiter first needs the platform database."""
    if not settings.rate_limits_enabled:
        return None
    if settings.rate_limit_store == "memory":
        return RateLimiter.from_settings(settings)
    return SharedRateLimiter.from_settings(
        settings, lambda: services().directory.platform.database)
