"""The shared rate limiter's cost: requests/s with the buckets in PostgreSQL vs with limits off.

Figures (each a ratio measured in the same run, rounds alternating who goes first):

- **HTTP, shared ÷ off**: the product (``bench/http_servers.py app``, one uvicorn worker)
  with ``YORISOI_RATE_LIMIT_STORE=database`` (every request: one ``INSERT … ON CONFLICT
  … RETURNING`` over its principal's and tenant's buckets in the platform schema) ÷ the
  same server with ``YORISOI_RATE_LIMITS=false``.  Limits far above the load: the cost
  of charging, not of refusing, is measured.  Two requests: ``{ __typename }`` (the
  cheapest authenticated GraphQL request, where the limiter weighs most) and a page of
  20 cases (a typical read).
- **HTTP, memory ÷ off**: the per-process token buckets, for comparison.
- **HTTP, shared awaited ÷ off**: the shared limiter as the rate-limit middleware would
  call it if it awaited ``SharedRateLimiter.take_async`` (the statement in a worker
  thread) instead of calling ``take`` on the event loop: a server of this file's own
  (``--serve-awaited PORT``) with that one change applied to the middleware.
- **In-process, take() ÷ raw statement**: ``SharedRateLimiter.take`` ÷ the very same
  upsert sent with psycopg on one autocommit connection (what our code adds around the
  round trip: hashing the keys, rendering, reading the answer).

    .venv/bin/python bench/bench_rate_limits.py [--concurrency 8] [--seconds 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import CITY, Pair, acting_context, consultation, new_household, print_table
from http_servers import CASES_QUERY, api_world, free_port, load, serving, settings_env

HERE = Path(__file__).resolve().parent

SUPERVISOR = "bench-supervisor-0001"
LIGHT = {"query": "{ __typename }"}


def _http(cluster: Any, *, concurrency: int, requests: int, seconds: float, rounds: int,
          cases: int) -> tuple[list[Pair], dict[str, Any]]:
    from yorisoi.services.context import acting_as

    with api_world(cluster, CITY) as (settings, services):
        with services.runtimes.lease(CITY) as rt, acting_as(acting_context()):
            for _ in range(cases):
                rt.casework.record_consultation(consultation(household=new_household(),
                                                            code=CITY))
            rt.catch_up()
        token = services.dev_issuer.mint("municipality", CITY, SUPERVISOR,
                                         roles=["municipal_supervisor"], sites=[],
                                         expires_in=4 * 3600)
    envs = {"shared": settings_env(settings.model_copy(update={"rate_limit_store": "database"})),
            "memory": settings_env(settings.model_copy(update={"rate_limit_store": "memory"})),
            "off": settings_env(settings.model_copy(update={"rate_limits": False}))}
    # The outage policy answers 503 when a pool lends no connection within 1 s: on a loaded
    # machine that is the machine, not the limiter (the figure is throughput, not outages).
    for env in envs.values():
        env["YORISOI_PG_POOL_TIMEOUT_SECONDS"] = "30"
    envs["awaited"] = envs["shared"]
    ports = {name: free_port() for name in envs}
    bodies = {"{ __typename }": (json.dumps(LIGHT).encode(), '"__typename"'),
              "case list, page of 20": (json.dumps({"query": CASES_QUERY, "variables": {
                  "m": CITY, "first": 20}}).encode(), '"totalCount"')}
    pairs: list[Pair] = []
    latencies: dict[str, dict[str, list[float]]] = {}
    with serving("app", ports["shared"], envs["shared"]), \
            serving("app", ports["memory"], envs["memory"]), \
            serving("app", ports["off"], envs["off"]), \
            _serving_awaited(ports["awaited"], envs["awaited"]):

        def run(name: str, body: bytes, expect: str) -> dict[str, Any]:
            return load(f"http://127.0.0.1:{ports[name]}/graphql", method="POST", body=body,
                        headers=[f"Authorization: Bearer {token}"], concurrency=concurrency,
                        requests=requests, seconds=seconds, warmup=4 * concurrency,
                        expect=expect)

        for label, (body, expect) in bodies.items():
            shared = Pair(f"HTTP {label}: shared ÷ off", "req/s")
            awaited = Pair(f"HTTP {label}: shared awaited ÷ off", "req/s")
            memory = Pair(f"HTTP {label}: memory ÷ off", "req/s")
            p50: dict[str, list[float]] = {"shared": [], "awaited": [], "memory": [],
                                           "off": []}
            for i in range(rounds):
                order = ["shared", "awaited", "memory", "off"]
                if i % 2:
                    order.reverse()
                results = {name: run(name, body, expect) for name in order}
                for name, result in results.items():
                    assert result["errors"] == 0, (name, result["error_samples"])
                    p50[name].append(result["p50_ms"])
                off = (results["off"]["requests"], results["off"]["seconds"])
                shared.add((results["shared"]["requests"], results["shared"]["seconds"]), off)
                awaited.add((results["awaited"]["requests"], results["awaited"]["seconds"]),
                            off)
                memory.add((results["memory"]["requests"], results["memory"]["seconds"]), off)
            pairs += [shared, awaited, memory]
            latencies[label] = {k: [round(v, 2) for v in vs] for k, vs in p50.items()}
    return pairs, {"p50_ms": latencies, "concurrency": concurrency}


@contextlib.contextmanager
def _serving_awaited(port: int, env: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen([sys.executable, str(HERE / "bench_rate_limits.py"),
                                "--serve-awaited", str(port)], env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode()[-2000:])  # type: ignore[union-attr]
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the awaited-limiter server did not start")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(10)


def _serve_awaited(port: int) -> None:
    """The product as ``http_servers.py app`` runs it, with the rate-limit middleware
    awaiting ``take_async`` (the change proposed for infra/http/middleware.py)."""
    import uvicorn
    from starlette.requests import Request

    from yorisoi.infra.http import middleware
    from yorisoi.infra.http.app import create_app
    from yorisoi.infra.settings import Settings

    async def call(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(middleware.RATE_LIMITED) \
                or scope["path"].startswith(middleware.NOT_RATE_LIMITED):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        limiter = request.app.state.rate_limiter
        if limiter is None:
            await self.app(scope, receive, send)
            return
        principal = await middleware._principal(request)
        client = request.client.host if request.client else None
        keys = middleware.keys_for(principal, client)
        take_async = getattr(limiter, "take_async", None)
        refusal = await take_async(**keys) if take_async else limiter.take(**keys)
        if refusal is not None:
            await middleware._refused(refusal, request)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    middleware.RateLimitMiddleware.__call__ = call  # type: ignore[method-assign]
    uvicorn.run(create_app(Settings()), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


def _in_process(cluster: Any, *, calls: int, rounds: int) -> Pair:
    """``take()`` ÷ the same statement over raw psycopg (autocommit), interleaved."""
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.rate_limits import Rate, SharedRateLimiter, _bucket_id, _charge_sql

    settings = cluster.settings()
    services = Services(settings)
    pair = Pair("take() ÷ raw upsert statement (in process)", "calls/s")
    try:
        db = services.directory.platform.database
        limiter = SharedRateLimiter(principal=Rate(1e6, 10**6), tenant=Rate(1e6, 10**6),
                                    database=lambda: db, settings=settings)
        statement = db.render(_charge_sql("postgres", 2))
        conn = cluster.connect(role="app", autocommit=True)
        try:
            def ours() -> int:
                for i in range(calls):
                    limiter.take(principal=f"municipality:{CITY}:user-{i % 50}",
                                 tenant=f"municipality:{CITY}")
                return calls

            def raw() -> int:
                for i in range(calls):
                    now = time.time()
                    buckets = sorted([_bucket_id("principal",
                                                 f"municipality:{CITY}:user-{i % 50}"),
                                      _bucket_id("tenant", f"municipality:{CITY}")])
                    params: list[Any] = []
                    for bucket in buckets:
                        params += [bucket, 1e6 - 1, now, 1e6, 1e6, now + 1e-6]
                    conn.execute(statement, params).fetchall()
                return calls

            for i in range(rounds):
                first, second = (ours, raw) if i % 2 == 0 else (raw, ours)
                a = _timed(first)
                b = _timed(second)
                s, r = (a, b) if first is ours else (b, a)
                pair.add(s, r)
        finally:
            conn.close()
    finally:
        services.close()
    return pair


def _timed(fn: Any) -> tuple[int, float]:
    start = time.perf_counter()
    units = fn()
    return units, time.perf_counter() - start


def main() -> None:
    from common import configure_production_telemetry
    from pgcluster import throwaway_cluster

    if len(sys.argv) == 3 and sys.argv[1] == "--serve-awaited":
        configure_production_telemetry(True)
        _serve_awaited(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3000, help="per round and server")
    parser.add_argument("--seconds", type=float, default=8.0, help="per round and server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--calls", type=int, default=2000, help="in-process, per round")
    parser.add_argument("--durable", action="store_true")
    args = parser.parse_args()
    configure_production_telemetry(True)
    with throwaway_cluster(durable=args.durable) as cluster:
        pairs, detail = _http(cluster, concurrency=args.concurrency, requests=args.requests,
                              seconds=args.seconds, rounds=args.rounds, cases=args.cases)
        pairs.append(_in_process(cluster, calls=args.calls, rounds=args.rounds))
    print_table(pairs)
    detail["pairs"] = [p.as_dict() for p in pairs]
    detail["median_ratios"] = {p.name: round(statistics.median(p.round_ratios), 4)
                               for p in pairs}
    print(json.dumps(detail, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
