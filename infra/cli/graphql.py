"""``yorisoi graphql``: the published SDL and the persisted-query manifest.

Both are generated from the code and committed; ``--check`` is what CI runs
to prove the committed files match (exit 1 and a hint when they do not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

graphql_app = typer.Typer(help="The GraphQL contract: SDL and persisted queries.",
                          no_args_is_help=True)
console = Console()  # results
err = Console(stderr=True)  # what is wrong


@graphql_app.command("sdl")
def sdl(check: Annotated[bool, typer.Option(
            help="Only compare with the committed file; exit 1 if it differs.")] = False,
        output: Annotated[Optional[Path], typer.Option(
            help="Where the SDL goes (default: graphql/schema.graphql).")] = None) -> None:
    """Write (or check) the published SDL."""
    from yorisoi.graphql.schema import SDL_PATH, published_sdl

    path = output or SDL_PATH
    text = published_sdl()
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            err.print(f"[red]{path} is out of date[/red]: run `yorisoi graphql sdl`.")
            raise typer.Exit(1)
        console.print(f"{path} matches the code.")
        return
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {path}")


@graphql_app.command("persist")
def persist(
    directory: Annotated[Optional[Path], typer.Argument(
        help="Folder of .graphql operation files (default: graphql/operations).")] = None,
    check: Annotated[bool, typer.Option(
        help="Only compare with the manifest; exit 1 if it differs.")] = False,
    output: Annotated[Optional[Path], typer.Option(
        help="The manifest (default: graphql/persisted_queries.json).")] = None,
) -> None:
    """Build the persisted-query manifest (sha256 → document) from .graphql files.

    Every document is validated against the schema first: an operation that
    no longer fits the schema is an error, not a silently dead entry.
    """
    from yorisoi.graphql.persisted import (
        MANIFEST_PATH,
        OPERATIONS_DIR,
        build_manifest,
        manifest_text,
        operation_files,
    )

    directory = directory or OPERATIONS_DIR
    path = output or MANIFEST_PATH
    if not directory.is_dir():
        err.print(f"[red]{directory} is not a folder[/red]")
        raise typer.Exit(2)
    files = operation_files(directory)
    if not files:
        err.print(f"[red]no .graphql files under {directory}[/red]")
        raise typer.Exit(2)
    manifest, problems = build_manifest(files)
    if problems:
        for problem in problems:
            err.print(f"[red]invalid:[/red] {problem}", soft_wrap=True)
        raise typer.Exit(1)
    text = manifest_text(manifest)
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            err.print(f"[red]{path} is out of date[/red]: run `yorisoi graphql persist`.")
            raise typer.Exit(1)
        console.print(f"{path} matches {len(manifest)} operations.")
        return
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {len(manifest)} operations to {path}")
