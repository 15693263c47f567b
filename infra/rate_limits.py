"""Rate limits: token buckets per principal and per tenant, in this process.

A request is charged to two buckets: its principal's (tenant + subject of a
verified token) and its tenant's (every principal of that municipality or
contractor together), so one busy integration cannot starve its colleagues
and one tenant cannot starve the platform.  Requests without a verified token
(public queries, tokens that fail verification) are charged to a bucket per
client address.  A request is admitted only when every bucket it needs has a
token; a refused request takes none (a tenant-wide refusal does not also
drain the principal's own bucket).

The buckets live in this process's memory.  A deployment with N workers
admits up to N times the configured rates; divide the rates by the number of
workers, or move the buckets to a shared store (Redis, the database) when
exact global limits matter.

The clock is injected (``time.monotonic`` by default) so tests need no sleeps.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yorisoi.infra.settings import Settings

Clock = Callable[[], float]

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
                return Refusal(limit=limit, retry_after=wait)
            for name, level in levels.items():
                self._store(name, level - 1.0, now)
            return None

    def _store(self, name: tuple[str, str], tokens: float, now: float) -> None:
        self._buckets[name] = (tokens, now)
        self._buckets.move_to_end(name)
        while len(self._buckets) > self._max_buckets:
            self._buckets.popitem(last=False)


def keys_for(principal: Any | None, client: str | None) -> dict[str, str]:
    """The buckets a request is charged to: its principal's and tenant's, or its client's."""
    if principal is None:
        return {"client": client or "unknown"}
    tenant = f"{principal.tenant_kind}:{principal.tenant_id}"
    return {"principal": f"{tenant}:{principal.subject}", "tenant": tenant}
