"""The registry's read model (``platform`` space) and the lookups requests need.

Every table carries ``tenant_id`` (the owning municipality or contractor):
the row-level-security backstop keys on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from eventsourcing.persistence import Notification
from opentelemetry import trace

from yorisoi.domain.access_grants import AccessGrant
from yorisoi.domain.registry import (
    Contract,
    Contractor,
    IdentityProvider,
    Municipality,
    Site,
)
from yorisoi.infra.db import Cursor, Database, counted_statements
from yorisoi.infra.identity import IssuerRegistration, LookupUnavailable
from yorisoi.services.event_mapper import event_metadata

_log = logging.getLogger("yorisoi.registry")

REGISTRY_TABLES = ("tenants", "sites", "contracts", "identity_providers", "access_grants")


@dataclass(frozen=True)
class TenantRecord:
    tenant_id: str
    kind: str
    name: str


@dataclass(frozen=True)
class SiteRecord:
    tenant_id: str
    site_id: str
    name: str
    site_type: str


@dataclass(frozen=True)
class ContractRecord:
    contract_id: str
    municipality_code: str
    contractor_id: str
    site_ids: list[str]
    starts_on: date
    ends_on: date
    status: str

    def is_active_on(self, day: date) -> bool:
        # Neither ended nor suspended (the status column follows both), and in its period.
        return self.status == Contract.ACTIVE and self.starts_on <= day <= self.ends_on


class RegistryView:
    """Projection of the platform registry into lookup tables."""

    name = "registry"
    # Rows of every tenant are written here: the projector declares so to RLS.
    lookup = "platform"

    @staticmethod
    def ddl() -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {s}tenants (tenant_id TEXT PRIMARY KEY,"
            " kind TEXT NOT NULL, name TEXT NOT NULL, detail TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {s}sites (tenant_id TEXT NOT NULL, site_id TEXT NOT NULL,"
            " name TEXT NOT NULL, site_type TEXT NOT NULL, PRIMARY KEY (tenant_id, site_id))",
            "CREATE TABLE IF NOT EXISTS {s}contracts (contract_id TEXT PRIMARY KEY,"
            " tenant_id TEXT NOT NULL, contractor_id TEXT NOT NULL, site_ids TEXT NOT NULL,"
            " starts_on TEXT NOT NULL, ends_on TEXT NOT NULL, status TEXT NOT NULL,"
            " aggregate_id TEXT NOT NULL UNIQUE)",
            "CREATE INDEX IF NOT EXISTS contracts_contractor"
            " ON {s}contracts (contractor_id, tenant_id)",
            "CREATE TABLE IF NOT EXISTS {s}identity_providers (issuer TEXT PRIMARY KEY,"
            " tenant_id TEXT NOT NULL, tenant_kind TEXT NOT NULL, audience TEXT NOT NULL,"
            " jwks_uri TEXT, jwks TEXT)",
            # tenant_id: the granting municipality (row-level security keys on it).
            "CREATE TABLE IF NOT EXISTS {s}access_grants (grant_id TEXT PRIMARY KEY,"
            " tenant_id TEXT NOT NULL, subject_kind TEXT NOT NULL, subject_tenant TEXT NOT NULL,"
            " subject TEXT NOT NULL, role TEXT NOT NULL, site_ids TEXT NOT NULL,"
            " starts_on TEXT NOT NULL, ends_on TEXT, revoked_on TEXT, reason TEXT NOT NULL,"
            " granted_by TEXT NOT NULL, granted_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS access_grants_subject"
            " ON {s}access_grants (tenant_id, subject_tenant, subject)",
        ]

    def reset(self, cur: Cursor) -> None:
        for table in REGISTRY_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        if isinstance(event, Municipality.Registered):
            cur.execute("INSERT INTO {s}tenants VALUES (%s, 'municipality', %s, %s)",
                        (event.code, event.name, json.dumps({"prefecture": event.prefecture})))
        elif isinstance(event, Contractor.Registered):
            cur.execute("INSERT INTO {s}tenants VALUES (%s, 'contractor', %s, %s)",
                        (event.contractor_id, event.name,
                         json.dumps({"corporate_number": event.corporate_number})))
        elif isinstance(event, Site.Registered):
            cur.execute("INSERT INTO {s}sites VALUES (%s, %s, %s, %s)",
                        (event.municipality_code, event.site_id, event.name, event.site_type))
        elif isinstance(event, Contract.Signed):
            cur.execute("INSERT INTO {s}contracts VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (event.contract_id, event.municipality_code, event.contractor_id,
                         json.dumps(event.site_ids), event.starts_on.isoformat(),
                         event.ends_on.isoformat(), Contract.ACTIVE, str(event.originator_id)))
        elif isinstance(event, Contract.Ended):
            cur.execute("UPDATE {s}contracts SET status = %s,"
                        " ends_on = CASE WHEN ends_on < %s THEN ends_on ELSE %s END"
                        " WHERE aggregate_id = %s",
                        (Contract.ENDED, event.ended_on.isoformat(), event.ended_on.isoformat(),
                         str(event.originator_id)))
        elif isinstance(event, (Contract.Suspended, Contract.Resumed)):
            status = Contract.SUSPENDED if isinstance(event, Contract.Suspended) else Contract.ACTIVE
            cur.execute("UPDATE {s}contracts SET status = %s WHERE aggregate_id = %s",
                        (status, str(event.originator_id)))
        elif isinstance(event, AccessGrant.Granted):
            meta = event_metadata(event)
            cur.execute("INSERT INTO {s}access_grants VALUES"
                        " (%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s, %s)",
                        (str(event.originator_id), event.municipality_code, event.subject_kind,
                         event.subject_tenant, event.subject, event.role,
                         json.dumps(event.site_ids), event.starts_on.isoformat(),
                         event.ends_on.isoformat() if event.ends_on else None, event.reason,
                         meta.get("user_id") or "unknown", event.timestamp.isoformat()))
        elif isinstance(event, AccessGrant.Revoked):
            cur.execute("UPDATE {s}access_grants SET revoked_on = %s WHERE grant_id = %s",
                        (event.revoked_on.isoformat(), str(event.originator_id)))
        elif isinstance(event, IdentityProvider.Registered):
            cur.execute("INSERT INTO {s}identity_providers VALUES (%s, %s, %s, %s, %s, %s)",
                        (event.issuer, event.tenant_id, event.tenant_kind, event.audience,
                         event.jwks_uri, json.dumps(event.jwks) if event.jwks else None))


@dataclass(frozen=True)
class AccessGrantRecord:
    grant_id: str
    municipality_code: str
    subject_kind: str
    subject_tenant: str
    subject: str
    role: str
    site_ids: list[str]
    starts_on: date
    ends_on: date | None
    revoked_on: date | None
    reason: str
    granted_by: str
    granted_at: str

    def is_active_on(self, day: date) -> bool:
        return (self.revoked_on is None and self.starts_on <= day
                and (self.ends_on is None or day <= self.ends_on))


def _grant(row: dict[str, Any]) -> AccessGrantRecord:
    def day(value: str | None) -> date | None:
        return date.fromisoformat(value) if value else None

    return AccessGrantRecord(
        grant_id=row["grant_id"], municipality_code=row["tenant_id"],
        subject_kind=row["subject_kind"], subject_tenant=row["subject_tenant"],
        subject=row["subject"], role=row["role"], site_ids=json.loads(row["site_ids"]),
        starts_on=date.fromisoformat(row["starts_on"]), ends_on=day(row["ends_on"]),
        revoked_on=day(row["revoked_on"]), reason=row["reason"],
        granted_by=row["granted_by"], granted_at=row["granted_at"])


def _contract(row: dict[str, Any]) -> ContractRecord:
    return ContractRecord(
        contract_id=row["contract_id"], municipality_code=row["tenant_id"],
        contractor_id=row["contractor_id"], site_ids=json.loads(row["site_ids"]),
        starts_on=date.fromisoformat(row["starts_on"]),
        ends_on=date.fromisoformat(row["ends_on"]), status=row["status"])


def _issuer(row: dict[str, Any]) -> IssuerRegistration:
    return IssuerRegistration(
        issuer=row["issuer"], audience=row["audience"], tenant_kind=row["tenant_kind"],
        tenant_id=row["tenant_id"], jwks_uri=row["jwks_uri"],
        jwks=json.loads(row["jwks"]) if row["jwks"] else None)


T = TypeVar("T")

# The registry view's version: its projector's position row, which every transaction
# that changes the view also updates (apply a batch, rebuild).  ``xmin`` is the
# transaction that last wrote the row, so a rebuild that ends at the same position is a
# new version too.  The platform's projection_positions has no row-level security.
_VERSION_SQL = ("SELECT position, xmin::text AS tx FROM {s}projection_positions"
                " WHERE name = %s")
_MAX_ANSWERS = 50_000  # then start over: the hot set is a few entries per active person


class _RequestRegistry:
    """What one request knows: the cache epoch it has checked against the database."""

    __slots__ = ("epoch",)

    def __init__(self) -> None:
        self.epoch = -1


_request: ContextVar[_RequestRegistry | None] = ContextVar("yorisoi_registry_request",
                                                          default=None)


@contextmanager
def registry_request() -> Iterator[None]:
    """Within the block (one HTTP request), the registry's version is read once.

    Every thread and task the request starts inherits the marker.  Outside such a
    block every cached lookup reads the version itself (CLI, workers, tests).
    """
    token = _request.set(_RequestRegistry())
    try:
        yield
    finally:
        _request.reset(token)


def _settle(loop: asyncio.AbstractEventLoop, future: asyncio.Future[int], epoch: int | None,
            error: BaseException | None) -> None:
    def settle() -> None:
        if future.done():  # the request went away meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(epoch)  # type: ignore[arg-type]

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # its loop has closed
        _log.debug("registry check answered after its event loop closed")


class RegistryQueries:
    """Lookups in the registry's read model.

    Most run before a tenant is known (which tenant owns this issuer?) or
    across tenants (a contractor's contracts with every municipality), so they
    declare a platform-wide lookup to row-level security; a lookup within one
    municipality declares that tenant instead.

    The lookups every request makes (the issuer, the tenant, a person's grants, a
    contractor's contracts, sites) are answered from memory, but only for the
    registry version they were read at: a request first reads the version (one
    statement, once per request, shared by the requests waiting for it) and drops
    every answer when it moved.  So a suspension, a revocation or a new issuer,
    committed by any process, applies to the next request exactly as without the
    cache; nothing is time-based.  An answer is kept only if the transaction that
    read it saw the version the cache holds.
    (SQLite spaces are for development: no cache there, every lookup reads.)
    """

    def __init__(self, database: Database) -> None:
        self.db = database
        self._caching = database.dialect == "postgres"
        self._lock = threading.Lock()
        self._checks = threading.Condition(self._lock)
        self._checking = False
        self._checks_begun = self._checks_done = 0  # version checks, numbered
        self._version: tuple[Any, ...] | None = None
        self._epoch = 0  # moves whenever the answers are dropped
        self._answers: dict[tuple[Any, ...], Any] = {}
        # Requests waiting on the event loop, and the thread that checks for them.
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[int]]] = []
        self._checker: threading.Thread | None = None
        self._closed = False

    # -- the cache ----------------------------------------------------------------

    def _read_version(self, cur: Cursor) -> tuple[Any, ...]:
        row = cur.execute(_VERSION_SQL, (RegistryView.name,)).fetchone()
        return (row["position"], row["tx"]) if row else (0, "")

    def _current_version(self) -> tuple[Any, ...]:
        # One autocommit statement: no BEGIN/COMMIT, one round trip.
        with self.db.datastore.get_connection() as conn:
            return self._read_version(Cursor(conn.cursor(), self.db))

    def _checked_epoch(self) -> int:
        """The epoch whose answers are current for this request (reads the version if needed).

        Checks are shared, strictly: a thread may use a check only if that check
        began after the thread asked (so it saw every change committed before), and
        one check runs at a time.  Concurrent requests thus wait for the same next
        check instead of each sending its own statement.
        """
        request = _request.get()
        if request is not None and request.epoch == self._epoch:
            return request.epoch
        with self._checks:
            asked_after = self._checks_begun
            while self._checks_done <= asked_after:
                if not self._checking:
                    epoch = self._check()
                    break
                self._checks.wait()
            else:
                epoch = self._epoch
        if request is not None:
            request.epoch = epoch
        return epoch

    def _check(self, waiting: int = 1) -> int:
        """Read the version (the lock is released meanwhile) and drop stale answers.

        No span per check (one more on every request's trace): its statement is
        counted on the span current in the checking thread instead.
        """
        self._checking = True
        self._checks_begun += 1
        number = self._checks_begun
        try:
            self._checks.release()
            try:
                # No span of its own (it would be one more on every request's trace):
                # the check is counted on the span current here, with its statement.
                with counted_statements() as statements:
                    version = self._current_version()
                span = trace.get_current_span()
                span.set_attribute("yorisoi.registry.version_checks", 1)
                span.set_attribute("yorisoi.registry.waiting", waiting)
                span.set_attribute("yorisoi.registry.sql_statements", statements[0])
            finally:
                self._checks.acquire()
            if version != self._version:
                self._drop(version)
            self._checks_done = number
            return self._epoch
        finally:
            self._checking = False
            self._checks.notify_all()

    async def checked_for_request(self) -> bool:
        """Check the version for the current request without blocking the event loop.

        The request waits for a check that begins after it asked, run by one thread
        for all the requests waiting at that moment (so the token check needs no
        thread of its own).  False when there is nothing to check here (no request,
        no cache, closed): the lookups then check for themselves.
        """
        request = _request.get()
        if request is None or not self._caching or self._closed:
            return False
        if request.epoch == self._epoch:
            return True
        future = asyncio.get_running_loop().create_future()
        with self._checks:
            self._waiting.append((asyncio.get_running_loop(), future))
            if self._checker is None:
                self._checker = threading.Thread(target=self._serve_checks, daemon=True,
                                                 name="registry-version-checks")
                self._checker.start()
            self._checks.notify_all()
        request.epoch = await future
        return True

    def _serve_checks(self) -> None:
        with self._checks:
            while True:
                # A check already running may have begun before these requests asked.
                while not self._closed and (not self._waiting or self._checking):
                    self._checks.wait()
                if self._closed:
                    break
                waiting, self._waiting = self._waiting, []
                try:
                    outcome: tuple[int | None, BaseException | None] = (
                        self._check(len(waiting)), None)
                except Exception as error:  # noqa: BLE001 - each waiting request gets it
                    outcome = (None, error)
                for loop, future in waiting:
                    _settle(loop, future, *outcome)
            for loop, future in self._waiting:
                _settle(loop, future, None, RuntimeError("registry closed"))
            self._waiting = []

    def close(self) -> None:
        with self._checks:
            self._closed = True
            self._checks.notify_all()

    def issuer_in_memory(self, issuer: str) -> IssuerRegistration | None:
        """The issuer's registration if this request's check has it; else LookupUnavailable."""
        request = _request.get()
        with self._lock:
            if request is None or request.epoch != self._epoch \
                    or ("issuer", issuer) not in self._answers:
                raise LookupUnavailable
            return self._answers[("issuer", issuer)]

    # -- a check carried by another statement (the rate limiter's) --------------------

    def cached_issuer(self, issuer: str) -> tuple[IssuerRegistration | None, int]:
        """The issuer's registration as this process last checked it, and that epoch —
        not yet checked for this request (LookupUnavailable when not cached).

        For a guess made before the request's check: the caller must have the check
        confirm the epoch (``observed``) before relying on the answer.
        """
        with self._lock:
            if not self._caching or self._closed or ("issuer", issuer) not in self._answers:
                raise LookupUnavailable
            return self._answers[("issuer", issuer)], self._epoch

    def version_probe(self) -> tuple[str, tuple[Any, ...]] | None:
        """The version's statement, for a statement of the platform space to carry along
        (one round trip for both); None where nothing is cached (SQLite)."""
        if not self._caching or self._closed:
            return None
        return _VERSION_SQL, (RegistryView.name,)

    def observed(self, position: Any, tx: Any) -> int | None:
        """The version read by a statement that began during this request: the request's
        check, as if ``checked_for_request`` had run it.  Returns the request's epoch
        (None outside a request, or where nothing is cached).

        Sound for the same reason a shared check is: the statement began after the
        request asked, so it saw every change committed before.  A version older than
        the one held (statements finish out of order) only drops answers once more.
        """
        request = _request.get()
        if request is None or not self._caching or self._closed:
            return None
        version = (position, tx) if position is not None else (0, "")
        with self._lock:
            if version != self._version:
                self._drop(version)
            request.epoch = self._epoch
            return self._epoch

    def _drop(self, version: tuple[Any, ...] | None) -> None:
        self._answers = {}
        self._version = version
        self._epoch += 1

    def changed(self) -> None:
        """This process changed the registry: forget everything, also for the current request."""
        with self._lock:
            self._drop(None)

    def _memo(self, key: tuple[Any, ...], read: Callable[[Cursor], T], *,
              tenant: str | None = None) -> T:
        if not self._caching or self.db.in_transaction():
            # Inside a transaction of the platform's own (none today): read within it,
            # as before, rather than take a second connection for the version.
            with self._transaction(tenant) as cur:
                return read(cur)
        epoch = self._checked_epoch()
        with self._lock:
            # Only answers of the very epoch this request checked: had another thread
            # dropped them meanwhile, the database answers instead.
            if self._epoch == epoch and key in self._answers:
                return self._answers[key]
        with self._transaction(tenant) as cur:
            version = self._read_version(cur)  # the same snapshot as the answer
            answer = read(cur)
        with self._lock:
            if self._epoch == epoch and self._version == version:
                if len(self._answers) >= _MAX_ANSWERS:
                    self._answers = {}
                self._answers[key] = answer
        return answer

    def _transaction(self, tenant: str | None) -> Any:
        scope: dict[str, Any] = {"tenant": tenant} if tenant else {"lookup": "platform"}
        return self.db.transaction(write=False, **scope)

    # -- uncached reads ------------------------------------------------------------

    def _all(self, sql: str, params: tuple[Any, ...] = (), *,
             tenant: str | None = None) -> list[dict[str, Any]]:
        with self._transaction(tenant) as cur:
            return cur.execute(sql, params).fetchall()

    def _row(self, key: tuple[Any, ...], sql: str, params: tuple[Any, ...],
             record: Callable[[dict[str, Any]], T]) -> T | None:
        def read(cur: Cursor) -> T | None:
            row = cur.execute(sql, params).fetchone()
            return record(row) if row is not None else None

        return self._memo(key, read)

    def _rows(self, key: tuple[Any, ...], sql: str, params: tuple[Any, ...],
              record: Callable[[dict[str, Any]], T], *, tenant: str | None = None) -> list[T]:
        def read(cur: Cursor) -> tuple[T, ...]:
            return tuple(record(row) for row in cur.execute(sql, params).fetchall())

        return list(self._memo(key, read, tenant=tenant))  # a list of the caller's own

    def issuer(self, issuer: str) -> IssuerRegistration | None:
        return self._row(("issuer", issuer),
                         "SELECT * FROM {s}identity_providers WHERE issuer = %s", (issuer,),
                         _issuer)

    def tenant(self, tenant_id: str) -> TenantRecord | None:
        return self._row(("tenant", tenant_id),
                         "SELECT * FROM {s}tenants WHERE tenant_id = %s", (tenant_id,),
                         lambda r: TenantRecord(r["tenant_id"], r["kind"], r["name"]))

    def municipalities(self, *, after: str | None = None,
                       limit: int | None = None) -> list[TenantRecord]:
        """Municipalities by code (keyset: those after ``after``, at most ``limit``)."""
        sql, params = "SELECT * FROM {s}tenants WHERE kind = 'municipality'", []
        if after is not None:
            sql += " AND tenant_id > %s"
            params.append(after)
        sql += " ORDER BY tenant_id"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return [TenantRecord(r["tenant_id"], r["kind"], r["name"])
                for r in self._all(sql, tuple(params))]

    def municipality_count(self) -> int:
        (row,) = self._all("SELECT COUNT(*) AS n FROM {s}tenants WHERE kind = 'municipality'")
        return int(row["n"])

    def site(self, municipality_code: str, site_id: str) -> SiteRecord | None:
        return self._row(("site", municipality_code, site_id),
                         "SELECT * FROM {s}sites WHERE tenant_id = %s AND site_id = %s",
                         (municipality_code, site_id), lambda r: SiteRecord(**r))

    def contracts(self, *, contractor_id: str,
                  municipality_code: str | None = None) -> list[ContractRecord]:
        sql = "SELECT * FROM {s}contracts WHERE contractor_id = %s"
        params: tuple[Any, ...] = (contractor_id,)
        if municipality_code is not None:
            sql += " AND tenant_id = %s"
            params += (municipality_code,)
        return self._rows(("contracts", contractor_id, municipality_code),
                          sql + " ORDER BY contract_id", params, _contract)

    def contract(self, contract_id: str) -> ContractRecord | None:
        return self._row(("contract", contract_id),
                         "SELECT * FROM {s}contracts WHERE contract_id = %s", (contract_id,),
                         _contract)

    def contract_for_site(self, municipality_code: str, site_id: str) -> list[ContractRecord]:
        contracts = self._rows(("contracts_of", municipality_code),
                               "SELECT * FROM {s}contracts WHERE tenant_id = %s",
                               (municipality_code,), _contract, tenant=municipality_code)
        return [c for c in contracts if site_id in c.site_ids]

    def access_grants(self, municipality_code: str, *, subject_tenant: str | None = None,
                      subject: str | None = None, after: tuple[str, str] | None = None,
                      limit: int | None = None) -> list[AccessGrantRecord]:
        """A municipality's explicit grants (optionally one person's), oldest first.

        Keyset pages: ``after`` is the (granted_at, grant_id) of the last row seen.
        """
        sql = "SELECT * FROM {s}access_grants WHERE tenant_id = %s"
        params: tuple[Any, ...] = (municipality_code,)
        if subject_tenant is not None and subject is not None:
            sql += " AND subject_tenant = %s AND subject = %s"
            params += (subject_tenant, subject)
        if after is not None:
            sql += " AND (granted_at > %s OR (granted_at = %s AND grant_id > %s))"
            params += (after[0], after[0], after[1])
        sql += " ORDER BY granted_at, grant_id"
        if limit is not None:
            sql += " LIMIT %s"
            params += (limit,)
        if subject_tenant is not None and subject is not None and after is None and limit is None:
            # One person's grants: what every access decision reads.
            return self._rows(("grants", municipality_code, subject_tenant, subject), sql,
                              params, _grant, tenant=municipality_code)
        return [_grant(r) for r in self._all(sql, params, tenant=municipality_code)]

    def access_grant_count(self, municipality_code: str) -> int:
        (row,) = self._all("SELECT COUNT(*) AS n FROM {s}access_grants WHERE tenant_id = %s",
                           (municipality_code,), tenant=municipality_code)
        return int(row["n"])
