"""``yorisoi tenant export | import | restore | bundle-key``: a municipality leaves and comes back whole.

Registered on the ``tenant`` sub-app by ``register(tenant_app)`` (one line in
``infra/cli/__init__.py``).  Only typer and rich are imported here; the platform is
imported inside each command (the CLI starts fast).

Exit codes: 0 done, 1 the bundle or the tenant failed a check (tampered,
chain broken, key missing), 2 a refusal or usage error (existing target,
wrong recipient key, unknown municipality).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()  # results
err = Console(stderr=True)  # progress and refusals

RECIPIENT_NAME = "recipient"  # this deployment's own bundle key pair, under keys/bundles/


def _say(text: str) -> None:
    console.print(text, soft_wrap=True, highlight=False, markup=False)


def _services() -> Any:
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.settings import get_settings

    return Services(get_settings())


def _own_recipient(settings: Any) -> tuple[Path, Path]:
    """This deployment's recipient key pair (created on first use, kept with the tenant keys)."""
    from yorisoi.services.bundles.recipient import generate

    folder = Path(settings.keys_dir) / "bundles"
    private, public = folder / f"{RECIPIENT_NAME}.key", folder / f"{RECIPIENT_NAME}.pub"
    if not private.exists():
        try:
            generate(folder, RECIPIENT_NAME)
        except FileExistsError:
            pass  # another process made it first
    return private, public


@contextmanager
def _progress(totals: dict[str, int | None]) -> Iterator[Callable[[str, int], None]]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        tasks = {stage: progress.add_task(stage, total=total) for stage, total in totals.items()}

        def advance(stage: str, n: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=None)
            progress.advance(tasks[stage], n)

        yield advance


def _refuse(error: Any, code: int = 2) -> typer.Exit:
    err.print(f"{error.message}\n{error.message_ja}", style="red", soft_wrap=True, markup=False,
              highlight=False)
    return typer.Exit(code)


def _exit_code(error: Any) -> int:
    from yorisoi.services.bundles.errors import (
        BundleChainError,
        BundleFormatError,
        BundleSignatureError,
        BundleTamperedError,
        TenantNotReadyError,
    )

    failed = (BundleTamperedError, BundleSignatureError, BundleChainError, BundleFormatError,
              TenantNotReadyError)
    return 1 if isinstance(error, failed) else 2


