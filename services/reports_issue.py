"""Making, issuing, reproducing and comparing reports.

- ``live_report``: today's figures, from the live view (the console page, the
  downloads before issuing, the diff's "now").
- ``issue_report``: folds the log up to its head, renders, hashes, records an
  ``IssuedReport`` (exactly once through the caller's command) and returns
  the files.
- ``reproduce``: folds the log up to the recorded position and renders with
  the recorded layout and labels — byte for byte what was issued, whatever
  happened since (the hashes are checked).
- ``diff``: what differs between a reproduction and today's figures.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.errors import NotFoundDomainError
from yorisoi.domain.reports import IssuedReport
from yorisoi.domain.themes import standard_themes
from yorisoi.infra.clock import japan_today
from yorisoi.projections.organisation_view import OrganisationQueries
from yorisoi.projections.report_cells import Cell
from yorisoi.projections.report_view import ReportCellQueries
from yorisoi.services.context import current_context
from yorisoi.services.report_figures import fold_cells, in_scope, log_head
from yorisoi.services.reports import (
    RenderedReport,
    check_fiscal_year,
    figures_digest,
    fiscal_months,
    load_form,
    registry_labels,
    render,
    site_profile_rows,
)
from yorisoi.services.reports_files import to_csv, to_xlsx


class IssuedReportNotFoundError(NotFoundDomainError):
    code = "issued_report_not_found"
    message = "No such issued report."
    message_ja = "指定された発行済みの報告が見つかりません。"


@dataclass
class ReportFiles:
    report: RenderedReport
    csv: bytes
    xlsx: bytes

    @property
    def csv_sha256(self) -> str:
        return hashlib.sha256(self.csv).hexdigest()

    @property
    def xlsx_sha256(self) -> str:
        return hashlib.sha256(self.xlsx).hexdigest()


def files_of(report: RenderedReport) -> ReportFiles:
    return ReportFiles(report, to_csv(report), to_xlsx(report))


def _theme_labels(app: Any) -> dict[str, str]:
    taxonomy = app.theme_taxonomy()
    themes = taxonomy.themes() if taxonomy is not None else standard_themes()
    return {t.code: t.label_ja for t in themes}


def _year_end(fiscal_year: int) -> date:
    return min(date(fiscal_year + 1, 3, 31), japan_today())


def _labels(app: Any, registry: Any, municipality_code: str, cells: Counter[Cell],
            fiscal_year: int, contract_ids: list[str] | None) -> dict[str, Any]:
    profiles = site_profile_rows(OrganisationQueries(app.database), _year_end(fiscal_year))
    if contract_ids is not None:  # a contractor sees its own contracts' sites only
        own = {site for c in contract_ids if (k := registry.contract(c)) is not None
               for site in k.site_ids}
        profiles = [p for p in profiles if p["site_id"] in own]
    return registry_labels(registry, municipality_code, cells, _theme_labels(app), profiles)


def live_cells(app: Any, fiscal_year: int, contract_ids: list[str] | None) -> Counter[Cell]:
    months = fiscal_months(check_fiscal_year(fiscal_year))
    return ReportCellQueries(app.database).cells(months[0], months[-1], contract_ids)


def live_figures(app: Any, registry: Any, municipality_code: str, form: str, fiscal_year: int,
                 contract_ids: list[str] | None = None) -> tuple[RenderedReport, Counter[Cell]]:
    """Today's report (not issued) and the cells it was made from."""
    layout = load_form(form, check_fiscal_year(fiscal_year))
    cells = live_cells(app, fiscal_year, contract_ids)
    labels = _labels(app, registry, municipality_code, cells, fiscal_year, contract_ids)
    return render(layout, cells, labels, fiscal_year), cells


def live_report(app: Any, registry: Any, municipality_code: str, form: str, fiscal_year: int,
                contract_ids: list[str] | None = None) -> ReportFiles:
    return files_of(live_figures(app, registry, municipality_code, form, fiscal_year,
                                 contract_ids)[0])


def _folded(app: Any, fiscal_year: int, contract_ids: list[str] | None, position: int,
            progress: Callable[[int, int], None] | None = None) -> Counter[Cell]:
    months = fiscal_months(fiscal_year)
    cells = fold_cells(app.database, app.mapper, position, progress=progress)
    return in_scope(cells, months[0], months[-1], contract_ids)


