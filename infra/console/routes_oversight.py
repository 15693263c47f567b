"""Municipal supervisors' pages: oversight of contractors and sites, statistics and reports.

The statistics page (issue 20) shows the fiscal year's figures laid out by a
report form, with charts drawn as SVG on the server, the downloads (CSV,
.xlsx), issuing, and the issued reports (reproduced files, changes since).

The complaints board lives with the complaint pages (``routes_complaints.py``).
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from yorisoi.graphql.errors import ApiError
from yorisoi.graphql.oversight import OversightQuery
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console.dates import fiscal_year_label
from yorisoi.infra.console.web import PREFIX, Console, PageError, console, page_error
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


FORMS = ("annual", "prefecture")


def _year(fy: int | None) -> int:
    from yorisoi.services.reports import (
        FIRST_FISCAL_YEAR,
        LAST_FISCAL_YEAR,
        FiscalYearInvalidError,
    )

    year = fy or current_fiscal_year()
    if not FIRST_FISCAL_YEAR <= year <= LAST_FISCAL_YEAR:
        raise PageError(400, FiscalYearInvalidError.message, FiscalYearInvalidError.message_ja,
                        FiscalYearInvalidError.code)
    return year


def _form(form: str | None) -> str:
    if form is None:
        return "annual"
    if form not in FORMS:
        raise PageError(400, "No such report form.", "指定された様式はありません。",
                        "report_form_unknown")
    return form


def _measure(cells: Any, measure: str, by: int | None = None) -> dict[str, int] | int:
    """The cells of one measure: their total, or their sums by a cell position."""
    if by is None:
        return sum(n for c, n in cells.items() if c[3] == measure)
    sums: dict[str, int] = {}
    for c, n in cells.items():
        if c[3] == measure:
            sums[c[by]] = sums.get(c[by], 0) + n
    return sums


def _charts(report: Any, cells: Any, fy: int, lang: str) -> dict[str, Any]:
    """The page's charts: monthly bars and the breakdowns by channel, theme and age band."""
    from yorisoi.infra.console.report_charts import horizontal_bars, monthly_bars
    from yorisoi.services.reports import fiscal_months

    by_month = _measure(cells, "consultations", 0)
    months = [(f"{int(m[5:])}月" if lang == "ja" else m[5:], by_month.get(m, 0))  # type: ignore[union-attr]
              for m in fiscal_months(fy)]
    vocab = {"channels": "consultations.channel", "themes": "consultations.theme",
             "age_bands": "consultations.age_band"}
    charts = {"months": monthly_bars(t_month(lang), months)}
    for table_id in vocab:
        table = next((t for t in report.tables if t.id == table_id), None)
        if table is None:
            continue
        rows = [(str(r[0]), int(r[1])) for r in table.rows[:-1] if isinstance(r[1], int)]
        charts[table_id] = horizontal_bars(table.title, [r for r in rows if r[1]] or rows[:0])
    return charts


def t_month(lang: str) -> str:
    return "月別の相談件数（延べ）" if lang == "ja" else "Consultations by month"


def _issuers(rt: Any, subjects: set[str]) -> dict[str, str]:
    """Issuers by their names (staff records), never by their sign-in subject."""
    from yorisoi.projections.organisation_view import OrganisationQueries

    names = {s.subject: s.display_name
             for s in OrganisationQueries(rt.casework.database).all_staff(japan_today())
             if s.subject in subjects}
    return names


@router.get("/statistics", response_class=HTMLResponse)
async def statistics(con: Con, code: str, fy: int | None = None,
                     form: str | None = None) -> HTMLResponse:
    """The fiscal year's figures (counts only) with charts, downloads and issued reports.

    The same figures as the API's ``reportFigures`` (one service serves both);
    a contractor's administrator sees its own contracts' figures only.
    """
    from yorisoi.graphql.reports import scope_of
    from yorisoi.projections.report_view import issued_reports
    from yorisoi.services.reports_issue import live_figures

    year, chosen = _year(fy), _form(form)
    registry = con.services.directory.registry

    def read(rt: Any, grant: Any) -> dict[str, Any]:
        report, cells = live_figures(rt.casework, registry, grant.municipality_code, chosen,
                                     year, scope_of(grant))
        # The charts show the municipality's own figures: a form that suppresses small
        # counts (for submission) is charted from the unsuppressed annual layout.
        charted = report if chosen == "annual" else live_figures(
            rt.casework, registry, grant.municipality_code, "annual", year, scope_of(grant))[0]
        issued = issued_reports(rt.casework.database, scope_of(grant), year)
        return {"report": report, "charted": charted, "cells": cells, "issued": issued,
                "issuers": _issuers(rt, {r.issued_by for r in issued})}

    found = await con.read("reports.read", code, read)
    cells = found["cells"]
    may_issue = await con.may("reports.issue", code)
    return con.page("statistics.html", code=code, fy=year, form=chosen, forms=FORMS,
                    report=found["report"], issued=found["issued"], issuers=found["issuers"],
                    totals={"consultations": _measure(cells, "consultations"),
                            "households": _measure(cells, "households"),
                            "referrals": _measure(cells, "referrals.sent"),
                            "visits": _measure(cells, "outreach.done")},
                    charts=_charts(found["charted"], cells, year, con.lang),
                    may_issue=may_issue,
                    years=range(current_fiscal_year(), current_fiscal_year() - 5, -1),
                    fy_label=lambda y: fiscal_year_label(y, con.lang), **_names(con, code))


