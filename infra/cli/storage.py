"""``yorisoi storage reseal``: seal objects stored in clear before sealing existed."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console

storage_app = typer.Typer(help="Object storage: sealing files under their subject's key.",
                          no_args_is_help=True)
console = Console()  # results
err = Console(stderr=True)  # progress


@storage_app.command("reseal")
def reseal(tenant: Annotated[Optional[list[str]], typer.Option()] = None) -> None:  # noqa: UP007
    """Seal every clear attachment and pledge of the given (or every) municipality.

    Idempotent and resumable: run it again after an interruption.
    """
    from rich.progress import Progress

    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.cli.reseal import reseal_all
    from yorisoi.infra.settings import get_settings

    services = Services(get_settings())
    try:
        codes = tenant or [t.tenant_id for t in services.directory.registry.municipalities()]
        with Progress(console=err) as progress:
            task = progress.add_task("sealing", total=None)
            total = reseal_all(services, codes, lambda _outcome: progress.advance(task))
        console.print(f"{len(codes)} municipalities: {total.sealed} sealed, {total.already} "
                      f"already sealed, {total.removed} clear copies of disposed households "
                      f"removed, {total.old_versions} older versions purged")
    finally:
        services.close()
