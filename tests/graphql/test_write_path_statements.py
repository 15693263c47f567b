"""recordConsultation on a kept case stays within its documented statement budget.

The write path a specialist waits for (issue 17): counted as PostgreSQL logs
the statements (``log_statement = all`` for the duration of the requests,
BEGIN and COMMIT included), for a case whose aggregates this process keeps.
The tenant's space and the platform are counted apart: the platform side is
the shared rate limit's charge, which reads the registry's version for the
request in the same statement (rate limits on, as deployed); a readiness probe
running in the background (``SELECT 1``, the registry's tenant list) is not
part of any request and is left out.

The budget is what docs/benchmarks.md ("The write path") documents; a change
that adds a statement to every mutation fails here first.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from world import CITY_A, gql, record

from yorisoi.infra.clock import japan_today

pytestmark = pytest.mark.parametrize("backend_settings", ["postgres"], indirect=True)

# Per recordConsultation on a kept case (see the module docstring).
# The read-ahead (case, taxonomy, household), the insert, the case view's catch-up (BEGIN,
# the positions locked with the log page after them, the case row, its update, the
# consultation row, the position move, the access log of the answer's read, COMMIT). The
# answer is built from the rows the catch-up wrote (projections/fresh_rows.py): no reads.
TENANT_BUDGET = 10
PLATFORM_BUDGET = 1  # the shared rate limit's upsert, which reads the registry's version too
# The insert (one statement), the case view's catch-up with the access log.
TENANT_TRANSACTIONS = 2

_LOGGED = re.compile(r"\[(\d+)\] \S* ?LOG:  (?:statement|execute [^:]+): (.*)")
_PROBE = re.compile(r'^SELECT 1$|"platform"\.tenants|^BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')

QUICK = """mutation Record($input: RecordConsultationInput!) { recordConsultation(input: $input) {
  __typename ... on ConsultationRecorded { case { id consultationCount lastActivityOn }
  consultation { id } } ... on UserError { code } } }"""


def _log_path(pg_cluster) -> Path:  # noqa: ANN001
    with pg_cluster.connect("postgres", "superuser", autocommit=True) as conn:
        data = conn.execute("SHOW data_directory").fetchone()[0]
    return Path(data).parent / "postgres.log"


def _logging(pg_cluster, on: bool) -> None:  # noqa: ANN001
    with pg_cluster.connect("postgres", "superuser", autocommit=True) as conn:
        if on:
            conn.execute("ALTER SYSTEM SET log_statement = 'all'")
            conn.execute("ALTER SYSTEM SET log_line_prefix = '%m [%p] %u '")
        else:
            conn.execute("ALTER SYSTEM RESET log_statement")
            conn.execute("ALTER SYSTEM RESET log_line_prefix")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)  # every backend reloads its configuration at its next command


@pytest.fixture
def limited_client(world):
    """The app as deployed: the shared rate limits on (off in tests by default), with
    rates no test reaches, so their statement is counted like every other."""
    from fastapi.testclient import TestClient

    from yorisoi.infra.http.app import create_app

    settings = world.services.settings.model_copy(update={
        "rate_limits": True, "rate_limit_store": "database",
        "rate_limit_principal_per_second": 10_000.0, "rate_limit_tenant_per_second": 10_000.0})
    with TestClient(create_app(settings, world.services)) as test_client:
        yield test_client


def test_record_consultation_on_a_kept_case_stays_within_its_budget(world, limited_client,
                                                                    pg_cluster):
    client = limited_client
    headers = world.headers("municipality", CITY_A, subject="statements-1")
    case_id = record(client, headers)["case"]["id"]

    def one() -> None:
        body = gql(client, QUICK, {"input": {
            "municipalityCode": CITY_A, "caseId": case_id, "siteId": "a-hiroba",
            "occurredOn": (japan_today() - timedelta(days=1)).isoformat(), "channel": "visit", "themes": ["development"],
            "asked": "架空の相談", "wishes": "", "direction": ""}}, headers)
        assert body["data"]["recordConsultation"]["__typename"] == "ConsultationRecorded", body

    for _ in range(3):  # the case, the taxonomy and the terms are kept from here on
        one()
    log = _log_path(pg_cluster)
    _logging(pg_cluster, True)
    try:
        mark = log.stat().st_size
        n = 4
        for _ in range(n):
            one()
        time.sleep(0.3)
    finally:
        _logging(pg_cluster, False)
    with open(log, errors="replace") as f:
        f.seek(mark)
        lines = [(m.group(1), m.group(2).strip()) for line in f if (m := _LOGGED.search(line))]
    lines = [(pid, s) for pid, s in lines
             if s and "pg_reload_conf" not in s and "ALTER SYSTEM" not in s]
    probe_pids = {pid for pid, s in lines if _PROBE.search(s)}
    tenant_pids = {pid for pid, s in lines if f'"t_{CITY_A}"' in s}
    tenant_lines = [(pid, s) for pid, s in lines if pid in tenant_pids and pid not in probe_pids]
    tenant = [s for _, s in tenant_lines]
    platform = [s for pid, s in lines if '"platform"' in s and not _PROBE.search(s)]
    shapes = "\n".join(s[:120] for s in tenant[-(len(tenant) // n):])
    assert len(tenant) / n <= TENANT_BUDGET, f"{len(tenant) / n} per mutation:\n{shapes}"
    assert len(platform) / n <= PLATFORM_BUDGET, "\n".join(platform)
    # Transactions on the tenant's space: explicit ones, plus writes outside any (autocommit).
    assert _transactions(tenant_lines) / n <= TENANT_TRANSACTIONS, shapes
    # Never the whole case: the answer reads its one consultation, not the case's list.
    assert not any("consultation_view WHERE case_id" in s for s in tenant), shapes
    # Chaining the audit ledger is not on the request path (the worker does it).
    assert not any("audit_ledger" in s for s in tenant), shapes


def _transactions(lines: list[tuple[str, str]]) -> int:
    """BEGIN … COMMIT blocks, plus each write sent outside one (its own transaction)."""
    open_in: set[str] = set()
    count = 0
    for pid, statement in lines:
        upper = statement.upper()
        if upper.startswith("BEGIN"):
            open_in.add(pid)
            count += 1
        elif upper.startswith(("COMMIT", "ROLLBACK")):
            open_in.discard(pid)
        elif pid not in open_in and not upper.startswith(("SELECT", "WITH")):
            count += 1  # an INSERT/UPDATE/DELETE in autocommit
        elif pid not in open_in and "yorisoi_insert_events" in statement:
            count += 1  # the insert function: a write behind a SELECT
    return count


SPANS_BUDGET = 6  # HTTP, GraphQL operation, the command, its insert, the catch-up (+1 spare)


def test_a_mutation_traces_its_stages_not_each_statement_and_no_personal_data(world, client):
    from yorisoi.infra.telemetry import in_memory_exporter

    exporter = in_memory_exporter()
    headers = world.headers("municipality", CITY_A, subject="spans-1")
    case_id = record(client, headers)["case"]["id"]
    secret = "架空の相談スパン確認"
    for _ in range(2):
        exporter.clear()
        body = gql(client, QUICK, {"input": {
            "municipalityCode": CITY_A, "caseId": case_id, "siteId": "a-hiroba",
            "occurredOn": (japan_today() - timedelta(days=1)).isoformat(), "channel": "visit",
            "themes": ["development"], "asked": secret, "wishes": "", "direction": ""}}, headers)
        assert body["data"]["recordConsultation"]["__typename"] == "ConsultationRecorded"
    spans = exporter.get_finished_spans()
    (http,) = [s for s in spans if s.name == "HTTP POST"]
    mine = [s for s in spans if s.context.trace_id == http.context.trace_id]
    assert len(mine) <= SPANS_BUDGET, [s.name for s in mine]
    names = {s.name for s in mine}
    assert {"HTTP POST", "projection.batch"} <= names
    # Statements are counted on the spans instead.
    assert any((s.attributes or {}).get("yorisoi.sql.statements") for s in mine)
    for s in mine:
        for value in (s.attributes or {}).values():
            assert secret not in str(value) and case_id not in str(value)


def test_the_answers_read_is_logged_in_the_catch_ups_transaction(world, client, pg_cluster):
    """The answer's personal read and the view rows it was built from commit together.

    The access-log row of the consultation the answer unsealed and the consultation's
    view row carry the same transaction id (xmin): one commit, not two, and a read that
    could not be logged would not have been answered.
    """
    headers = world.headers("municipality", CITY_A, subject="statements-unit")
    case_id = record(client, headers)["case"]["id"]
    body = gql(client, """mutation Record($input: RecordConsultationInput!) {
      recordConsultation(input: $input) { __typename
        ... on ConsultationRecorded { consultation { id asked } } } }""", {"input": {
        "municipalityCode": CITY_A, "caseId": case_id, "siteId": "a-hiroba",
        "occurredOn": (japan_today() - timedelta(days=1)).isoformat(), "channel": "visit",
        "themes": ["development"], "asked": "架空の相談（記録確認）", "wishes": "",
        "direction": ""}}, headers)
    answer = body["data"]["recordConsultation"]
    assert answer["consultation"]["asked"] == "架空の相談（記録確認）"
    consultation_id = answer["consultation"]["id"]
    dbname = world.services.settings.pg_dbname
    with pg_cluster.connect(dbname, "superuser", autocommit=True) as conn:
        view_xmin = conn.execute(
            f'SELECT xmin::text FROM "t_{CITY_A}".consultation_view WHERE consultation_id = %s',
            (consultation_id,)).fetchone()[0]
        logged = conn.execute(
            f'SELECT xmin::text, actor FROM "t_{CITY_A}".access_log'
            " WHERE record_kind = 'consultation' AND record_id = %s", (consultation_id,)).fetchall()
    assert [(x, actor) for x, actor in logged] == [(view_xmin, "statements-unit")]


def test_writers_with_and_without_keys_share_a_two_connection_pool_without_stalling(
        world, client):
    """Idempotent writers (a unit of work holds a connection through the command) and
    plain ones (the answer's catch-up holds one until the answer is built) on one tenant.

    With a lock taken before a connection on one path and after it on the other, the
    pool's two connections and the lock deadlocked until the pool's timeout (seconds of
    stall, then 503s).  Here a server whose pool gives up after 2 s — far longer than a
    borrow waits behind eight writers, however busy the machine — must answer every one.
    """
    import threading
    import uuid as uuid_module

    from fastapi.testclient import TestClient

    from yorisoi.infra.http.app import create_app
    from yorisoi.infra.wiring.bootstrap import Services

    settings = world.services.settings.model_copy(update={"pg_pool_timeout_seconds": 2.0})
    services = Services(settings)
    headers = world.headers("municipality", CITY_A, subject="pool-writers")
    case_ids = [record(client, headers)["case"]["id"] for _ in range(4)]
    failures: list[object] = []

    def writer(n: int) -> None:
        for i in range(6):
            extra = {"Idempotency-Key": str(uuid_module.uuid4())} if n % 2 else {}
            response = client.post("/graphql", json={"query": QUICK, "variables": {"input": {
                "municipalityCode": CITY_A, "caseId": case_ids[n % 4], "siteId": "a-hiroba",
                "occurredOn": (japan_today() - timedelta(days=1)).isoformat(),
                "channel": "visit", "themes": ["development"], "asked": f"架空の相談 {n}-{i}",
                "wishes": "", "direction": ""}}}, headers={**headers, **extra})
            answer = ((response.json().get("data") or {}).get("recordConsultation") or {}
                      if response.status_code == 200 else {})
            if answer.get("__typename") != "ConsultationRecorded":
                failures.append((response.status_code, response.text[:300]))

    try:
        with TestClient(create_app(settings, services)) as client:
            threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        services.close()
    assert failures == []
