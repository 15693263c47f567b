"""Where the time of a recordConsultation goes with N server processes: CPU and waits.

Starts the product as ``bench_write_path`` does (``--workers N``), runs the load
generator with ``--clients`` keep-alive clients (a case each) for ``--seconds``,
and measures during that window:

* CPU seconds per mutation of every process involved — each uvicorn process,
  PostgreSQL's backends (grouped by the server process they serve) and its
  background processes, the load generator — from ``/proc/<pid>/stat`` before and
  after, plus the whole machine's busy and idle time (``/proc/stat``: the other
  engineers' work shows there, not in the per-process figures);
* what the product's PostgreSQL backends were doing, sampled every ``--sample-ms``
  from ``pg_stat_activity`` (state, wait event type and event) and ``pg_locks``
  (locks waited for, by type and what they are on).

    .venv/bin/python bench/probe_two_processes.py [--workers 2] [--clients 8] [--seconds 10]
        [--baseline] [--accept reuseport|shared]

Prints one JSON object.  Times are this machine's at this moment: compare
processes and waits within one run; quote ``uptime`` beside them.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import threading
import time
from typing import Any

from common import configure_production_telemetry
from http_servers import free_port, load, serving, settings_env

import bench_write_path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 if it has gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def sys_seconds(pid: int) -> float:
    """stime alone: time in the kernel (syscalls, futex waits for the GIL, socket I/O)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[12]) / TICK
    except OSError:
        return 0.0


