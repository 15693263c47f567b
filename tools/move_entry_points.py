#!/usr/bin/env python3
"""Move infra/'s entry points into sub-packages of their own (issue 18 item 9).

``infra/*.py`` are adapters (database, recorders, keys, storage, identity,
signing); every folder under ``infra/`` is an entry point or the wiring that
builds them: ``http/`` (the API app, its middleware and routes, the vendored
static files), ``cli/``, ``worker/``, ``demo/``, ``console/`` (already one) and
``wiring/`` (the composition root).  docs/decisions/ holds the decision.

Two steps:

(a) the ``git mv`` of every moved file (and pyproject's package lists), once;
(b) the rewrite of every old module path (``yorisoi.infra.app``,
    ``from yorisoi.infra import rest``) and file path (``infra/cli_audit.py``,
    ``infra/static/``) to its new one in the repository's text files.

(b) is idempotent and runs on its own, for files that gained an old path on
another branch meanwhile::

    python tools/move_entry_points.py                 # (a) then (b) over the repository
    python tools/move_entry_points.py --rewrite-only  # (b) over every tracked file
    python tools/move_entry_points.py --rewrite-only path/a.py docs/b.md
    python tools/move_entry_points.py --rewrite-only --check   # exit 1 if anything would change

Run from anywhere inside the repository; only the standard library is used.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

# Old file (under infra/) -> new file (under infra/).  A module that became a
# package's __init__ keeps its import path (yorisoi.infra.cli, .worker, .demo):
# the console script ``yorisoi.infra.cli:main`` and monkeypatch targets still hold.
FILES = {
    "app.py": "http/app.py",
    "asgi.py": "http/asgi.py",
    "middleware.py": "http/middleware.py",
    "rest.py": "http/rest.py",
    "request_bodies.py": "http/request_bodies.py",
    "readiness.py": "http/readiness.py",
    "public_directory.py": "http/public_directory.py",
    "offline_assets.py": "http/offline_assets.py",
    "staff_files.py": "http/staff_files.py",
    "cli.py": "cli/__init__.py",
    "cli_audit.py": "cli/audit.py",
    "cli_bundle.py": "cli/bundle.py",
    "cli_citus.py": "cli/citus.py",
    "cli_dsr.py": "cli/dsr.py",
    "cli_graphql.py": "cli/graphql.py",
    "cli_records.py": "cli/records.py",
    "cli_reports.py": "cli/reports.py",
    "cli_storage.py": "cli/storage.py",
    "reseal.py": "cli/reseal.py",
    "worker.py": "worker/__init__.py",
    "audit_chaining.py": "worker/audit_chaining.py",
    "demo.py": "demo/__init__.py",
    "bootstrap.py": "wiring/bootstrap.py",
}
FOLDERS = {"static": "http/static"}

# Names that moved between modules (module, name) -> new module: the service half of
# infra/checkpoints.py went to services/ so that the adapter imports no service.
NAMES = {
    ("yorisoi.infra.checkpoints", "ledger_sources"): "yorisoi.services.audit_verify",
}

NEW_PACKAGES = {
    "http": '"""The HTTP entry point: the API app (GraphQL, REST, health), its middleware and\n'
            'routes, and the vendored static files.  Mounts the staff console (infra/console/)."""\n',
    "wiring": '"""The composition root: real adapters wired to the services from settings, once\n'
              'per process (used by every entry point: http, console, cli, worker, demo)."""\n',
}


def _module(path: str) -> str:
    """infra/cli/__init__.py -> yorisoi.infra.cli; http/app.py -> yorisoi.infra.http.app"""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["yorisoi", "infra", *parts])


MODULES = {_module(old): _module(new) for old, new in FILES.items()
           if _module(old) != _module(new)}

_SUFFIXES = {".py", ".toml", ".md", ".yaml", ".yml", ".service", ".sh", ".cfg", ".ini"}
_NAMES = {"Makefile", "Dockerfile"}


