"""A tenant bundle from a deployment on KMS and S3 into a fresh one (issue 18, operations).

The source keeps its tenant keys in KMS and its stored files (a staff pledge, a
household's sealed attachment) in an S3 bucket — moto's server over HTTP for both, as
production would reach AWS.  The bundle is imported into a fresh platform with its own
KMS keys and its own bucket: every read the specialists make answers the same, every
stored file opens to the same bytes (the sealed one under a household key now wrapped by
the destination's KMS key, not the source's), a disposed household stays disposed, and
the audit chain verifies — the exporter's checkpoint in its Object Lock bucket included.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import boto3
import pytest
from botocore.exceptions import ClientError
from bundle_world import (
    CITY,
    destination,
    key_row,
    settings_for,
    specialist_reads,
    verify_tenant,
)
from key_destruction import destroy_key

from yorisoi.infra.wiring.bootstrap import Services, init_platform

from yorisoi.infra.checkpoints import Checkpointer, checkpoint_store
from yorisoi.infra.demo import load_demo
from yorisoi.infra.keys import KmsKeyProvider, TenantKeyRetiredError, version_of
from yorisoi.infra.sealed_objects import SealedObjects
from yorisoi.services.bundles.export import export_tenant
from yorisoi.services.bundles.load import import_bundle
from yorisoi.services.bundles.recipient import generate

SPACE = f"t_{CITY}"
ATTACHMENT = "%PDF-1.4\n% 同意書（架空）\n%%EOF\n".encode()


def _on_aws(settings: Any, endpoint: str, name: str) -> Any:
    """The deployment's settings with KMS and S3 at moto's endpoint, names of its own."""
    return settings.model_copy(update={
        "storage": "s3", "s3_endpoint_url": endpoint, "s3_bucket": f"yorisoi-{name}",
        "key_provider": "kms", "kms_endpoint_url": endpoint,
        "kms_key_alias_prefix": f"alias/yorisoi-{name}-"})


def _objects(services: Any) -> dict[str, bytes]:
    """Every stored file of the municipality, as the bucket holds it (sealed or not)."""
    found = {}
    for key in services.objects.keys(f"{SPACE}/"):
        pieces, _stored = services.objects.open(key)
        found[key] = b"".join(pieces)
    return found


def _source(settings: Any) -> tuple[Services, str]:
    """The demo's municipality on KMS and S3, one household disposed of (its key destroyed)."""
    init_platform(settings)
    services = Services(settings)
    services.objects.ensure_bucket()
    load_demo(services)
    with services.runtimes.lease(CITY) as rt:
        with rt.casework.database.transaction(write=False) as cur:
            disposed = cur.execute("SELECT household_id FROM {s}household_view"
                                   " ORDER BY household_id").fetchone()["household_id"]
        assert destroy_key(rt, disposed)
        rt.catch_up()
    return services, disposed


@pytest.fixture
def deployments(request, tmp_path, s3_env) -> Any:
    cluster = request.getfixturevalue("pg_cluster")
    run = uuid.uuid4().hex[:8]
    made: list[tuple[Any, str]] = []

    def deployment(role: str) -> tuple[Any, str]:
        settings, dbname = settings_for("postgres", tmp_path / role, cluster)
        made.append((cluster, dbname))
        return _on_aws(settings, s3_env, f"{role}-{run}"), dbname

    yield deployment
    for owner, dbname in made:
        owner.drop_database(dbname)


