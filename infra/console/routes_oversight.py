"""Municipal supervisors' pages: oversight of contractors and sites.

The complaints board lives with the complaint pages (``routes_complaints.py``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from yorisoi.graphql.errors import ApiError
from yorisoi.graphql.oversight import OversightQuery
from yorisoi.graphql.statistics import StatisticsQuery
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console.dates import fiscal_year_label
from yorisoi.infra.console.web import PREFIX, Console, PageError, console
from yorisoi.projections.case_labels import registry_site_names
from yorisoi.services.personal_access import reading_as

router = APIRouter(prefix=PREFIX + "/m/{code}")
Con = Annotated[Console, Depends(console)]


def _page_error(error: ApiError) -> PageError:
    """A query's refusal as the console's error page (403 for standing, 400 for input)."""
    ext = error.extensions or {}
    status = 403 if ext.get("code", "").endswith(("not_permitted", "not_active")) else 400
    return PageError(status, error.message, ext.get("messageJa", ""), ext.get("code", "error"))


def current_fiscal_year() -> int:
    today = japan_today()
    return today.year if today.month >= 4 else today.year - 1


@router.get("/oversight", response_class=HTMLResponse)
async def oversight(con: Con, code: str, fy: int | None = None) -> HTMLResponse:
    """Findings and counts per contractor and site: aggregates only, no personal data.

    The grouping by contractor and site is the API's own (the oversight resolver),
    so the page calls it rather than keep a second copy.
    """
    year = fy or current_fiscal_year()
    info = SimpleNamespace(context=con.ctx)  # the resolver reads nothing but the context
    try:
        with reading_as(con.ctx.personal_access):
            report = await OversightQuery.oversight(None, info, code, year)  # type: ignore[arg-type]
    except ApiError as error:
        raise _page_error(error) from None
    return con.page("oversight.html", code=code, report=report, fy=year,
                    years=range(current_fiscal_year(), current_fiscal_year() - 5, -1),
                    fy_label=lambda y: fiscal_year_label(y, con.lang),
                    **_names(con, code))


def _names(con: Console, code: str) -> dict[str, Any]:
    """Sites and contractors by their names (never their ids) for the page."""
    registry = con.services.directory.registry
    site_name = registry_site_names(registry, code)

    def contractor_name(contractor_id: str) -> str:
        tenant = registry.tenant(contractor_id)
        return tenant.name if tenant is not None and tenant.name else contractor_id

    return {"site_name": site_name, "contractor_name": contractor_name}


@router.get("/statistics", response_class=HTMLResponse)
async def statistics(con: Con, code: str, fy: int | None = None) -> HTMLResponse:
    """The fiscal year's activity figures (counts only) by month, site, channel, theme, agency kind.

    The same figures as the API's ``activityStatistics`` (one resolver serves both).
    """
    year = fy or current_fiscal_year()
    info = SimpleNamespace(context=con.ctx)
    try:
        stats = await StatisticsQuery.activity_statistics(  # type: ignore[call-arg]
            None, info, code, year)  # type: ignore[arg-type]
    except ApiError as error:
        raise _page_error(error) from None
    return con.page("statistics.html", code=code, stats=stats, fy=year,
                    years=range(current_fiscal_year(), current_fiscal_year() - 5, -1),
                    fy_label=lambda y: fiscal_year_label(y, con.lang), **_names(con, code))
