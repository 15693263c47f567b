"""``yorisoi tenant placement`` and ``yorisoi tenant move CODE --to NODE`` (Citus deployments).

``placement`` lists where each municipality lives and its size; ``move`` checks the
move first (logical WAL, the target node active, not already there), moves the
municipality's schema while it keeps working, then verifies: its events from before
the move all there, the schema on the target, and its audit ledger verifying.

Exit codes: 0 done, 1 the move or its verification failed, 2 refused before anything
changed (unknown municipality or node, a pre-check).  Heavy modules are imported in
the commands: ``yorisoi --help`` stays light.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)


def _refuse(error: Exception, code: int = 2) -> typer.Exit:
    message = getattr(error, "message", str(error))
    message_ja = getattr(error, "message_ja", "")
    err.print(f"[red]{message}[/red]" + (f"\n[red]{message_ja}[/red]" if message_ja else ""))
    return typer.Exit(code)


def _size(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def placement(as_json: Annotated[bool, typer.Option("--as-json")] = False) -> None:
    """Where each municipality lives (its node) and its size."""
    from rich.table import Table

    from yorisoi.domain.errors import DomainError
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.settings import get_settings
    from yorisoi.tenants.placement import placements

    settings = get_settings()
    if settings.backend != "postgres":
        raise _refuse(ValueError("placement is for PostgreSQL deployments (YORISOI_BACKEND)"))
    services = Services(settings)
    try:
        names = {t.tenant_id: t.name for t in services.directory.registry.municipalities()}
        found = placements(settings, sorted(names))
    except DomainError as error:
        raise _refuse(error) from None
    finally:
        services.close()
    if as_json:
        print(json.dumps([{"municipality": p.municipality_code, "name": names[p.municipality_code],
                           "node": p.node, "distributed": p.distributed,
                           "size_bytes": p.size_bytes, "last_event": p.last_event}
                          for p in found], ensure_ascii=False))
        return
    table = Table("市区町村 municipality", "node", "size", "events (last id)")
    for p in found:
        node = p.node if p.distributed else f"{p.node} (not distributed)"
        table.add_row(f"{names[p.municipality_code]} ({p.municipality_code})", node,
                      _size(p.size_bytes), str(p.last_event))
    console.print(table)


def move(code: Annotated[str, typer.Argument(help="Municipality code.")],
         to: Annotated[str, typer.Option("--to", help="Target node, host:port.")],
         yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
         ) -> None:
    """Move a municipality to another node while it keeps working, then verify it."""
    from datetime import timedelta

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from yorisoi.domain.errors import DomainError
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.services.audit_verify import ledger_sources
    from yorisoi.infra.settings import get_settings
    from yorisoi.services.audit_verify import verify
    from yorisoi.tenants.placement import LeftoversError, MoveVerificationError, plan_move
    from yorisoi.tenants.placement import move as run_move

    settings = get_settings()
    if settings.backend != "postgres":
        raise _refuse(ValueError("moves are for Citus deployments (YORISOI_BACKEND=postgres)"))
    services = Services(settings)
    try:
        municipality = services.directory.registry.tenant(code)
        if municipality is None or municipality.kind != "municipality":
            err.print(f"[red]municipality {code} is not provisioned[/red]\n"
                      f"[red]市区町村 {code} は登録されていません[/red]")
            raise typer.Exit(2)
        try:
            plan = plan_move(settings, code, to)
        except DomainError as error:
            raise _refuse(error) from None
        console.print(f"{municipality.name} ({code}): {plan.source.name} → {plan.target.name}, "
                      f"{_size(plan.size_bytes)}, {plan.events_before} events")
        if not yes and not typer.confirm("Move it now? 移動しますか？"):
            raise typer.Exit(2)
        columns = (TextColumn("moving 移動中"), BarColumn(), DownloadColumn(),
                   TimeElapsedColumn())
        try:
            with Progress(*columns, console=err, transient=True) as progress:
                task = progress.add_task("move", total=max(plan.size_bytes, 1))

                def report(copied: int, total: int) -> None:
                    progress.update(task, completed=copied, total=total)

                result = run_move(settings, plan, progress=report)
        except (MoveVerificationError, LeftoversError) as error:
            raise _refuse(error, 1) from None
        except Exception as error:  # noqa: BLE001 - Citus's own refusal, shown by type only
            err.print(f"[red]the move failed ({type(error).__name__}); the municipality stays "
                      f"on {plan.source.name}[/red]\n[red]移動に失敗しました。移動元のままです。[/red]")
            raise typer.Exit(1) from None
        console.print(f"moved in {result.seconds:.1f} s; {result.events_after} of "
                      f"{plan.events_before} events from before the move present "
                      f"({result.events_total} now), on {result.node_after}")
        with services.runtimes.lease(code) as runtime:
            report_ = verify(ledger_sources(services, runtime, timedelta(seconds=120)),
                             services.signer.public_pem)
        if not report_.ok:
            err.print("[red]the audit ledger does not verify after the move[/red]\n"
                      "[red]移動後の監査台帳の検証に失敗しました[/red]")
            raise typer.Exit(1)
        console.print("[green]the audit ledger verifies[/green]\n"
                      "[green]移動が完了し、監査台帳の検証に成功しました[/green]")
    finally:
        services.close()


def add_citus_commands(tenant_app: typer.Typer) -> None:
    """Register ``placement`` and ``move`` under ``yorisoi tenant``."""
    tenant_app.command("placement")(placement)
    tenant_app.command("move")(move)
