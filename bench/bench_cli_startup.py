"""CLI start-up: how long a ``yorisoi`` command takes before it does anything.

Each series starts a fresh interpreter (``python -c``) in interleaved rounds
with its baseline, so the machine's load hits both alike; figures are the
median wall time and its ratio to the raw baseline — an interpreter that
imports nothing (``python -c pass``) — measured in the same run.

    .venv/bin/python bench/bench_cli_startup.py [--rounds 15]

Series:
  help              ``yorisoi --help`` (the app and every sub-app, no platform)
  sub-app help      ``yorisoi audit verify --help``
  typer alone       ``import typer`` and build an empty app's help (the floor)
  platform          ``import yorisoi.infra.bootstrap`` (what a command that opens the
                    database and the stores needs, imported inside that command)
  web app           ``import yorisoi.infra.app`` (what ``serve`` needs)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

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
    "platform imports (infra.bootstrap)": "import yorisoi.infra.bootstrap",
    "web app imports (infra.app)": "import yorisoi.infra.app",
}


def once(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    times: dict[str, list[float]] = {name: [] for name in SERIES}
    for name, code in SERIES.items():  # warm the file cache once
        once(code)
    for _ in range(rounds):
        for name, code in SERIES.items():
            times[name].append(once(code))
    base = statistics.median(times["raw baseline (python -c pass)"])
    print(f"{'series':40} {'median ms':>10} {'× raw':>7}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:40} {median * 1000:10.0f} {median / base:7.1f}")


if __name__ == "__main__":
    main()
