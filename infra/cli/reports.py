"""``yorisoi reports``: issue a fiscal year's report, list issued reports, reproduce one.

Like the disposal commands, each acts as a verified person: the officer's
token (``--token`` or ``YORISOI_TOKEN``) is verified as the API does and
``tenants/access.authorize`` decides (``reports.issue`` / ``reports.read``);
the issued report records that person as its issuer.  A contractor's
administrator issues its own contracts' figures only.  Files are written as
``<out>/<fiscal year>-<form>.csv`` and ``.xlsx``; a progress bar follows the
fold of the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

reports_app = typer.Typer(help="Reports (報告): issue, list, reproduce as submitted.",
                          no_args_is_help=True)
console = Console()  # results
err = Console(stderr=True)  # progress, refusals

Token = Annotated[str, typer.Option("--token", envvar="YORISOI_TOKEN",
                                    help="The officer's bearer token (or YORISOI_TOKEN).")]
Municipality = Annotated[str, typer.Option("--municipality", help="The municipality's code.")]
Out = Annotated[Path, typer.Option("--out", help="Where the files go (a folder).")]


def _refuse(code: str, message: str, message_ja: str) -> typer.Exit:
    err.print(f"[red]{message}[/red]\n[red]{message_ja}[/red] ({code})")
    return typer.Exit(2)


@contextmanager
def _officer(token: str, action: str, municipality: str) -> Iterator[tuple[Any, Any, Any]]:
    """(services, runtime, grant) for the municipality, acting as the token's holder."""
    from yorisoi.domain.errors import DomainError
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.identity import AuthenticationError
    from yorisoi.infra.settings import get_settings
    from yorisoi.services.context import acting_as
    from yorisoi.tenants.access import AccessDeniedError, Principal, authorize

    services = Services(get_settings())
    try:
        principal = Principal.from_token(services.verifier.verify(token))
        grant = authorize(principal, action, municipality,  # type: ignore[arg-type]
                          services.directory.registry)
        with services.runtimes.lease(grant.municipality_code) as rt, acting_as(grant.acting):
            yield services, rt, grant
    except (DomainError, AccessDeniedError, AuthenticationError) as error:
        raise _refuse(error.code, error.message, error.message_ja) from None
    finally:
        services.close()


@contextmanager
def _bar(label: str) -> Iterator[Any]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=err) as progress:
        task = progress.add_task(label, total=1)

        def step(position: int, upto: int) -> None:
            progress.update(task, total=max(upto, 1), completed=position)

        yield step


def _write(out: Path, stem: str, files: Any) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ext, data in (("csv", files.csv), ("xlsx", files.xlsx)):
        path = out / f"{stem}.{ext}"
        path.write_bytes(data)
        written.append(path)
    return written


@reports_app.command("issue")
def issue(token: Token, municipality: Municipality,
          fiscal_year: Annotated[int, typer.Option("--fiscal-year", min=1900, max=2100,
                                                   help="The fiscal year (April–March), e.g. 2026 = 令和8年度.")],
          form: Annotated[str, typer.Option(help="The report form: annual | prefecture.")] = "annual",
          out: Out = Path(".")) -> None:
    """Issue the fiscal year's report: computed from the log now, recorded, written as files."""
    from yorisoi.graphql.reports import scope_of
    from yorisoi.services.reports_issue import issue_report

    with _officer(token, "reports.issue", municipality) as (services, rt, grant), \
            _bar("集計中 / folding the log") as step:
        report, files = issue_report(rt.casework, services.directory.registry,
                                     grant.municipality_code, form, fiscal_year,
                                     scope_of(grant), progress=step)
        rt.catch_up()
    for path in _write(out, f"{fiscal_year}-{report.form}", files):
        console.print(str(path), highlight=False)
    console.print(f"{files.report.fiscal_year_label} {files.report.title}: 発行しました"
                  f" / issued {report.id} at log position {report.position}", highlight=False,
                  soft_wrap=True)


@reports_app.command("list")
def list_issued(token: Token, municipality: Municipality) -> None:
    """Issued reports, newest first (a contractor's: its own)."""
    from rich.table import Table

    from yorisoi.graphql.reports import scope_of
    from yorisoi.projections.report_view import issued_reports
    from yorisoi.services.reports import fiscal_year_label

    with _officer(token, "reports.read", municipality) as (_, rt, grant):
        rows = issued_reports(rt.casework.database, scope_of(grant))
    table = Table("発行日", "年度", "様式", "位置", "id")
    table.columns[-1].overflow = "fold"  # an id is never cut short
    for r in rows:
        table.add_row(r.issued_on, fiscal_year_label(r.fiscal_year),
                      f"{r.form} {r.form_version}", str(r.position), r.report_id)
    console.print(table)


@reports_app.command("reproduce")
def reproduce_issued(token: Token, municipality: Municipality,
                     report_id: Annotated[str, typer.Argument(help="The issued report's id.")],
                     out: Out = Path(".")) -> None:
    """Write an issued report's files again, from the events up to its position."""
    from uuid import UUID

    from yorisoi.graphql.reports import scope_of
    from yorisoi.services.reports_issue import issued, reproduce

    try:
        rid = UUID(report_id)
    except ValueError:
        raise _refuse("issued_report_not_found", "No such issued report.",
                      "指定された発行済みの報告が見つかりません。") from None
    with _officer(token, "reports.read", municipality) as (_, rt, grant), \
            _bar("再現中 / reproducing") as step:
        report = issued(rt.casework, rid, scope_of(grant))
        files = reproduce(rt.casework, report, progress=step)
    if (files.csv_sha256, files.xlsx_sha256) != (report.csv_sha256, report.xlsx_sha256):
        raise _refuse("report_not_reproducible", "The report could not be reproduced exactly.",
                      "発行した報告を同じ内容で再現できませんでした。")
    for path in _write(out, f"{report.fiscal_year}-{report.form}-{report.issued_on}", files):
        console.print(str(path), highlight=False)
    console.print("発行時と同一です / identical to the issued files (SHA-256 checked)",
                  highlight=False)
