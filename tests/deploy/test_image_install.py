"""The image's install steps, run here without a container daemon and without downloads.

``infra/deploy/Dockerfile`` installs the project with ``pip install /src`` into a
fresh virtualenv: the runtime dependencies only, no test extra.  CI reaches PyPI but
has no container daemon, and a test should not download anyway, so this test
rebuilds that virtualenv from what is already installed in ``.venv``:

1. the dependency closure of ``yorisoi`` *without extras* is read from the installed
   metadata (``importlib.metadata``: each distribution's ``Requires-Dist``, markers
   evaluated, ``extra == …`` requirements left out);
2. a fresh virtualenv (``--without-pip``, no system site-packages) gets exactly the
   files of those distributions (their ``RECORD``s, linked, not copied) and yorisoi's
   own install;
3. ``pip check`` must find every requirement met there, and ``yorisoi --help``, the
   web app, the worker and the console must import and start in it.

So a runtime module that imports a test tool (pytest, moto, playwright, schemathesis,
hypothesis, pypdf…) fails here, as would a dependency used but not declared.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infra" / "deploy" / "Dockerfile"
TEST_TOOLS = {"pytest", "pytest-xdist", "moto", "playwright", "schemathesis", "hypothesis",
              "hypothesis-graphql", "pypdf"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def runtime_closure() -> set[str]:
    """Canonical names of yorisoi and everything it needs at run time (no extras).

    The roots are pyproject.toml's ``dependencies`` (the installed metadata of an
    editable install may predate the file); the rest is read from what is installed.
    """
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(r.name, frozenset(r.extras))
            for r in map(Requirement, pyproject()["project"]["dependencies"])]
    while todo:
        name, extras = todo.pop()
        key = canonical(name)
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            wanted = extras or frozenset({""})
            if marker is not None and not any(marker.evaluate({"extra": e}) for e in wanted):
                continue
            todo.append((requirement.name, frozenset(requirement.extras)))
    return {"yorisoi"} | {key for key, _ in seen}


def dockerfile_install_arguments() -> list[str]:
    """What the build stage passes to ``pip install`` (continuation lines joined)."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    (line,) = [part for part in re.split(r"&&|\n", text) if "/bin/pip install" in part]
    return line.split("/bin/pip install", 1)[1].split()


def test_the_dockerfile_installs_the_project_without_any_extra():
    arguments = dockerfile_install_arguments()
    targets = [a for a in arguments if not a.startswith("-")]
    assert targets == ["/src"], arguments  # the project itself: no "[test]", no "-e"
    assert "--no-compile" in arguments


def test_the_runtime_closure_holds_no_test_tool():
    closure = runtime_closure()
    assert "eventsourcing" in closure and "psycopg" in closure  # the walk reaches them
    assert not closure & TEST_TOOLS
    # The test extra exists and is where the tools are (make test installs it).
    extra = {canonical(Requirement(r).name)
             for r in pyproject()["project"]["optional-dependencies"]["test"]}
    assert TEST_TOOLS <= extra


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _link_distributions(names: set[str], source: Path, target: Path) -> None:
    """Link the files of ``names`` from ``source`` into ``target`` (whole folders when
    no other installed distribution shares them: namespace packages are linked per file)."""
    owners: dict[str, set[str]] = {}
    files: dict[str, list[str]] = {}
    for dist in metadata.distributions(path=[str(source)]):
        key = canonical(dist.metadata["Name"])
        for entry in dist.files or []:
            parts = Path(entry).parts
            if not parts or parts[0] == "..":  # scripts in bin/: not needed to import
                continue
            owners.setdefault(parts[0], set()).add(key)
            if key in names:
                files.setdefault(parts[0], []).append(str(entry))
    for top, entries in files.items():
        if len(owners[top]) == 1 or not (source / top).is_dir():
            (target / top).symlink_to(source / top)
            continue
        for entry in entries:  # shared (namespace) folder: only this closure's files
            link = target / entry
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(source / entry)


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("image") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    closure = runtime_closure()
    _link_distributions(closure, _site_packages(Path(sys.executable)), _site_packages(python))
    return python


@pytest.mark.slow
def test_pip_check_finds_every_runtime_requirement_met(runtime_venv):
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(runtime_venv),
                             "check"], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = subprocess.run([sys.executable, "-m", "pip", "--python", str(runtime_venv),
                             "list", "--format=freeze"], capture_output=True, text=True,
                            check=True, timeout=300).stdout
    installed = {canonical(line.split("==")[0]) for line in listed.split()}
    assert "yorisoi" in installed
    assert not installed & TEST_TOOLS, installed & TEST_TOOLS


START = r"""
import sys
sys.argv = ["yorisoi", "--help"]
from yorisoi.infra.cli import main
try:
    main()
except SystemExit as exit:
    assert not exit.code, exit.code
# What the container runs: the web app (API and console), the worker, the CLI's platform.
from yorisoi.infra.http.app import create_app
import yorisoi.infra.worker, yorisoi.infra.wiring.bootstrap, yorisoi.infra.console
from yorisoi.infra.settings import Settings
app = create_app(Settings())  # the environment's: SQLite under YORISOI_DATA_DIR
print("routes", len(app.routes))
"""


@pytest.mark.slow
def test_yorisoi_starts_in_the_runtime_only_virtualenv(runtime_venv, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YORISOI_", "PYTHON"))}
    env.update(YORISOI_DATA_DIR=str(tmp_path), YORISOI_BACKEND="sqlite")
    result = subprocess.run([str(runtime_venv), "-c", START], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Usage: yorisoi" in result.stdout
    assert "routes" in result.stdout
