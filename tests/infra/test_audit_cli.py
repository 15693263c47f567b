"""``yorisoi audit verify | checkpoint | export``: online and offline give the same answer."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from audit_world import ASKED, CHILD, CITY_A, GUARDIAN, attacker, ledger, log_reads, record
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner
from world import build_world

from yorisoi.infra import cli
from yorisoi.infra.settings import get_settings
from yorisoi.infra.signing import PlatformSigner, canonical_json
from yorisoi.infra.wiring.bootstrap import Services


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(cli.app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def report(runner: CliRunner, *args: str, code: int = 0) -> dict[str, Any]:
    return json.loads(run(runner, "audit", "verify", *args, "--as-json", code=code).stdout)


@pytest.fixture
def recorded(runner):
    """The embedded default with a few events and reads chained by the worker."""
    run(runner, "platform", "init")
    world = build_world(get_settings())
    try:
        with world.services.runtimes.lease(CITY_A) as rt:
            record(rt, 2)
            log_reads(rt, 3)
    finally:
        world.services.close()
    run(runner, "worker", "--once")  # chains and writes the first checkpoint
    return runner


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))


def test_verify_checkpoint_export_and_offline_verify_agree(recorded, tmp_path):
    online = report(recorded, "--tenant", CITY_A)
    assert online["ok"] and online["checkpoints_verified"] == 1
    services = Services(get_settings())
    try:
        with services.runtimes.lease(CITY_A) as rt:
            log_reads(rt, 2)  # read after the worker's pass: not chained yet
            heads = len(ledger(rt))
    finally:
        services.close()
    out = run(recorded, "audit", "checkpoint", "--tenant", CITY_A).output
    assert f"checkpoint of entry {heads + 2}" in out
    online = report(recorded, "--tenant", CITY_A)
    assert (online["covered_to"], online["checkpoints_verified"]) == (heads + 2, 2)

    export = tmp_path / "ledger.jsonl"
    assert f"{heads + 2} entries written" in run(
        recorded, "audit", "export", "--tenant", CITY_A, "--out", str(export)).output
    assert oct(export.stat().st_mode & 0o777) == oct(0o600)
    offline = report(recorded, "--export", str(export))
    assert offline == online


def test_the_export_holds_ciphertext_never_personal_values(recorded, tmp_path):
    export = tmp_path / "ledger.jsonl"
    run(recorded, "audit", "export", "--tenant", CITY_A, "--out", str(export))
    blobs = [export.read_bytes()] + [base64.b64decode(line["sourceBytes"])
                                     for line in _lines(export)
                                     if line["type"] == "entry" and line["sourceBytes"]]
    states = [base64.b64decode(json.loads(b)["state"]) for b in blobs[1:] if b"state" in b]
    assert len(blobs) > 1 and states  # else only the file as a whole is searched
    for blob in blobs + states:
        for secret in (GUARDIAN, CHILD, ASKED):
            for form in (secret.encode(), json.dumps(secret).strip('"').encode()):
                assert form not in blob


@pytest.mark.parametrize("alteration", ["source_byte", "entry_hash", "entry_dropped",
                                        "cut_short", "checkpoint_byte"])
def test_an_altered_export_fails_and_names_the_place(alteration, recorded, tmp_path):
    export = tmp_path / "ledger.jsonl"
    run(recorded, "audit", "export", "--tenant", CITY_A, "--out", str(export))
    lines = _lines(export)
    # The municipality's own section (its registry entries come first in the file).
    own = lines[next(i for i, line in enumerate(lines)
                     if line["type"] == "header" and "concerning" not in line):]
    entries = [line for line in own if line["type"] == "entry"]
    target = entries[3]
    if alteration == "source_byte":
        data = bytearray(base64.b64decode(target["sourceBytes"]))
        data[len(data) // 2] ^= 1
        target["sourceBytes"] = base64.b64encode(bytes(data)).decode()
    elif alteration == "entry_hash":
        target["entryHash"] = ("0" if target["entryHash"][0] != "0" else "1") + \
            target["entryHash"][1:]
    elif alteration == "entry_dropped":
        lines.remove(target)
    elif alteration == "cut_short":
        lines = lines[:-1]
    else:
        checkpoint = next(line for line in own if line["type"] == "checkpoint")
        data = bytearray(base64.b64decode(checkpoint["object"]))
        data[data.index(b'"headHash":"') + 12] ^= 1
        checkpoint["object"] = base64.b64encode(bytes(data)).decode()
    _write(export, lines)
    result = run(recorded, "audit", "verify", "--export", str(export), code=1)
    expected = {"source_byte": f"sequence {target['sequence']}",
                "entry_hash": f"sequence {target['sequence']}",
                "entry_dropped": f"sequence {target['sequence']}",
                "cut_short": "cut short",
                "checkpoint_byte": "checkpoint 131016/"}[alteration]
    assert expected in result.output


def test_a_pinned_key_that_did_not_sign_the_checkpoints_fails(recorded, tmp_path):
    other = tmp_path / "other.pem"
    other.write_text(PlatformSigner(Ed25519PrivateKey.generate()).public_pem)
    export = tmp_path / "ledger.jsonl"
    run(recorded, "audit", "export", "--tenant", CITY_A, "--out", str(export))
    for source in (("--tenant", CITY_A), ("--export", str(export))):
        found = report(recorded, *source, "--public-key", str(other), code=1)
        assert [p["code"] for p in found["problems"]] == ["checkpoint_signature"]


def test_usage_errors_exit_2_in_both_languages(recorded, tmp_path):
    for args in ((), ("--tenant", CITY_A, "--export", str(tmp_path / "x"))):
        assert "--tenant" in run(recorded, "audit", "verify", *args, code=2).output
    out = run(recorded, "audit", "checkpoint", "--tenant", "011002", code=2).output
    assert "011002 is not provisioned" in out and "登録されていません" in out
    assert not (tmp_path / "sqlite" / "t_011002.sqlite").exists()


@pytest.mark.s3
def test_on_postgresql_and_s3_a_tampered_event_is_reported_alike_online_and_offline(
        pg_cluster, pg_database, s3_env, tmp_path, monkeypatch):
    env = {**pg_cluster.settings_env(pg_database), "YORISOI_DATA_DIR": str(tmp_path),
           "YORISOI_STORAGE": "s3", "YORISOI_S3_ENDPOINT_URL": s3_env,
           "YORISOI_S3_BUCKET": f"yorisoi-test-{uuid.uuid4().hex[:12]}"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        world = build_world(get_settings())
        try:
            with world.services.runtimes.lease(CITY_A) as rt:
                record(rt, 2)
                log_reads(rt, 2)
                rt.catch_up()
                rt.ledger.chain()  # the worker's part: requests do not chain
                target = [r for r in ledger(rt) if r["kind"] == "event"][3]
                events = f'"{rt.space}".{rt.casework.database.events_table}'
        finally:
            world.services.close()
        run(runner, "audit", "checkpoint", "--tenant", CITY_A)
        assert report(runner, "--tenant", CITY_A)["ok"]
        with attacker(pg_cluster, pg_database) as db:
            db.execute(f"UPDATE {events} SET state = set_byte(state, 30, get_byte(state, 30) # 1)"
                       " WHERE notification_id = %s", (target["source_id"],))
        online = report(runner, "--tenant", CITY_A, code=1)
        export = tmp_path / "ledger.jsonl"
        run(runner, "audit", "export", "--tenant", CITY_A, "--out", str(export))
        offline = report(runner, "--export", str(export), code=1)
        text = run(runner, "audit", "verify", "--tenant", CITY_A, code=1).output
    finally:
        get_settings.cache_clear()
    assert offline == online
    assert online["problems"][0]["code"] == "source_changed"
    assert online["problems"][0]["sequence"] == target["sequence"]
    assert f"first broken link: sequence {target['sequence']}, event {target['source_id']}" \
        in " ".join(text.split())


@pytest.mark.s3
def test_a_checkpoint_bucket_without_object_lock_is_refused_cleanly(runner, s3_env, monkeypatch):
    import boto3

    bucket = f"yorisoi-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("YORISOI_STORAGE", "s3")
    monkeypatch.setenv("YORISOI_S3_ENDPOINT_URL", s3_env)
    monkeypatch.setenv("YORISOI_S3_BUCKET", bucket)
    get_settings.cache_clear()
    run(runner, "platform", "init")
    build_world(get_settings()).services.close()
    boto3.client("s3", endpoint_url=s3_env, region_name="ap-northeast-1").create_bucket(
        Bucket=f"{bucket}-audit",
        CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    for command in ("verify", "checkpoint"):
        out = run(runner, "audit", command, "--tenant", CITY_A, code=1).output
        assert "without Object Lock" in out and "利用できません" in out


def test_the_registry_verifies_online_and_from_its_export_alike(recorded, tmp_path):
    online = report(recorded, "--platform")
    assert online["ok"] and online["tenant"] == "platform"
    assert online["checkpoints_verified"] == 1  # the worker's pass signed the registry too
    export = tmp_path / "registry.jsonl"
    run(recorded, "audit", "export", "--platform", "--out", str(export))
    assert report(recorded, "--export", str(export)) == online
    assert "checkpoint of entry" in run(recorded, "audit", "checkpoint", "--platform").output
    for args in (("--platform", "--tenant", CITY_A), ("--platform", "--export", str(export))):
        assert "exactly one of" in run(recorded, "audit", "verify", *args, code=2).output


def test_a_municipality_export_carries_its_registry_entries_and_a_change_there_fails(
        recorded, tmp_path):
    export = tmp_path / "ledger.jsonl"
    run(recorded, "audit", "export", "--tenant", CITY_A, "--out", str(export))
    lines = _lines(export)
    assert lines[0]["tenant"] == "platform" and lines[0]["concerning"] == CITY_A
    registry = [line for line in lines[:next(i for i, line in enumerate(lines)
                                             if line["type"] == "end") + 1]
                if line["type"] == "entry"]
    shipped = [line for line in registry if line["sourceBytes"]]
    assert shipped and len(shipped) < len(registry)  # another municipality's bytes stay home
    assert all(CITY_A in line["scope"] or "141003" not in line["scope"] for line in shipped)
    contract = next(line for line in shipped
                    if b"Contract.Signed" in base64.b64decode(line["sourceBytes"]))
    event = json.loads(base64.b64decode(contract["sourceBytes"]))  # the bytes hashed
    state = bytearray(base64.b64decode(event["state"]))
    state[state.index(b'"ends_on"') + 30] ^= 1  # a digit of the contract's end date
    event["state"] = base64.b64encode(bytes(state)).decode()
    contract["sourceBytes"] = base64.b64encode(canonical_json(event)).decode()
    _write(export, lines)
    offline = report(recorded, "--export", str(export), code=1)
    assert offline["problems"] == [] and not offline["registry"]["ok"]
    assert offline["registry"]["problems"][0]["code"] == "source_changed"
    assert offline["registry"]["problems"][0]["sequence"] == contract["sequence"]


def test_rows_left_unchained_past_the_grace_are_reported(recorded):
    services = Services(get_settings())
    try:
        with services.runtimes.lease(CITY_A) as rt:
            log_reads(rt, 2)  # no worker pass after them
    finally:
        services.close()
    assert report(recorded, "--tenant", CITY_A)["pending"]["access"] == 2  # fresh: pending
    late = report(recorded, "--tenant", CITY_A, "--grace", "0", code=1)
    assert [p["code"] for p in late["problems"]] == ["unchained_tail"]
    assert "unchained_tail" in run(recorded, "audit", "verify", "--tenant", CITY_A,
                                   "--grace", "0", code=1).output
