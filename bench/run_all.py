"""Run every benchmark on one throwaway PostgreSQL 15 cluster and record the figures.

    .venv/bin/python bench/run_all.py            # full run (a few minutes)
    .venv/bin/python bench/run_all.py --quick    # small N, seconds: a CI smoke check

Prints a table and writes ``bench/results/latest.json`` and ``bench/results/latest.md``.
Every figure is a ratio against a raw psycopg baseline measured in the same run (the
machines are shared and noisy); the absolute rates are kept for context only.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

import bench_access_log
import bench_audit
import bench_commands
import bench_projection
from common import Pair, configure_production_telemetry, dump, machine_info, print_table, provision
from pgcluster import throwaway_cluster

RESULTS = Path(__file__).resolve().parent / "results"


def markdown(info: dict[str, Any], params: dict[str, Any], pairs: list[Pair]) -> str:
    lines = [
        (f"Run {info['date']} · {info['cores']} cores ({info['cpu']}), {info['memory_gb']} GB,"
         f" load {info['load_average_at_start'][0]} → {info['load_average_at_end'][0]} ·"
         f" Python {info['python']} ·"
         f" PostgreSQL {info['postgres'].split()[0]}"
         f" ({'durable' if info['postgres_durable'] else 'fsync off'}) ·"
         f" eventsourcing {info['eventsourcing']} · psycopg {info['psycopg']} ·"
         f" commit {info['git_commit'] or '?'}"),
        "",
        f"Parameters: {', '.join(f'{k}={v}' for k, v in params.items())}",
        "",
        "| figure | service | raw baseline | ratio (median of rounds) | rounds' range | target |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in pairs:
        target = f"≥ {p.target:.0%}" if p.target else "—"
        lines.append(
            f"| {p.name} | {p.service_rate:,.0f} {p.unit} | {p.raw_rate:,.0f} {p.unit} |"
            f" **{p.ratio:.1%}** | {min(p.round_ratios):.1%}–{max(p.round_ratios):.1%} |"
            f" {target} |")
    lines += ["", *[f"- {p.name}: {p.note}" for p in pairs if p.note], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N (CI smoke check)")
    parser.add_argument("--n", type=int, help="commands per command figure (default 2000)")
    parser.add_argument("--m", type=int, help="events in the projected log (default 20000)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 10 / 3)")
    parser.add_argument("--no-telemetry", action="store_true",
                        help="leave OpenTelemetry's no-op provider in place")
    parser.add_argument("--durable", action="store_true",
                        help="PostgreSQL with fsync and synchronous commit on")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    n = args.n or (200 if args.quick else 2000)
    m = args.m or (2000 if args.quick else 20000)
    command_rounds = args.rounds or (4 if args.quick else 10)
    projection_rounds = args.rounds or (2 if args.quick else 3)
    params = {"n": n, "m": m, "command_rounds": command_rounds,
              "projection_rounds": projection_rounds, "telemetry": not args.no_telemetry,
              "quick": args.quick}

    configure_production_telemetry(not args.no_telemetry)
    started = time.perf_counter()
    with throwaway_cluster(durable=args.durable) as cluster:
        info = machine_info(cluster)
        settings = cluster.settings()
        commands_world = provision(settings, bench_commands.CITY)
        projection_world = provision(settings, bench_projection.PROJECTION_CODE)
        try:
            print(f"commands: n={n}, {command_rounds} rounds …", file=sys.stderr)
            pairs = bench_commands.run(cluster, commands_world, n=n, rounds=command_rounds)
            print(f"projection: m={m}, {projection_rounds} rounds …", file=sys.stderr)
            pairs += bench_projection.run(cluster, projection_world, m=m,
                                          rounds=projection_rounds)
            pairs += bench_audit.run(cluster, commands_world, m=m, rounds=projection_rounds)
            pairs += bench_access_log.run(cluster, commands_world, rounds=command_rounds,
                                          requests=10 if args.quick else 20)
        finally:
            commands_world.close()
            projection_world.close()
    params["seconds"] = round(time.perf_counter() - started, 1)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]

    table = io.StringIO()
    print_table(pairs, table)
    print(table.getvalue(), end="")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(dump({
        "command": " ".join([".venv/bin/python", "bench/run_all.py", *sys.argv[1:]]),
        "machine": info, "parameters": params,
        "figures": [p.as_dict() for p in pairs]}) + "\n")
    (args.out / "latest.md").write_text(markdown(info, params, pairs))
    print(f"wrote {args.out / 'latest.json'} and latest.md ({params['seconds']} s)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
