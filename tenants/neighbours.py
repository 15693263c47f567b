"""Neighbours in the registry, and directory searches that fan out over them.

The ``neighbours`` table lives in the ``platform`` space beside the registry's
lookup tables (its own view and projector, so the registry view is
untouched).  A search that includes neighbours reads each neighbour's own
space through its runtime and merges the pages in Python: no query ever joins
across tenant schemas (they may sit on different Citus nodes).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import Notification

from yorisoi.domain.errors import InvalidInputError, NotFoundDomainError
from yorisoi.domain.neighbours import NeighbourDeclaration
from yorisoi.domain.resources import FEES, KINDS, MAX_AREA, WEEKDAYS
from yorisoi.infra.db import Cursor, Database
from yorisoi.projections.resource_directory import (
    ResourceDirectoryQueries,
    ResourceFilters,
    ResourceRecord,
    decode_cursor,
)
from yorisoi.tenants.registry import RegistryQueries

if TYPE_CHECKING:
    from yorisoi.tenants.directory import TenantDirectory
    from yorisoi.tenants.runtime import TenantRuntimes

NEIGHBOUR_TABLES = ("neighbours",)


class DirectoryMunicipalityUnknownError(NotFoundDomainError):
    code = "municipality_not_found"
    message = "No public directory for this municipality code."
    message_ja = "指定された自治体コードの社会資源一覧はありません。"


class NeighbourView:
    """Projection of neighbour declarations into ``neighbours(tenant_id, neighbour_id)``."""

    name = "neighbours"
    tables = NEIGHBOUR_TABLES
    # Rows of every municipality are written here: the projector declares so to RLS.
    lookup = "platform"

    @staticmethod
    def ddl() -> list[str]:
        return [("CREATE TABLE IF NOT EXISTS {s}neighbours (tenant_id TEXT NOT NULL,"
                 " neighbour_id TEXT NOT NULL, PRIMARY KEY (tenant_id, neighbour_id))")]

    def reset(self, cur: Cursor) -> None:
        cur.execute("DELETE FROM {s}neighbours")

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        if isinstance(event, NeighbourDeclaration.NeighbourDeclared):
            cur.execute("INSERT INTO {s}neighbours VALUES (%s, %s)",
                        (event.municipality_code, event.neighbour_code))
        elif isinstance(event, NeighbourDeclaration.NeighbourWithdrawn):
            cur.execute("DELETE FROM {s}neighbours WHERE tenant_id = %s AND neighbour_id = %s",
                        (event.municipality_code, event.neighbour_code))


def declare_neighbour(directory: TenantDirectory, *, municipality_code: str,
                      neighbour_code: str) -> list[str]:
    """Declare a neighbour and bring the ``neighbours`` table up to date; the new list."""
    directory.platform.declare_neighbour(municipality_code=municipality_code,
                                         neighbour_code=neighbour_code)
    directory.neighbour_projector.catch_up()
    return neighbours_of(directory.platform.database, municipality_code)


def withdraw_neighbour(directory: TenantDirectory, *, municipality_code: str,
                       neighbour_code: str) -> list[str]:
    """Withdraw a neighbour (idempotent); the new list."""
    directory.platform.withdraw_neighbour(municipality_code=municipality_code,
                                          neighbour_code=neighbour_code)
    directory.neighbour_projector.catch_up()
    return neighbours_of(directory.platform.database, municipality_code)


def neighbours_of(database: Database, municipality_code: str) -> list[str]:
    """Codes ``municipality_code`` has declared as neighbours."""
    with database.transaction(write=False, tenant=municipality_code) as cur:
        rows = cur.execute("SELECT neighbour_id FROM {s}neighbours WHERE tenant_id = %s"
                           " ORDER BY neighbour_id", (municipality_code,)).fetchall()
    return [r["neighbour_id"] for r in rows]


@dataclass(frozen=True)
class DirectoryPage:
    records: list[ResourceRecord]
    total_count: int
    has_next_page: bool


def require_municipality(registry: RegistryQueries, code: str) -> None:
    """Unknown and malformed codes answer alike (and before any space is opened)."""
    tenant = registry.tenant(code) if code.isascii() and code.isdigit() else None
    if tenant is None or tenant.kind != "municipality":
        raise DirectoryMunicipalityUnknownError(field="municipalityCode")


def search_directory(runtimes: TenantRuntimes, registry: RegistryQueries, platform: Database,
                     municipality_code: str, filters: ResourceFilters, *,
                     include_neighbours: bool, first: int, after: str | None) -> DirectoryPage:
    """One page of a municipality's directory, with its declared neighbours' if asked.

    Neighbours' entries are always restricted to published ones, whatever the
    filters say: a municipality's staff see their own drafts, never another's.
    """
    require_municipality(registry, municipality_code)
    cursor = decode_cursor(after) if after else None
    codes = [municipality_code]
    if include_neighbours:
        codes += [c for c in neighbours_of(platform, municipality_code)
                  if registry.tenant(c) is not None]
    pages, total = [], 0
    for code in codes:
        scoped = filters if code == municipality_code else ResourceFilters(
            query=filters.query, kind=filters.kind, area=filters.area, day=filters.day,
            fee=filters.fee, published_only=True)
        with runtimes.lease(code) as rt:
            rows, count = ResourceDirectoryQueries(rt.casework.database).search(
                code, scoped, limit=first + 1, after=cursor)
        pages.append(rows)
        total += count
    merged = list(heapq.merge(*pages, key=lambda r: r.sort_key))
    return DirectoryPage(records=merged[:first], total_count=total,
                         has_next_page=len(merged) > first)


MAX_QUERY = 100
MAX_PAGE = 100


def checked_filters(*, q: str | None, kind: str | None, area: str | None, day: str | None,
                    fee: str | None, published_only: bool) -> ResourceFilters:
    """Search parameters, checked once for REST and GraphQL alike (values never echoed)."""
    def bad(field: str, message: str, message_ja: str) -> InvalidInputError:
        return InvalidInputError(field=field, message=message, message_ja=message_ja)

    if q is not None and len(q) > MAX_QUERY:
        raise bad("q", f"Search text: at most {MAX_QUERY} characters.",
                  f"検索語は{MAX_QUERY}文字以内で入力してください。")
    if kind is not None and kind not in KINDS:
        raise bad("kind", "Unknown kind: use one of " + ", ".join(KINDS) + ".",
                  "種別の指定が正しくありません。")
    if area is not None and len(area) > MAX_AREA:
        raise bad("area", f"Area: at most {MAX_AREA} characters.",
                  f"地区は{MAX_AREA}文字以内で指定してください。")
    if day is not None and day not in WEEKDAYS:
        raise bad("day", "Day: one of mon, tue, wed, thu, fri, sat, sun.",
                  "曜日は mon, tue, wed, thu, fri, sat, sun のいずれかで指定してください。")
    if fee is not None and fee not in FEES:
        raise bad("fee", "Fee: free or paid.", "利用料は free か paid で指定してください。")
    return ResourceFilters(query=q, kind=kind, area=area, day=day, fee=fee,
                           published_only=published_only)
