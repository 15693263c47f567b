"""``yorisoi audit …``: verify a ledger (online or from an export), checkpoint, export.

A ledger is a municipality's (``--tenant CODE``: its events and access log,
and with it the registry entries it depends on) or the platform's registry
(``--platform``: every registry event — contracts, issuers, grants).

Exit codes: 0 verified, 1 verification found a problem (or the export is
unreadable), 2 a usage error (unknown municipality, both or neither source).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

if TYPE_CHECKING:  # imported by the commands themselves: `yorisoi --help` stays light
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.services.audit_verify import VerificationReport
    from yorisoi.tenants.runtime import TenantRuntime

# The default grace (services/audit_verify.UNCHAINED_GRACE), written out so the option's
# default needs no import; tests/deploy/test_cli_imports.py checks that the two agree.
UNCHAINED_GRACE_SECONDS = 120

audit_app = typer.Typer(help="The audit ledger: verify, checkpoint, export.", no_args_is_help=True)
console = Console()  # the verdict (with --as-json: the JSON report only)
err = Console(stderr=True)  # progress, refusals; the human verdict too under --as-json

TenantOption = Annotated[Optional[str], typer.Option("--tenant", help="Municipality code.")]  # noqa: UP007
PlatformOption = Annotated[bool, typer.Option(
    "--platform", help="The platform's registry ledger (contracts, issuers, grants).")]


def _refuse(english: str, japanese: str) -> typer.Exit:
    err.print(f"[red]{english}[/red]\n[red]{japanese}[/red]")
    return typer.Exit(2)


@contextmanager
def _municipality(code: str) -> Iterator[tuple[Services, TenantRuntime]]:
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.settings import get_settings
    from yorisoi.infra.storage import StorageError

    services = Services(get_settings())
    try:
        if code not in {t.tenant_id for t in services.directory.registry.municipalities()}:
            raise _refuse(f"municipality {code} is not provisioned",
                          f"市区町村 {code} は登録されていません")
        with services.runtimes.lease(code) as runtime:
            yield services, runtime
    except StorageError as error:  # the checkpoint store: unreachable, refused, misconfigured
        err.print(f"[red]{error}[/red]\n[red]チェックポイントの保存先を利用できません[/red]")
        raise typer.Exit(1) from None
    finally:
        services.close()


@contextmanager
def _platform() -> Iterator[Services]:
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.settings import get_settings
    from yorisoi.infra.storage import StorageError

    services = Services(get_settings())
    try:
        yield services
    except StorageError as error:
        err.print(f"[red]{error}[/red]\n[red]チェックポイントの保存先を利用できません[/red]")
        raise typer.Exit(1) from None
    finally:
        services.close()


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def _print(report: VerificationReport, as_json: bool) -> None:
    """The verdict on stdout (``> file`` keeps it); under --as-json only the JSON is."""
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, sort_keys=True))
    out = err if as_json else console
    _say(report, out)
    if report.registry is not None:
        _say(report.registry, out)


def _say(report: VerificationReport, console: Console) -> None:
    name = (f"registry entries of {report.concerning}" if report.concerning is not None
            else report.tenant)
    pending = ", ".join(f"{n} {kind}" for kind, n in sorted(report.pending.items()) if n)
    console.print(f"{name}: {report.entries_verified} entries verified, head "
                  f"{report.head_sequence} ({(report.head_hash or 'genesis')[:16]}…), "
                  f"{report.checkpoints_verified} checkpoints (covering up to "
                  f"{report.covered_to}), key {report.key_id}"
                  + (f"; not yet chained: {pending}" if pending else ""))
    if not report.problems:
        console.print("[green]the audit ledger verifies[/green]\n[green]監査台帳の検証に成功しました[/green]")
        return
    first, *rest = report.problems
    console.print(f"[red]first broken link: {first.place()} — {first.detail}[/red]\n"
                  f"[red]最初の不整合: {first.place()}（{first.code}）[/red]")
    for problem in rest:
        console.print(f"[red]also: {problem.place()} — {problem.detail}[/red]")


@contextmanager
def _ledger(tenant: str | None, platform: bool) -> Iterator[tuple[Services, TenantRuntime | None]]:
    """The services and, for ``--tenant``, the municipality's runtime (None: the registry)."""
    if platform:
        with _platform() as services:
            yield services, None
        return
    with _municipality(tenant or "") as (services, runtime):
        yield services, runtime


