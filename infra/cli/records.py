"""``yorisoi disposal``: due households, proposing, approving, running, certificates.

Every command that reads or changes a municipality's records acts as a
verified person: it takes that officer's token (``--token`` or
``YORISOI_TOKEN``), verifies it like the API does and asks
``tenants/access.authorize`` — the municipality is the token's own, the
events carry the officer as their actor, and the two-person rule compares
real identities.  Verifying a certificate needs no token: only the file and
the platform's public key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional
from uuid import UUID

import typer
from rich.console import Console

disposal_app = typer.Typer(help="Records disposal (廃棄): due list, batches, certificates.",
                           no_args_is_help=True)
console = Console()  # results
err = Console(stderr=True)  # progress, refusals

Token = Annotated[str, typer.Option("--token", envvar="YORISOI_TOKEN",
                                    help="The officer's bearer token (or YORISOI_TOKEN).")]
STEP_LABELS = {"key_destroyed": "鍵を消去", "read_models_purged": "閲覧用データを消去",
               "objects_deleted": "ファイルを削除", "disposed": "廃棄を記録",
               "skipped": "対象外", "tenant_key_rotated": "自治体鍵を更新",
               "certified": "証明書を発行"}


def _refuse(code: str, message: str, message_ja: str) -> typer.Exit:
    err.print(f"[red]{message}[/red]\n[red]{message_ja}[/red] ({code})")
    return typer.Exit(2)


@contextmanager
def _officer(token: str, action: str) -> Iterator[tuple[Any, Any]]:
    """(services, disposal) for the token's municipality, acting as the token's holder."""
    from yorisoi.domain.errors import DomainError
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.identity import AuthenticationError
    from yorisoi.infra.settings import get_settings
    from yorisoi.services.context import acting_as
    from yorisoi.services.disposal import Disposal
    from yorisoi.tenants.access import AccessDeniedError, Principal, authorize

    services = Services(get_settings())
    try:
        principal = Principal.from_token(services.verifier.verify(token))
        grant = authorize(principal, action, principal.tenant_id,  # type: ignore[arg-type]
                          services.directory.registry)
        with services.runtimes.lease(grant.municipality_code) as rt, acting_as(grant.acting):
            yield services, Disposal(rt, services.objects, services.signer)
    except (DomainError, AccessDeniedError, AuthenticationError) as error:
        raise _refuse(error.code, error.message, error.message_ja) from None
    finally:
        services.close()


@disposal_app.command("due")
def due(token: Token, on: Annotated[Optional[str], typer.Option(
            help="The day to evaluate (2026-04-01, 令和8年4月1日, R8.4.1…; default today in "
                 "Japan).")] = None,
        as_json: bool = False) -> None:
    """Households due for disposal: periods run out, no active hold, not yet disposed."""
    from yorisoi.domain.japanese_dates import parse_typed_date

    day = parse_typed_date(on) if on else None
    if on and day is None:
        err.print("日付を読み取れません（例: 2026-04-01、令和8年4月1日、R8.4.1）。"
                      " / Not a date (e.g. 2026-04-01, 令和8年4月1日, R8.4.1).", style="red")
        raise typer.Exit(2)
    from rich.progress import Progress, SpinnerColumn, TextColumn
    from rich.table import Table

    with _officer(token, "records.manage") as (_, disposal):
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err,
                      transient=True, disable=as_json) as progress:
            progress.add_task("読み込み中（閲覧用データを最新化）…", total=None)
            schedule, households = disposal.due(day)
    rows = [{"householdId": h.household_id, "closedOn": h.closed_on.isoformat(),
             "dueOn": h.due_on.isoformat() if h.due_on else None,
             "records": h.record_counts} for h in households]
    if as_json:
        print(json.dumps({"scheduleVersion": schedule.version, "households": rows},
                         ensure_ascii=False))
        return
    table = Table("household", "closed on", "due on", "records",
                  title=f"廃棄対象（保存年限表 第{schedule.version}版）")
    for row in rows:
        table.add_row(row["householdId"], row["closedOn"], row["dueOn"] or "—",
                      ", ".join(f"{k} {v}" for k, v in row["records"].items()))
    console.print(table)
    console.print(f"{len(rows)} household(s) due")


@disposal_app.command("propose")
def propose(token: Token, household_ids: Annotated[Optional[list[str]], typer.Argument(
                help="Households to dispose of (each must be due).")] = None,
            all_due: Annotated[bool, typer.Option(
                "--all-due", help="Every household due today.")] = False) -> None:
    """Propose a disposal batch."""
    with _officer(token, "disposal.approve") as (_, disposal):
        chosen = [h.household_id for h in disposal.due()[1]] if all_due else list(
            household_ids or [])
        try:
            [UUID(h) for h in chosen]
        except ValueError:
            raise _refuse("invalid_input", "Not a household id.",
                          "世帯IDの形式が正しくありません。") from None
        batch = disposal.propose(chosen)
    console.print(f"proposed batch [bold]{batch.id}[/bold] ({len(batch.households)} households,"
                  f" schedule v{batch.schedule_version}"
                  f"{', needs a second approver' if batch.two_person_approval else ''})")


@disposal_app.command("approve")
def approve(token: Token, batch_id: str,
            expected_version: Annotated[Optional[int], typer.Option()] = None) -> None:
    """Approve a proposed batch (a second officer where the schedule requires it)."""
    with _officer(token, "disposal.approve") as (_, disposal):
        batch = disposal.casework.approve_disposal(_batch_id(batch_id),
                                                   expected_version=expected_version)
    console.print(f"approved batch {batch.id} by {batch.approved_by}")


def _batch_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise _refuse("invalid_input", "Not a batch id.",
                      "廃棄案件IDの形式が正しくありません。") from None


@disposal_app.command("run")
def run(token: Token, batch_id: str) -> None:
    """Run (or resume) an approved batch, household by household, to its certificate."""
    from rich.progress import BarColumn, Progress, TextColumn

    with _officer(token, "disposal.approve") as (_, disposal):
        batch = disposal.casework.disposal_batch(_batch_id(batch_id))
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total}"), console=err) as progress:
            overall = progress.add_task("世帯", total=len(batch.households),
                                        completed=len(batch.households) - len(batch.pending))
            current: dict[str, Any] = {}

            def advance(household_id: str, step: str) -> None:
                if not household_id:  # a step of the batch: key rotation, certificate
                    progress.console.print(f"{STEP_LABELS.get(step, step)}")
                    return
                if household_id not in current:
                    current[household_id] = progress.add_task(f"  {household_id}", total=4)
                progress.update(current[household_id], advance=1,
                                description=f"  {household_id} {STEP_LABELS.get(step, step)}")
                if step in ("disposed", "skipped"):
                    progress.update(current[household_id], completed=4)
                    progress.advance(overall)

            batch = disposal.run(batch.id, advance)
    console.print(f"batch {batch.id}: {len(batch.disposed)} disposed, "
                  f"{len(batch.households) - len(batch.disposed)} skipped; certificate sha256 "
                  f"{batch.certificate['sha256']}")


@disposal_app.command("certificate")
def certificate(token: Token, batch_id: str,
                out: Annotated[Path, typer.Option(help="Where the signed JSON goes.")],
                markdown: Annotated[Optional[Path], typer.Option(
                    help="Also write the Japanese document (Markdown).")] = None) -> None:
    """Export a batch's disposal certificate (JSON, and a readable Japanese document)."""
    from yorisoi.infra.certificates import render_markdown

    with _officer(token, "records.manage") as (_, disposal):
        data = disposal.certificate(_batch_id(batch_id))
    out.write_bytes(data)
    if markdown is not None:
        markdown.write_text(render_markdown(data), encoding="utf-8")
    console.print(f"wrote {out}" + (f" and {markdown}" if markdown else ""))


