"""The CLI starts fast: help and argument errors import none of the platform's heavy parts.

Checked through ``sys.modules`` in a fresh interpreter rather than by timing
(the machine is shared and loaded): a command's heavy imports belong inside
the command (infra/cli/__init__.py's docstring).  Startup time before and after is in
docs/benchmarks.md ("CLI start-up").
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# What `yorisoi --help` must not load: the web stack, the database drivers, the event
# store, object storage, the analyser, the crypto and telemetry SDKs, settings.  (pydantic
# itself is typer's own: it reads option types with it.)
HEAVY = ("fastapi", "starlette", "uvicorn", "strawberry", "graphql", "psycopg",
         "psycopg_pool", "eventsourcing", "boto3", "botocore", "sudachipy", "jinja2",
         "cryptography", "jwt", "opentelemetry", "pydantic_settings", "httpx",
         "holidays", "yorisoi.infra.wiring.bootstrap", "yorisoi.infra.settings",
         "yorisoi.services", "yorisoi.tenants", "yorisoi.projections", "yorisoi.domain")

PROBE = r"""
import json, sys
from yorisoi.infra.cli import app
try:
    app(sys.argv[1:], prog_name="yorisoi")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded_by(*args: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                            text=True, timeout=120, check=False)
    modules = json.loads(result.stderr.strip().splitlines()[-1])
    return {m for m in modules for h in HEAVY if m == h or m.startswith(h + ".")}


def sub_apps() -> list[str]:
    from yorisoi.infra.cli import app

    return sorted(group.name for group in app.registered_groups)


@pytest.mark.parametrize("args", [["--help"], *([name, "--help"] for name in sub_apps()),
                                  ["tenant", "upgrade", "--help"],
                                  ["audit", "verify", "--help"],
                                  ["disposal", "due", "--help"]],
                         ids=lambda args: " ".join(args))
def test_help_imports_nothing_heavy(args):
    assert loaded_by(*args) == set()


def test_a_heavy_module_at_the_top_would_be_caught(tmp_path):
    """The probe can fail: a command that runs loads what it needs (here the schema)."""
    assert "strawberry" in loaded_by("graphql", "sdl", "--check", "--output",
                                     str(tmp_path / "absent.graphql"))


def test_every_sub_app_is_registered_once():
    names = sub_apps()
    assert len(names) == len(set(names))
    assert {"audit", "disposal", "graphql", "platform", "projections", "records", "storage",
            "tenant"} <= set(names)


def test_the_default_grace_written_out_matches_the_verifier():
    from yorisoi.infra.cli.audit import UNCHAINED_GRACE_SECONDS
    from yorisoi.services.audit_verify import UNCHAINED_GRACE

    assert UNCHAINED_GRACE_SECONDS == UNCHAINED_GRACE.total_seconds()
