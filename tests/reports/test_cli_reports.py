"""``yorisoi reports issue / list / reproduce`` on the embedded default (the demo municipality)."""

from __future__ import annotations

import csv
import io
import re

from typer.testing import CliRunner

from yorisoi.infra import cli
from yorisoi.infra.clock import japan_today
from yorisoi.infra.settings import get_settings

CITY = "131016"


def invoke(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(cli.app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_issue_list_and_reproduce_from_the_command_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    monkeypatch.delenv("YORISOI_TOKEN", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        invoke(runner, "platform", "init")
        invoke(runner, "demo")
        from yorisoi.infra.wiring.bootstrap import Services

        services = Services(get_settings())
        try:
            boss = services.dev_issuer.mint("municipality", CITY, "a-chief",
                                            roles=["municipal_supervisor"], sites=[])
            specialist = services.dev_issuer.mint("municipality", CITY, "a-spec",
                                                  roles=["specialist"], sites=[])
        finally:
            services.close()
        today = japan_today()
        fy = str(today.year if today.month >= 4 else today.year - 1)
        out = invoke(runner, "reports", "issue", "--municipality", CITY, "--fiscal-year", fy,
                     "--out", str(tmp_path / "issued"), "--token", boss)
        assert "発行しました" in out and "年度" in out
        issued = (tmp_path / "issued" / f"{fy}-annual.csv").read_bytes()
        rows = list(csv.reader(io.StringIO(issued.decode("utf-8-sig"), newline="")))
        assert rows[0] == ["利用者支援事業 実施状況報告（年度）"]
        assert (tmp_path / "issued" / f"{fy}-annual.xlsx").stat().st_size > 0

        report_id = re.search(r"issued ([0-9a-f-]{36})", out).group(1)
        listed = invoke(runner, "reports", "list", "--municipality", CITY, "--token", boss)
        assert "annual" in listed and "年度" in listed
        invoke(runner, "reports", "reproduce", report_id, "--municipality", CITY,
               "--out", str(tmp_path / "again"), "--token", boss)
        again = next((tmp_path / "again").glob("*.csv")).read_bytes()
        assert again == issued

        refused = invoke(runner, "reports", "issue", "--municipality", CITY, "--fiscal-year",
                         fy, "--token", specialist, code=2)
        assert "role_not_permitted" in refused
        unknown = invoke(runner, "reports", "issue", "--municipality", CITY, "--fiscal-year",
                         fy, "--form", "nonexistent", "--token", boss, code=2)
        assert "report_form_unknown" in unknown
    finally:
        get_settings.cache_clear()
