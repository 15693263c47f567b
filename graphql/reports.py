"""Reports: the fiscal year's figures by form, issuing a report, issued reports and their changes.

Counts only, never a household or a personal value.  Municipal supervisors
and administrators read every figure; a contractor's administrator reads
(and issues) only its own active contracts' figures — the grant's contracts
(``reports.read`` / ``reports.issue``).  The files (CSV, .xlsx) download
from the console (``/console/m/{code}/statistics``); here their SHA-256.
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from yorisoi.graphql.commands import execute, read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
)
from yorisoi.graphql.validation import Checker
from yorisoi.projections.report_view import IssuedReportRow, issued_reports
from yorisoi.services.reports import (
    FIRST_FISCAL_YEAR,
    LAST_FISCAL_YEAR,
    FiscalYearInvalidError,
    RenderedReport,
    check_fiscal_year,
    fiscal_year_label,
)
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_FORM = 40


def scope_of(grant: Grant) -> list[str] | None:
    """The contracts whose figures the grant may see (None: every figure, the municipality's)."""
    contracts = grant.scope.contract_ids
    return None if contracts is None else sorted(contracts)


@strawberry.type(description="One table of a report: its headers and rows (the first cell of a "
                             "row is its label; '*' is a suppressed small count).")
class ReportTable:
    id: str
    sheet: str
    title: str
    headers: list[str]
    rows: list[list[str]]


@strawberry.type(description="A report's figures for a fiscal year, laid out by its form.")
class ReportFigures:
    municipality_code: str
    fiscal_year: int
    fiscal_year_label: str = strawberry.field(description="令和8年度")
    form: str
    form_version: str
    title: str
    tables: list[ReportTable]


def figures_of(code: str, report: RenderedReport) -> ReportFigures:
    return ReportFigures(
        municipality_code=code, fiscal_year=report.fiscal_year,
        fiscal_year_label=report.fiscal_year_label, form=report.form,
        form_version=report.version, title=report.title,
        tables=[ReportTable(id=t.id, sheet=t.sheet, title=t.title, headers=t.headers,
                            rows=[["" if v is None else str(v) for v in row] for row in t.rows])
                for t in report.tables])


@strawberry.type(description="A report as issued: parameters, the log position its figures were "
                             "computed at, and content hashes. Reproducible byte for byte.")
class IssuedReportInfo:
    id: strawberry.ID
    form: str
    form_version: str
    fiscal_year: int
    fiscal_year_label: str
    position: int = strawberry.field(description="The event-log position of the figures")
    issued_on: str
    issued_by: str
    own_contracts_only: bool = strawberry.field(description="A contractor's report: its own contracts' figures")
    csv_sha256: str
    xlsx_sha256: str
    figures_sha256: str

    @classmethod
    def from_row(cls, r: IssuedReportRow) -> IssuedReportInfo:
        return cls(id=strawberry.ID(r.report_id), form=r.form, form_version=r.form_version,
                   fiscal_year=r.fiscal_year, fiscal_year_label=fiscal_year_label(r.fiscal_year),
                   position=r.position, issued_on=r.issued_on, issued_by=r.issued_by,
                   own_contracts_only=r.contract_ids is not None, csv_sha256=r.csv_sha256,
                   xlsx_sha256=r.xlsx_sha256, figures_sha256=r.figures_sha256)


@strawberry.type(description="A figure that differs between the issued report and today's.")
class ReportChange:
    table: str
    row: str
    column: str
    issued: str
    today: str


@strawberry.type
class ReportIssued:
    report: IssuedReportInfo


@strawberry.input
class IssueReportInput:
    municipality_code: str
    fiscal_year: int
    form: str = strawberry.field(default="annual", description="annual | prefecture")


IssueReportResult = Annotated[
    ReportIssued | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("IssueReportResult")]


def _one(rows: list[IssuedReportRow], report_id: str) -> IssuedReportRow:
    found = next((r for r in rows if r.report_id == report_id), None)
    if found is None:
        raise LookupError(report_id)
    return found


@strawberry.type
class ReportMutation:
    @strawberry.mutation(description="Issue a report: its figures from the log as it is now, "
                                     "recorded so that it can be reproduced byte for byte.")
    async def issue_report(self, info: Info[YorisoiContext, None],
                           input: IssueReportInput) -> IssueReportResult:
        check = Checker.of(info)
        form = check.required("form", input.form, MAX_FORM)
        if not FIRST_FISCAL_YEAR <= input.fiscal_year <= LAST_FISCAL_YEAR:
            check.bad("fiscalYear", FiscalYearInvalidError.message,
                      FiscalYearInvalidError.message_ja)

        def command(rt: TenantRuntime, grant: Grant) -> ReportIssued:
            from yorisoi.services.reports_issue import issue_report

            registry = info.context.services.directory.registry
            report, _ = issue_report(rt.casework, registry, grant.municipality_code, form,
                                     input.fiscal_year, scope_of(grant))
            rt.catch_up()
            row = _one(issued_reports(rt.casework.database), str(report.id))
            return ReportIssued(report=IssuedReportInfo.from_row(row))

        return await execute(info, "reports.issue", input.municipality_code, command, check=check)


@strawberry.type
class ReportQuery:
    @strawberry.field(description="A fiscal year's figures laid out by a report form, as of now "
                                  "(a contractor's administrator: its own contracts only).")
    async def report_figures(self, info: Info[YorisoiContext, None], municipality_code: str,
                             fiscal_year: int, form: str = "annual") -> ReportFigures:
        def run() -> ReportFigures:
            from yorisoi.services.reports_issue import live_report

            grant = info.context.authorize("reports.read", municipality_code)
            check_fiscal_year(fiscal_year)
            registry = info.context.services.directory.registry
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                files = live_report(rt.casework, registry, grant.municipality_code, form,
                                    fiscal_year, scope_of(grant))
            return figures_of(grant.municipality_code, files.report)

        return await read(run)

    @strawberry.field(description="Issued reports, newest first (a contractor's: its own).")
    async def reports(self, info: Info[YorisoiContext, None], municipality_code: str,
                      fiscal_year: int | None = None) -> list[IssuedReportInfo]:
        def run() -> list[IssuedReportInfo]:
            grant = info.context.authorize("reports.read", municipality_code)
            if fiscal_year is not None:
                check_fiscal_year(fiscal_year)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                rows = issued_reports(rt.casework.database, scope_of(grant), fiscal_year)
            return [IssuedReportInfo.from_row(r) for r in rows]

        return await read(run)

    @strawberry.field(description="What differs between an issued report and today's figures.")
    async def report_changes(self, info: Info[YorisoiContext, None], municipality_code: str,
                             report_id: strawberry.ID) -> list[ReportChange]:
        def run() -> list[ReportChange]:
            from yorisoi.services.reports_issue import diff_with_today, issued

            grant = info.context.authorize("reports.read", municipality_code)
            check = Checker.of(info)
            rid = check.record_id("reportId", str(report_id))
            check.raise_if_any()
            registry = info.context.services.directory.registry
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                report = issued(rt.casework, rid, scope_of(grant))  # type: ignore[arg-type]
                changes = diff_with_today(rt.casework, registry, report)
            return [ReportChange(table=c.table, row=c.row, column=c.column,
                                 issued=_text(c.then), today=_text(c.now)) for c in changes]

        return await read(run)


def _text(value: Any) -> str:
    return "" if value is None else str(value)