def issue_report(app: Any, registry: Any, municipality_code: str, form: str, fiscal_year: int,
                 contract_ids: list[str] | None = None, *,
                 progress: Callable[[int, int], None] | None = None,
                 ) -> tuple[IssuedReport, ReportFiles]:
    """Compute from the log at its head, render, record the issue; the files as issued."""
    layout = load_form(form, check_fiscal_year(fiscal_year))
    position = log_head(app.database)
    cells = _folded(app, fiscal_year, contract_ids, position, progress)
    labels = _labels(app, registry, municipality_code, cells, fiscal_year, contract_ids)
    files = files_of(render(layout, cells, labels, fiscal_year))

    def command() -> IssuedReport:
        issued = IssuedReport(
            municipality_code=municipality_code, form=layout["form"],
            form_version=layout["version"], fiscal_year=fiscal_year,
            contract_ids=sorted(contract_ids) if contract_ids is not None else None,
            position=position, layout=layout, labels=labels,
            figures_sha256=figures_digest(files.report), csv_sha256=files.csv_sha256,
            xlsx_sha256=files.xlsx_sha256, issued_on=japan_today(),
            issued_by=current_context().user_id or "")
        app.save(issued)
        return issued

    return app.run_command("command.issue_report", command), files


def issued(app: Any, report_id: UUID, contract_ids: list[str] | None = None) -> IssuedReport:
    """The issued report; one outside the reader's contracts is reported as absent."""
    try:
        # Personal fields withheld: an id that names some other record (a household)
        # opens nothing.  An issued report has none, so it reads whole.
        found: Any = app.repository.terms(report_id)
    except AggregateNotFoundError:
        raise IssuedReportNotFoundError(field="reportId") from None
    if not isinstance(found, IssuedReport) or (
            contract_ids is not None and (found.contract_ids is None
                                          or not set(found.contract_ids) <= set(contract_ids))):
        raise IssuedReportNotFoundError(field="reportId")
    return found


def reproduce(app: Any, report: IssuedReport, *,
              progress: Callable[[int, int], None] | None = None) -> ReportFiles:
    """The issued files again, from the events up to the recorded position."""
    cells = _folded(app, report.fiscal_year, report.contract_ids, report.position, progress)
    return files_of(render(report.layout, cells, report.labels, report.fiscal_year))


@dataclass(frozen=True)
class FigureChange:
    table: str
    row: str
    column: str
    then: Any
    now: Any


def diff(then: RenderedReport, now: RenderedReport) -> list[FigureChange]:
    """Every figure that differs between a reproduction and today's (by table, row, column)."""
    changes = []
    for old in then.tables:
        new = next((t for t in now.tables if t.id == old.id), None)
        new_rows = {str(r[0]): r for r in new.rows} if new is not None else {}
        old_rows = {str(r[0]): r for r in old.rows}
        for label in [*old_rows, *(k for k in new_rows if k not in old_rows)]:
            a, b = old_rows.get(label), new_rows.get(label)
            for i, header in enumerate(old.headers[1:], start=1):
                x = a[i] if a is not None and i < len(a) else 0
                y = b[i] if b is not None and i < len(b) else 0
                if x != y:
                    changes.append(FigureChange(old.title, label, header, x, y))
    return changes


def today_for(app: Any, registry: Any, report: IssuedReport) -> RenderedReport:
    """Today's figures laid out like ``report`` (its layout, its labels; new names added)."""
    cells = live_cells(app, report.fiscal_year, report.contract_ids)
    fresh = _labels(app, registry, report.municipality_code, cells, report.fiscal_year,
                    report.contract_ids)
    labels = {**fresh, **{k: {**fresh.get(k, {}), **v} if isinstance(v, dict) else v
                          for k, v in report.labels.items()}}
    return render(report.layout, cells, labels, report.fiscal_year)


def diff_with_today(app: Any, registry: Any, report: IssuedReport) -> list[FigureChange]:
    return diff(reproduce(app, report).report, today_for(app, registry, report))
