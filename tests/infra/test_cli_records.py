"""``yorisoi disposal`` on the embedded default: list, propose, approve, run, export, verify."""

from __future__ import annotations

import json
from datetime import date, timedelta
from uuid import UUID

import pytest
from typer.testing import CliRunner

from yorisoi.domain.households import Child, Guardian
from yorisoi.domain.retention import RECORD_CLASSES
from yorisoi.infra import cli
from yorisoi.infra.clock import japan_today
from yorisoi.infra.demo import DIRECT_SITE
from yorisoi.infra.settings import get_settings
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as

CITY = "131016"
GUARDIAN = "廃棄CLI 花子"


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    monkeypatch.delenv("YORISOI_TOKEN", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def invoke(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(cli.app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def city(runner):
    """The demo municipality, a schedule (two-person rule) and one household due for disposal."""
    from yorisoi.infra.wiring.bootstrap import Services

    invoke(runner, "platform", "init")
    invoke(runner, "demo")
    services = Services(get_settings())
    officer = ActingContext(user_id="a-chief", role="municipal_admin",
                            organisation_kind="municipality", organisation_id=CITY,
                            site_id=None)
    try:
        with services.runtimes.lease(CITY) as rt, acting_as(officer):
            recorded = rt.casework.record_consultation(RecordConsultation(
                municipality_code=CITY, site_id=DIRECT_SITE, contract_id=None,
                occurred_on=date(2018, 5, 1), channel="phone", themes=["development"],
                asked="ことばが心配", wishes="相談先", direction="案内",
                household=NewHousehold(guardians=[Guardian(GUARDIAN, "母")],
                                       children=[Child("廃棄CLI たろう", date(2017, 5, 1))],
                                       pregnancy=None),
                consent=NewConsent(GUARDIAN, "母", date(2018, 5, 1), "相談記録の作成")))
            rt.casework.close_case(recorded.case_id, closed_on=date(2019, 6, 1),
                                   reason="support_completed", expected_version=None,
                                   writable_contract_ids=None)
            rt.casework.set_retention_schedule(
                effective_from=japan_today(), two_person_approval=True,
                years={name: 3 for name in RECORD_CLASSES})
        assert services.dev_issuer is not None
        tokens = {who: services.dev_issuer.mint("municipality", CITY, who,
                                                roles=["municipal_supervisor"], sites=[])
                  for who in ("a-proposer", "a-approver")}
        tokens["specialist"] = services.dev_issuer.mint("municipality", CITY, "a-spec",
                                                        roles=["specialist"], sites=[])
    finally:
        services.close()
    return str(recorded.household_id), tokens


def test_a_disposal_from_the_command_line_end_to_end(runner, city, tmp_path):
    household_id, tokens = city
    due = json.loads(invoke(runner, "disposal", "due", "--as-json",
                            "--token", tokens["a-proposer"]))
    # (The demo has a family of its own due for disposal too: ours is looked up.)
    (ours,) = [h for h in due["households"] if h["householdId"] == household_id]
    assert ours["dueOn"] == "2023-04-01"

    out = invoke(runner, "disposal", "propose", household_id, "--token", tokens["a-proposer"])
    batch_id = out.split("proposed batch ", 1)[1].split()[0]
    UUID(batch_id)
    # The proposer may not approve: the schedule asks for a second person.
    refused = invoke(runner, "disposal", "approve", batch_id, "--token", tokens["a-proposer"],
                     code=2)
    assert "起案者以外" in refused
    # Running an unapproved batch is refused, and a specialist may do none of it.
    invoke(runner, "disposal", "run", batch_id, "--token", tokens["a-proposer"], code=2)
    assert "権限" in invoke(runner, "disposal", "due", "--token", tokens["specialist"], code=2)
    invoke(runner, "disposal", "approve", batch_id, "--token", tokens["a-approver"])

    out = invoke(runner, "disposal", "run", batch_id, "--token", tokens["a-approver"])
    assert "1 disposed" in out and "証明書を発行" in out
    assert household_id not in [h["householdId"] for h in json.loads(invoke(
        runner, "disposal", "due", "--as-json", "--token", tokens["a-proposer"]))["households"]]

    certificate, document = tmp_path / "certificate.json", tmp_path / "certificate.md"
    invoke(runner, "disposal", "certificate", batch_id, "--out", str(certificate),
           "--markdown", str(document), "--token", tokens["a-proposer"])
    text = document.read_text(encoding="utf-8")
    assert "廃棄証明書" in text and "令和" in text and household_id in text
    assert GUARDIAN not in text and GUARDIAN not in certificate.read_text(encoding="utf-8")

    pem = tmp_path / "platform.pem"
    pem.write_text(invoke(runner, "disposal", "public-key"))
    assert "VALID" in invoke(runner, "disposal", "verify-certificate", str(certificate),
                             "--public-key", str(pem))
    assert "VALID" in invoke(runner, "disposal", "verify-certificate", str(certificate))
    data = certificate.read_bytes()
    altered = tmp_path / "altered.json"
    altered.write_bytes(data.replace(b'"households":1', b'"households":2'))
    assert altered.read_bytes() != data
    out = invoke(runner, "disposal", "verify-certificate", str(certificate), str(altered),
                 "--public-key", str(pem), code=1)
    assert out.count("INVALID") == 1 and out.count("VALID") == 2  # one good, one altered


def test_an_invalid_token_is_refused_without_touching_anything(runner, city):
    invoke(runner, "disposal", "due", "--token", "not-a-token", code=2)


def test_the_day_to_evaluate_is_read_as_people_write_it(runner, city):
    household_id, tokens = city
    from yorisoi.domain.japanese_dates import wareki

    later = japan_today() + timedelta(days=30)  # after the schedule took effect (today)
    slashed = f"{later.year}/{later.month}/{later.day}"
    for typed in (later.isoformat(), wareki(later), slashed,
                  slashed.translate(str.maketrans("0123456789", "０１２３４５６７８９"))):
        due = json.loads(invoke(runner, "disposal", "due", "--on", typed, "--as-json",
                                "--token", tokens["a-proposer"]))
        assert household_id in [h["householdId"] for h in due["households"]], typed
    assert "日付を読み取れません" in invoke(runner, "disposal", "due", "--on", "someday",
                                          "--token", tokens["a-proposer"], code=2)
