"""The CLI as an operator scripts it: resumable upgrades, results on stdout, refusals on stderr.

On the embedded default (SQLite, local store, development issuer): one data
directory for the module, the demo loaded once (千代田区) and a second
municipality (中央区) provisioned, so an upgrade has more than one space.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from yorisoi.infra import cli
from yorisoi.infra.settings import get_settings

CHIYODA, CHUO = "131016", "131024"


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YORISOI_DATA_DIR", str(tmp_path_factory.mktemp("cli-operator")))
        patch.setenv("YORISOI_BACKEND", "sqlite")
        get_settings.cache_clear()
        runner = CliRunner()
        for args in (["platform", "init"], ["demo"],
                     ["tenant", "provision-municipality", CHUO, "中央区", "東京都"]):
            result = runner.invoke(cli.app, args, catch_exceptions=False)
            assert result.exit_code == 0, result.output
        yield runner
    get_settings.cache_clear()


def run(runner: CliRunner, *args: str, code: int = 0):
    result = runner.invoke(cli.app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def test_an_upgrade_skips_the_spaces_already_done_and_force_redoes_them(runner):
    run(runner, "tenant", "upgrade", "--force")
    again = run(runner, "tenant", "upgrade")
    assert "2 municipalities up to date (0 upgraded now, 2 already)" in again.stdout
    assert "0 to upgrade" in again.stderr  # the plan is a diagnostic, not the result
    forced = run(runner, "tenant", "upgrade", "--force", "--tenant", CHUO)
    assert "1 municipalities up to date (1 upgraded now, 0 already)" in forced.stdout


def test_an_interrupted_upgrade_goes_on_with_the_spaces_not_done(runner, monkeypatch):
    """A space that fails stays due (exit 1); the re-run upgrades only that one."""
    from yorisoi.tenants import directory, upgrades

    monkeypatch.setattr(upgrades, "space_fingerprint", lambda dialect: "a-newer-release")
    real = directory.TenantDirectory.upgrade_space

    def fails_for_chuo(self, code: str) -> None:
        if code == CHUO:
            raise OSError("the database went away")
        real(self, code)

    monkeypatch.setattr(directory.TenantDirectory, "upgrade_space", fails_for_chuo)
    failed = run(runner, "tenant", "upgrade", code=1)
    assert "1 upgraded, 0 already up to date, 1 failed" in failed.stdout
    assert f"{CHUO}: failed (OSError)" in failed.stderr
    assert "went away" not in failed.output  # a driver's text may quote data
    monkeypatch.setattr(directory.TenantDirectory, "upgrade_space", real)
    resumed = run(runner, "tenant", "upgrade")
    assert "2 municipalities up to date (1 upgraded now, 1 already)" in resumed.stdout


def test_the_audit_verdict_goes_to_stdout_and_json_alone_under_as_json(runner):
    human = run(runner, "audit", "verify", "--tenant", CHIYODA)
    assert "the audit ledger verifies" in human.stdout
    assert "the audit ledger verifies" not in human.stderr
    machine = run(runner, "audit", "verify", "--tenant", CHIYODA, "--as-json")
    import json

    assert json.loads(machine.stdout)["ok"] is True
    assert "the audit ledger verifies" in machine.stderr


def test_refusals_go_to_stderr_with_exit_code_2(runner):
    unknown = run(runner, "records", "requests", "--municipality", "011002", code=2)
    assert unknown.stdout == ""
    assert "その自治体は登録されていません" in unknown.stderr
    bad_day = run(runner, "tenant", "resume-contract", "c-2026-001", "--resumed-on",
                  "令和8年13月1日", code=2)
    assert bad_day.stdout == ""
    assert "--resumed-on" in bad_day.stderr and "日付を読み取れません" in bad_day.stderr


def test_contract_days_read_as_people_type_them(runner):
    run(runner, "tenant", "suspend-contract", "c-2026-001", "audit_finding",
        "--suspended-on", "令和８年４月１日")
    resumed = run(runner, "tenant", "resume-contract", "c-2026-001", "--resumed-on", "R8.4.2")
    assert "contract c-2026-001 resumed" in resumed.stdout