def _rules() -> list[tuple[re.Pattern[str], Any]]:
    rules: list[tuple[re.Pattern[str], Any]] = []
    # Dotted module paths: imports, "yorisoi.infra.app:create_app", monkeypatch strings.
    # Not preceded by a word character or a dot, not followed by one of a longer name.
    for old, new in MODULES.items():
        rules.append((re.compile(r"(?<![\w.])" + re.escape(old) + r"(?!\w)"), new))
    # The short dotted form docs and bench labels use: ``infra.bootstrap``.
    for old, new in MODULES.items():
        short_old, short_new = old.removeprefix("yorisoi."), new.removeprefix("yorisoi.")
        rules.append((re.compile(r"(?<![\w.])" + re.escape(short_old) + r"(?!\w)"), short_new))
    # ``from yorisoi.infra import rest`` (one name) -> ``from yorisoi.infra.http import rest``;
    # a renamed module keeps its old name as an alias (cli_audit -> cli.audit as cli_audit).
    for old, new in MODULES.items():
        old_name = old.rsplit(".", 1)[1]
        new_pkg, new_name = new.rsplit(".", 1)

        def replace(match: re.Match[str], new_pkg: str = new_pkg, new_name: str = new_name,
                    old_name: str = old_name) -> str:
            alias = match.group("alias") or ("" if old_name == new_name else f" as {old_name}")
            return f"from {new_pkg} import {new_name}{alias}"

        rules.append((re.compile(r"\bfrom yorisoi\.infra import " + re.escape(old_name)
                                 + r"\b(?!\s*,)(?P<alias> as \w+)?"), replace))
    # File paths: infra/app.py, infra/cli_audit.py, infra/static/ (docs, comments, recipes).
    for old, new in FILES.items():
        rules.append((re.compile(r"(?<![\w.])infra/" + re.escape(old) + r"(?!\w)"),
                      "infra/" + new))
        # ROOT / "infra" / "demo.py" (tests reading a source file)
        quoted = " / ".join(f'"{part}"' for part in new.split("/"))
        rules.append((re.compile(r'"infra" / "' + re.escape(old) + '"'),
                      '"infra" / ' + quoted))
    for old, new in FOLDERS.items():
        rules.append((re.compile(r"(?<![\w.])infra/" + re.escape(old) + r"(?![\w.-])"),
                      "infra/" + new))
        quoted = " / ".join(f'"{part}"' for part in new.split("/"))
        rules.append((re.compile(r'"infra" / "' + re.escape(old) + '"'), '"infra" / ' + quoted))
    return rules


RULES = _rules()


def _move_names(text: str) -> str:
    """``from old import a, moved`` -> ``from old import a`` + ``from new import moved``
    (one line or parenthesised; the indentation kept), and dotted ``old.moved`` paths."""
    for (old, name), new in NAMES.items():
        pattern = re.compile(r"^(?P<indent>[ \t]*)from " + re.escape(old)
                             + r" import (?:\((?P<group>[^)]*)\)|(?P<line>[^\n(]*))$",
                             re.MULTILINE)

        def split(match: re.Match[str], old: str = old, name: str = name,
                  new: str = new) -> str:
            listed = match.group("group") if match.group("group") is not None \
                else match.group("line")
            names = [n.strip() for n in listed.replace("\n", ",").split(",") if n.strip()]
            moved = [n for n in names if n.split(" as ")[0].strip() == name]
            if not moved:
                return match.group(0)
            kept = [n for n in names if n not in moved]
            indent = match.group("indent")
            lines = []
            if kept:
                joined = ", ".join(kept)
                if len(indent) + len(f"from {old} import {joined}") <= 100:
                    lines.append(f"{indent}from {old} import {joined}")
                else:
                    inner = "".join(f"{indent}    {n},\n" for n in kept)
                    lines.append(f"{indent}from {old} import (\n{inner}{indent})")
            lines.append(f"{indent}from {new} import {', '.join(moved)}")
            return "\n".join(lines)

        text = pattern.sub(split, text)
        for dotted_old, dotted_new in ((old, new), (old.removeprefix("yorisoi."),
                                                    new.removeprefix("yorisoi."))):
            text = re.sub(r"(?<![\w.])" + re.escape(f"{dotted_old}.{name}") + r"(?!\w)",
                          f"{dotted_new}.{name}", text)
        slash_old = old.removeprefix("yorisoi.").replace(".", "/")
        slash_new = new.removeprefix("yorisoi.").replace(".", "/")
        text = re.sub(r"(?<![\w.])" + re.escape(f"{slash_old}.{name}") + r"(?!\w)",
                      f"{slash_new}.{name}", text)
    return text
_MULTI = re.compile(r"from yorisoi\.infra import \(?[^\n]*\b("
                    + "|".join(re.escape(m.rsplit(".", 1)[1]) for m in MODULES) + r")\b[^\n]*,")


# Plain substrings one of which any old path contains: a file with none is left alone
# (the rules are many; most files name no old path).
NEEDLES = (
    {old.removeprefix("yorisoi.") for old in MODULES}
    | {f"infra/{old}" for old in [*FILES, *FOLDERS]}
    | {f'"{old}"' for old in [*FILES, *FOLDERS]}
    | {"from yorisoi.infra import"}
    | {name for _, name in NAMES}
)


def rewrite_text(text: str) -> str:
    if not any(needle in text for needle in NEEDLES):
        return text
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return _move_names(text)


