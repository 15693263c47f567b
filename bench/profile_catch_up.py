"""The all-views catch-up from zero: client CPU per event, and old code beside new.

One log (``bench_projection.record_events``, the same mix) in a throwaway cluster;
each round a *child process* empties every read model, sets their positions to 0,
and times ``TenantRuntime.read_models.catch_up()`` on a fresh runtime (cold key
cache): wall time and the process's CPU time per event.  With ``--old DIR`` (a
tree whose ``yorisoi/<package>`` folders hold other code, e.g. ``git archive`` of
an earlier commit) the rounds alternate between that code and this tree's on the
same log, and the views' rows of the last round of each are compared row for row:
a change to the catch-up must leave them identical.

    .venv/bin/python bench/profile_catch_up.py [--m 4000] [--rounds 5] [--old /tmp/old]
        [--profile /tmp/catch_up.prof]   # cProfile of the last round of this tree's code
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def child(settings_file: str, code: str, dump: str | None, profile: str | None,
          skip: bool = False) -> None:
    """One round in this process: reset, fresh runtime, catch up, report (JSON on stdout)."""
    import gc

    import psycopg

    sys.path.insert(0, str(HERE))
    from common import configure_production_telemetry

    from yorisoi.infra.keys import build_key_provider
    from yorisoi.projections.tenant_views import TENANT_VIEWS, tenant_view_tables
    from yorisoi.tenants.runtime import TenantRuntime

    configure_production_telemetry(True)  # spans are built, as under `yorisoi serve`
    if dump:  # comparable rows: what would be sealed (subject, plaintext, AAD), not a nonce's
        from yorisoi.services.personal_data import HouseholdKeyring

        def reseal(self: Any, household_id: Any, plaintext: bytes, aad: bytes) -> bytes:
            return b"sealed:" + str(household_id).encode() + b":" + plaintext + b":" + aad
        HouseholdKeyring.reseal = reseal  # type: ignore[method-assign]
        HouseholdKeyring.seal = reseal  # type: ignore[method-assign]
    settings = pickle.loads(Path(settings_file).read_bytes())
    runtime = TenantRuntime(settings, code, build_key_provider(settings))
    space = runtime.space
    owner = dict(host=settings.pg_host, port=settings.pg_port, dbname=settings.pg_dbname,
                 user=settings.pg_admin_user,
                 password=settings.pg_admin_password.get_secret_value())
    with psycopg.connect(**owner, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(f'"{space}".{t}' for t in tenant_view_tables()))
        conn.execute(f'UPDATE "{space}".projection_positions SET position = 0'
                     " WHERE name = ANY(%s)", ([v.name for v in TENANT_VIEWS],))
    runtime.case_projector.status()  # a pooled connection, not a warm key cache
    gc.collect()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    with psycopg.connect(**owner, autocommit=True) as conn:
        def backends() -> set[int]:  # this database's server processes (the pool's included)
            return {r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity"
                                               " WHERE datname = current_database()")}
        pids = backends()
        server = _cpu_of(pids)
        wall, cpu = time.perf_counter(), time.process_time()
        if not skip:
            runtime.read_models.catch_up()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        pids |= backends()
        server = _cpu_of(pids) - server
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    with runtime.case_projector.db.transaction(write=False) as cur:
        events = int(cur.execute("SELECT count(*) AS n FROM {events}").fetchone()["n"])
    if dump:
        rows: dict[str, list[str]] = {}
        with psycopg.connect(**owner) as conn:
            for table in tenant_view_tables():
                found = conn.execute(f'SELECT * FROM "{space}".{table}').fetchall()
                rows[table] = sorted(repr(r) for r in found)
        Path(dump).write_text(json.dumps(rows, ensure_ascii=False))
    runtime.close()
    print(json.dumps({"events": events, "wall": wall, "cpu": cpu, "server": server,
                      "views": len(runtime.projectors)}))


def _cpu_of(pids: set[int]) -> float:
    """CPU seconds used so far by these processes (Linux /proc; a gone one counts 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def run_child(tree: str | None, settings_file: str, code: str, dump: str | None = None,
              profile: str | None = None, callgrind: str | None = None,
              skip: bool = False) -> dict[str, Any]:
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree + (os.pathsep + env["PYTHONPATH"]
                                    if env.get("PYTHONPATH") else "")
    args = [sys.executable, str(Path(__file__)), "--child", settings_file, "--code", code]
    if callgrind:  # instructions, not time: repeatable on a busy machine
        args = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={callgrind}", *args]
    if dump:
        args += ["--dump", dump]
    if profile:
        args += ["--profile", profile]
    if skip:
        args += ["--skip"]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--old", help="a tree with other code in yorisoi/<package>/")
    parser.add_argument("--profile", help="cProfile output of this tree's last round")
    parser.add_argument("--child")
    parser.add_argument("--code")
    parser.add_argument("--dump")
    parser.add_argument("--skip", action="store_true", help="(child) all but the catch-up")
    parser.add_argument("--callgrind", metavar="DIR",
                        help="also count instructions: each side once under valgrind, and"
                        " once without the catch-up (the difference is the catch-up's)")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.code, args.dump, args.profile, args.skip)
        return

    sys.path.insert(0, str(HERE))
    from bench_projection import PROJECTION_CODE, record_events
    from pgcluster import throwaway_cluster

    from common import provision

    sides = [("new", None)] + ([("old", args.old)] if args.old else [])
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in sides}
    with throwaway_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        settings = cluster.settings()
        world = provision(settings, PROJECTION_CODE)
        try:
            recorded = record_events(world.runtime.casework, args.m)
        finally:
            world.close()
        settings_file = os.path.join(tmp, "settings.pickle")
        Path(settings_file).write_bytes(pickle.dumps(settings))
        for i in range(args.rounds):
            last = i == args.rounds - 1
            order = sides if i % 2 == 0 else sides[::-1]
            for name, tree in order:
                results[name].append(run_child(
                    tree, settings_file, PROJECTION_CODE,
                    profile=args.profile if last and name == "new" else None))
        for name, tree in sides if args.old else ():  # untimed: the rows, sealing stubbed
            run_child(tree, settings_file, PROJECTION_CODE,
                      dump=os.path.join(tmp, f"{name}.json"))
        counted: dict[str, int] = {}
        if args.callgrind:
            os.makedirs(args.callgrind, exist_ok=True)
            for name, tree in sides:
                for skip in (False, True):
                    out = os.path.join(args.callgrind, f"{name}{'-skip' if skip else ''}.out")
                    run_child(tree, settings_file, PROJECTION_CODE, callgrind=out, skip=skip)
                    counted[name + ("-skip" if skip else "")] = _instructions(out)
        same = None
        if args.old:
            new_rows = json.loads(Path(tmp, "new.json").read_text())
            old_rows = json.loads(Path(tmp, "old.json").read_text())
            same = new_rows == old_rows
            for table in new_rows:
                if new_rows[table] != old_rows.get(table):
                    print(f"rows differ: {table}")
                    if os.environ.get("SHOW_DIFF"):
                        a, b = set(new_rows[table]), set(old_rows[table])
                        print(" new only:", sorted(a - b)[:2], "\n old only:", sorted(b - a)[:2])
    print(f"m={recorded} events, {results['new'][0]['views']} views, load {os.getloadavg()}")
    for name, runs in results.items():
        cpu = sorted(r["cpu"] / r["events"] * 1e6 for r in runs)
        server = sorted(r["server"] / r["events"] * 1e6 for r in runs)
        rate = sorted(r["events"] / r["wall"] for r in runs)
        print(f"{name}: CPU µs/event min {cpu[0]:.1f} median {cpu[len(cpu) // 2]:.1f}"
              f" (PostgreSQL's: median {server[len(server) // 2]:.1f});"
              f" events/s median {rate[len(rate) // 2]:,.0f} (max {rate[-1]:,.0f})")
    for name, _ in sides if counted else ():
        extra = counted[name] - counted[name + "-skip"]
        print(f"{name}: {extra / recorded:,.0f} instructions per event (callgrind, this process)")
    if same is not None:
        print("views' rows identical:", same)


def _instructions(callgrind_out: str) -> int:
    for line in Path(callgrind_out).read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ValueError(f"no totals in {callgrind_out}")


if __name__ == "__main__":
    main()
