"""Where the time goes in each benchmarked path (for docs/benchmarks.md).

    .venv/bin/python bench/profile_hotpaths.py [--k 300] [--pyinstrument]

For each path it reports, on a throwaway cluster:

* **stages**, timed without a profiler (median per operation): the command split into
  get → domain → mapper (JSON + encryption) → recorder insert, beside a raw commit of
  the same rows; the projection batch split into read → decode → view.apply;
* **SQL statements per operation** as PostgreSQL logged them (``log_statement = all``);
* **spans per operation** and the cost of one span under the SDK provider;
* **cProfile self time by area** (psycopg waiting, library, encryption, JSON, spans…);
* with ``--pyinstrument`` (``pip install pyinstrument`` into the venv), a call tree of
  each path under ``bench/results/profile-*.txt``.

Writes ``bench/results/profile.md``.  Figures are per-operation times on this machine,
given only to show proportions; the benchmarks' ratios are the figures to compare.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import statistics
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import bench_commands
import bench_projection
from common import (
    acting_context,
    configure_production_telemetry,
    consultation,
    new_household,
    provision,
    raw_connect,
)
from opentelemetry.sdk.trace import SpanProcessor
from pgcluster import throwaway_cluster

RESULTS = Path(__file__).resolve().parent / "results"


class SpanCounter(SpanProcessor):
    def __init__(self) -> None:
        self.names: Counter[str] = Counter()

    def on_end(self, span: Any) -> None:
        self.names[span.name] += 1


# --------------------------------------------------------------------------- #
# cProfile self time by area
# --------------------------------------------------------------------------- #

AREAS = [
    ("waiting for PostgreSQL (psycopg wait / pipeline I/O)",
     re.compile(r"psycopg/(connection\.py.*\(wait\)|_pipeline_base\.py.*_(communicate|fetch)_gen"
                r"|generators\.py|_cursor_base\.py.*\((_send_query_prepared|_execute_send)\)"
                r"|_connection_base\.py.*\(_exec_command\))")),
    ("psycopg client (adapt, dump, parse, prepare)", re.compile(r"psycopg/")),
    ("connection pool", re.compile(r"psycopg_pool/")),
    ("OpenTelemetry spans", re.compile(r"opentelemetry/")),
    ("encryption (AES-GCM, key wrap)", re.compile(r"AESGCM|cryptography|os\.urandom|urandom")),
    ("JSON transcoding", re.compile(r"json/|_json|eventsourcing/persistence\.py.*(encode|decode)"
                                   r"|event_mapper\.py.*(encode|decode)")),
    ("deepcopy (library aggregate cache)", re.compile(r"copy\.py")),
    ("eventsourcing library", re.compile(r"eventsourcing/")),
    ("yorisoi: mapper, keyring", re.compile(r"services/(event_mapper|personal_data)\.py")),
    ("yorisoi: SQL door, recorder", re.compile(r"infra/(db|recorders|telemetry)\.py")),
    ("yorisoi: projection and view", re.compile(r"projections/")),
    ("yorisoi: domain and services", re.compile(r"/work/main/|yorisoi")),
    ("dataclasses.asdict (acting metadata)", re.compile(r"dataclasses\.py")),
    ("typing Protocol isinstance checks", re.compile(r"typing\.py|_abc")),
    ("uuid", re.compile(r"uuid\.py")),
]


def area_of(key: tuple[str, int, str]) -> str:
    text = f"{key[0]}:{key[1]}({key[2]})"
    for name, pattern in AREAS:
        if pattern.search(text):
            return name
    return "other (stdlib, builtins)"


def by_area(profile: cProfile.Profile, ops: int) -> list[tuple[str, float, float]]:
    stats = pstats.Stats(profile)
    totals: dict[str, float] = defaultdict(float)
    for key, (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        totals[area_of(key)] += tottime
    whole = sum(totals.values())
    return sorted(((a, t / ops * 1e3, t / whole) for a, t in totals.items()),
                  key=lambda row: -row[1])


def wait_calls(profile: cProfile.Profile, ops: int) -> float:
    stats = pstats.Stats(profile)
    calls = sum(nc for key, (_cc, nc, *_r) in stats.stats.items()  # type: ignore[attr-defined]
                if key[0].endswith("psycopg/connection.py") and key[2] == "wait")
    return calls / ops


def top_functions(profile: cProfile.Profile, limit: int = 25) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(limit)
    text = out.getvalue()
    return text[text.find("   ncalls"):].rstrip()


# --------------------------------------------------------------------------- #
# SQL statements as PostgreSQL logged them
# --------------------------------------------------------------------------- #

_LOGGED = re.compile(r"yorisoi_app LOG:  (?:statement|execute [^:]+): (.*)")


def logged_statements(cluster: Any, fn: Any, ops: int) -> tuple[float, list[str]]:
    """Statements per operation of ``fn()`` (which runs ``ops`` operations), and their shapes."""
    with cluster.connect("superuser", autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute("ALTER SYSTEM SET log_line_prefix = '%m [%p] %u '")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.3)
    mark = cluster.log.stat().st_size
    fn()
    time.sleep(0.3)
    with cluster.connect("superuser", autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET log_statement")
        conn.execute("SELECT pg_reload_conf()")
    with open(cluster.log, errors="replace") as f:
        f.seek(mark)
        statements = [m.group(1).strip() for line in f if (m := _LOGGED.search(line))]
    shapes = []
    for s in statements:
        s = re.sub(r"\s+", " ", s)
        s = re.sub(r"'[^']*'", "'…'", s)
        shapes.append(s[:110])
    return len(statements) / ops, shapes


# --------------------------------------------------------------------------- #
# Stages
# --------------------------------------------------------------------------- #


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def command_stages(world: Any, cluster: Any, k: int) -> dict[str, float]:
    """record_consultation on an existing case, split as Application.save splits it."""
    from yorisoi.domain.consultations import Consultation
    from yorisoi.infra.clock import japan_today

    app = world.runtime.casework
    cmd = consultation()
    per_case = bench_commands.COMMANDS_PER_CASE

    def fresh_cases() -> list[uuid.UUID]:
        return [app.record_consultation(consultation(household=new_household())).case_id
                for _ in range(max(1, k // per_case))]

    cases = fresh_cases()
    stages: dict[str, list[float]] = defaultdict(list)
    rows = None
    for i in range(k):
        t0 = time.perf_counter()
        case = app.repository.get(cases[i % len(cases)])
        t1 = time.perf_counter()
        c = Consultation.record(
            case_id=case.id, household_id=case.household_id, site_id=cmd.site_id,
            contract_id=cmd.contract_id, occurred_on=cmd.occurred_on, channel=cmd.channel,
            themes=cmd.themes, asked=cmd.asked, wishes=cmd.wishes, direction=cmd.direction,
            today=japan_today(), allowed_themes=app.allowed_themes())
        case.note_consultation(c.id)
        events = case.collect_events() + c.collect_events()
        t2 = time.perf_counter()
        stored = [app.mapper.to_stored_event(e) for e in events]
        t3 = time.perf_counter()
        app.recorder.insert_events(stored)
        t4 = time.perf_counter()
        stages["get (SELECT the case's events, decode, replay)"].append(t1 - t0)
        stages["domain (Consultation.record, note)"].append(t2 - t1)
        stages["mapper (metadata, JSON, household key, AES-GCM)"].append(t3 - t2)
        stages["recorder insert (one call: key check, LOCK, NOTIFY, INSERT)"].append(t4 - t3)
        rows = [(s.topic, s.state) for s in stored]
    whole = []
    cases = fresh_cases()
    for i in range(k):
        t0 = time.perf_counter()
        app.record_consultation(consultation(cases[i % len(cases)]))
        whole.append(time.perf_counter() - t0)
    table = bench_commands.create_raw_table(cluster, "profile_raw")
    conn = raw_connect(cluster)
    raw = bench_commands.RawInserter(conn, table, rows or [])
    raw_times = []
    for _ in range(k):
        t0 = time.perf_counter()
        raw.commit_one()
        raw_times.append(time.perf_counter() - t0)
    conn.close()
    result = {name: median_ms(v) for name, v in stages.items()}
    result["whole command (record_consultation)"] = median_ms(whole)
    result["raw commit of the same 2 rows"] = median_ms(raw_times)
    return result


def projection_stages(world: Any, cluster: Any) -> dict[str, float]:
    """One catch-up from zero, its batches split as the projector runs them.

    read → decode (JSON, the page's household keys in one read, AES-GCM) →
    apply (the case view holds the events) → the view's set-based writes at the
    end of the batch → position update and commit (pipelined, as in Projector).
    """
    from yorisoi.projections.runner import _notification

    bench_projection.reset_view(cluster, world.space)
    rt = world.fresh_runtime()
    projector = rt.case_projector
    totals: dict[str, float] = defaultdict(float)
    events = 0
    while True:
        t_start = time.perf_counter()
        with projector.db.transaction(pipeline=True) as cur:
            position = projector._position(cur, lock=True)
            t0 = time.perf_counter()
            rows = cur.execute(projector._select, (position, projector.batch_size)).fetchall()
            t1 = time.perf_counter()
            notifications = [_notification(row) for row in rows]
            decoded = projector.mapper.to_domain_events(notifications)
            t2 = time.perf_counter()
            with projector.view.batch(cur):
                for event, n in zip(decoded, notifications, strict=True):
                    projector.view.apply(cur, event, n)
                t3 = time.perf_counter()
            t4 = time.perf_counter()
            if rows:
                cur.execute("UPDATE {s}projection_positions SET position = %s WHERE name = %s",
                            (int(rows[-1]["id"]), projector.view.name))
        t_end = time.perf_counter()
        totals["read page (SELECT … LIMIT 500)"] += t1 - t0
        totals["decode (JSON, one key read per page, AES-GCM open)"] += t2 - t1
        totals["view.apply (held in memory)"] += t3 - t2
        totals["view writes (re-seal, one read of touched cases, one write per table)"] += t4 - t3
        totals["position lock, position update, commit"] += (t0 - t_start) + (t_end - t4)
        events += len(rows)
        if len(rows) < projector.batch_size:
            break
    rt.close()
    return {name: seconds / events * 1e6 for name, seconds in totals.items()} | {
        "events": float(events)}


def span_cost_us(n: int = 20000) -> float:
    from opentelemetry import trace

    tracer = trace.get_tracer("bench")
    t0 = time.perf_counter()
    for _ in range(n):
        with tracer.start_as_current_span("SQL INSERT", attributes={
                "db.system": "postgresql", "yorisoi.tenant": "t_131016"}):
            pass
    return (time.perf_counter() - t0) / n * 1e6


# --------------------------------------------------------------------------- #


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=300, help="operations per profiled path")
    parser.add_argument("--m", type=int, default=10000, help="events for the projection")
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    configure_production_telemetry(True)
    from yorisoi.infra.telemetry import configure_telemetry
    from yorisoi.services.context import acting_as

    spans = SpanCounter()
    configure_telemetry(spans)
    report: list[str] = []
    k = args.k
    per_case = bench_commands.COMMANDS_PER_CASE
    with throwaway_cluster() as cluster:
        world = provision(cluster.settings())
        pworld = provision(cluster.settings(), bench_projection.PROJECTION_CODE)
        app = world.runtime.casework

        def prepared(kind: str, count: int) -> Any:
            """Set up (untimed), then return the closure that runs ``count`` commands.

            Existing-case commands get fresh cases, ~10 commands each, so a case holds
            2–12 events while measured, as in the benchmark.
            """
            cases = [] if kind == "new" else [
                app.record_consultation(consultation(household=new_household())).case_id
                for _ in range(max(1, count // per_case))]

            def run() -> int:
                for i in range(count):
                    if kind == "record":
                        app.record_consultation(consultation(cases[i % len(cases)]))
                    elif kind == "note":
                        bench_commands.note_consultation(app, cases[i % len(cases)])
                    else:
                        app.record_consultation(consultation(household=new_household()))
                return count
            return run

        with acting_as(acting_context()):
            paths = {"record_consultation, existing case": "record",
                     "note_consultation": "note",
                     "record_consultation, new household": "new"}
            for kind in paths.values():
                prepared(kind, 20)()  # warm-up
            report.append("## Commands\n")
            report.append(f"One SDK span costs ~{span_cost_us():.0f} µs here (start, 2"
                          " attributes, end; no exporter).  Existing-case commands run on fresh"
                          " cases, ~10 commands each (a case holds 2–12 events), as in the"
                          " benchmark.\n")
            for name, kind in paths.items():
                per_op, shapes = logged_statements(cluster, prepared(kind, per_case), per_case)
                shapes = shapes[-round(per_op):]  # the last command's statements
                run = prepared(kind, k)
                spans.names.clear()
                run()
                span_counts = {s: c / k for s, c in spans.names.items()}
                run = prepared(kind, k)
                prof = cProfile.Profile()
                prof.enable()
                run()
                prof.disable()
                report.append(f"### {name}\n")
                report.append(f"- SQL statements per command (PostgreSQL's log): {per_op:.1f}")
                report.append(f"- psycopg `wait` calls per command: {wait_calls(prof, k):.1f}")
                report.append("- spans per command: " + ", ".join(
                    f"{s} × {c:g}" for s, c in sorted(span_counts.items())))
                report.append("\nStatements of one command:\n\n```")
                report += shapes
                report.append("```\n\ncProfile self time by area (ms per command, share):\n")
                report.append("| area | ms/op | share |\n|---|---:|---:|")
                report += [f"| {a} | {ms:.3f} | {share:.0%} |" for a, ms, share in
                           by_area(prof, k)]
                report.append(f"\n<details><summary>top functions</summary>\n\n```\n"
                              f"{top_functions(prof)}\n```\n</details>\n")
                if args.pyinstrument:
                    _pyinstrument(args.out, name, prepared(kind, k))
            stages = command_stages(world, cluster, k)
        report.append("### Stages of record_consultation (existing case), no profiler\n")
        report.append("| stage | median ms |\n|---|---:|")
        report += [f"| {s} | {ms:.3f} |" for s, ms in stages.items()]

        # Projection
        papp = pworld.runtime.casework
        recorded = bench_projection.record_events(papp, args.m)
        report.append(f"\n## Projection ({recorded} events)\n")
        pst = projection_stages(pworld, cluster)
        report.append("| stage | µs per event |\n|---|---:|")
        report += [f"| {s} | {us:.1f} |" for s, us in pst.items() if s != "events"]
        raw_conn = raw_connect(cluster)
        raw = bench_projection.RawPagedRead(
            raw_conn, f'"{pworld.space}".{papp.recorder.events_table_name}')
        t0 = time.perf_counter()
        raw.read_all()
        report.append(f"| raw paged read, whole | "
                      f"{(time.perf_counter() - t0) / recorded * 1e6:.1f} |")
        raw_conn.close()

        def catch_up() -> int:
            """Every read model and the audit chain, as after a command (TenantRuntime)."""
            bench_projection.reset_view(cluster, pworld.space, every_view=True)
            rt = pworld.fresh_runtime()
            try:
                return rt.catch_up()
            finally:
                rt.close()

        per_catch_up, shapes = logged_statements(cluster, catch_up, 1)
        pages = recorded // bench_projection.PAGE + 1
        report.append(f"\n- SQL statements per catch-up of {recorded} events: "
                      f"{per_catch_up:.0f} ({per_catch_up / recorded:.2f} per event;"
                      f" the raw read: {pages} pages, {pages * 3} statements with BEGIN/COMMIT)")
        kinds = Counter(" ".join(s.split(" ")[:3]) if s.startswith(("INSERT", "UPDATE"))
                        else " ".join(s.split(" ")[:4]) if s.startswith("SELECT")
                        else s.split(" ")[0] for s in shapes)
        report.append("- by kind: " + ", ".join(f"`{k_}` × {c}" for k_, c in kinds.most_common()))
        spans.names.clear()
        catch_up()
        report.append("- spans: " + ", ".join(f"{s} × {c}" for s, c in spans.names.most_common()))
        prof = cProfile.Profile()
        bench_projection.reset_view(cluster, pworld.space, every_view=True)
        rt = pworld.fresh_runtime()
        prof.enable()
        rt.catch_up()
        prof.disable()
        rt.close()
        report.append(f"- psycopg `wait` calls per event: {wait_calls(prof, recorded):.2f}")
        report.append("\ncProfile self time by area (µs per event, share):\n")
        report.append("| area | µs/event | share |\n|---|---:|---:|")
        report += [f"| {a} | {ms * 1e3:.1f} | {share:.0%} |"
                   for a, ms, share in by_area(prof, recorded)]
        report.append(f"\n<details><summary>top functions</summary>\n\n```\n"
                      f"{top_functions(prof)}\n```\n</details>\n")
        if args.pyinstrument:
            _pyinstrument(args.out, "projection catch-up", catch_up)
        world.close()
        pworld.close()
    args.out.mkdir(parents=True, exist_ok=True)
    text = "# Hot-path profile\n\n" + "\n".join(report) + "\n"
    (args.out / "profile.md").write_text(text)
    print(text)


def _pyinstrument(out: Path, name: str, fn: Any) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is not installed: .venv/bin/pip install pyinstrument")
        return
    profiler = Profiler(interval=0.0005)
    profiler.start()
    fn()
    profiler.stop()
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    (out / f"profile-{slug}.txt").write_text(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    main()
