"""``yorisoi tenant export | import | restore | bundle-key`` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from yorisoi.infra import cli
from yorisoi.infra.cli.bundle import register
from yorisoi.infra.settings import get_settings

CITY = "131016"


@pytest.fixture
def runner(tmp_path, monkeypatch):
    register(cli.tenant_app)  # the one line infra/cli/__init__.py holds
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    monkeypatch.setenv("YORISOI_ENVIRONMENT", "test")
    yield CliRunner()
    get_settings.cache_clear()


def _at(monkeypatch: Any, data_dir: Path) -> None:
    monkeypatch.setenv("YORISOI_DATA_DIR", str(data_dir))
    get_settings.cache_clear()


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(cli.app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def test_export_import_restore_from_the_command_line(runner, tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    _at(monkeypatch, a)
    run(runner, "platform", "init")
    run(runner, "demo")
    out = run(runner, "tenant", "export", CITY, "--out", str(tmp_path / "city.bundle")).output
    assert "events" in out and "signed by platform key" in out
    assert (a / "keys" / "bundles" / "recipient.key").exists()  # this deployment's own key pair
    # The same deployment: the municipality exists, so the import is refused (exit 2).
    refused = run(runner, "tenant", "import", str(tmp_path / "city.bundle"), code=2)
    assert "already exists" in refused.output and "すでに存在" in refused.output
    # Another deployment, with the recipient's private key.
    _at(monkeypatch, b)
    run(runner, "platform", "init")
    identity = str(a / "keys" / "bundles" / "recipient.key")
    checked = run(runner, "tenant", "import", str(tmp_path / "city.bundle"), "--identity",
                  identity, "--check")
    assert "nothing written" in checked.output
    wrong_code = run(runner, "tenant", "import", str(tmp_path / "city.bundle"), "--identity",
                     identity, "--as", "141003", code=2)
    assert "市区町村コード" in wrong_code.output
    done = run(runner, "tenant", "import", str(tmp_path / "city.bundle"), "--identity", identity)
    assert f"municipality {CITY} imported" in done.output
    report = json.loads(run(runner, "audit", "verify", "--tenant", CITY, "--as-json").stdout)
    assert report["ok"] and report["custody"][0]["action"] == "import"
    # A restore from the same bundle: nothing later to supersede, recorded all the same.
    restored = run(runner, "tenant", "restore", CITY, "--from", str(tmp_path / "city.bundle"),
                   "--identity", identity)
    assert "supersedes 0 checkpoints" in restored.output
    assert json.loads(run(runner, "audit", "verify", "--tenant", CITY, "--as-json").stdout)["ok"]
    # A tampered bundle: exit 1, named in both languages.
    data = bytearray((tmp_path / "city.bundle").read_bytes())
    data[len(data) // 2] ^= 0x20
    (tmp_path / "tampered.bundle").write_bytes(bytes(data))
    _at(monkeypatch, tmp_path / "c")
    run(runner, "platform", "init")
    tampered = run(runner, "tenant", "import", str(tmp_path / "tampered.bundle"), "--identity",
                   identity, code=1)
    assert "改ざん" in tampered.output or "検証できません" in tampered.output


def test_bundle_key_and_usage_errors(runner, tmp_path, monkeypatch):
    _at(monkeypatch, tmp_path / "a")
    made = run(runner, "tenant", "bundle-key", "--out", str(tmp_path / "keys"))
    assert (tmp_path / "keys" / "bundle-recipient.key").stat().st_mode & 0o777 == 0o600
    assert "bundle-recipient.pub" in made.output
    run(runner, "tenant", "bundle-key", "--out", str(tmp_path / "keys"), code=2)
    run(runner, "platform", "init")
    run(runner, "tenant", "restore", CITY, code=2)  # neither --from nor --in-place
    run(runner, "tenant", "export", "999999", "--out", str(tmp_path / "x.bundle"), code=2)