def run_delay(pid: int) -> float:
    """Seconds the process's threads were runnable but waited for a CPU (schedstat)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
    except OSError:
        pass
    return total / 1e9


def switches(pid: int) -> int:
    """Context switches of a process's threads (voluntary + involuntary) so far."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.endswith("ctxt_switches:\t" + line.split("\t")[-1]) and "ctxt" in line:
                        total += int(line.split()[1])
    except OSError:
        pass
    return total


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc's parent links)."""
    parents: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            parents[ppid].append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def machine() -> tuple[float, float]:
    """(busy, idle) seconds of the whole machine so far, all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK, idle / TICK


def accepted_by(port: int) -> dict[str, int]:
    """How many established connections to ``port`` each process holds (``ss -p``)."""
    import re
    import subprocess

    listing = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True, check=False).stdout
    held: collections.Counter[str] = collections.Counter()
    for line in listing.splitlines():
        for pid in re.findall(r"pid=(\d+)", line):
            held[pid] += 1
    return dict(held)


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")[:80]
    except OSError:
        return "?"


class Sampler(threading.Thread):
    """Samples pg_stat_activity and pg_locks of the database until stopped."""

    def __init__(self, cluster: Any, every: float) -> None:
        super().__init__(daemon=True)
        self.cluster, self.every = cluster, every
        self.stop = threading.Event()
        self.samples = 0
        self.states: collections.Counter[str] = collections.Counter()
        self.locks: collections.Counter[str] = collections.Counter()
        self.waiting_queries: collections.Counter[str] = collections.Counter()
        self.backend_ports: dict[int, int] = {}

    def run(self) -> None:
        with self.cluster.connect("superuser", autocommit=True) as conn:
            me = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT pid, state, wait_event_type, wait_event, left(query, 60),"
                    " client_port FROM pg_stat_activity"
                    " WHERE datname = current_database() AND backend_type = 'client backend'"
                    " AND pid <> %s", (me,)).fetchall()
                for pid, state, wtype, wevent, query, port in rows:
                    self.backend_ports[pid] = port
                    key = f"{state}:{wtype or '-'}:{wevent or '-'}"
                    self.states[key] += 1
                    if wtype == "Lock":
                        self.waiting_queries[query] += 1
                for locktype, mode, rel in conn.execute(
                        "SELECT l.locktype, l.mode, coalesce(c.relname, l.objid::text, '')"
                        " FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation"
                        " WHERE NOT l.granted").fetchall():
                    self.locks[f"{locktype}:{mode}:{rel}"] += 1
                self.samples += 1
                time.sleep(self.every)


def probe(cluster: Any, *, workers: int, clients: int, seconds: float, sample_ms: float,
          baseline: bool) -> dict[str, Any]:
    settings, token, case_ids = bench_write_path.prepare(cluster, cases=clients)
    port = free_port()
    out: dict[str, Any] = {"workers": workers, "clients": clients}
    kind, env, url, extra = "app", settings_env(settings), f"http://127.0.0.1:{port}/graphql", {
        "headers": [f"Authorization: Bearer {token}"], "expect": '"ConsultationRecorded"',
        "bodies": [bench_write_path.record_body(c) for c in case_ids]}
    if baseline:
        from common import create_raw_table
        from pgcluster import APP_ROLE

        table = create_raw_table(cluster, "write_path")
        dsn = (f"host=127.0.0.1 port={cluster.port} dbname={cluster.dbname} user={APP_ROLE}"
               f" password={cluster.passwords[APP_ROLE]}")
        kind, env = "baseline-write", {"BENCH_DSN": dsn, "BENCH_TABLE": table}
        url = f"http://127.0.0.1:{port}/consultations?readback=0"
        extra = {"body": b"{}", "expect": '"recordConsultation"'}
    with serving(kind, port, env, workers=workers) as server:
        # Warm every process (imports, pools, caches) before measuring.
        load(url, method="POST", concurrency=clients, requests=40 * clients, seconds=seconds,
             warmup=4 * clients, **extra)
        with open(cluster.data / "postmaster.pid") as f:
            postmaster = int(f.readline())
        servers = children(server.pid) + [server.pid]
        pgs = children(postmaster)
        before = {pid: cpu_seconds(pid) for pid in servers + pgs}
        sys0 = {pid: sys_seconds(pid) for pid in servers}
        sw0 = {pid: switches(pid) for pid in servers}
        rd0 = {pid: run_delay(pid) for pid in servers + pgs}
        m0 = machine()
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampler = Sampler(cluster, sample_ms / 1000)
        sampler.start()
        got: dict[str, Any] = {}
        runner = threading.Thread(target=lambda: got.update(load(
            url, method="POST", concurrency=clients, requests=10**6, seconds=seconds,
            warmup=0, **extra)))
        runner.start()
        time.sleep(min(seconds / 2, 3.0))
        connections = accepted_by(port)
        runner.join()
        sampler.stop.set()
        sampler.join()
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        m1 = machine()
        after = {pid: cpu_seconds(pid) for pid in servers + pgs}
        sys1 = {pid: sys_seconds(pid) for pid in servers}
        sw1 = {pid: switches(pid) for pid in servers}
        rd1 = {pid: run_delay(pid) for pid in servers + pgs}
    n = got["requests"]
    per = {}
    for pid in servers:
        used = after[pid] - before[pid]
        if used > 0.01:
            per[f"server {pid}"] = round(used / n * 1000, 3)
            per[f"server {pid}: of which kernel"] = round((sys1[pid] - sys0[pid]) / n * 1000, 3)
            per[f"server {pid}: context switches"] = round((sw1[pid] - sw0[pid]) / n, 1)
            per[f"server {pid}: waiting for a CPU"] = round((rd1[pid] - rd0[pid]) / n * 1000, 3)
    pg_used = collections.Counter()
    for pid in pgs:
        used = after[pid] - before[pid]
        name = cmdline(pid).split(" ")[0:3]
        pg_used[" ".join(name)[:40] if pid not in sampler.backend_ports else "client backends"] \
            += used
    per["postgres: waiting for a CPU"] = round(
        sum(rd1[p] - rd0[p] for p in pgs) / n * 1000, 3)
    loadgen = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    busy, idle = m1[0] - m0[0], m1[1] - m0[1]
    out.update({
        "connections_per_server_process": connections,
        "requests": n, "errors": got["errors"], "seconds": got["seconds"],
        "throughput": round(got["throughput"], 1), "p50_ms": got.get("p50_ms"),
        "cpu_ms_per_request": {
            **per, **{f"postgres {k}": round(v / n * 1000, 3) for k, v in pg_used.items()
                      if v > 0.005},
            "loadgen": round(loadgen / n * 1000, 3),
            "machine busy (all processes)": round(busy / n * 1000, 3)},
        "machine_busy_share": round(busy / (busy + idle), 3),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "samples": sampler.samples,
        "backend_states_per_sample": {k: round(v / max(sampler.samples, 1), 3)
                                      for k, v in sampler.states.most_common()},
        "lock_waits_per_sample": {k: round(v / max(sampler.samples, 1), 3)
                                  for k, v in sampler.locks.most_common(8)},
        "waiting_queries": dict(sampler.waiting_queries.most_common(5)),
    })
    return out


def main() -> None:
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="2", help="comma-separated: one probe each")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sample-ms", type=float, default=10.0)
    parser.add_argument("--baseline", action="store_true", help="probe the raw endpoint too")
    parser.add_argument("--accept", choices=("reuseport", "shared"), default="reuseport",
                        help="how N processes share the port (bench/http_servers._multiprocess)")
    args = parser.parse_args()
    os.environ["BENCH_ACCEPT"] = args.accept
    configure_production_telemetry(True)
    results = []
    for w in (int(w) for w in args.workers.split(",")):
        for raw in ((False, True) if args.baseline else (False,)):
            with throwaway_cluster() as cluster:
                results.append({"raw": raw} | probe(
                    cluster, workers=w, clients=args.clients, seconds=args.seconds,
                    sample_ms=args.sample_ms, baseline=raw))
    print(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