def test_a_bundle_from_kms_and_s3_into_a_fresh_platform(deployments, tmp_path, s3_env) -> None:
    source_settings, _ = deployments("src")
    source, disposed = _source(source_settings)
    destination_services = None
    try:
        assert isinstance(source.key_provider, KmsKeyProvider)
        with source.runtimes.lease(CITY) as rt:
            # A household's sealed attachment in the bucket, under the household's key.
            with rt.casework.database.transaction(write=False) as cur:
                household = next(r["household_id"] for r in cur.execute(
                    "SELECT household_id FROM {s}household_keys WHERE wrapped_key IS NOT NULL"
                    " ORDER BY household_id").fetchall())
            attachment_key = f"{SPACE}/households/{household}/attachments/{uuid.uuid4()}"
            SealedObjects(source.objects, rt.casework.keyring).put(
                attachment_key, UUID(household), ATTACHMENT, content_type="application/pdf")
            rt.ledger.chain()
            Checkpointer(checkpoint_store(source_settings, source), source.signer).checkpoint(
                rt.casework.database, CITY)
        stored = _objects(source)
        assert attachment_key in stored and len(stored) >= 2  # the demo's pledge too
        assert ATTACHMENT not in stored[attachment_key]  # sealed at rest
        answers = specialist_reads(source)

        private, public = generate(tmp_path / "recipient")
        bundle = export_tenant(source, CITY, tmp_path / "city.bundle", public.read_text()).path

        target_settings, _ = deployments("dst")
        destination_services = destination(target_settings, source_settings)
        destination_services.objects.ensure_bucket()
        result = import_bundle(destination_services, bundle, private.read_bytes())
        assert result.counts["objects"] == len(stored)
        target = destination_services

        # Every read answers the same, names included (decrypted under the new keys).
        again = specialist_reads(target)
        assert again.keys() == answers.keys()
        for key, answer in answers.items():
            assert again[key] == answer, key
        assert any(g["name"] for k, a in again.items() if ":case_file:" in k and a["data"]["case"]
                   for g in a["data"]["case"]["household"]["guardians"] or [])

        # Every stored file is in the destination's own bucket, byte for byte, and opens.
        assert target_settings.s3_bucket != source_settings.s3_bucket
        assert _objects(target) == stored
        with target.runtimes.lease(CITY) as rt:
            opened = SealedObjects(target.objects, rt.casework.keyring).open(
                attachment_key, UUID(household))
            assert b"".join(opened.chunks) == ATTACHMENT
            assert opened.content_type == "application/pdf"
            wrapped = bytes(key_row(target, household)["wrapped_key"])

        # Its household key is wrapped by the destination's KMS key, which the source's
        # provider cannot open (and the source's key never reached the destination).
        assert version_of(wrapped) == 1
        context = {"household": household}
        target_provider = target.key_provider
        assert isinstance(target_provider, KmsKeyProvider)
        assert len(target_provider.unwrap(SPACE, wrapped, context)) == 32
        with pytest.raises((ClientError, TenantKeyRetiredError)):  # KMS refuses: not its key
            source.key_provider.unwrap(SPACE, wrapped, context)
        kms = boto3.client("kms", endpoint_url=s3_env, region_name="ap-northeast-1")
        target_key = kms.describe_key(KeyId=f"{target_settings.kms_key_alias_prefix}{SPACE}"
                                      )["KeyMetadata"]["KeyId"]
        source_key = kms.describe_key(KeyId=f"{source_settings.kms_key_alias_prefix}{SPACE}"
                                      )["KeyMetadata"]["KeyId"]
        assert target_key != source_key

        # A disposed household stays disposed: no key, its file would not open.
        row = key_row(target, disposed)
        assert row is not None and row["wrapped_key"] is None and row["destroyed_at"]

        # The audit: the imported chain, the exporter's checkpoint (now in the destination's
        # Object Lock bucket), the custody record of the import.
        report = verify_tenant(target)
        assert report.ok, report.as_dict()
        assert report.checkpoints_verified == 1
        assert [c["action"] for c in report.custody] == ["import"]
        assert report.registry is not None and report.registry.ok
        audit_bucket = f"{target_settings.s3_bucket}-audit"
        s3 = boto3.client("s3", endpoint_url=s3_env, region_name="ap-northeast-1")
        assert s3.get_object_lock_configuration(Bucket=audit_bucket)[
            "ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
        assert s3.list_objects_v2(Bucket=audit_bucket, Prefix=f"{CITY}/")["KeyCount"] >= 1
    finally:
        if destination_services is not None:
            destination_services.close()
        source.close()
