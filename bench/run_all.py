"""Run every benchmark on one throwaway PostgreSQL 15 cluster and record the figures.

    .venv/bin/python bench/run_all.py            # full run (several minutes)
    .venv/bin/python bench/run_all.py --quick    # small N, under three minutes: a smoke check
    .venv/bin/python bench/run_all.py --full     # and the tenant benchmark with 2,000 tenants

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
import bench_graphql_load
import bench_projection
import bench_reports
import bench_tenants
import bench_write_path
from common import (
    Pair,
    configure_production_telemetry,
    dump,
    machine_info,
    municipality_code,
    print_table,
    provision,
)
from pgcluster import throwaway_cluster

try:  # another engineer's benchmark (issue 6): included when it is there
    import bench_disposal
except ImportError:  # pragma: no cover
    bench_disposal = None

RESULTS = Path(__file__).resolve().parent / "results"


def markdown(info: dict[str, Any], params: dict[str, Any], pairs: list[Pair],
             details: dict[str, Any]) -> str:
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
    disposal = details.get("disposal")
    if disposal:
        lines += [f"Disposal of one household with {disposal['events']} events and its"
                  f" {disposal['read_model_rows']:.0f} read-model rows ({disposal['others']}"
                  f" other live households): median **{disposal['median']:.2f} s** over"
                  f" {disposal['rounds']} rounds"
                  f" ({', '.join(f'{t:.2f}' for t in disposal['seconds'])} s);"
                  " target < 1 s (absolute, no baseline).", ""]
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
    parser.add_argument("--full", action="store_true",
                        help="the tenant benchmark with 2,000 tenants (several minutes more)")
    parser.add_argument("--tenants", type=int, help="tenants provisioned (default 60; --full 2000)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=("commands", "projection", "audit", "access_log", "disposal",
                                 "write_path", "graphql", "tenants"),
                        help="leave a benchmark out (repeatable)")
    args = parser.parse_args()
    n = args.n or (200 if args.quick else 2000)
    m = args.m or (2000 if args.quick else 20000)
    command_rounds = args.rounds or (4 if args.quick else 10)
    projection_rounds = args.rounds or (2 if args.quick else 3)
    tenants = args.tenants or (2000 if args.full else 60)
    max_active = 16 if tenants < 200 else 64
    load = ({"cases": 100, "requests": 300, "seconds": 8.0, "rounds": 2} if args.quick else
            {"cases": 200, "requests": 2000, "seconds": 20.0, "rounds": 3})
    params = {"n": n, "m": m, "command_rounds": command_rounds,
              "projection_rounds": projection_rounds, "telemetry": not args.no_telemetry,
              "quick": args.quick, "graphql_load": load, "tenants": tenants,
              "max_active_tenants": max_active, "skipped": args.skip}

    configure_production_telemetry(not args.no_telemetry)
    started = time.perf_counter()
    pairs: list[Pair] = []
    details: dict[str, Any] = {}
    skip = set(args.skip)
    # Connections: the tenant benchmark keeps up to max_active tenants' pools open.
    with throwaway_cluster(durable=args.durable, max_connections=3 * max_active + 100) as cluster:
        info = machine_info(cluster)
        settings = cluster.settings()
        commands_world = provision(settings, bench_commands.CITY)
        projection_world = provision(settings, bench_projection.PROJECTION_CODE)
        try:
            if "commands" not in skip:
                print(f"commands: n={n}, {command_rounds} rounds …", file=sys.stderr)
                pairs += bench_commands.run(cluster, commands_world, n=n, rounds=command_rounds)
            if "projection" not in skip:
                print(f"projection: m={m}, {projection_rounds} rounds …", file=sys.stderr)
                pairs += bench_projection.run(cluster, projection_world, m=m,
                                              rounds=projection_rounds)
            if "audit" not in skip:
                print("audit ledger …", file=sys.stderr)
                pairs += bench_audit.run(cluster, commands_world, m=m, rounds=projection_rounds)
            if "access_log" not in skip:
                print("access log …", file=sys.stderr)
                pairs += bench_access_log.run(cluster, commands_world, rounds=command_rounds,
                                              requests=10 if args.quick else 20)
            if "reports" not in skip:  # issue 20: issuing the annual report vs a raw read
                pairs += bench_reports.run_in(cluster, settings, m=m, rounds=projection_rounds)
        finally:
            commands_world.close()
            projection_world.close()
        if "disposal" not in skip and bench_disposal is not None:
            # Its own cluster: the figure depends on the municipality's live households
            # (the tenant-key rotation re-wraps them), which the runs above add to.
            print("disposal …", file=sys.stderr)
            with throwaway_cluster(durable=args.durable) as own:
                world = provision(own.settings(), bench_commands.CITY)
                try:
                    details["disposal"] = bench_disposal.run(
                        world, events=1000, others=200 if args.quick else 1000,
                        rounds=2 if args.quick else 5)
                finally:
                    world.close()
        if "graphql" not in skip:
            print(f"graphql load: {load} …", file=sys.stderr)
            graphql_pairs, details["graphql_load"] = bench_graphql_load.run(
                cluster, code=municipality_code("27100"), **load)
            pairs += graphql_pairs
        if "write_path" not in skip:
            write = ({"requests": 150, "seconds": 6.0, "rounds": 2} if args.quick else
                     {"requests": 600, "seconds": 15.0, "rounds": 3})
            print(f"write path: {write} …", file=sys.stderr)
            write_pairs, details["write_path"] = bench_write_path.run(
                cluster, code=municipality_code("27140"), **write)
            pairs += write_pairs
        if "tenants" not in skip:  # last: it leaves thousands of schemas in the cluster
            print(f"tenants: {tenants}, max active {max_active} …", file=sys.stderr)
            tenant_pairs, details["tenants"] = bench_tenants.run(
                cluster, tenants=tenants, max_active=max_active,
                requests=60 if args.quick else 200, active=municipality_code("13104"))
            pairs += tenant_pairs
    params["seconds"] = round(time.perf_counter() - started, 1)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]

    table = io.StringIO()
    print_table(pairs, table)
    if "disposal" in details:
        d = details["disposal"]
        print(f"disposal, {d['events']} events: median {d['median']:.2f} s (target < 1 s)",
              file=table)
    print(table.getvalue(), end="")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(dump({
        "command": " ".join([".venv/bin/python", "bench/run_all.py", *sys.argv[1:]]),
        "machine": info, "parameters": params,
        "figures": [p.as_dict() for p in pairs], "details": details}) + "\n")
    (args.out / "latest.md").write_text(markdown(info, params, pairs, details))
    print(f"wrote {args.out / 'latest.json'} and latest.md ({params['seconds']} s)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
