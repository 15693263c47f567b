"""Suspending, resuming and ending a contract from the yorisoi command (operator commands)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from yorisoi.infra import cli
from yorisoi.infra.demo import CONTRACT
from yorisoi.infra.settings import get_settings
from yorisoi.infra.wiring.bootstrap import Services


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def invoke(runner: CliRunner, *args: str, exit_code: int = 0) -> str:
    result = runner.invoke(cli.app, list(args), catch_exceptions=False)
    assert result.exit_code == exit_code, result.output
    return result.output


def status(contract_id: str) -> str:
    services = Services(get_settings())
    try:
        record = services.directory.registry.contract(contract_id)
        assert record is not None
        return record.status
    finally:
        services.close()


def test_suspend_resume_and_end_a_contract(runner):
    invoke(runner, "platform", "init")
    invoke(runner, "demo")

    assert "suspended" in invoke(runner, "tenant", "suspend-contract", CONTRACT, "audit_finding")
    assert status(CONTRACT) == "suspended"
    # A second suspension is refused, bilingually, with exit code 2.
    out = invoke(runner, "tenant", "suspend-contract", CONTRACT, "audit_finding", exit_code=2)
    assert "停止できるのは" in out

    assert "resumed" in invoke(runner, "tenant", "resume-contract", CONTRACT)
    assert status(CONTRACT) == "active"
    out = invoke(runner, "tenant", "resume-contract", CONTRACT, exit_code=2)
    assert "停止されていません" in out

    # Reasons are codes, never free text.
    out = invoke(runner, "tenant", "suspend-contract", CONTRACT, "問題あり", exit_code=2)
    assert "所定のコード" in out
    assert status(CONTRACT) == "active"

    assert "ended" in invoke(runner, "tenant", "end-contract", CONTRACT, "other")
    assert status(CONTRACT) == "ended"
