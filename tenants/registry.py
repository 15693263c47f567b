"""The registry's read model (``platform`` space) and the lookups requests need.

Every table carries ``tenant_id`` (the owning municipality or contractor):
the row-level-security backstop keys on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.persistence import Notification

from yorisoi.domain.access_grants import AccessGrant
from yorisoi.domain.registry import (
    Contract,
    Contractor,
    IdentityProvider,
    Municipality,
    Site,
)
from yorisoi.infra.db import Cursor, Database
from yorisoi.infra.identity import IssuerRegistration
from yorisoi.services.event_mapper import event_metadata

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


class RegistryQueries:
    """Lookups in the registry's read model.

    Most run before a tenant is known (which tenant owns this issuer?) or
    across tenants (a contractor's contracts with every municipality), so they
    declare a platform-wide lookup to row-level security; a lookup within one
    municipality declares that tenant instead.
    """

    def __init__(self, database: Database) -> None:
        self.db = database

    def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        with self.db.transaction(write=False, lookup="platform") as cur:
            return cur.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] = (), *,
             tenant: str | None = None) -> list[dict[str, Any]]:
        scope: dict[str, Any] = {"tenant": tenant} if tenant else {"lookup": "platform"}
        with self.db.transaction(write=False, **scope) as cur:
            return cur.execute(sql, params).fetchall()

    def issuer(self, issuer: str) -> IssuerRegistration | None:
        row = self._one("SELECT * FROM {s}identity_providers WHERE issuer = %s", (issuer,))
        if row is None:
            return None
        return IssuerRegistration(
            issuer=row["issuer"], audience=row["audience"], tenant_kind=row["tenant_kind"],
            tenant_id=row["tenant_id"], jwks_uri=row["jwks_uri"],
            jwks=json.loads(row["jwks"]) if row["jwks"] else None)

    def tenant(self, tenant_id: str) -> TenantRecord | None:
        row = self._one("SELECT * FROM {s}tenants WHERE tenant_id = %s", (tenant_id,))
        return TenantRecord(row["tenant_id"], row["kind"], row["name"]) if row else None

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
        row = self._one("SELECT * FROM {s}sites WHERE tenant_id = %s AND site_id = %s",
                        (municipality_code, site_id))
        return SiteRecord(**row) if row else None

    def contracts(self, *, contractor_id: str,
                  municipality_code: str | None = None) -> list[ContractRecord]:
        sql = "SELECT * FROM {s}contracts WHERE contractor_id = %s"
        params: tuple[Any, ...] = (contractor_id,)
        if municipality_code is not None:
            sql += " AND tenant_id = %s"
            params += (municipality_code,)
        return [_contract(r) for r in self._all(sql + " ORDER BY contract_id", params)]

    def contract(self, contract_id: str) -> ContractRecord | None:
        row = self._one("SELECT * FROM {s}contracts WHERE contract_id = %s", (contract_id,))
        return _contract(row) if row else None

    def contract_for_site(self, municipality_code: str, site_id: str) -> list[ContractRecord]:
        rows = self._all("SELECT * FROM {s}contracts WHERE tenant_id = %s", (municipality_code,),
                         tenant=municipality_code)
        return [c for c in map(_contract, rows) if site_id in c.site_ids]

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
        return [_grant(r) for r in self._all(sql, params, tenant=municipality_code)]

    def access_grant_count(self, municipality_code: str) -> int:
        (row,) = self._all("SELECT COUNT(*) AS n FROM {s}access_grants WHERE tenant_id = %s",
                           (municipality_code,), tenant=municipality_code)
        return int(row["n"])