def _download(con: Console, data: bytes, ext: str, name: str) -> Response:
    """A report file: an ASCII name, and the Japanese one for browsers that read it."""
    media = ("text/csv; charset=utf-8" if ext == "csv" else
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response = Response(data, media_type=media)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="yorisoi-report.{ext}"; filename*=UTF-8\'\'{quote(name)}.{ext}')
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    con.keep(response)  # type: ignore[arg-type]
    return response


def _ext(ext: str) -> str:
    if ext not in ("csv", "xlsx"):
        raise PageError(404, "No such file.", "ファイルが見つかりません。", "not_found")
    return ext


@router.get("/statistics/report.{ext}")
async def report_file(con: Con, code: str, ext: str, fy: int | None = None,
                      form: str | None = None) -> Response:
    """Today's figures as a file (not issued)."""
    from yorisoi.graphql.reports import scope_of
    from yorisoi.services.reports_issue import live_report

    ext, year, chosen = _ext(ext), _year(fy), _form(form)
    registry = con.services.directory.registry
    files = await con.read("reports.read", code, lambda rt, grant: live_report(
        rt.casework, registry, grant.municipality_code, chosen, year, scope_of(grant)))
    name = f"{files.report.fiscal_year_label}_{files.report.title}"
    return _download(con, files.csv if ext == "csv" else files.xlsx, ext, name)


@router.post("/statistics/issue")
async def issue(con: Con, code: str) -> Response:
    """Issue the report shown: recorded with its log position, reproducible byte for byte."""
    from yorisoi.graphql.reports import scope_of
    from yorisoi.services.reports_issue import issue_report

    data = await con.form()
    year = _year(_int(data.get("fy")))
    chosen = _form(str(data.get("form") or "annual"))
    registry = con.services.directory.registry

    def command(rt: Any, grant: Any) -> str:
        report, _ = issue_report(rt.casework, registry, grant.municipality_code, chosen, year,
                                 scope_of(grant))
        return str(report.id)

    result = await con.command("reports.issue", code, command)
    if not isinstance(result, str):
        raise page_error(result)
    return con.saved(f"{PREFIX}/m/{code}/statistics?fy={year}&form={chosen}")


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _report_id(report_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(report_id)
    except ValueError:
        raise PageError(404, "No such issued report.", "指定された発行済みの報告が見つかりません。",
                        "issued_report_not_found") from None


@router.get("/statistics/issued/{report_id}.{ext}")
async def issued_file(con: Con, code: str, report_id: str, ext: str) -> Response:
    """An issued report's file, reproduced from the events up to its position."""
    from yorisoi.graphql.reports import scope_of
    from yorisoi.services.reports_issue import issued, reproduce

    ext, rid = _ext(ext), _report_id(report_id)

    def read(rt: Any, grant: Any) -> Any:
        report = issued(rt.casework, rid, scope_of(grant))
        files = reproduce(rt.casework, report)
        if (files.csv_sha256, files.xlsx_sha256) != (report.csv_sha256, report.xlsx_sha256):
            # Never hand out a file that differs from what was submitted.
            raise PageError(409, "The issued report could not be reproduced exactly.",
                            "発行した報告を同じ内容で再現できませんでした。", "report_not_reproducible")
        return report, files

    report, files = await con.read("reports.read", code, read)
    name = f"{files.report.fiscal_year_label}_{files.report.title}_{report.issued_on}"
    return _download(con, files.csv if ext == "csv" else files.xlsx, ext, name)


@router.get("/statistics/issued/{report_id}/changes", response_class=HTMLResponse)
async def issued_changes(con: Con, code: str, report_id: str) -> HTMLResponse:
    """What differs between an issued report and today's figures."""
    from yorisoi.graphql.reports import scope_of
    from yorisoi.services.reports_issue import diff_with_today, issued

    rid = _report_id(report_id)
    registry = con.services.directory.registry

    def read(rt: Any, grant: Any) -> Any:
        report = issued(rt.casework, rid, scope_of(grant))
        return report, diff_with_today(rt.casework, registry, report)

    report, changes = await con.read("reports.read", code, read)
    return con.page("statistics_changes.html", code=code, report=report, changes=changes,
                    fy_label=lambda y: fiscal_year_label(y, con.lang))
