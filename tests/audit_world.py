"""Shared scenario pieces of the audit ledger tests (tests/services, tests/infra)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from yorisoi.domain.households import Child, Guardian
from yorisoi.infra.access_log_store import AccessEntry, AccessLogStore
from yorisoi.infra.clock import japan_today
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as

CITY_A = "131016"
GUARDIAN = "架空 花子"
CHILD = "架空 たろう"
ASKED = "ことばが遅い"
STAFF = ActingContext(user_id="staff-7", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter", request_id="req-1")


def record(rt: Any, n: int = 1) -> list[Any]:
    """``n`` consultations of new households (several events each), not yet chained."""
    day = japan_today() - timedelta(days=2)
    with acting_as(STAFF):
        return [rt.casework.record_consultation(RecordConsultation(
            municipality_code=CITY_A, site_id="a-counter", contract_id=None, occurred_on=day,
            channel="phone", themes=["development"], asked=ASKED, wishes="相談先",
            direction="案内", consent=NewConsent(GUARDIAN, "母", day, "相談記録の作成"),
            household=NewHousehold(guardians=[Guardian(GUARDIAN, "母")],
                                   children=[Child(CHILD, date(2024, 5, 1))],
                                   pregnancy=None))) for _ in range(n)]


def log_reads(rt: Any, n: int, household_id: str = "h-1") -> None:
    """``n`` access-log rows, as a request that read personal fields writes them."""
    now = datetime.now(UTC).isoformat()
    AccessLogStore(rt.casework.database).append([
        AccessEntry(now, "staff-7", "specialist", "municipality", CITY_A, None, household_id,
                    "consultation", f"c-{i}", ("asked", "wishes"), "grant", None, "req-1",
                    None, "graphql") for i in range(n)])


def ledger(rt: Any) -> list[dict[str, Any]]:
    with rt.casework.database.transaction(write=False) as cur:
        return cur.execute("SELECT * FROM {s}audit_ledger ORDER BY sequence").fetchall()


def counts(rt: Any) -> tuple[int, int]:
    """(stored events, access-log rows) of the municipality."""
    with rt.casework.database.transaction(write=False) as cur:
        events = cur.execute("SELECT COUNT(*) AS n FROM {events}").fetchone()["n"]
        access = cur.execute("SELECT COUNT(*) AS n FROM {s}access_log").fetchone()["n"]
    return int(events), int(access)


@contextmanager
def attacker(pg_cluster: Any, pg_database: str) -> Iterator[Any]:
    """The superuser with triggers off: what someone with database access can do."""
    with pg_cluster.connect(pg_database, "superuser", autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        yield conn
