"""What the outage guards cost a healthy request: one pooled borrow and ``SELECT 1``.

Every connection the application borrows passes ``infra/outages.guard_datastore``:
the circuit (a closed one is one attribute read), a wait in quarter-second slices,
and ``outages.check_connection`` before the connection is lent, so none left dead
by a server restart reaches a request.

Figures (ratios in the same run: borrows interleaved one by one, the order turning;
medians), each against the library's own datastore with the same settings and no
guard (raw):

- **guarded (poll() check) ÷ raw**: what production runs (``YORISOI_PG_CHECK_CONNECTIONS=true``:
  a zero-timeout ``poll`` of the socket, the round trip only when the server spoke).
- **guarded, unchecked ÷ raw**: the circuit and the slices alone.
- **guarded, library check ÷ raw**: ``ConnectionPool.check_connection`` on every borrow
  (an empty query: one more round trip), for comparison.

Borrows are one at a time (one thread) so the figure is latency added per borrow;
a request borrows one to four times (a recordConsultation: its unit of work and
the answer's reads).

    .venv/bin/python bench/bench_outage_guards.py [--borrows 5000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any


def _datastore(settings: Any, *, guarded: bool, checked: bool, full: bool = False) -> Any:
    from eventsourcing.postgres import PostgresDatastore

    from yorisoi.infra import outages

    datastore = PostgresDatastore(
        dbname=settings.pg_dbname, host=settings.pg_host, port=settings.pg_port,
        user=settings.pg_user, password=settings.pg_password.get_secret_value(),
        connect_timeout=5.0, pool_size=1, max_overflow=1, schema="public")
    if guarded:
        outages.POLICY.check_connections = checked
        datastore._yorisoi_guarded = False
        outages.guard_datastore(datastore)
        if full:  # the library's check: a round trip on every borrow
            from psycopg_pool import ConnectionPool

            datastore.pool._check = ConnectionPool.check_connection
    return datastore


def _borrow(datastore: Any) -> float:
    started = time.perf_counter()
    with datastore.get_connection() as conn:
        conn.execute("SELECT 1").fetchone()
    return time.perf_counter() - started


def main() -> None:
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--borrows", type=int, default=5000, help="per datastore")
    args = parser.parse_args()
    names = ("guarded (poll() check)", "guarded, unchecked", "guarded, library check")
    with throwaway_cluster() as cluster:
        settings = cluster.settings()
        raw = _datastore(settings, guarded=False, checked=False)
        stores = (_datastore(settings, guarded=True, checked=True),
                  _datastore(settings, guarded=True, checked=False),
                  _datastore(settings, guarded=True, checked=True, full=True))
        samples: dict[str, list[float]] = {name: [] for name in ("raw", *names)}
        try:
            for store in (raw, *stores):
                for _ in range(200):  # connections made, plans warm
                    _borrow(store)
            # Interleaved borrow by borrow, the order turning: a loaded machine's
            # disturbances fall on every figure alike; medians ignore the outliers.
            for i in range(args.borrows):
                order = [("raw", raw), *zip(names, stores, strict=True)]
                shift = i % len(order)
                for name, store in order[shift:] + order[:shift]:
                    samples[name].append(_borrow(store))
        finally:
            for store in (raw, *stores):
                store.close()
    base = statistics.median(samples["raw"])
    figures = {}
    print(f"{'borrow + SELECT 1 (median of ' + str(args.borrows) + ')':44} {'µs':>8} "
          f"{'raw µs':>8} {'ratio':>7} {'added µs':>9}")
    for name in names:
        median = statistics.median(samples[name])
        figures[name] = {"median_us": round(median * 1e6, 1), "raw_median_us":
                         round(base * 1e6, 1), "ratio": round(base / median, 4),
                         "added_us": round((median - base) * 1e6, 1)}
        print(f"{name:44} {median * 1e6:8.1f} {base * 1e6:8.1f} {base / median:7.1%} "
              f"{(median - base) * 1e6:9.1f}")
    print(json.dumps(figures, indent=2, ensure_ascii=False), file=sys.stdout)


if __name__ == "__main__":
    main()
