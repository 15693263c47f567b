"""Workers share the tenants: catch-up throughput and the worst tenant's lag with 1, 2 and 4 workers.

Figure: ``--tenants`` municipalities (200) receive consultations from writer
threads for ``--seconds`` while K ``yorisoi worker`` processes (K = 1, 2, 4)
keep every tenant's eleven read models caught up.  Reported for each K:

* catch-up throughput — events applied per second by the workers together,
  from the start of the load until every tenant has caught up (the drain), ÷ a
  raw paged read of the same logs (``SELECT … WHERE notification_id > %s
  ORDER BY … LIMIT 500`` per tenant, no decoding, no views) in the same run;
* the worst tenant's lag — sampled every half second over all tenants (one
  statement reads every tenant's head and lowest view position), in events and
  in seconds (how long the worst tenant's oldest unapplied write waited);
* the drain — how long after the writers stop the last tenant is caught up.

Workers take a tenant's positions with ``SKIP LOCKED`` and give each notified
tenant one batch per turn (``ProjectorGroup.catch_up_turn``), so K workers split
the tenants instead of queueing on the same position rows.  On a two-core
machine the writers, PostgreSQL and the workers share the cores: more than two
workers cannot add CPU, only overlap round trips.

    .venv/bin/python bench/bench_workers.py [--tenants 200] [--seconds 20] [--writers 3]
        [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_tenants import Fleet
from common import CITY, Pair, acting_context, consultation, new_household, print_table
from http_servers import settings_env


def _lag_sql(codes: list[str]) -> str:
    parts = [f"""SELECT '{c}' AS code,
        (SELECT COALESCE(max(notification_id), 0) FROM "t_{c}".casework_events) AS head,
        (SELECT COALESCE(min(position), 0) FROM "t_{c}".projection_positions) AS position"""
             for c in codes]
    return " UNION ALL ".join(parts)


def _raw_read(cluster: Any, codes: list[str]) -> tuple[int, float]:
    """Events read by a raw paged read of every tenant's log, and the seconds it took."""
    read, started = 0, time.perf_counter()
    with cluster.connect("app", autocommit=True) as conn:
        for code in codes:
            after = 0
            while True:
                rows = conn.execute(
                    f'SELECT notification_id, originator_id, originator_version, topic, state'
                    f' FROM "t_{code}".casework_events WHERE notification_id > %s'
                    f' ORDER BY notification_id LIMIT 500', (after,)).fetchall()
                read += len(rows)
                if len(rows) < 500:
                    break
                after = rows[-1][0]
    return read, time.perf_counter() - started


class Sampler(threading.Thread):
    """Every half second: each tenant's lag in events, and how long its oldest lag has lasted."""

    def __init__(self, cluster: Any, codes: list[str]) -> None:
        super().__init__(daemon=True)
        self.cluster, self.sql = cluster, _lag_sql(codes)
        self.stop = threading.Event()
        self.worst_events = 0
        self.worst_seconds = 0.0
        self.behind_since: dict[str, float] = {}
        self.caught_up = threading.Event()

    def sample(self, conn: Any) -> int:
        now, total = time.perf_counter(), 0
        for code, head, position in conn.execute(self.sql).fetchall():
            lag = max(int(head) - int(position), 0)
            total += lag
            self.worst_events = max(self.worst_events, lag)
            if lag:
                since = self.behind_since.setdefault(code, now)
                self.worst_seconds = max(self.worst_seconds, now - since)
            else:
                self.behind_since.pop(code, None)
        return total

    def run(self) -> None:
        with self.cluster.connect("app", autocommit=True) as conn:
            while not self.stop.is_set():
                if self.sample(conn) == 0:
                    self.caught_up.set()
                else:
                    self.caught_up.clear()
                self.stop.wait(0.5)


def _write(services: Any, cases: dict[str, Any], stop: threading.Event, counts: list[int],
           offset: int) -> None:
    from yorisoi.services.context import acting_as

    codes = list(cases)
    i = offset
    while not stop.is_set():
        code = codes[i % len(codes)]
        i += 1
        with services.runtimes.lease(code, current=False) as rt, acting_as(acting_context()):
            rt.casework.record_consultation(consultation(cases[code], code=code))
        counts[0] += 2  # the consultation and the case's note of it


