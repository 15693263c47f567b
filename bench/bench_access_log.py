"""The access log's cost on a read-heavy page: a case list with households and consultations.

One GraphQL request lists 50 cases with each household's guardians and children and each
case's consultations — every household and consultation a read of personal data.  It runs
in-process: the production schema (``build_schema(production=True)``, every extension,
``PersonalReads`` included) executed with a request context, no HTTP.

A second figure does the same for one case's page (its household and two consultations:
three reads), the page specialists open most.

Figures: requests/s with the access log **on** ÷ the same requests with it **off**, in
alternating rounds on the same data:

* on — the request's ``PersonalAccess`` decides each read (need to know, break-glass) and
  records it; at the end the rows go to ``access_log`` in one INSERT batch
  (``tenants/reading.write_access_log``), as every GraphQL request does;
* off — no ``PersonalAccess`` current (a context without one): reads are the system's
  own, unlogged.  The same decryption, the same SQL for the page.

The ratio is the access log's whole cost on a page that reads the most personal data a
list page can.  Printed too: rows written per request and milliseconds per request.

    .venv/bin/python bench/bench_access_log.py [--cases 50] [--rounds 6] [--requests 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from typing import Any

from common import (
    ACTOR,
    CITY,
    Pair,
    acting_context,
    configure_production_telemetry,
    consultation,
    new_household,
    print_table,
    provision,
    settle,
)

PAGE = """query Page($code: String, $first: Int!) {
  cases(municipalityCode: $code, first: $first) { totalCount edges { node { id status
    household { guardians { name relationship } children { name birthDate } }
    consultations { id occurredOn asked wishes direction } } } } }"""
CASE = """query Case($code: String, $id: ID!) {
  case(municipalityCode: $code, id: $id) { id status
    household { guardians { name relationship } children { name birthDate } }
    consultations { id occurredOn asked wishes direction } } }"""
CONSULTATIONS_PER_CASE = 2


def seed(world: Any, cases: int) -> None:
    """At least ``cases`` cases with two consultations each, the most recent first."""
    app = world.runtime.casework
    with acting_context_scope():
        for _ in range(cases):
            case_id = app.record_consultation(consultation(household=new_household())).case_id
            for _ in range(CONSULTATIONS_PER_CASE - 1):
                app.record_consultation(consultation(case_id))
    world.runtime.catch_up()


def acting_context_scope() -> Any:
    from yorisoi.services.context import acting_as

    return acting_as(acting_context())


def contexts(services: Any, code: str) -> tuple[type, type, Any]:
    """(logged context class, unlogged context class, the reader's principal)."""
    from yorisoi.graphql.context import YorisoiContext
    from yorisoi.tenants.access import Principal, authorize

    class Unlogged(YorisoiContext):
        """The same request without a PersonalAccess: reads are neither decided nor logged."""

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.personal_access = None

        def authorize(self, action: Any, municipality_code: str | None, *,
                      site_id: str | None = None) -> Any:
            return authorize(self.principal, action, municipality_code or code,
                             self.services.directory.registry, site_id=site_id,
                             request_id=self.request_id)

    reader = Principal(subject="bench-reader", tenant_kind="municipality", tenant_id=code,
                       roles=("specialist",), sites=(ACTOR["site_id"],))
    return YorisoiContext, Unlogged, reader


def access_rows(world: Any) -> int:
    with world.runtime.casework.database.transaction(write=False) as cur:
        return int(cur.execute("SELECT COUNT(*) AS n FROM {s}access_log").fetchone()["n"])


def run(cluster: Any, world: Any, *, cases: int = 50, rounds: int = 6,
        requests: int = 20) -> list[Pair]:
    from yorisoi.graphql.schema import build_schema
    from yorisoi.infra.wiring.bootstrap import Services

    seed(world, cases)
    services = Services(world.settings)
    schema = build_schema(production=True)
    logged, unlogged, reader = contexts(services, world.code)
    variables = {"code": world.code, "first": cases}

    async def page(context_class: type, document: str = PAGE,
                   values: dict[str, Any] = variables) -> dict[str, Any]:
        context = context_class(services, reader, str(uuid.uuid4()))
        result = await schema.execute(document, variable_values=values, context_value=context)
        assert not result.errors, result.errors
        return result.data or {}

    async def pages(context_class: type, n: int, *args: Any) -> tuple[int, float]:
        start = time.perf_counter()
        for _ in range(n):
            await page(context_class, *args)
        return n, time.perf_counter() - start

    async def figure(name: str, reads: int, *args: Any) -> Pair:
        before = access_rows(world)
        await page(logged, *args)
        written = access_rows(world) - before
        assert written == reads, (written, reads)  # one row per household and consultation
        pair = Pair(name, "req/s", note=f"{reads} personal reads per request ({written}"
                    " access-log rows in one batch); baseline: the same request with no"
                    " PersonalAccess (unlogged)")
        await pages(logged, 3, *args)
        await pages(unlogged, 3, *args)  # warm-up
        for i in range(rounds):
            settle()
            if i % 2 == 0:
                on, off = await pages(logged, requests, *args), await pages(unlogged, requests,
                                                                            *args)
            else:
                off, on = await pages(unlogged, requests, *args), await pages(logged, requests,
                                                                              *args)
            pair.add(on, off)
        return pair

    async def measure() -> list[Pair]:
        first = await page(unlogged)
        edges = first["cases"]["edges"]
        assert len(edges) == cases and all(e["node"]["household"]["guardians"] for e in edges)
        reads = len(edges) + sum(len(e["node"]["consultations"]) for e in edges)
        one = edges[0]["node"]
        single = {"code": world.code, "id": one["id"]}
        return [await figure(f"case list page ({cases} cases), access log on", reads),
                await figure("one case's page, access log on", 1 + len(one["consultations"]),
                             CASE, single)]

    try:
        pairs = asyncio.run(measure())
    finally:
        services.close()
    for pair in pairs:
        on_ms = 1000 * pair.service_seconds / pair.service_units
        off_ms = 1000 * pair.raw_seconds / pair.raw_units
        print(f"{pair.name}: {on_ms:.1f} ms/request on, {off_ms:.1f} ms/request off"
              f" (+{on_ms - off_ms:.1f} ms), on ÷ off throughput {pair.ratio:.1%}"
              f" (median of {rounds} rounds)", file=sys.stderr)
    return pairs


def main() -> None:
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=50, help="cases on the page")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=20, help="requests per side per round")
    parser.add_argument("--no-telemetry", action="store_true")
    args = parser.parse_args()
    configure_production_telemetry(not args.no_telemetry)
    started = time.perf_counter()
    with throwaway_cluster() as cluster:
        world = provision(cluster.settings(), CITY)
        try:
            pairs = run(cluster, world, cases=args.cases, rounds=args.rounds,
                        requests=args.requests)
        finally:
            world.close()
    print(f"municipality {CITY}, cases={args.cases}, rounds={args.rounds},"
          f" requests={args.requests}, {time.perf_counter() - started:.0f} s")
    print_table(pairs)


if __name__ == "__main__":
    main()
