"""What a platform operator on call sees: tenants and the health of their read models.

Operators run the hosted service; they never see a case or a family.  This is
the GraphQL face of ``yorisoi projections status`` (action ``platform.operate``,
held only through the platform's own identity provider).
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from yorisoi.graphql import paging
from yorisoi.graphql.cases import PageInfo
from yorisoi.graphql.commands import read
from yorisoi.graphql.context import YorisoiContext


@strawberry.type(description="One read model of one municipality: how far it has caught up.")
class ProjectionHealth:
    view: str
    position: int
    head: int
    lag: int


@strawberry.type(description="A municipality as the platform runs it (no casework data).")
class TenantHealth:
    municipality_code: str
    name: str
    loaded: bool = strawberry.field(description="Its runtime is in this process's cache now")
    projections: list[ProjectionHealth]


TenantHealthConnection = paging.Connection[TenantHealth]


MAX_TENANTS_PAGE = 50  # each tenant on the page is opened to read its positions


@strawberry.type
class OperationsQuery:
    @strawberry.field(description="Tenants by code and their projection lag (platform operators); "
                                  "keyset pages: pass pageInfo.endCursor as after.")
    async def platform_tenants(self, info: Info[YorisoiContext, None], first: int = 20,
                               after: str | None = None) -> TenantHealthConnection:
        ctx = info.context
        # 1..100 like every list; a page then holds at most MAX_TENANTS_PAGE (hasNextPage says more).
        first = min(paging.page_size(first), MAX_TENANTS_PAGE)

        def run() -> TenantHealthConnection:
            ctx.authorize("platform.operate", "")
            services = ctx.services
            registry = services.directory.registry
            loaded = set(services.runtimes.active())
            page = registry.municipalities(after=after, limit=first + 1)
            result = []
            for tenant in page[:first]:
                with services.runtimes.lease(tenant.tenant_id) as runtime:
                    statuses = [p.status() for p in runtime.projectors]
                result.append(TenantHealth(
                    municipality_code=tenant.tenant_id, name=tenant.name,
                    loaded=tenant.tenant_id in loaded,
                    projections=[ProjectionHealth(view=s.name, position=s.position, head=s.head,
                                                  lag=s.lag) for s in statuses]))
            # The cursor is the bare municipality code (as before), so old cursors still work.
            return TenantHealthConnection(
                total_count=registry.municipality_count(),
                edges=[paging.Edge(cursor=t.municipality_code, node=t) for t in result],
                page_info=PageInfo(has_next_page=len(page) > first,
                                   end_cursor=result[-1].municipality_code if result else None))

        return await read(run)
