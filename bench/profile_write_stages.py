"""Where a recordConsultation's server time goes, by stage (spans) and by middleware.

In-process (Starlette's TestClient, one client, a throwaway PostgreSQL 15
cluster): after a warm-up, ``--requests`` mutations on one kept case; prints
the median duration of each span (HTTP, the GraphQL operation, the command,
its insert, the catch-up's batch) and of each ASGI middleware, outermost
first — a middleware's own cost is its time minus the next one's.  Times are
of this machine at this moment: compare stages within one run, never runs.

    .venv/bin/python bench/profile_write_stages.py [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from common import ACTOR, CITY, configure_production_telemetry, yesterday
from pgcluster import throwaway_cluster

import bench_write_path


def _timing(cls: type, times: dict[str, list[float]]) -> Callable[[], None]:
    """Wrap ``cls.__call__`` to record its duration; returns the undo."""
    original = cls.__call__

    async def timed(self: Any, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        try:
            await original(self, scope, receive, send)
        finally:
            times.setdefault(cls.__name__, []).append((time.perf_counter() - started) * 1000)

    cls.__call__ = timed  # type: ignore[method-assign]
    return lambda: setattr(cls, "__call__", original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    configure_production_telemetry(True)
    from starlette.testclient import TestClient

    from yorisoi.infra import metrics
    from yorisoi.infra.http import middleware
    from yorisoi.infra.http.app import create_app
    from yorisoi.infra.telemetry import in_memory_exporter

    with throwaway_cluster() as cluster:
        settings, token, case_ids = bench_write_path.prepare(cluster, cases=1)
        exporter = in_memory_exporter()
        times: dict[str, list[float]] = {}
        outermost_first = (metrics.MetricsMiddleware, middleware.HttpSpanMiddleware,
                           middleware.OutageMiddleware, middleware.RateLimitMiddleware,
                           middleware.RequestGuardMiddleware)
        undo = [_timing(cls, times) for cls in outermost_first]
        body = json.dumps({"query": bench_write_path.RECORD, "variables": {"input": {
            "municipalityCode": CITY, "caseId": case_ids[0], "siteId": ACTOR["site_id"],
            "occurredOn": yesterday().isoformat(), "channel": "visit",
            "themes": ["development"], "asked": "架空の相談", "wishes": "架空の希望",
            "direction": "架空の方針"}}}, ensure_ascii=False).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            with TestClient(create_app(settings)) as client:
                for _ in range(100):  # warm-up: caches, prepared statements
                    client.post("/graphql", content=body, headers=headers)
                exporter.clear()
                times.clear()
                started = time.perf_counter()
                for _ in range(args.requests):
                    client.post("/graphql", content=body, headers=headers)
                wall = (time.perf_counter() - started) * 1000 / args.requests
        finally:
            for step in undo:
                step()
        spans: dict[str, list[float]] = {}
        for span in exporter.get_finished_spans():
            spans.setdefault(span.name, []).append((span.end_time - span.start_time) / 1e6)
        print(f"{args.requests} recordConsultation, one client, in-process:"
              f" {wall:.2f} ms per request (wall, TestClient included)")
        print("\nspans (median ms):")
        for name, durations in sorted(spans.items(), key=lambda kv: -statistics.median(kv[1])):
            if len(durations) >= args.requests:  # one per request: a stage of every mutation
                print(f"  {name:36s} {statistics.median(durations):7.3f}")
        print("\nmiddleware, outermost first (median ms; own = this minus the next):")
        medians = [statistics.median(times[cls.__name__]) for cls in outermost_first]
        for i, cls in enumerate(outermost_first):
            own = medians[i] - (medians[i + 1] if i + 1 < len(medians) else 0.0)
            inner = "" if i + 1 < len(medians) else "  (includes the app)"
            print(f"  {cls.__name__:28s} {medians[i]:7.3f}   own {own:6.3f}{inner}")


if __name__ == "__main__":
    main()