@disposal_app.command("public-key")
def public_key() -> None:
    """Print the platform's public signing key (PEM): what certificates verify against."""
    from yorisoi.infra.settings import get_settings
    from yorisoi.infra.signing import PlatformSigner

    print(PlatformSigner.from_keys_dir(get_settings().keys_dir).public_pem, end="")


@disposal_app.command("verify-certificate")
def verify_certificate(files: Annotated[list[Path], typer.Argument(help="Certificate files.")],
                       public_key: Annotated[Optional[Path], typer.Option(
                           "--public-key", help="The platform's public key (PEM); default: "
                           "this installation's key.")] = None) -> None:
    """Verify certificates offline; any altered byte fails (exit 1)."""
    from rich.progress import BarColumn, Progress, TextColumn

    from yorisoi.infra.certificates import CertificateInvalidError
    from yorisoi.infra.certificates import verify_certificate as verify

    pem = public_key.read_text() if public_key else _installation_key()
    failed = 0
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), console=err) as progress:
        task = progress.add_task("検証中", total=len(files))
        for path in files:
            try:
                document = verify(path.read_bytes(), pem)
            except (CertificateInvalidError, OSError) as error:
                failed += 1
                reason = error.reason if isinstance(error, CertificateInvalidError) else (
                    "cannot be read")
                console.print(f"[red]INVALID[/red] {path}: {reason}")
            else:
                totals = document["totals"]
                console.print(
                    f"[green]VALID[/green] {path}: batch {document['batch']['id']}, "
                    f"{totals['households']} household(s), {totals['records']} record(s)")
            progress.advance(task)
    if failed:
        raise typer.Exit(1)


def _installation_key() -> str:
    from yorisoi.infra.settings import get_settings

    path = Path(get_settings().keys_dir) / "platform" / "signing-ed25519.pem"
    if not path.exists():
        err.print("[red]No platform key here: give --public-key.[/red]\n"
                  "[red]この環境にはプラットフォームの鍵がありません。--public-key を指定してください。[/red]")
        raise typer.Exit(2)
    from yorisoi.infra.signing import PlatformSigner

    return PlatformSigner.from_keys_dir(get_settings().keys_dir).public_pem