def _one_of(tenant: str | None, platform: bool, other: object = None,
            other_name: str | None = None) -> None:
    given = [name for name, value in (("--tenant", tenant), ("--platform", platform or None),
                                      (other_name, other)) if name and value is not None]
    if len(given) != 1:
        names = " / ".join(n for n in ("--tenant", "--platform", other_name) if n)
        raise _refuse(f"give exactly one of {names}", f"{names} のいずれか一つを指定してください")


@audit_app.command("verify")
def verify_command(
    tenant: TenantOption = None,
    platform: PlatformOption = False,
    export: Annotated[Optional[Path], typer.Option(help="Verify this export file, offline.")] = None,  # noqa: UP007
    public_key: Annotated[Optional[Path], typer.Option(  # noqa: UP007
        help="PEM of the platform key to trust (default: the platform's own, or the export's).")] = None,
    as_json: Annotated[bool, typer.Option("--as-json", help="Print the report as JSON.")] = False,
    grace: Annotated[int, typer.Option(
        help="Seconds a source may stay unchained before that is a finding (online).",
        min=0, max=86_400)] = UNCHAINED_GRACE_SECONDS,
) -> None:
    """Recompute the chain, check every checkpoint, report the first broken link.

    ``--tenant`` also verifies the registry entries the municipality depends on.
    """
    from yorisoi.services.audit_verify import ledger_sources
    from yorisoi.services.audit_export import ExportFormatError, read_export
    from yorisoi.services.audit_verify import verify

    _one_of(tenant, platform, export, "--export")
    try:
        pinned = public_key.read_text() if public_key is not None else None
    except OSError:
        raise _refuse("the --public-key file cannot be read",
                      "--public-key のファイルを読めません") from None
    if export is not None:
        try:
            source, carried = read_export(export)
            with _progress("verifying export", source.head) as advance:
                report = verify(source, pinned or carried, progress=advance)
        except (ExportFormatError, OSError) as error:
            err.print(f"[red]{error}[/red]\n[red]監査エクスポートを読めません[/red]")
            raise typer.Exit(1) from None
    else:
        with _ledger(tenant, platform) as (services, runtime):
            source = ledger_sources(services, runtime, timedelta(seconds=grace))
            with _progress("verifying", source.head) as advance:
                report = verify(source, pinned or services.signer.public_pem, progress=advance)
    _print(report, as_json)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint_command(tenant: TenantOption = None, platform: PlatformOption = False) -> None:
    """Chain everything recorded so far, then sign and store a checkpoint of the head."""
    from yorisoi.infra.audit_ledger_store import PLATFORM_LEDGER
    from yorisoi.infra.checkpoints import Checkpointer, checkpoint_store
    from yorisoi.services.audit_ledger import AuditChainer

    _one_of(tenant, platform)
    with _ledger(tenant, platform) as (services, runtime):
        checkpointer = Checkpointer(checkpoint_store(services.settings, services), services.signer)
        if runtime is None:
            db = services.directory.platform.database
            AuditChainer(db, PLATFORM_LEDGER).chain()
            written = checkpointer.checkpoint(db, PLATFORM_LEDGER)
        else:
            runtime.ledger.chain()
            written = checkpointer.checkpoint(runtime.casework.database,
                                              runtime.municipality_code)
    if written is None:
        console.print("the ledger is empty: nothing to sign\n台帳が空のため署名しませんでした")
        return
    console.print(f"checkpoint of entry {written['sequence']} ({written['head_hash'][:16]}…)"
                  f" stored as {written['object_key']}")


@audit_app.command("export")
def export_command(
    tenant: TenantOption = None,
    platform: PlatformOption = False,
    out: Annotated[Optional[Path], typer.Option(help="The file to write (JSON Lines).")] = None,  # noqa: UP007
) -> None:
    """Write the ledger, the chained bytes, the checkpoints and the public key to one file."""
    from yorisoi.services.audit_verify import ledger_sources
    from yorisoi.services.audit_export import write_export

    if out is None:
        raise _refuse("--out is required", "--out を指定してください")
    _one_of(tenant, platform)
    with _ledger(tenant, platform) as (services, runtime):
        source = ledger_sources(services, runtime)
        with _progress("exporting", source.head) as advance:
            written = write_export(source, services.signer.public_pem, out, progress=advance)
    console.print(f"{written} entries written to {out} (key {services.signer.key_id})")
