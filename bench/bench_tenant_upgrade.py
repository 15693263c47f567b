"""Upgrading every municipality's space: ``yorisoi tenant upgrade`` against the DDL alone.

    .venv/bin/python bench/bench_tenant_upgrade.py [--tenants 60] [--jobs 4] [--rounds 2]

A throwaway PostgreSQL 15 cluster gets N municipalities (the product's provisioning);
then, in interleaved rounds, per space:

  raw DDL         the space's idempotent DDL statements (positions, keys, every view's
                  tables and indexes, the space tables), rendered for the schema and run
                  on one owner connection, one transaction per schema — the floor: what
                  any upgrade must at least send;
  upgrade, 1 job  SpaceUpgrades.run with every space due (``--force``): the views' added
                  columns, the DDL with its triggers and grants, the tenant key, the journal;
  upgrade, N jobs the same, N spaces at once (``--jobs N``);
  resume          a re-run with every space current: plan() reads the journal and skips.

Figures: seconds per space (median of rounds) and the ratio to the raw DDL of the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import municipality_code
from pgcluster import throwaway_cluster


def nth_code(i: int) -> str:
    """Generated municipality codes (30001, …: not real ones)."""
    return municipality_code(f"{30000 + i:05d}")


def space_ddl() -> list[str]:
    from yorisoi.infra.household_keys import DISPOSAL_AUTHORISATIONS_DDL, HOUSEHOLD_KEYS_DDL
    from yorisoi.projections.runner import POSITIONS_DDL
    from yorisoi.projections.tenant_views import tenant_view_ddl
    from yorisoi.tenants.space_tables import space_table_ddl

    return [POSITIONS_DDL, HOUSEHOLD_KEYS_DDL, DISPOSAL_AUTHORISATIONS_DDL,
            *tenant_view_ddl(), *space_table_ddl("postgres")]


def raw_ddl(cluster, codes: list[str]) -> float:
    from yorisoi.tenants.spaces import municipality_space

    statements = space_ddl()
    start = time.perf_counter()
    with cluster.connect("owner") as conn:
        for code in codes:
            prefix = f'"{municipality_space(code)}".'
            with conn.transaction():
                for statement in statements:
                    conn.execute(statement.replace("{events}", prefix + "stored_events")
                                 .replace("{s}", prefix).replace("{bytes}", "BYTEA"))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from yorisoi.infra.wiring.bootstrap import OPERATOR, Services, init_platform
    from yorisoi.services.context import acting_as
    from yorisoi.tenants.upgrades import SpaceUpgrades

    with throwaway_cluster(max_connections=200) as cluster:
        settings = cluster.settings()
        init_platform(settings)
        services = Services(settings)
        codes = [nth_code(i) for i in range(args.tenants)]
        start = time.perf_counter()
        with acting_as(OPERATOR):
            for code in codes:
                services.directory.provision_municipality(code=code, name=f"町{code}",
                                                          prefecture="東京都")
        provisioning = (time.perf_counter() - start) / len(codes)
        upgrades = SpaceUpgrades(services.directory)
        series: dict[str, list[float]] = {"raw DDL": [], "upgrade, 1 job": [],
                                          f"upgrade, {args.jobs} jobs": [], "resume": []}
        try:
            for _ in range(args.rounds):
                series["raw DDL"].append(raw_ddl(cluster, codes))
                for jobs in (1, args.jobs):
                    due, _ = upgrades.plan(codes, force=True)
                    start = time.perf_counter()
                    outcome = upgrades.run(due, jobs=jobs)
                    assert not outcome.failed, outcome.failed
                    name = "upgrade, 1 job" if jobs == 1 else f"upgrade, {args.jobs} jobs"
                    series[name].append(time.perf_counter() - start)
                start = time.perf_counter()
                due, current = upgrades.plan(codes)
                assert not due and len(current) == len(codes)
                series["resume"].append(time.perf_counter() - start)
        finally:
            upgrades.close()
            services.close()
        print(f"PostgreSQL {cluster.server_version()}, {len(codes)} municipalities "
              f"(provisioning {provisioning:.3f} s each), {args.rounds} rounds")
    base = statistics.median(series["raw DDL"]) / len(codes)
    print(f"{'series':20} {'s per space':>12} {'× raw DDL':>10}")
    for name, values in series.items():
        per_space = statistics.median(values) / len(codes)
        print(f"{name:20} {per_space:12.4f} {per_space / base:10.2f}")


if __name__ == "__main__":
    main()