def sort_yorisoi_imports(text: str) -> str:
    """Re-sort each run of consecutive top-level ``from yorisoi... import`` statements by
    module (as isort does), since a rewritten module path may change its place."""
    import ast

    try:
        body = ast.parse(text).body
    except SyntaxError:
        return text
    lines = text.splitlines(keepends=True)
    runs: list[list[ast.ImportFrom]] = []
    for node in body:
        mine = isinstance(node, ast.ImportFrom) and node.level == 0 \
            and (node.module or "").startswith("yorisoi.")
        previous = runs[-1][-1] if runs and runs[-1] else None
        if mine and previous is not None and node.lineno == previous.end_lineno + 1:
            runs[-1].append(node)
        elif mine:
            runs.append([node])
        elif runs and runs[-1]:
            runs.append([])
    for run in reversed([r for r in runs if len(r) > 1]):
        start, end = run[0].lineno - 1, run[-1].end_lineno
        chunks = ["".join(lines[n.lineno - 1:n.end_lineno]) for n in run]
        ordered = [c for _, c in sorted(zip([n.module for n in run], chunks),
                                         key=lambda pair: pair[0])]
        lines[start:end] = _merged(ordered)
    return "".join(lines)


def _merged(chunks: list[str]) -> list[str]:
    """Two one-line imports from the same module become one (isort's order of names)."""
    def order(name: str) -> tuple[int, str]:
        bare = name.split(" as ")[0]
        return (0 if bare.isupper() else 1 if bare[:1].isupper() else 2, bare)

    out: list[str] = []
    for chunk in chunks:
        previous = out[-1] if out else ""
        head, _, names = chunk.rstrip("\n").partition(" import ")
        p_head, _, p_names = previous.rstrip("\n").partition(" import ")
        if previous and head == p_head and "(" not in names + p_names \
                and "\n" not in previous.rstrip("\n") and "\n" not in chunk.rstrip("\n"):
            joined = sorted({n.strip() for n in (p_names + "," + names).split(",")}, key=order)
            line = f"{head} import {', '.join(joined)}"
            if len(line) <= 100:
                out[-1] = line + "\n"
                continue
        out.append(chunk)
    return out


def _root() -> Path:
    out = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                         text=True, check=True)
    return Path(out.stdout.strip())


def _eligible(path: Path) -> bool:
    return path.suffix in _SUFFIXES or path.name in _NAMES or path.name.startswith("Dockerfile")


def tracked_files(root: Path) -> list[Path]:
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True,
                         check=True)
    return [root / name for name in out.stdout.decode().split("\0") if name]


def rewrite(paths: list[Path], *, check: bool = False) -> list[Path]:
    """Rewrite old paths in the eligible files among ``paths``; the files that changed."""
    changed = []
    for path in paths:
        if not _eligible(path) or not path.is_file() or path.name == Path(__file__).name:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = rewrite_text(text)
        if new != text and path.suffix == ".py":
            new = sort_yorisoi_imports(new)
        for match in _MULTI.finditer(new):
            print(f"{path}: rewrite by hand: {match.group(0)}", file=sys.stderr)
        if new != text:
            changed.append(path)
            if not check:
                path.write_text(new, encoding="utf-8")
    return changed


def _pyproject(root: Path) -> None:
    path = root / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    if '"yorisoi.infra.http"' not in text:
        text = text.replace('    "yorisoi.infra.console",\n',
                            '    "yorisoi.infra.console",\n'
                            + "".join(f'    "yorisoi.infra.{p}",\n'
                                      for p in ("http", "cli", "worker", "demo", "wiring")))
    text = text.replace('"yorisoi.infra" = ["static/*/*"]', '"yorisoi.infra.http" = ["static/*/*"]')
    path.write_text(text, encoding="utf-8")


def move(root: Path) -> None:
    infra = root / "infra"
    for folder, doc in NEW_PACKAGES.items():
        init = infra / folder / "__init__.py"
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(doc, encoding="utf-8")
            subprocess.run(["git", "-C", str(root), "add", str(init)], check=True)
    for old, new in [*FILES.items(), *FOLDERS.items()]:
        source, target = infra / old, infra / new
        if not source.exists():
            continue  # moved already
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(root), "mv", str(source), str(target)], check=True)
    _pyproject(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rewrite-only", action="store_true",
                        help="only step (b): rewrite old paths (no git mv)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 when a file still names an old path")
    parser.add_argument("paths", nargs="*", type=Path,
                        help="files to rewrite (default: every file git tracks)")
    args = parser.parse_args(argv)
    root = _root()
    if not args.rewrite_only and not args.check:
        move(root)
    paths = [p.resolve() for p in args.paths] if args.paths else tracked_files(root)
    changed = rewrite(paths, check=args.check)
    for path in changed:
        print(("would rewrite " if args.check else "rewrote ") + str(path.relative_to(root)))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
