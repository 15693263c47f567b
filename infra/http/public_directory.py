"""The public resource directory over REST: no login, published entries only.

Families and other agencies search a municipality's 社会資源 without an
account, so this router never reads a token.  It answers from the same search
as GraphQL's ``publicResources`` (published entries only, neighbours only when
asked and declared).  An unknown municipality code is a plain 404 that says no
more; bad parameters are typed, bilingual 422s that name the parameter, never
its value.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from yorisoi.domain.errors import DomainError
from yorisoi.infra.wiring.bootstrap import Services
from yorisoi.projections.case_queries import CursorInvalidError
from yorisoi.projections.resource_directory import ResourceRecord, encode_cursor
from yorisoi.tenants.neighbours import MAX_PAGE, checked_filters, search_directory

router = APIRouter(prefix="/public", tags=["public directory"])


class OpeningSlotOut(BaseModel):
    day: str = Field(description="mon | tue | wed | thu | fri | sat | sun")
    opens: str = Field(description="HH:MM")
    closes: str = Field(description="HH:MM")


class PublicResourceOut(BaseModel):
    id: str
    municipalityCode: str
    kind: str = Field(description="education_childcare | community_childcare | local_support"
                                  " | medical | health_welfare | informal")
    subkind: str | None
    name: str
    address: str
    area: str = Field(description="町丁目 or district code")
    operatorKind: str = Field(description="public | private | npo | other")
    hours: list[OpeningSlotOut]
    monthlySchedule: str
    content: str
    form: str = Field(description="facility | home_visit | outreach")
    fee: str = Field(description="free | paid")
    lastVerifiedOn: str

    @classmethod
    def from_record(cls, r: ResourceRecord) -> PublicResourceOut:
        return cls(id=r.resource_id, municipalityCode=r.municipality_code, kind=r.kind,
                   subkind=r.subkind, name=r.name, address=r.address, area=r.area,
                   operatorKind=r.operator_kind,
                   hours=[OpeningSlotOut(**s) for s in r.hours],
                   monthlySchedule=r.monthly_schedule, content=r.content, form=r.form,
                   fee=r.fee, lastVerifiedOn=r.last_verified_on)


class PageInfoOut(BaseModel):
    hasNextPage: bool
    endCursor: str | None


class PublicResourcePage(BaseModel):
    totalCount: int
    items: list[PublicResourceOut]
    pageInfo: PageInfoOut


class ProblemDetail(BaseModel):
    code: str
    message: str
    messageJa: str
    field: str | None = None


class Problem(BaseModel):
    detail: ProblemDetail


@router.get(
    "/municipalities/{code}/resources", response_model=PublicResourcePage,
    responses={404: {"model": Problem, "description": "No such municipality"},
               422: {"model": Problem, "description": "A parameter is not valid"}},
    summary="Search a municipality's published resource directory (社会資源)")
async def public_resources(
    request: Request, code: str,
    q: Annotated[str | None, Query(description="Partial names or words (kana, widths fold)")] = None,
    kind: Annotated[str | None, Query(description="Kind of resource")] = None,
    area: Annotated[str | None, Query(description="町丁目 or district code")] = None,
    day: Annotated[str | None, Query(description="Open on: mon … sun")] = None,
    fee: Annotated[str | None, Query(description="free | paid")] = None,
    includeNeighbours: Annotated[bool, Query(
        description="Also declared neighbours' published entries")] = False,
    first: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    after: Annotated[str | None, Query(description="endCursor of the previous page")] = None,
) -> PublicResourcePage:
    """Published entries only, by name; no login needed."""
    services: Services = request.app.state.services

    def run() -> PublicResourcePage:
        try:
            filters = checked_filters(q=q, kind=kind, area=area, day=day, fee=fee,
                                      published_only=True)
            page = search_directory(services.runtimes, services.directory.registry,
                                    services.directory.platform.database, code, filters,
                                    include_neighbours=includeNeighbours, first=first,
                                    after=after)
        except DomainError as error:
            status = 404 if error.not_found else 422
            raise HTTPException(status, detail={
                "code": error.code, "message": error.message, "messageJa": error.message_ja,
                "field": error.field}) from None
        except CursorInvalidError as error:
            raise HTTPException(422, detail={
                "code": error.code, "message": error.message, "messageJa": error.message_ja,
                "field": "after"}) from None
        last = page.records[-1] if page.records else None
        return PublicResourcePage(
            totalCount=page.total_count,
            items=[PublicResourceOut.from_record(r) for r in page.records],
            pageInfo=PageInfoOut(hasNextPage=page.has_next_page,
                                 endCursor=encode_cursor(last) if last else None))

    return await asyncio.to_thread(run)
