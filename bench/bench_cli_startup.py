"""CLI start-up: how long a ``yorisoi`` command takes before it does anything.

Each series starts a fresh interpreter (``python -c``) in interleaved rounds
with its baseline, so the machine's load hits both alike; figures are the
median wall time and its ratio to the raw baseline — an interpreter that
imports nothing (``python -c pass``) — measured in the same run.

    .venv/bin/python bench/bench_cli_startup.py [--rounds 15] [--before REV]

``--before REV`` adds the CLI as it was at a git revision (its ``infra/cli*.py``,
extracted to a temporary package that imports today's platform) as series of
their own: before and after measured in the same run.

Series:
  help              ``yorisoi --help`` (the app and every sub-app, no platform)
  sub-app help      ``yorisoi audit verify --help``
  typer alone       ``import typer`` and build an empty app's help (the floor)
  platform          ``import yorisoi.infra.wiring.bootstrap`` (what a command that opens the
                    database and the stores needs, imported inside that command)
  web app           ``import yorisoi.infra.http.app`` (what ``serve`` needs)
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERIES = {
    "raw baseline (python -c pass)": "pass",
    "typer alone (empty app --help)": (
        "import typer\napp = typer.Typer()\n@app.command()\ndef x() -> None: ...\n"
        "try: app(['--help'])\nexcept SystemExit: pass"),
    "yorisoi --help": (
        "from yorisoi.infra.cli import app\ntry: app(['--help'], prog_name='yorisoi')\n"
        "except SystemExit: pass"),
    "yorisoi audit verify --help": (
        "from yorisoi.infra.cli import app\n"
        "try: app(['audit', 'verify', '--help'], prog_name='yorisoi')\n"
        "except SystemExit: pass"),
    "platform imports (infra.wiring.bootstrap)": "import yorisoi.infra.wiring.bootstrap",
    "web app imports (infra.http.app)": "import yorisoi.infra.http.app",
}


TYPER_OPTIONS = (
    "import typer\nfrom typing import Annotated, Optional\napp = typer.Typer()\n"
    "sub = typer.Typer()\napp.add_typer(sub, name='sub')\n@sub.command()\n"
    "def x(a: Annotated[Optional[str], typer.Option()] = None, b: bool = False,"
    " c: int = 1) -> None: ...\n"
    "try: app(['sub', 'x', '--help'])\nexcept SystemExit: pass")


def before_package(revision: str, folder: Path) -> None:
    """The CLI modules at ``revision`` as package ``yorisoi_cli_before`` under ``folder``."""
    root = Path(__file__).resolve().parents[1]
    names = subprocess.run(["git", "ls-tree", "--name-only", revision, "infra/"], cwd=root,
                           capture_output=True, text=True, check=True).stdout.split()
    package = folder / "yorisoi_cli_before"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in names:
        if re.fullmatch(r"infra/cli(_\w+)?\.py", name):
            text = subprocess.run(["git", "show", f"{revision}:{name}"], cwd=root,
                                  capture_output=True, text=True, check=True).stdout
            text = text.replace("yorisoi.infra.cli_", "yorisoi_cli_before.cli_")
            (package / Path(name).name).write_text(text)


def once(code: str, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh interpreter running ``code``.

    CPU time (user + system of the child) is the steadier figure on a shared machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--before", help="a git revision whose CLI to measure as well")
    args = parser.parse_args()
    series = dict(SERIES)
    series["typer alone (a sub-command with options --help)"] = TYPER_OPTIONS
    env = None
    with tempfile.TemporaryDirectory() as folder:
        if args.before:
            before_package(args.before, Path(folder))
            env = {**os.environ, "PYTHONPATH": folder}
            for label, argv in (("--help", "['--help']"),
                                ("audit verify --help", "['audit', 'verify', '--help']")):
                series[f"before {args.before}: yorisoi {label}"] = (
                    f"from yorisoi_cli_before.cli import app\ntry: app({argv}, "
                    "prog_name='yorisoi')\nexcept SystemExit: pass")
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in series}
        for name, code in series.items():  # warm the file cache once
            once(code, env)
        for _ in range(args.rounds):
            for name, code in series.items():
                times[name].append(once(code, env))
    raw = times["raw baseline (python -c pass)"]
    base_wall = statistics.median(w for w, _ in raw)
    base_cpu = statistics.median(c for _, c in raw)
    print(f"{'series':52} {'wall ms':>8} {'× raw':>6} {'CPU ms':>7} {'× raw':>6}")
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"{name:52} {wall * 1000:8.0f} {wall / base_wall:6.1f} {cpu * 1000:7.0f} "
              f"{cpu / base_cpu:6.1f}")


if __name__ == "__main__":
    main()
