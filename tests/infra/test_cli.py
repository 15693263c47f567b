"""The yorisoi command on the embedded default (SQLite, local store, dev issuer)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from yorisoi.infra import cli
from yorisoi.infra.settings import get_settings


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def invoke(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli.app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_data_worker_status_and_rebuild_agree(runner):
    invoke(runner, "platform", "init")
    assert "demo data loaded" in invoke(runner, "demo")
    assert "already present" in invoke(runner, "demo")
    invoke(runner, "worker", "--once")
    status = json.loads(invoke(runner, "projections", "status", "--as-json"))
    from yorisoi.projections.tenant_views import TENANT_VIEWS

    assert {row["view"] for row in status} == {view.name for view in TENANT_VIEWS}
    head = status[0]["head"]
    assert head > 0
    assert all(row == {"tenant": "131016", "view": row["view"], "position": head,
                       "head": head, "lag": 0} for row in status), status
    out = invoke(runner, "projections", "rebuild", "--tenant", "131016")
    assert f"131016: {head} events" in out


def test_dev_token_verifies_as_its_tenant(runner):
    invoke(runner, "platform", "init")
    invoke(runner, "demo")
    token = invoke(runner, "dev-token", "someone", "--tenant-kind", "municipality",
                   "--tenant-id", "131016", "--role", "municipal_supervisor").strip()
    from yorisoi.infra.wiring.bootstrap import Services

    services = Services(get_settings())
    try:
        verified = services.verifier.verify(token)
    finally:
        services.close()
    assert (verified.tenant_kind, verified.tenant_id, verified.roles) == (
        "municipality", "131016", ("municipal_supervisor",))


def test_provisioning_a_municipality_with_a_bad_code_is_refused_cleanly(runner, tmp_path):
    invoke(runner, "platform", "init")
    result = runner.invoke(cli.app, ["tenant", "provision-municipality", "131017", "X", "Y"])
    assert result.exit_code == 2
    assert "全国地方公共団体コード" in result.output
    assert not (tmp_path / "sqlite" / "t_131017.sqlite").exists()


def test_upgrade_adds_tables_a_space_provisioned_earlier_lacks(runner, tmp_path):
    import sqlite3

    invoke(runner, "platform", "init")
    invoke(runner, "demo")
    (path,) = [p for p in (tmp_path / "sqlite").iterdir() if "131016" in p.name]

    def tables() -> set[str]:
        with sqlite3.connect(path) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master"
                                               " WHERE type = 'table'")}

    assert {"access_log", "break_glass_view"} <= tables()
    with sqlite3.connect(path) as conn:  # a space from before these tables existed
        conn.execute("DROP TABLE break_glass_view")
        conn.execute("DROP TABLE access_log")
    assert "access_log" not in tables()
    assert "1 municipalities up to date" in invoke(runner, "tenant", "upgrade")
    assert {"access_log", "break_glass_view"} <= tables()
    invoke(runner, "worker", "--once")  # the new view catches up from the start
