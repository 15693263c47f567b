"""Signed audit checkpoints: S3 Object Lock (moto's server over HTTP) and write-once local files."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import datetime
from typing import Any

import boto3
import pytest
from audit_world import CITY_A, attacker, ledger, log_reads, record
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from world import build_world

from yorisoi.infra import checkpoints
from yorisoi.infra.checkpoints import (
    Checkpointer,
    LocalCheckpointStore,
    S3CheckpointStore,
    checkpoint_store,
)
from yorisoi.infra.signing import PlatformSigner, canonical_json
from yorisoi.infra.storage import ObjectLockedError, StorageError
from yorisoi.infra.worker import catch_up
from yorisoi.services.audit_ledger import entry_hash, event_bytes
from yorisoi.services.audit_verify import VerificationReport, online_source, verify

REGION = "ap-northeast-1"


def _raw(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


def _checkpointer(services: Any) -> Checkpointer:
    return Checkpointer(checkpoint_store(services.settings, services), services.signer)


def check(services: Any, rt: Any, public_pem: str | None = None) -> VerificationReport:
    copies = _checkpointer(services).copies
    return verify(online_source(rt.casework.database, CITY_A, lambda: copies(CITY_A)),
                  public_pem or services.signer.public_pem)


def _codes(report: VerificationReport) -> list[tuple[str, str | None]]:
    return [(p.code, p.key) for p in report.problems]


@pytest.fixture
def s3_world(sqlite_settings, s3_env):
    settings = sqlite_settings.model_copy(update={
        "storage": "s3", "s3_endpoint_url": s3_env,
        "s3_bucket": f"yorisoi-test-{uuid.uuid4().hex[:12]}"})
    built = build_world(settings)
    yield built
    built.services.close()


@pytest.fixture
def local_world(sqlite_settings):
    built = build_world(sqlite_settings)
    yield built
    built.services.close()


def _chained_checkpoint(world: Any) -> tuple[Any, dict[str, Any]]:
    with world.services.runtimes.lease(CITY_A) as rt:
        record(rt, 2)
        log_reads(rt, 2)
        rt.catch_up()
        rt.ledger.chain()  # the worker's part (requests do not chain)
        written = _checkpointer(world.services).checkpoint(rt.casework.database, CITY_A)
    assert written is not None and written["sequence"] == len(ledger(rt))
    return rt, written


# --------------------------------------------------------------------------- S3


@pytest.mark.s3
def test_the_audit_bucket_has_object_lock_versioning_and_a_compliance_default(s3_env):
    bucket = f"yorisoi-audit-{uuid.uuid4().hex[:12]}"
    store = S3CheckpointStore(bucket, endpoint_url=s3_env, region=REGION, retention_days=30)
    store.ensure()
    store.ensure()  # idempotent
    client = _raw(s3_env)
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    lock = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert lock["Rule"]["DefaultRetention"]["Days"] == 30


@pytest.mark.s3
def test_a_bucket_without_object_lock_is_refused(s3_env):
    bucket = f"yorisoi-plain-{uuid.uuid4().hex[:12]}"
    _raw(s3_env).create_bucket(Bucket=bucket,
                               CreateBucketConfiguration={"LocationConstraint": REGION})
    with pytest.raises(StorageError, match="without Object Lock"):
        S3CheckpointStore(bucket, endpoint_url=s3_env, region=REGION).ensure()


@pytest.mark.s3
def test_a_checkpoint_version_is_locked_and_cannot_be_deleted_or_overwritten(s3_world, s3_env):
    rt, written = _chained_checkpoint(s3_world)
    bucket, key = checkpoints.audit_bucket(s3_world.services.settings), written["object_key"]
    client = _raw(s3_env)
    head = client.head_object(Bucket=bucket, Key=key, VersionId=written["version_id"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(head["ObjectLockRetainUntilDate"].tzinfo)
    with pytest.raises(ClientError) as refused:
        client.delete_object(Bucket=bucket, Key=key, VersionId=written["version_id"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ObjectLockedError):
        checkpoint_store(s3_world.services.settings, s3_world.services).write(key, b"{}")
    document = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert document["checkpoint"]["tenant"] == CITY_A
    assert document["checkpoint"]["headHash"] == written["head_hash"]
    report = check(s3_world.services, rt)
    assert report.ok, report.problems
    assert (report.checkpoints_verified, report.covered_to) == (1, written["sequence"])


@pytest.mark.s3
@pytest.mark.parametrize("how", ["new_version_with_a_flipped_byte", "delete_marker"])
def test_a_rewritten_or_hidden_checkpoint_object_is_found(how, s3_world, s3_env):
    rt, written = _chained_checkpoint(s3_world)
    bucket, key = checkpoints.audit_bucket(s3_world.services.settings), written["object_key"]
    client = _raw(s3_env)
    if how == "delete_marker":
        client.delete_object(Bucket=bucket, Key=key)  # hides the object from a plain GET
    else:
        data = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        data[data.index(b'"headHash":"') + 12] ^= 1
        client.put_object(Bucket=bucket, Key=key, Body=bytes(data))  # Object Lock allows this
    report = check(s3_world.services, rt)
    assert _codes(report) == [("checkpoint_rewritten", key)]
    assert report.checkpoints_verified == 1  # the first version, the real one, still holds


# --------------------------------------------------------------------------- local files


def test_local_checkpoints_are_read_only_files_written_once(local_world, tmp_path):
    rt, written = _chained_checkpoint(local_world)
    path = tmp_path / "audit-checkpoints" / written["object_key"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o444)
    store = checkpoint_store(local_world.services.settings, local_world.services)
    assert isinstance(store, LocalCheckpointStore)
    with pytest.raises(ObjectLockedError):
        store.write(written["object_key"], b"{}")
    again = _checkpointer(local_world.services).checkpoint(rt.casework.database, CITY_A)
    assert again["sequence"] == written["sequence"]  # nothing new: the head is already signed
    assert check(local_world.services, rt).ok


def test_a_flipped_byte_in_a_local_checkpoint_is_found(local_world, tmp_path):
    rt, written = _chained_checkpoint(local_world)
    path = tmp_path / "audit-checkpoints" / written["object_key"]
    os.chmod(path, 0o644)  # whoever owns the folder can
    data = bytearray(path.read_bytes())
    data[data.index(b'"headHash":"') + 12] ^= 1
    path.write_bytes(bytes(data))
    report = check(local_world.services, rt)
    assert [(p.code, p.key) for p in report.problems] == [
        ("checkpoint_signature", written["object_key"])]
    assert "does not match" in report.problems[0].detail


def test_a_deleted_local_checkpoint_is_found_through_its_database_record(local_world, tmp_path):
    rt, written = _chained_checkpoint(local_world)
    (tmp_path / "audit-checkpoints" / written["object_key"]).unlink()
    assert _codes(check(local_world.services, rt)) == [
        ("checkpoint_missing", written["object_key"])]


def test_a_checkpoint_signed_with_another_key_fails(local_world):
    intruder = PlatformSigner(Ed25519PrivateKey.generate())
    with local_world.services.runtimes.lease(CITY_A) as rt:
        record(rt)
        rt.catch_up()
        rt.ledger.chain()
        store = checkpoint_store(local_world.services.settings, local_world.services)
        written = Checkpointer(store, intruder).checkpoint(rt.casework.database, CITY_A)
        report = check(local_world.services, rt)
        assert check(local_world.services, rt, intruder.public_pem).ok  # theirs verifies theirs
    assert [(p.code, p.key) for p in report.problems] == [
        ("checkpoint_signature", written["object_key"])]
    assert "different key" in report.problems[0].detail


def test_the_worker_writes_checkpoints_when_due(local_world, monkeypatch):
    services = local_world.services
    with services.runtimes.lease(CITY_A) as rt:
        record(rt)
        catch_up(services, CITY_A)
        first = len(_checkpointer(services).copies(CITY_A))
        log_reads(rt, 1)
        catch_up(services, CITY_A)  # one new entry, the last checkpoint is fresh: not due
        assert len(_checkpointer(services).copies(CITY_A)) == first == 1
        monkeypatch.setattr(checkpoints, "CHECKPOINT_EVERY", 2)
        log_reads(rt, 1)
        catch_up(services, CITY_A)
        copies = _checkpointer(services).copies(CITY_A)
        assert len(copies) == 2
        assert json.loads(copies[-1].data)["checkpoint"]["sequence"] == len(ledger(rt))
        assert check(services, rt).ok


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_world(pg_settings):
    built = build_world(pg_settings)
    yield built
    built.services.close()


def test_a_ledger_rewritten_with_consistent_hashes_is_caught_by_the_checkpoint(
        pg_world, pg_cluster, pg_database):
    """Without checkpoints an attacker could recompute every hash after the change."""
    rt, written = _chained_checkpoint(pg_world)
    rows = ledger(rt)
    target = [r for r in rows if r["kind"] == "event"][2]
    events = f'"{rt.space}".{rt.casework.database.events_table}'
    with attacker(pg_cluster, pg_database) as db:
        db.execute(f"UPDATE {events} SET state = set_byte(state, 40, get_byte(state, 40) # 1)"
                   " WHERE notification_id = %s", (target["source_id"],))
        state = db.execute(f"SELECT notification_id AS id, originator_id, originator_version,"
                           f" topic, state FROM {events} WHERE notification_id = %s",
                           (target["source_id"],)).fetchone()
        prev = rows[target["sequence"] - 2]["entry_hash"]
        for row in rows[target["sequence"] - 1:]:
            sha = (hashlib.sha256(event_bytes(dict(zip(
                ("id", "originator_id", "originator_version", "topic", "state"), state,
                strict=True)))).hexdigest() if row is target else row["source_sha256"])
            body = {"sequence": row["sequence"], "kind": row["kind"], "source": row["source_id"],
                    "sourceSha256": sha, "chainedAt": row["chained_at"]}
            new = entry_hash(prev, body)
            db.execute(f'UPDATE "{rt.space}".audit_ledger SET source_sha256 = %s,'
                       " prev_hash = %s, entry_hash = %s WHERE sequence = %s",
                       (sha, prev, new, row["sequence"]))
            prev = new
    report = check(pg_world.services, rt)
    assert report.entries_verified == len(rows)  # the chain itself is consistent again
    assert [(p.code, p.sequence, p.key) for p in report.problems] == [
        ("checkpoint_head", written["sequence"], written["object_key"])]
    assert canonical_json(report.as_dict())  # the report serialises (for --as-json)


def test_the_audit_bucket_is_a_setting_defaulting_beside_the_objects_bucket():
    from yorisoi.infra.settings import Settings

    assert checkpoints.audit_bucket(Settings(s3_bucket="city-objects")) == "city-objects-audit"
    named = Settings(s3_bucket="city-objects", s3_audit_bucket="city-audit-locked")
    assert checkpoints.audit_bucket(named) == "city-audit-locked"