def _heads(cluster: Any, codes: list[str]) -> int:
    with cluster.connect("app", autocommit=True) as conn:
        return sum(int(h) for _, h, _ in conn.execute(_lag_sql(codes)).fetchall())


def run(cluster: Any, *, tenants: int = 200, seconds: float = 20.0, writers: int = 3,
        workers: tuple[int, ...] = (1, 2, 4)) -> tuple[list[Pair], dict[str, Any]]:
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.worker import catch_up_all
    from yorisoi.services.context import acting_as

    # Every process keeps every tenant's runtime (one connection each at most): the
    # workers are sized for the active tenants, as an operator would size them.
    settings = cluster.settings(dev_issuer=True, max_active_tenants=tenants + 8,
                                tenant_pool_max_overflow=1)
    fleet = Fleet(settings, CITY)
    fleet.grow(tenants)
    services = Services(settings)
    detail: dict[str, Any] = {"tenants": tenants, "seconds": seconds, "writers": writers}
    pairs: list[Pair] = []
    try:
        cases = {}
        for code in fleet.codes:
            with services.runtimes.lease(code) as rt, acting_as(acting_context()):
                cases[code] = rt.casework.record_consultation(
                    consultation(household=new_household(), code=code)).case_id
        catch_up_all(services)
        env = {**settings_env(settings)}
        exe = str(Path(sys.executable).parent / "yorisoi")
        for k in workers:
            catch_up_all(services)  # every series starts caught up
            before = _heads(cluster, fleet.codes)
            procs = [subprocess.Popen([exe, "worker"], env={**os.environ, **env},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for _ in range(k)]
            try:
                time.sleep(3.0)  # the workers' first pass over every tenant
                sampler = Sampler(cluster, fleet.codes)
                sampler.start()
                stop, counts = threading.Event(), [0]
                threads = [threading.Thread(target=_write, args=(services, cases, stop, counts, j))
                           for j in range(writers)]
                started = time.perf_counter()
                for t in threads:
                    t.start()
                time.sleep(seconds)
                stop.set()
                for t in threads:
                    t.join()
                stopped = time.perf_counter()
                sampler.caught_up.clear()
                sampler.caught_up.wait(300)
                drained = time.perf_counter()
                sampler.stop.set()
                sampler.join()
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(30)
            applied = _heads(cluster, fleet.codes) - before
            rate = applied / (drained - started)
            raw_events, raw_seconds = _raw_read(cluster, fleet.codes)
            pair = Pair(f"catch-up by {k} worker(s), {tenants} tenants under write load",
                        "events/s")
            pair.add((applied, drained - started), (raw_events, raw_seconds))
            pair.note = (f"worst lag {sampler.worst_events} events /"
                         f" {sampler.worst_seconds:.1f} s; drain {drained - stopped:.1f} s;"
                         f" written {counts[0]} events at {counts[0] / (stopped - started):.0f}/s")
            pairs.append(pair)
            detail[f"workers_{k}"] = {
                "events_per_second": round(rate, 1), "worst_lag_events": sampler.worst_events,
                "worst_lag_seconds": round(sampler.worst_seconds, 2),
                "drain_seconds": round(drained - stopped, 2),
                "written_per_second": round(counts[0] / (stopped - started), 1),
                "raw_read_events_per_second": round(raw_events / raw_seconds, 1)}
    finally:
        services.close()
    return pairs, detail


def main() -> None:
    from common import configure_production_telemetry
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    configure_production_telemetry(True)
    most = max(int(w) for w in args.workers.split(","))
    with throwaway_cluster(max_connections=(most + 1) * (args.tenants + 10) + 100) as cluster:
        pairs, detail = run(cluster, tenants=args.tenants, seconds=args.seconds,
                            writers=args.writers,
                            workers=tuple(int(w) for w in args.workers.split(",")))
    print_table(pairs)
    print(json.dumps(detail, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
