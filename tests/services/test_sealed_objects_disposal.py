"""Sealed attachments and disposal: a copy kept anywhere (a bucket backup) opens nothing once
the household key is destroyed, and never held the file's text in the first place."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from uuid import UUID

import boto3
import pytest
from fastapi.testclient import TestClient
from world import CITY_A, build_world

from yorisoi.domain.households import Child, Guardian
from yorisoi.domain.retention import RECORD_CLASSES
from yorisoi.infra.clock import japan_today
from yorisoi.infra.http.app import create_app
from yorisoi.infra.sealed_objects import ObjectKeyDestroyedError, SealedObjects, is_sealed
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.disposal import Disposal

PROPOSER = ActingContext(user_id="a-records-officer", role="municipal_supervisor",
                         organisation_kind="municipality", organisation_id=CITY_A)
APPROVER = ActingContext(user_id="a-records-chief", role="municipal_admin",
                         organisation_kind="municipality", organisation_id=CITY_A)
STAFF = ActingContext(user_id="a-specialist", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
GUARDIAN = "封緘 花子"
FORM = f"%PDF-1.4\n同意書 氏名: {GUARDIAN}\n".encode() + b"consent-form-body " * 8000


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def any_world(request: pytest.FixtureRequest, backend_settings: Any) -> Any:
    settings = backend_settings
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_env")
        settings = settings.model_copy(update={
            "storage": "s3", "s3_endpoint_url": endpoint,
            "s3_bucket": f"yorisoi-sealed-{uuid.uuid4().hex[:12]}"})
    built = build_world(settings)
    built.services.objects.ensure_bucket()
    yield built
    built.services.close()


def _raw_objects(world: Any) -> dict[str, bytes]:
    """Every stored byte: each version of each key (S3) or each file (local)."""
    settings = world.services.settings
    if settings.storage == "s3":
        s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url,
                          region_name=settings.s3_region)
        found = {}
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=settings.s3_bucket):
            for v in page.get("Versions", []):
                got = s3.get_object(Bucket=settings.s3_bucket, Key=v["Key"],
                                    VersionId=v["VersionId"])
                found[f"{v['Key']}@{v['VersionId']}"] = got["Body"].read()
        return found
    root = settings.objects_dir
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def _restore(world: Any, key: str, backup: bytes) -> None:
    """Put a backup copy back, byte for byte, where it was."""
    settings = world.services.settings
    if settings.storage == "s3":
        boto3.client("s3", endpoint_url=settings.s3_endpoint_url,
                     region_name=settings.s3_region).put_object(
            Bucket=settings.s3_bucket, Key=key, Body=backup)
        return
    path = settings.objects_dir.joinpath(*key.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(backup)


def _plaintext_in(blob: bytes) -> bool:
    return any(form in blob for form in (GUARDIAN.encode(), b"consent-form-body", b"%PDF"))


def test_a_backup_of_a_sealed_attachment_opens_nothing_after_disposal(any_world):
    world = any_world
    services = world.services
    with services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        recorded = rt.casework.record_consultation(RecordConsultation(
            municipality_code=CITY_A, site_id="a-counter", contract_id=None,
            occurred_on=date(2018, 5, 1), channel="visit", themes=["development"],
            asked="相談", wishes="", direction="",
            household=NewHousehold(guardians=[Guardian(GUARDIAN, "母")],
                                   children=[Child("封緘 たろう", date(2017, 5, 1))],
                                   pregnancy=None),
            consent=NewConsent(GUARDIAN, "母", date(2018, 5, 1), "相談記録の作成")))
        rt.catch_up()
    case_id, household_id = recorded.case_id, recorded.household_id
    headers = world.headers("municipality", CITY_A, roles=("specialist",), sites=("a-counter",))

    with TestClient(create_app(services.settings, services)) as client:
        uploaded = client.post(f"/api/municipalities/{CITY_A}/cases/{case_id}/attachments",
                               headers=headers, data={"kind": "consent_form"},
                               files={"file": ("同意書_封緘.pdf", FORM, "application/pdf")})
        assert uploaded.status_code == 201, uploaded.text
        attachment_id = uploaded.json()["id"]
        supervisor = world.headers("municipality", CITY_A, roles=("municipal_supervisor",))
        answer = client.get(f"/api/municipalities/{CITY_A}/cases/{case_id}/attachments/"
                            f"{attachment_id}", headers=supervisor)
        assert answer.status_code == 200, answer.text
        link = answer.json()["url"]
        assert client.get(link).content == FORM  # opened on the way out

        # The store holds the object sealed: no plaintext, no clear type or name.
        stored = _raw_objects(world)
        [backup] = [data for key, data in stored.items() if attachment_id in key]
        # (The local store's file is a one-line header, then the object.)
        assert is_sealed(backup if services.settings.storage == "s3"
                         else backup.partition(b"\n")[2])
        assert not any(_plaintext_in(data) for data in stored.values())
        key = f"t_{CITY_A}/households/{household_id}/attachments/{attachment_id}"
        with services.runtimes.lease(CITY_A) as rt:
            sealed = SealedObjects(services.objects, rt.casework.keyring)
            assert b"".join(sealed.open(key, household_id).chunks) == FORM

            # Disposal of the household: key destroyed, objects deleted.
            with acting_as(STAFF):
                rt.casework.close_case(case_id, closed_on=date(2019, 6, 1),
                                       reason="support_completed", expected_version=None,
                                       writable_contract_ids=None)
            with acting_as(APPROVER):
                rt.casework.set_retention_schedule(
                    effective_from=japan_today(), two_person_approval=True,
                    years={name: 1 for name in RECORD_CLASSES})
            rt.catch_up()
            disposal = Disposal(rt, services.objects, services.signer)
            with acting_as(PROPOSER):
                batch = disposal.propose([str(household_id)])
            with acting_as(APPROVER):
                rt.casework.approve_disposal(batch.id, expected_version=None)
                assert disposal.run(batch.id).disposed == [str(household_id)]
            assert not services.objects.exists(key)

            # The backup copy, restored into the store: it no longer opens, by anyone.
            _restore(world, key, backup)
            assert rt.casework.keyring.for_reading(UUID(str(household_id))) is None
            with pytest.raises(ObjectKeyDestroyedError):
                SealedObjects(services.objects, rt.casework.keyring).open(key, household_id)
        gone = client.get(link)
        assert gone.status_code == 410, gone.text
        assert gone.json()["detail"]["code"] == "household_disposed"
        assert not _plaintext_in(gone.content) and not _plaintext_in(backup)
