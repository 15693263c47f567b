"""The house stays arranged by role: every import points the way the folders say.

- ``domain/`` imports no other layer of yorisoi.
- ``infra/*.py`` (top level) are adapters: database, recorders, keys, storage,
  identity, signing, telemetry.  They import no services, projections, tenants or
  graphql, and no entry point.
- Every folder under ``infra/`` is an entry point (``http``, ``console``, ``cli``,
  ``worker``, ``demo``) or the wiring that builds one; ``services``,
  ``projections``, ``tenants`` and ``graphql`` import none of them.

Read from the source with ``ast`` (no import, no database); imports inside
functions count as much as those at the top.  docs/decisions/house-by-role.md
says why.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("domain", "services", "projections", "tenants", "graphql", "infra")
ENTRY_POINTS = tuple(sorted(p.name for p in (ROOT / "infra").iterdir()
                            if p.is_dir() and (p / "__init__.py").exists()))
ABOVE_ADAPTERS = ("services", "projections", "tenants", "graphql")


def yorisoi_imports(path: Path) -> set[str]:
    """Every ``yorisoi.*`` module a file imports (``from yorisoi.x import y`` gives
    ``yorisoi.x.y`` when y is a module of the repository, else ``yorisoi.x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("yorisoi."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and (node.module == "yorisoi" or node.module.startswith("yorisoi.")):
            for alias in node.names:
                module = f"{node.module}.{alias.name}"
                found.add(module if _path_of(module) else node.module)
    return found


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def entry_point(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) > 2 and parts[1] == "infra" and parts[2] in ENTRY_POINTS:
        return parts[2]
    return None


def violations(paths: list[Path], forbidden) -> list[str]:
    found = []
    for path in paths:
        for imported in sorted(yorisoi_imports(path)):
            why = forbidden(imported)
            if why:
                found.append(f"{path.relative_to(ROOT)}: {imported} ({why})")
    return found


def test_the_entry_points_are_found() -> None:
    # The rule reads from the folders: a folder that stops being a package must not
    # silently drop out of it.
    assert {"http", "console", "cli", "worker", "demo", "wiring"} <= set(ENTRY_POINTS)


def test_the_domain_imports_no_other_layer() -> None:
    def forbidden(module: str) -> str | None:
        return None if layer(module) in (None, "domain") else "the domain stands alone"

    assert violations(sources("domain"), forbidden) == []


def test_adapters_import_no_layer_above_them_and_no_entry_point() -> None:
    adapters = sorted((ROOT / "infra").glob("*.py"))
    assert len(adapters) > 20  # the glob found them

    def forbidden(module: str) -> str | None:
        if layer(module) in ABOVE_ADAPTERS:
            return "an adapter serves the layers above it, it does not use them"
        if entry_point(module):
            return "an adapter is used by entry points, never the other way"
        return None

    assert violations(adapters, forbidden) == []


def test_no_layer_imports_an_entry_point() -> None:
    paths = [p for folder in ("domain", *ABOVE_ADAPTERS) for p in sources(folder)]

    def forbidden(module: str) -> str | None:
        return "entry points use the layers, not the other way" if entry_point(module) else None

    assert violations(paths, forbidden) == []


def test_no_file_names_a_module_or_file_by_its_old_path(tmp_path: Path) -> None:
    # Code naming an old module fails on import; a doc, a recipe or a monkeypatch string
    # would go stale quietly.  The fix: python tools/move_entry_points.py --rewrite-only
    spec = importlib.util.spec_from_file_location("move_entry_points",
                                                  ROOT / "tools" / "move_entry_points.py")
    move = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(move)
    stale = move.rewrite(move.tracked_files(ROOT), check=True)
    assert [str(p.relative_to(ROOT)) for p in stale] == []
    # ...and the check does see one.
    old = tmp_path / "old.md"
    # (spelt in pieces, so that this file names no old path itself)
    old.write_text("`infra/" + "cli_audit.py`, `yorisoi.infra." + "app:create_app`\n",
                   encoding="utf-8")
    assert move.rewrite([old], check=True) == [old]
    assert move.rewrite_text(old.read_text(encoding="utf-8")) == \
        "`infra/cli/audit.py`, `yorisoi.infra.http.app:create_app`\n"


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text("def f():\n    from yorisoi.infra.http import rest\n"
                      "    from yorisoi.infra.db import Database\n"
                      "    import yorisoi.infra.cli.audit\n", encoding="utf-8")
    assert yorisoi_imports(source) == {"yorisoi.infra.http.rest", "yorisoi.infra.db",
                                       "yorisoi.infra.cli.audit"}
    assert entry_point("yorisoi.infra.http.rest") == "http"
    assert entry_point("yorisoi.infra.db") is None


def _path_of(module: str) -> Path | None:
    """The repository file of a yorisoi module (relative to ROOT), None if it is not one."""
    relative = Path(*module.split(".")[1:])
    for candidate in (relative.with_suffix(".py"), relative / "__init__.py"):
        if (ROOT / candidate).is_file():
            return candidate
    return None
