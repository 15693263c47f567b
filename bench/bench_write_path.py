"""The write path a user feels: ``recordConsultation`` over HTTP beside a raw two-row insert (same run).

Figure: ``recordConsultation`` on an existing case, sent by a municipal
specialist through the product — uvicorn, ``create_app``, token check, rate
limiter, access decision, GraphQL, the command (validated reads, consent
check, the one-statement insert), read-your-writes catch-up and the answer
from the case view — in requests per second, ÷ ``bench/http_servers.py
baseline-write``: FastAPI + a psycopg pool inserting two rows of the same size
in one transaction and answering their ids (and, as a second baseline, reading
them back first).  The product runs twice: without an ``Idempotency-Key`` and
with a new key in every request (exactly-once: the claim and the sealed answer
commit with the events), so the cost of exactly-once is measured too.

Both servers run in their own process (one uvicorn worker each; then two each,
each process on a ``SO_REUSEPORT`` socket of its own: ``infra/reuseport.serve``;
``--accept shared`` runs uvicorn's own ``--workers``, whose one shared socket
gives every keep-alive client to one process); the load comes from ``bench/loadgen.py`` on
loopback with 1 and 8 keep-alive clients, each client writing to a case of its
own (specialists on their own families); one more series puts all 8 clients on
one case, where commands must queue on the case rather than fail.  Rounds
alternate product and baseline (who goes first alternates too).  Errors (a
status other than 200, a GraphQL error, a result other than the success type)
are counted and must be 0.

    .venv/bin/python bench/bench_write_path.py [--requests 600] [--seconds 15] [--rounds 3]
        [--clients 1,8] [--workers 1,2] [--accept reuseport|shared] [--durable]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from dataclasses import replace
from typing import Any

from common import (
    ACTOR,
    CITY,
    Pair,
    acting_context,
    consultation,
    create_raw_table,
    new_household,
    print_table,
    yesterday,
)
from http_servers import api_world, free_port, load, serving, settings_env
from pgcluster import APP_ROLE

SPECIALIST = "bench-specialist-0002"

RECORD = """mutation Record($input: RecordConsultationInput!) {
  recordConsultation(input: $input) {
    __typename
    ... on ConsultationRecorded { case { id consultationCount lastActivityOn } consultation { id } }
    ... on UserError { code }
  }
}"""


def record_body(case_id: str, code: str = CITY) -> bytes:
    """The JSON body of one ``recordConsultation`` on ``case_id``."""
    return json.dumps({"query": RECORD, "variables": {"input": {
        "municipalityCode": code, "caseId": case_id, "siteId": ACTOR["site_id"],
        "occurredOn": yesterday().isoformat(), "channel": "visit",
        "themes": ["development", "daily_worries"],
        "asked": "二歳の子のことばが遅いのが心配。保育園の先生にも言われて、どこに相談すればよいか分からない。",
        "wishes": "相談できる所を知りたい。同じ年頃の子の親とも話してみたい。",
        "direction": "発達相談の案内。次回ひろばで様子を一緒に見ることにした。"}}},
        ensure_ascii=False).encode()


def prepare(cluster: Any, code: str = CITY, cases: int = 1) -> tuple[Any, str, list[str]]:
    """The platform, one municipality with ``cases`` cases (consent on file), a specialist's token.

    Each measured series writes to a case of its own: a case's commands cost more as its
    consultations grow (its stream is read whole when not kept), so series sharing one case
    would be compared at different sizes.
    """
    from yorisoi.infra.wiring.bootstrap import OPERATOR
    from yorisoi.services.context import acting_as

    with api_world(cluster, code) as (settings, services):
        with acting_as(OPERATOR):
            # A site the municipality runs itself, where its specialist is assigned.
            services.directory.register_site(municipality_code=code, site_id=ACTOR["site_id"],
                                             name="ひろば", site_type="kihon")
        first = replace(consultation(household=new_household(), code=code), contract_id=None,
                        writable_contract_ids=None)
        with services.runtimes.lease(code) as rt, acting_as(replace(
                acting_context(), organisation_kind="municipality", organisation_id=code,
                contract_id=None)):
            # (The service records what it is given: the duplicate check is the API's.)
            case_ids = [str(rt.casework.record_consultation(
                replace(first, household=new_household())).case_id) for _ in range(cases)]
            rt.catch_up()
        token = services.dev_issuer.mint("municipality", code, SPECIALIST, roles=["specialist"],
                                         sites=[ACTOR["site_id"]], expires_in=4 * 3600)
    return settings, token, case_ids


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: round(statistics.median(r[key] for r in rounds), 2)
            for key in ("throughput", "p50_ms", "p95_ms", "p99_ms")} | {
        "errors": sum(r["errors"] for r in rounds),
        "requests": sum(r["requests"] for r in rounds),
        "error_samples": [s for r in rounds for s in r["error_samples"]][:3]}


def run(cluster: Any, *, requests: int = 600, seconds: float = 15.0, rounds: int = 3,
        clients: tuple[int, ...] = (1, 8), code: str = CITY, workers: tuple[int, ...] = (1, 2)
        ) -> tuple[list[Pair], dict[str, Any]]:
    """Each client count against one server process each; then 8 clients against N of each."""
    series = [(1, n) for n in clients] + [(w, 8) for w in workers if w > 1]
    # Each client writes to a case of its own (specialists on their own families), and
    # one more series puts 8 writers on one case (they must queue, not fail).
    needed = sum(2 * n for _, n in series) + 2
    settings, token, case_ids = prepare(cluster, code, cases=needed)
    fresh = iter(case_ids)
    table = create_raw_table(cluster, "write_path")
    app_port, base_port = free_port(), free_port()

    def body_for(case_id: str) -> bytes:
        return record_body(case_id, code)

    dsn = (f"host=127.0.0.1 port={cluster.port} dbname={cluster.dbname} user={APP_ROLE}"
           f" password={cluster.passwords[APP_ROLE]}")
    pairs: list[Pair] = []
    detail: dict[str, Any] = {"requests_per_round": requests, "seconds_per_round": seconds,
                              "accept": os.environ.get("BENCH_ACCEPT", "reuseport")}
    for w in dict.fromkeys(w for w, _ in series):
        with serving("app", app_port, settings_env(settings), workers=w), \
                serving("baseline-write", base_port, {"BENCH_DSN": dsn, "BENCH_TABLE": table},
                        workers=w):
            pairs += _series(w, [n for sw, n in series if sw == w], app_port, base_port,
                             token, body_for, fresh, requests, seconds, rounds, detail)
            if w == 1 and 8 in clients:
                pairs += _series(w, [8], app_port, base_port, token, body_for, fresh,
                                 requests, seconds, rounds, detail, one_case=True)
    detail["audit_verify_after_load"] = _verify_audit(settings, code)
    return pairs, detail


def _verify_audit(settings: Any, code: str) -> bool:
    """After the load: the worker's chaining pass, then ``yorisoi audit verify`` must pass.

    The requests no longer chain the ledger themselves; what they wrote (events,
    access-log rows) must all be chained by the keeper and verify end to end.
    """
    import subprocess
    import sys
    from pathlib import Path

    from yorisoi.infra.worker.audit_chaining import LedgerKeeper
    from yorisoi.infra.wiring.bootstrap import Services

    services = Services(settings)
    try:
        LedgerKeeper(services).keep()
    finally:
        services.close()
    done = subprocess.run([str(Path(sys.executable).parent / "yorisoi"), "audit", "verify",
                           "--tenant", code], env={**os.environ, **settings_env(settings)},
                          capture_output=True, timeout=600, check=False)
    return done.returncode == 0


def _series(w: int, clients: list[int], app_port: int, base_port: int, token: str,
            body_for: Any, fresh: Any, requests: int, seconds: float, rounds: int,
            detail: dict[str, Any], one_case: bool = False) -> list[Pair]:
    """The rounds for each client count against ``w`` processes of product and baseline."""
    pairs: list[Pair] = []
    procs = f", {w} processes" if w > 1 else ""
    if one_case:
        procs += ", all on one case"

    def product(n: int, keyed: bool, bodies: list[bytes]) -> dict[str, Any]:
        return load(f"http://127.0.0.1:{app_port}/graphql", method="POST",
                    headers=[f"Authorization: Bearer {token}"], concurrency=n,
                    requests=requests, seconds=seconds, warmup=4 * n,
                    expect='"ConsultationRecorded"', bodies=bodies,
                    unique_header="Idempotency-Key" if keyed else "")

    def baseline(n: int, readback: bool) -> dict[str, Any]:
        return load(f"http://127.0.0.1:{base_port}/consultations?readback={int(readback)}",
                    method="POST", body=b"{}", concurrency=n, requests=requests,
                    seconds=seconds, warmup=4 * n, expect='"recordConsultation"')

    for n in clients:
        # A case per client for each product series (one for all on the contended series):
        # product and keyed series grow alike as the rounds alternate.
        cases = 1 if one_case else n
        bodies = {kind: [body_for(next(fresh)) for _ in range(cases)]
                  for kind in ("product", "product_keyed")}
        runs: dict[str, list[dict[str, Any]]] = {
            "product": [], "product_keyed": [], "baseline": [], "baseline_readback": []}
        plain = Pair(f"recordConsultation, {n} client(s){procs}, vs raw two-row insert",
                     "req/s", target=0.25 if w > 1 else 0.2)
        keyed = Pair(f"… with an Idempotency-Key, {n} client(s){procs}, vs raw insert",
                     "req/s")
        read = Pair(f"recordConsultation, {n} client(s){procs}, vs raw insert + read-back",
                    "req/s")
        for i in range(rounds):
            order = ["product", "product_keyed", "baseline", "baseline_readback"]
            if i % 2:
                order.reverse()
            got = {}
            for kind in order:
                got[kind] = (product(n, kind == "product_keyed", bodies[kind])
                             if kind.startswith("product")
                             else baseline(n, kind == "baseline_readback"))
                runs[kind].append(got[kind])

            def units(r: dict[str, Any]) -> tuple[int, float]:
                return r["requests"], r["seconds"]

            plain.add(units(got["product"]), units(got["baseline"]))
            keyed.add(units(got["product_keyed"]), units(got["baseline"]))
            read.add(units(got["product"]), units(got["baseline_readback"]))
        summary = {kind: _summary(r) for kind, r in runs.items()}
        detail[f"clients_{n}" + (f"_processes_{w}" if w > 1 else "")
               + ("_one_case" if one_case else "")] = summary
        p, k, b = summary["product"], summary["product_keyed"], summary["baseline"]
        plain.note = (f"p50/p95/p99 {p['p50_ms']:.1f}/{p['p95_ms']:.1f}/{p['p99_ms']:.1f} ms,"
                      f" errors {p['errors']}; raw {b['p50_ms']:.1f}/{b['p95_ms']:.1f}/"
                      f"{b['p99_ms']:.1f} ms, errors {b['errors']}")
        keyed.note = (f"p50/p95/p99 {k['p50_ms']:.1f}/{k['p95_ms']:.1f}/{k['p99_ms']:.1f} ms,"
                      f" errors {k['errors']}")
        pairs += [plain, keyed, read]
    return pairs


def main() -> None:
    from common import configure_production_telemetry
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600, help="per round and server")
    parser.add_argument("--seconds", type=float, default=15.0, help="per round and server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default="1,8")
    parser.add_argument("--workers", default="1,2",
                        help="server processes; above 1: 8 clients against that many of each")
    parser.add_argument("--accept", choices=("reuseport", "shared"), default="reuseport",
                        help="how N server processes share the port (http_servers._multiprocess)")
    parser.add_argument("--durable", action="store_true")
    args = parser.parse_args()
    os.environ["BENCH_ACCEPT"] = args.accept
    configure_production_telemetry(True)
    with throwaway_cluster(durable=args.durable) as cluster:
        pairs, detail = run(cluster, requests=args.requests, seconds=args.seconds,
                            rounds=args.rounds,
                            clients=tuple(int(c) for c in args.clients.split(",")),
                            workers=tuple(int(w) for w in args.workers.split(",")))
    print_table(pairs)
    print(json.dumps(detail, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
