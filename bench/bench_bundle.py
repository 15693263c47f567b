"""Tenant bundles: export and import throughput against a raw COPY of the same table, peak memory.

Figures (PostgreSQL, one throwaway cluster, both sides in the same run):

* ``export`` — ``yorisoi tenant export`` (a child process): chain, cut, every part streamed,
  household keys re-wrapped, signed.  Baseline: ``COPY (SELECT … FROM stored_events) TO
  STDOUT (FORMAT binary)`` of the same table into a file.
* ``import`` — ``yorisoi tenant import`` into a second database (a child process): container
  and signature check, the whole chain verified from the bundle, keys opened, space provisioned,
  events ``COPY``'d with their ids, ledger loaded, every read model built, custody record
  chained.  Baseline: ``COPY … FROM STDIN (FORMAT binary)`` of that file into an empty table of
  the same shape.
* peak RSS of each child (``os.wait4``), at two tenant sizes: flat means streamed.

The log: ``--households`` real consultations recorded through the service (personal fields
sealed, read models that do work), then synthetic events up to ``--events`` — one non-personal
event type (``BenchNote``, defined here), stored bytes copied with new aggregate ids, so that a large
tenant is quick to make.  The views skip that type after decoding it: the import's read-model
share is *under*-stated for a log made only of casework events (see bench_projection.py for
rebuild rates of real events).

    .venv/bin/python bench/bench_bundle.py [--events 1000000] [--small 100000] [--households 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CITY, acting_context, consultation, create_raw_table, new_household, provision
from eventsourcing.domain import Aggregate, event
from pgcluster import OWNER_ROLE, SUPERUSER, throwaway_cluster


class BenchNote(Aggregate):
    """The synthetic events' type: no personal field, no view acts on it (importable by the
    children: PYTHONPATH holds bench/)."""

    @event("Recorded")
    def __init__(self, text: str) -> None:
        self.text = text


_CLI = ("from yorisoi.infra import cli; from yorisoi.infra.cli.bundle import register;"
        " register(cli.tenant_app); cli.app()")


def _second_database(cluster: Any, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=str(cluster.sockets), port=cluster.port, user=SUPERUSER,
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8'"
                             ).format(sql.Identifier(name), sql.Identifier(OWNER_ROLE)))
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO yorisoi_app").format(
            sql.Identifier(name)))
    with psycopg.connect(host=str(cluster.sockets), port=cluster.port, user=SUPERUSER,
                         dbname=name, autocommit=True) as conn:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")


def _env(settings: Any) -> dict[str, str]:
    return {**os.environ, "YORISOI_BACKEND": "postgres", "YORISOI_PG_HOST": settings.pg_host,
            "YORISOI_PG_PORT": str(settings.pg_port), "YORISOI_PG_DBNAME": settings.pg_dbname,
            "YORISOI_PG_USER": settings.pg_user,
            "YORISOI_PG_PASSWORD": settings.pg_password.get_secret_value(),
            "YORISOI_PG_ADMIN_USER": settings.pg_admin_user,
            "YORISOI_PG_ADMIN_PASSWORD": settings.pg_admin_password.get_secret_value(),
            "YORISOI_DATA_DIR": str(settings.data_dir), "YORISOI_ENVIRONMENT": "test",
            "YORISOI_DEV_ISSUER": "false",
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent),
                                           os.environ.get("PYTHONPATH", "")])}


def _child(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run the CLI in a child; (seconds, peak RSS in KiB) of that child alone."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CLI, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{args[:2]} failed: {proc.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss


def _fill(world: Any, events: int, households: int) -> None:
    """Real consultations, then synthetic events up to ``events``."""
    from yorisoi.services.audit_ledger import AuditChainer
    from yorisoi.services.context import acting_as

    rt = world.runtime
    with acting_as(acting_context()):
        for _ in range(households):
            rt.casework.record_consultation(consultation(household=new_household()))
        from bench_bundle import BenchNote as Note  # the topic names this module, not __main__

        rt.casework.save(Note("bench " + "x" * 300))
    with rt.casework.database.transaction(write=False) as cur:
        have = int(cur.execute("SELECT COUNT(*) AS n FROM {events}").fetchone()["n"])
        sample = cur.execute("SELECT topic, state FROM {events} WHERE topic LIKE %s LIMIT 1",
                             ("%BenchNote%",)).fetchone()
        topic, state = sample["topic"], bytes(sample["state"])
    with world.cluster.connect("owner", dbname=world.dbname) as conn, conn.cursor().copy(
            f"COPY {rt.casework.database.render('{events}')} (originator_id, originator_version, topic,"
            " state) FROM STDIN") as copy:
        for _ in range(events - have):
            copy.write_row((uuid.uuid4(), 1, topic, state))
    started = time.perf_counter()
    chained = AuditChainer(rt.casework.database, CITY, batch_size=5000).chain()
    print(f"  chained {chained} entries in {time.perf_counter() - started:.1f} s", flush=True)
    rt.catch_up()


def _raw(cluster: Any, dbname: str, events: str, out: Path, table: str) -> tuple[float, float]:
    """Seconds of a raw COPY out of the events table, and of a COPY of that file into ``table``."""
    with cluster.connect("owner", dbname=dbname) as conn:
        started = time.perf_counter()
        with out.open("wb") as handle, conn.cursor().copy(
                "COPY (SELECT originator_id, originator_version, topic, state, notification_id"
                f" FROM {events}) TO STDOUT (FORMAT binary)") as copy:
            for piece in copy:
                handle.write(piece)
        copy_out = time.perf_counter() - started
    target = create_raw_table(cluster, table)
    with cluster.connect("app") as conn:
        started = time.perf_counter()
        with out.open("rb") as handle, conn.cursor().copy(
                f"COPY {target} (originator_id, originator_version, topic, state,"
                " notification_id) FROM STDIN (FORMAT binary)") as copy:
            while piece := handle.read(1 << 20):
                copy.write(piece)
        copy_in = time.perf_counter() - started
    return copy_out, copy_in


def run_size(cluster: Any, events: int, households: int, tag: str) -> dict[str, Any]:
    from yorisoi.services.bundles.recipient import generate

    source_db, dest_db = f"src_{tag}", f"dest_{tag}"
    _second_database(cluster, source_db)
    _second_database(cluster, dest_db)
    state = cluster.state_dir / tag
    src = cluster.settings(pg_dbname=source_db, data_dir=state / "src")
    dst = cluster.settings(pg_dbname=dest_db, data_dir=state / "dst")
    world = provision(src)
    world.cluster, world.dbname = cluster, source_db
    print(f"{tag}: filling {events} events", flush=True)
    _fill(world, events, households)
    events_table = world.runtime.casework.database.render("{events}")
    world.close()
    private, public = generate(state / "recipient")
    bundle = state / "city.bundle"
    export_s, export_kib = _child(["tenant", "export", CITY, "--out", str(bundle),
                                   "--recipient-key", str(public)], _env(src))
    from yorisoi.infra.wiring.bootstrap import init_platform

    init_platform(dst)
    import shutil

    (state / "dst" / "keys" / "platform").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(state / "src" / "keys" / "platform" / "signing-ed25519.pem",
                    state / "dst" / "keys" / "platform" / "signing-ed25519.pem")
    import_s, import_kib = _child(["tenant", "import", str(bundle), "--identity", str(private)],
                                  _env(dst))
    copy_out, copy_in = _raw(cluster, source_db, events_table, state / "raw.copy", f"raw_{tag}")
    return {"events": events, "bundle_bytes": bundle.stat().st_size,
            "raw_copy_bytes": (state / "raw.copy").stat().st_size,
            "export_s": export_s, "export_peak_mib": export_kib / 1024,
            "import_s": import_s, "import_peak_mib": import_kib / 1024,
            "copy_out_s": copy_out, "copy_in_s": copy_in,
            "export_events_per_s": events / export_s, "import_events_per_s": events / import_s,
            "export_ratio": export_s / copy_out, "import_ratio": import_s / copy_in}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--households", type=int, default=50)
    args = parser.parse_args()
    results = []
    with throwaway_cluster() as cluster:
        for tag, events in (("small", args.small), ("large", args.events)):
            results.append(run_size(cluster, events, args.households, tag))
            print(json.dumps(results[-1], indent=1), flush=True)
    print("\n| events | export ev/s | × raw COPY out | peak RSS | import ev/s | × raw COPY in |"
          " peak RSS | bundle / raw COPY bytes |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['events']:,} | {r['export_events_per_s']:,.0f} | {r['export_ratio']:.1f}"
              f" | {r['export_peak_mib']:.0f} MiB | {r['import_events_per_s']:,.0f}"
              f" | {r['import_ratio']:.1f} | {r['import_peak_mib']:.0f} MiB"
              f" | {r['bundle_bytes'] / r['raw_copy_bytes']:.2f} |")


if __name__ == "__main__":
    main()
