"""``yorisoi records …``: the personal-information file register and data-subject requests.

``file-register`` prints the 個人情報ファイル簿 entries of a municipality
(Markdown for publication, or JSON); ``requests`` lists its data-subject
requests with their deadlines (``--overdue`` for the late ones).  Neither
prints a personal value.  Exit code 2: an unknown municipality or format.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:  # imported by the commands themselves: `yorisoi --help` stays light
    from yorisoi.tenants.runtime import TenantRuntime

records_app = typer.Typer(help="Records governance: file register, data-subject requests.",
                          no_args_is_help=True)
console = Console()  # results
err = Console(stderr=True)  # refusals
Municipality = Annotated[str, typer.Option("--municipality", help="Municipality code.")]


@contextmanager
def _municipality(code: str) -> Iterator[tuple[str, TenantRuntime]]:
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.settings import get_settings

    services = Services(get_settings())
    try:
        tenant = services.directory.registry.tenant(code)
        if tenant is None or tenant.kind != "municipality":
            err.print("[red]No such municipality.[/red]\n[red]その自治体は登録されていません。[/red]")
            raise typer.Exit(2)
        with services.runtimes.lease(code) as rt:
            yield tenant.name, rt
    finally:
        services.close()


@records_app.command("file-register")
def file_register(municipality: Municipality,
                  format: Annotated[str, typer.Option(help="markdown | json")] = "markdown",
                  ) -> None:
    """Print the municipality's 個人情報ファイル簿 entries, generated from the schema."""
    if format not in ("markdown", "json"):
        err.print("[red]Format is markdown or json.[/red]\n"
                      "[red]形式は markdown または json を指定してください。[/red]")
        raise typer.Exit(2)
    from yorisoi.infra.clock import japan_today
    from yorisoi.services.file_register import build_file_register, render_markdown

    with _municipality(municipality) as (name, rt):
        register = build_file_register(rt.casework, municipality_name=name, today=japan_today())
    print(json.dumps(register, ensure_ascii=False, indent=1) if format == "json"
          else render_markdown(register))


@records_app.command("requests")
def requests(municipality: Municipality,
             overdue: Annotated[bool, typer.Option(help="Only undecided after the deadline.")] = False,
             ) -> None:
    """List data-subject requests with their status and deadline (Japan time)."""
    from rich.table import Table

    from yorisoi.infra.clock import japan_today

    today = japan_today()
    with _municipality(municipality) as (_, rt):
        found = [r for r in rt.casework.data_subject_requests()
                 if not overdue or r.is_overdue(today)]
    table = Table("request", "kind", "status", "received", "due", "overdue", "suspension")
    for r in found:
        table.add_row(str(r.id), r.kind, r.status, r.received_on.isoformat(),
                      r.due_on.isoformat(), "yes" if r.is_overdue(today) else "",
                      "in force" if r.suspension_active else "")
    console.print(table)