def _read_text(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text()
    except OSError:
        err.print(f"[red]cannot read the {what} file[/red]\n[red]{what} を読めません[/red]")
        raise typer.Exit(2) from None


def bundle_key(out: Annotated[Path, typer.Option("--out", help="Folder for NAME.key and NAME.pub.")],
               name: str = "bundle-recipient") -> None:
    """Make an X25519 key pair to receive bundles: give NAME.pub to the exporter, keep NAME.key."""
    from yorisoi.services.bundles.recipient import generate

    try:
        private, public = generate(out, name)
    except FileExistsError:
        err.print("[red]a key of that name exists already[/red]\n[red]同名の鍵がすでにあります[/red]")
        raise typer.Exit(2) from None
    _say(f"private key: {private} (keep it; mode 0600)\npublic key: {public}")


def export(code: str,
           out: Annotated[Path, typer.Option("--out", help="The bundle file to write.")],
           recipient_key: Annotated[Path | None, typer.Option(
               "--recipient-key", help="The recipient's X25519 public key (PEM); default:"
               " this deployment's own (keys/bundles/recipient.pub).")] = None) -> None:
    """Write one municipality's bundle: log, keys for the recipient, files, ledger, registry."""
    from yorisoi.domain.errors import DomainError
    from yorisoi.services.bundles.export import export_tenant

    services = _services()
    try:
        if services.directory.registry.tenant(code) is None:
            err.print(f"[red]municipality {code} is not provisioned[/red]\n"
                      f"[red]市区町村 {code} は登録されていません[/red]")
            raise typer.Exit(2)
        pem = _read_text(recipient_key, "recipient key")
        if pem is None:
            pem = _own_recipient(services.settings)[1].read_text()
        with _progress({"events": None, "objects": None}) as progress:
            result = export_tenant(services, code, out, pem, progress)
    except DomainError as error:
        raise _refuse(error, _exit_code(error)) from None
    finally:
        services.close()
    counts, position = result.manifest["counts"], result.manifest["position"]
    _say(f"bundle {result.bundle_id} written to {out}: {counts['events']} events,"
                  f" {counts['access']} access-log rows, {counts['household_keys']} keys"
                  f" ({counts['destroyed_keys']} destroyed), {counts['objects']} files;"
                  f" ledger entry {position['ledgerSequence']}"
                  f" (signed by platform key {result.manifest['signer']['keyId']})")


def import_(file: Path,
            as_code: Annotated[str | None, typer.Option(
                "--as", help="The municipality code expected in the bundle.")] = None,
            identity: Annotated[Path | None, typer.Option(
                "--identity", help="The recipient's private key (default: this deployment's).")
            ] = None,
            source_key: Annotated[Path | None, typer.Option(
                "--source-key", help="Pin the exporting platform's public key (PEM).")] = None,
            check: Annotated[bool, typer.Option(help="Verify only; write nothing.")] = False
            ) -> None:
    """Verify a bundle (signature, every byte, the chains, the keys), then import it."""
    from yorisoi.domain.errors import DomainError
    from yorisoi.services.bundles.load import TenantImporter

    services = _services()
    try:
        identity_pem = (identity.read_bytes() if identity is not None
                        else _own_recipient(services.settings)[0].read_bytes())
        importer = TenantImporter(services, file, identity_pem, as_code=as_code,
                                  public_pem=_read_text(source_key, "source key"))
        signer = importer.reader.signer_key_id
        if source_key is None:
            err.print(f"signed by platform key {signer} (pin it with --source-key)")
        if check:
            report = importer.check()
            _say(f"bundle verifies: {report.entries_verified} ledger entries,"
                          f" {report.checkpoints_verified} checkpoints; nothing written")
            return
        counts = importer.reader.manifest["counts"]
        with _progress({"events": counts.get("events"), "objects": counts.get("objects")}
                       ) as progress:
            importer.progress = progress
            result = importer.finish(importer.run(), supersedes=[])
        problem = _ready(services, result.code)
    except DomainError as error:
        raise _refuse(error, _exit_code(error)) from None
    except OSError:
        err.print("[red]cannot read the bundle or the key[/red]\n[red]バンドルまたは鍵を読めません[/red]")
        raise typer.Exit(2) from None
    finally:
        services.close()
    _say(f"municipality {result.code} imported: {result.counts['events']} events,"
                  f" {result.counts['household_keys']} keys, {result.counts['objects']} files;"
                  f" {result.registry_added} registry entries added, {result.registry_kept} kept;"
                  f" custody record at ledger entry {result.custody_sequence}")
    if problem is not None:
        raise _refuse(problem, 1)


def _ready(services: Any, code: str) -> Any:
    from yorisoi.services.bundles.readiness import runtime_key_problem

    with services.runtimes.lease(code) as runtime:
        return runtime_key_problem(runtime)


def restore(code: str,
            source: Annotated[Path | None, typer.Option(
                "--from", help="A bundle of this municipality, or (SQLite) a copy of its space"
                " file.")] = None,
            in_place: Annotated[bool, typer.Option(
                "--in-place", help="The database was already restored (PITR, pg_restore):"
                " upgrade the space and record the restore.")] = False,
            identity: Annotated[Path | None, typer.Option(
                "--identity", help="The recipient's private key (default: this deployment's).")
            ] = None,
            source_key: Annotated[Path | None, typer.Option(
                "--source-key", help="Pin the exporting platform's public key (PEM).")] = None
            ) -> None:
    """Restore one municipality to an earlier point; a signed record supersedes later checkpoints."""
    from yorisoi.domain.errors import DomainError
    from yorisoi.services.bundles.load import restore_bundle
    from yorisoi.services.bundles.restore import restore_in_place, restore_space_file

    if (source is None) == (not in_place):
        err.print("[red]give --from FILE or --in-place[/red]\n[red]--from か --in-place を指定してください[/red]")
        raise typer.Exit(2)
    services = _services()
    try:
        if services.directory.registry.tenant(code) is None:
            err.print(f"[red]municipality {code} is not provisioned[/red]\n"
                      f"[red]市区町村 {code} は登録されていません[/red]")
            raise typer.Exit(2)
        if in_place:
            sequence, document = restore_in_place(services, code)
        elif source is not None and _is_bundle(source):
            identity_pem = (identity.read_bytes() if identity is not None
                            else _own_recipient(services.settings)[0].read_bytes())
            result = restore_bundle(services, code, source, identity_pem,
                                    public_pem=_read_text(source_key, "source key"))
            sequence, document = result.custody_sequence, {"supersedes": result.superseded}
        else:
            assert source is not None
            sequence, document = restore_space_file(services, code, source)
        problem = _ready(services, code)
    except DomainError as error:
        raise _refuse(error, _exit_code(error)) from None
    finally:
        services.close()
    superseded = document["supersedes"]
    _say(f"municipality {code} restored; restore record at ledger entry {sequence}"
                  f" supersedes {len(superseded)} checkpoints"
                  + "".join(f"\n  {item['key']} (entry {item['sequence']})" for item in superseded))
    if problem is not None:
        raise _refuse(problem, 1)


def _is_bundle(path: Path) -> bool:
    import tarfile

    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def register(tenant_app: typer.Typer) -> None:
    """Add the commands to the ``tenant`` sub-app (idempotent)."""
    known = {c.name for c in tenant_app.registered_commands}
    for name, function in (("bundle-key", bundle_key), ("export", export),
                           ("import", import_), ("restore", restore)):
        if name not in known:
            tenant_app.command(name)(function)
