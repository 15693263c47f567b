"""GraphQL reads under concurrent clients, beside a minimal FastAPI + psycopg endpoint (same run).

Figure: ``cases`` (a page of 20 of a municipality's case list, as a municipal
supervisor sees it) through the product — uvicorn, ``create_app``, token check,
rate limiter, access decision, GraphQL, the case view — in requests per second,
÷ the same page from ``bench/http_servers.py baseline`` (FastAPI + a psycopg
pool, the same two statements in one read-only transaction, the same rows and
fields as JSON).  Both servers run in their own process (one uvicorn worker
each); the load comes from ``bench/loadgen.py``, a third process on loopback:
``--concurrency`` keep-alive connections, bounded by ``--requests`` and
``--seconds`` per round.  Rounds alternate between the two servers (who goes
first alternates too).  p50/p95/p99 and errors are reported for both; any
error (a status other than 200, a GraphQL error) is counted, and must be 0.

The rate limiter stays on, with limits far above the load (its cost is part of
every request in production; its refusals are not what is measured).

    .venv/bin/python bench/bench_graphql_load.py [--cases 200] [--concurrency 8]
        [--requests 2000] [--seconds 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from common import (
    CITY,
    Pair,
    acting_context,
    consultation,
    new_household,
    print_table,
)
from http_servers import CASES_QUERY, api_world, free_port, load, serving, settings_env
from pgcluster import APP_ROLE

SUPERVISOR = "bench-supervisor-0001"
PAGE = 20


def prepare(cluster: Any, cases: int, code: str = CITY) -> tuple[Any, str]:
    """The platform, one municipality with ``cases`` cases in its views, and a token."""
    from yorisoi.services.context import acting_as

    with api_world(cluster, code) as (settings, services):
        with services.runtimes.lease(code) as rt, acting_as(acting_context()):
            for _ in range(cases):
                rt.casework.record_consultation(consultation(household=new_household(),
                                                            code=code))
            rt.catch_up()
        token = services.dev_issuer.mint("municipality", code, SUPERVISOR,
                                         roles=["municipal_supervisor"], sites=[],
                                         expires_in=4 * 3600)
    return settings, token


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: round(statistics.median(r[key] for r in rounds), 2)
            for key in ("throughput", "p50_ms", "p95_ms", "p99_ms")} | {
        "errors": sum(r["errors"] for r in rounds),
        "requests": sum(r["requests"] for r in rounds),
        "error_samples": [s for r in rounds for s in r["error_samples"]][:3]}


def run(cluster: Any, *, cases: int = 200, concurrency: int = 8, requests: int = 2000,
        seconds: float = 20.0, rounds: int = 3, code: str = CITY
        ) -> tuple[list[Pair], dict[str, Any]]:
    settings, token = prepare(cluster, cases, code)
    app_port, base_port = free_port(), free_port()
    body = json.dumps({"query": CASES_QUERY,
                       "variables": {"m": code, "first": PAGE}}).encode()
    dsn = (f"host=127.0.0.1 port={cluster.port} dbname={cluster.dbname} user={APP_ROLE}"
           f" password={cluster.passwords[APP_ROLE]}")
    pair = Pair(f"GraphQL case list (page of {PAGE}), {concurrency} clients", "req/s",
                target=0.5)
    app_rounds: list[dict[str, Any]] = []
    base_rounds: list[dict[str, Any]] = []
    with serving("app", app_port, settings_env(settings)), \
            serving("baseline", base_port, {"BENCH_DSN": dsn, "BENCH_SCHEMA": f"t_{code}"}):

        def product() -> dict[str, Any]:
            return load(f"http://127.0.0.1:{app_port}/graphql", method="POST", body=body,
                        headers=[f"Authorization: Bearer {token}"], concurrency=concurrency,
                        requests=requests, seconds=seconds, warmup=4 * concurrency,
                        expect='"totalCount"')

        def baseline() -> dict[str, Any]:
            return load(f"http://127.0.0.1:{base_port}/cases?first={PAGE}",
                        concurrency=concurrency, requests=requests, seconds=seconds,
                        warmup=4 * concurrency, expect='"totalCount"')

        for i in range(rounds):
            if i % 2 == 0:
                s, r = product(), baseline()
            else:
                r, s = baseline(), product()
            app_rounds.append(s)
            base_rounds.append(r)
            pair.add((s["requests"], s["seconds"]), (r["requests"], r["seconds"]))
    detail = {"product": _summary(app_rounds), "baseline": _summary(base_rounds),
              "cases": cases, "page": PAGE, "concurrency": concurrency,
              "requests_per_round": requests, "seconds_per_round": seconds}
    p, b = detail["product"], detail["baseline"]
    pair.note = (f"product p50/p95/p99 {p['p50_ms']:.1f}/{p['p95_ms']:.1f}/{p['p99_ms']:.1f} ms,"
                 f" errors {p['errors']}; baseline {b['p50_ms']:.1f}/{b['p95_ms']:.1f}/"
                 f"{b['p99_ms']:.1f} ms, errors {b['errors']}; {cases} cases")
    return [pair], detail


def main() -> None:
    from common import configure_production_telemetry
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000, help="per round and server")
    parser.add_argument("--seconds", type=float, default=20.0, help="per round and server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--durable", action="store_true")
    args = parser.parse_args()
    configure_production_telemetry(True)
    with throwaway_cluster(durable=args.durable) as cluster:
        pairs, detail = run(cluster, cases=args.cases, concurrency=args.concurrency,
                            requests=args.requests, seconds=args.seconds, rounds=args.rounds)
    print_table(pairs)
    print(json.dumps(detail, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
