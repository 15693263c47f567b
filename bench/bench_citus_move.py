"""A tenant's live move on Citus: its write rate during the move against before, and the move itself.

    .venv/bin/python bench/bench_citus_move.py [--events 100000] [--writers 2] [--before 10]

Starts a throwaway coordinator and two workers (tests/citus/citus_cluster.py: the test
suite's cluster recipe; needs citus.so — `make test-citus` builds it once per machine),
provisions one municipality with the product's provisioning, fills its log with
``--events`` events (bulk, as the owner: ~600-byte states, the size of a consultation's),
then runs ``--writers`` closed-loop writers through the product's insert path
(``PostgresTenantRecorder.insert_events`` → ``yorisoi_insert_events``, one event a write)
for ``--before`` seconds, and on through ``tenants.placement.move`` to the other worker.

Printed: writes/s before (the baseline of this run) and during the move, their ratio;
the move's duration; median and longest write latency before and during, the longest
as a ratio of the median before.  No absolute time is a target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "citus")]

CITY = "131016"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--before", type=float, default=10.0)
    args = parser.parse_args()

    from citus_cluster import citus_cluster
    from eventsourcing.persistence import StoredEvent

    from yorisoi.infra.wiring.bootstrap import OPERATOR, Services, init_platform
    from yorisoi.services.casework import CaseworkApplication
    from yorisoi.services.context import acting_as
    from yorisoi.tenants.placement import move, placements, plan_move
    from yorisoi.tenants.spaces import event_store_env, municipality_space

    with citus_cluster() as cluster, tempfile.TemporaryDirectory() as data:
        dbname = cluster.create_database("yorisoi_bench")
        settings = cluster.settings(dbname, Path(data),
                                    tenant_pool_max_overflow=args.writers + 2)
        init_platform(settings)
        services = Services(settings)
        with acting_as(OPERATOR):
            services.directory.provision_municipality(code=CITY, name="千代田区",
                                                      prefecture="東京都")
        space = municipality_space(CITY)
        with cluster.coordinator.connect(dbname, "owner", autocommit=True) as conn:
            filled = time.monotonic()
            for start in range(0, args.events, 20_000):
                conn.execute(
                    f"INSERT INTO {space}.casework_events"
                    " (originator_id, originator_version, topic, state)"
                    " SELECT gen_random_uuid(), 1, 'bench.citus:Seed', convert_to(repeat('x', 600),"
                    " 'UTF8') FROM generate_series(1, %s)", (min(20_000, args.events - start),))
            filled = time.monotonic() - filled
        (where,) = placements(settings, [CITY])
        target = next(f"{h}:{p}" for h, p in cluster.workers if f"{h}:{p}" != where.node)
        print(f"{args.events} events ({where.size_bytes / 2**20:.0f} MiB) in {filled:.1f} s;"
              f" {where.node} → {target}", flush=True)

        app = CaseworkApplication(event_store_env(settings, space), tenant=space,
                                  key_provider=services.key_provider)
        samples: list[tuple[float, float]] = []  # (finished at, latency)
        lock = threading.Lock()
        stop = threading.Event()
        failures: list[str] = []

        def write() -> None:
            while not stop.is_set():
                event = StoredEvent(originator_id=uuid.uuid4(), originator_version=1,
                                    topic="bench.citus:Write", state=b"x" * 600)
                began = time.monotonic()
                try:
                    app.recorder.insert_events([event])
                except Exception as error:  # noqa: BLE001 - counted, by type
                    failures.append(type(error).__name__)
                    continue
                done = time.monotonic()
                with lock:
                    samples.append((done, done - began))

        threads = [threading.Thread(target=write, daemon=True) for _ in range(args.writers)]
        for thread in threads:
            thread.start()
        time.sleep(args.before)
        plan = plan_move(settings, CITY, target)
        move_began = time.monotonic()
        result = move(settings, plan)
        move_ended = time.monotonic()
        time.sleep(1)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        app.close()
        services.close()

        first = samples[0][0]
        before = [lat for at, lat in samples if first + 1 <= at < move_began]  # 1 s warm-up
        during = [lat for at, lat in samples if move_began <= at <= move_ended]
        rate_before = len(before) / (move_began - first - 1)
        rate_during = len(during) / (move_ended - move_began)
        median_before = statistics.median(before)
        print(f"writers: {args.writers} closed-loop, one event a write; failed writes: "
              f"{len(failures)}")
        print(f"writes/s before the move (baseline): {rate_before:.0f}")
        print(f"writes/s during the move:            {rate_during:.0f}"
              f"  ratio {rate_during / rate_before:.2f}")
        print(f"move duration: {result.seconds:.1f} s ({plan.events_before} events, "
              f"{plan.size_bytes / 2**20:.0f} MiB; {result.events_after} of them after)")
        print(f"write latency before: median {median_before * 1000:.1f} ms, "
              f"max {max(before) * 1000:.0f} ms")
        print(f"write latency during: median {statistics.median(during) * 1000:.1f} ms, "
              f"max {max(during) * 1000:.0f} ms  (max / median before: "
              f"{max(during) / median_before:.0f}×)")
        cluster.drop_database(dbname)


if __name__ == "__main__":
    main()
