"""HTTP servers for the load benchmarks, each in its own process, and the load generator's driver.

    .venv/bin/python bench/http_servers.py app --port 8123        # the product (settings: YORISOI_*)
    .venv/bin/python bench/http_servers.py baseline --port 8124   # minimal FastAPI + psycopg

``app`` is ``yorisoi.infra.http.app.create_app`` under uvicorn, one worker, as ``yorisoi
serve`` runs it (SDK tracer provider, no exporter), minus the access log.
``baseline`` is the least a FastAPI endpoint can do to answer the same page of
the case list: one pooled psycopg connection (as the application role), the same
two statements (the count and the page, in one ``REPEATABLE READ`` read-only
transaction as the product's), the same rows and fields as JSON.  No
authentication, no access decision, no GraphQL, no spans: that is the point.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CASE_FIELDS = ("case_id", "municipality_code", "status", "site_id", "contract_id", "opened_on",
               "last_activity_on", "consultation_count", "themes", "closed_on", "closure_reason",
               "council_case", "version")

CASES_QUERY = """query Cases($m: String!, $first: Int!) {
  cases(municipalityCode: $m, first: $first) {
    totalCount
    edges { cursor node { id municipalityCode status siteId contractId openedOn lastActivityOn
                          consultationCount themes closedOn closureReason councilCase version } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@contextlib.contextmanager
def api_world(cluster: Any, code: str) -> Iterator[tuple[Any, Any]]:
    """Settings for a server benchmarked over HTTP, and services with ``code`` provisioned.

    The platform, the municipality and its development issuer; rate limits on (their cost
    is part of every request) but far above the load.  The services close at the end.
    """
    from yorisoi.infra.wiring.bootstrap import OPERATOR, Services, init_platform
    from yorisoi.services.context import acting_as

    sys.path.insert(0, str(HERE))
    from common import MUNICIPALITIES

    settings = cluster.settings(
        dev_issuer=True, rate_limits=True, rate_limit_principal_per_second=1e6,
        rate_limit_principal_burst=10**6, rate_limit_tenant_per_second=1e6,
        rate_limit_tenant_burst=10**6)
    init_platform(settings)
    services = Services(settings)
    try:
        with acting_as(OPERATOR):
            name, prefecture = MUNICIPALITIES[code]
            services.directory.provision_municipality(code=code, name=name,
                                                      prefecture=prefecture)
            services.directory.register_identity_provider(
                services.dev_issuer.registration_for("municipality", code))
        yield settings, services
    finally:
        services.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_env(settings: Any) -> dict[str, str]:
    """``Settings`` as YORISOI_* variables, for a server in another process."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"YORISOI_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


@contextlib.contextmanager
def serving(kind: str, port: int, env: dict[str, str] | None = None,
            timeout: float = 180.0, workers: int = 1) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait until it accepts connections, stop it at the end."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "http_servers.py"), kind, "--port", str(port),
         "--workers", str(workers)],
        env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{kind} server exited: "
                                   f"{process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                if _listening(port) >= (workers if _reuseport(workers) else 1):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} server did not start in {timeout} s")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _reuseport(workers: int) -> bool:
    return workers > 1 and os.environ.get("BENCH_ACCEPT", "reuseport") != "shared"


def _listening(port: int) -> int:
    """Listening sockets on ``port``: one per process under ``SO_REUSEPORT``.

    The load must not start before every process listens: the kernel spreads
    connections over the sockets that listen when they arrive, and a process
    still importing the app would get none of the first round's keep-alive clients.
    """
    listing = subprocess.run(["ss", "-Htln", f"( sport = :{port} )"], capture_output=True,
                             text=True, check=False).stdout
    return len(listing.splitlines())


def load(url: str, *, method: str = "GET", body: bytes = b"", headers: list[str] | None = None,
         concurrency: int = 8, requests: int = 1000, seconds: float = 20.0, warmup: int = 20,
         expect: str = "", unique_header: str = "",
         bodies: list[bytes] | None = None) -> dict[str, Any]:
    """Run ``loadgen.py`` in its own process and return its figures.

    ``bodies``: connection i sends ``bodies[i % len(bodies)]`` instead of ``body``.
    """
    argv = [sys.executable, str(HERE / "loadgen.py"), "--url", url, "--method", method,
            "--concurrency", str(concurrency), "--requests", str(requests),
            "--seconds", str(seconds), "--warmup", str(warmup), "--expect", expect,
            "--unique-header", unique_header]
    for header in headers or []:
        argv += ["--header", header]
    body_file = None
    if body:
        import tempfile

        with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
            f.write(body)
            body_file = f.name
        argv += ["--body-file", body_file]
    bodies_file = None
    if bodies:
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False,
                                         encoding="utf-8") as f:
            json.dump([b.decode() for b in bodies], f, ensure_ascii=False)
            bodies_file = f.name
        argv += ["--bodies-file", bodies_file]
    try:
        out = subprocess.run(argv, capture_output=True, check=True,
                             timeout=seconds * 2 + 120).stdout
    finally:
        for name in (body_file, bodies_file):
            if name:
                os.unlink(name)
    return json.loads(out)


def rss_kb(pid: int) -> int:
    """Resident memory of a process (kB), from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- servers


def _serve_app(port: int, workers: int = 1) -> None:
    import uvicorn

    from yorisoi.infra.http.app import create_app
    from yorisoi.infra.settings import Settings

    if workers > 1:  # what `yorisoi serve --workers N` runs
        from yorisoi.infra.http.asgi import NoDelayHTTPProtocol

        _multiprocess()("yorisoi.infra.http.asgi:application", factory=True, workers=workers,
                        host="127.0.0.1", port=port, log_level="warning", access_log=False,
                        http=NoDelayHTTPProtocol)
        return
    uvicorn.run(create_app(Settings()), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


def _multiprocess() -> Any:
    """How N server processes share the port (``BENCH_ACCEPT``), the same for product and raw.

    ``shared`` (uvicorn's ``--workers``: one socket; keep-alive clients pile onto
    one process) or ``reuseport`` (``yorisoi.infra.reuseport``: a socket each,
    connections spread by the kernel).
    """
    import uvicorn

    if os.environ.get("BENCH_ACCEPT", "reuseport") == "shared":
        return uvicorn.run
    from yorisoi.infra.reuseport import serve

    return serve


def _serve_baseline(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    schema = os.environ["BENCH_SCHEMA"]
    pool = ConnectionPool(os.environ["BENCH_DSN"], min_size=2, max_size=2,
                          kwargs={"row_factory": dict_row, "autocommit": True}, open=True)
    count_sql = f'SELECT COUNT(*) AS n FROM "{schema}".case_view'
    page_sql = (f'SELECT * FROM "{schema}".case_view'
                " ORDER BY last_activity_on DESC, case_id DESC LIMIT %s")
    app = FastAPI()

    @app.get("/cases")
    def cases(first: int = 20) -> dict[str, Any]:
        with pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            total = conn.execute(count_sql).fetchone()
            rows = conn.execute(page_sql, (first + 1,)).fetchall()
        edges = []
        for row in rows[:first]:
            cursor = base64.urlsafe_b64encode(
                f"{row['last_activity_on']}|{row['case_id']}".encode()).decode()
            node = {"id": row["case_id"], "municipalityCode": row["municipality_code"],
                    "status": row["status"], "siteId": row["site_id"],
                    "contractId": row["contract_id"], "openedOn": row["opened_on"],
                    "lastActivityOn": row["last_activity_on"],
                    "consultationCount": row["consultation_count"],
                    "themes": json.loads(row["themes"]), "closedOn": row["closed_on"],
                    "closureReason": row["closure_reason"],
                    "councilCase": row["council_case"], "version": row["version"]}
            edges.append({"cursor": cursor, "node": node})
        return {"data": {"cases": {"totalCount": total["n"], "edges": edges, "pageInfo": {
            "hasNextPage": len(rows) > first,
            "endCursor": edges[-1]["cursor"] if edges else None}}}}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _serve_baseline_write(port: int, workers: int = 1) -> None:
    import uvicorn

    if workers > 1:  # N processes of the same app, as the product's --workers N
        from yorisoi.infra.http.asgi import NoDelayHTTPProtocol  # the same socket options

        _multiprocess()("http_servers:baseline_write_app", factory=True, workers=workers,
                        app_dir=str(HERE), host="127.0.0.1", port=port, log_level="warning",
                        access_log=False, http=NoDelayHTTPProtocol)
        return
    uvicorn.run(baseline_write_app(), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


def baseline_write_app() -> Any:
    """The least an endpoint can do to store a consultation: two rows, one transaction.

    ``POST /consultations`` inserts two rows shaped like the product's two events
    (the consultation recorded, the case noting it) into a plain table as the
    application role and answers their ids; ``?readback=1`` reads the rows back
    before answering (what the product's answer from its views costs at the least).
    """
    import uuid

    from fastapi import FastAPI
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    table = os.environ["BENCH_TABLE"]
    pool = ConnectionPool(os.environ["BENCH_DSN"], min_size=2, max_size=2,
                          kwargs={"row_factory": dict_row, "autocommit": True}, open=True)
    insert = (f"INSERT INTO {table} (originator_id, originator_version, topic, state)"
              " VALUES (%s, %s, %s, %s), (%s, %s, %s, %s) RETURNING notification_id")
    state = os.urandom(700)  # about the size of a sealed consultation event
    app = FastAPI()

    @app.post("/consultations")
    def record(readback: int = 0) -> dict[str, Any]:
        consultation, case = uuid.uuid4(), uuid.uuid4()
        with pool.connection() as conn, conn.transaction():
            ids = [r["notification_id"] for r in conn.execute(insert, (
                consultation, 1, "consultations:Consultation.Recorded", state,
                case, 1, "cases:Case.ConsultationNoted", state[:200])).fetchall()]
        answer: dict[str, Any] = {"id": str(consultation), "case": str(case), "ids": ids}
        if readback:
            with pool.connection() as conn:
                rows = conn.execute(f"SELECT originator_id, topic FROM {table}"
                                    " WHERE originator_id = ANY(%s)",
                                    ([consultation, case],)).fetchall()
            answer["read"] = len(rows)
        return {"data": {"recordConsultation": answer}}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("app", "baseline", "baseline-write"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.kind == "app":
        _serve_app(args.port, args.workers)
    elif args.kind == "baseline-write":
        _serve_baseline_write(args.port, args.workers)
    else:
        _serve_baseline(args.port)


if __name__ == "__main__":
    main()
