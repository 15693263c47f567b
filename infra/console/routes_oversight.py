"""Municipal supervisors' pages: oversight of contractors and sites.

The complaints board lives with the complaint pages (``routes_complaints.py``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from yorisoi.graphql.errors import ApiError
from yorisoi.graphql.oversight import OversightQuery
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console.web import PREFIX, Console, PageError, console
from yorisoi.services.personal_access import reading_as

router = APIRouter(prefix=PREFIX + "/m/{code}")
Con = Annotated[Console, Depends(console)]


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
        ext = error.extensions or {}
        status = 403 if ext.get("code", "").endswith(("not_permitted", "not_active")) else 400
        raise PageError(status, error.message, ext.get("messageJa", ""),
                        ext.get("code", "error")) from None
    return con.page("oversight.html", code=code, report=report, fy=year,
                    years=range(current_fiscal_year(), current_fiscal_year() - 5, -1))
