"""The REST side: health, readiness, attachments (local store and S3), errors.

Scenarios run on SQLite and on the throwaway PostgreSQL cluster; the S3
scenario talks to moto's S3 server over HTTP with presigned URLs.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from fastapi.testclient import TestClient
from world import CITY_A, CITY_B, IDLE_NPO, NPO, RECORD, build_world, consultation_input, head

from yorisoi.infra.clock import japan_today
from yorisoi.infra.http.app import create_app
from yorisoi.infra.wiring.bootstrap import OPERATOR
from yorisoi.services.context import acting_as

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
MiB = 1024 * 1024


# --------------------------------------------------------------------------- helpers


def npo(world: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, roles=("specialist",), sites=("a-hiroba",))


def city(world: Any, code: str, *roles: str) -> dict[str, str]:
    return world.headers("municipality", code, roles=roles or ("municipal_supervisor",))


def record_case(client: TestClient, headers: dict[str, str], **overrides: Any) -> str:
    variables = {"input": consultation_input(**overrides)}
    response = client.post("/graphql", json={"query": RECORD, "variables": variables},
                           headers=headers)
    result = response.json()["data"]["recordConsultation"]
    assert result["__typename"] == "ConsultationRecorded", result
    return result["case"]["id"]


def attachments_url(case_id: str, code: str = CITY_A) -> str:
    return f"/api/municipalities/{code}/cases/{case_id}/attachments"


def upload(client: TestClient, case_id: str, headers: dict[str, str], *,
           data: bytes = PDF, content_type: str = "application/pdf", kind: str = "consent_form",
           code: str = CITY_A, filename: str = "consent.pdf") -> httpx.Response:
    return client.post(attachments_url(case_id, code), headers=headers,
                       files={"file": (filename, data, content_type)}, data={"kind": kind})


def problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    detail = response.json()["detail"]
    if code is not None:
        assert detail["code"] == code, detail
    assert detail["message"].strip(), detail
    assert JAPANESE.search(detail["messageJa"]), detail
    return detail


def shown(response: httpx.Response) -> str:
    """What a response shows a reader: its text, and its JSON with escapes decoded."""
    return response.text + json.dumps(response.json(), ensure_ascii=False)


def stored_files(world: Any) -> list[Any]:
    root = world.services.settings.objects_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --------------------------------------------------------------------------- operations


def test_health_and_readiness(client, world):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_readiness_reports_unavailable_when_the_registry_is_gone(world):
    # The registry's store closed under the app: not ready (503), not a crash.
    app = create_app(world.services.settings, world.services)
    with TestClient(app) as client:
        world.services.directory.close()
        response = client.get("/readyz")
        assert response.status_code == 503, response.text
        assert response.json()["status"] == "unavailable"
        assert client.get("/healthz").status_code == 200


# --------------------------------------------------------------------------- attachments


def test_npo_uploads_a_consent_form_and_downloads_it_through_the_local_link(client, world):
    case_id = record_case(client, npo(world))
    before = head(world)

    response = upload(client, case_id, npo(world))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert body["size"] == len(PDF)
    attachment_id = body["id"]
    uuid.UUID(attachment_id)
    assert head(world) == before + 1  # Case.AttachmentAdded

    # The stored object's key holds ids only (never the uploaded file name).
    root = world.services.settings.objects_dir
    [stored] = [p.relative_to(root) for p in stored_files(world) if attachment_id in str(p)]
    assert "consent" not in str(stored)
    assert f"/attachments/{attachment_id}" in str(stored)

    for reader in (npo(world), city(world, CITY_A)):
        link = client.get(f"{attachments_url(case_id)}/{attachment_id}", headers=reader)
        assert link.status_code == 200, link.text
        assert link.json()["expiresIn"] > 0
        url = link.json()["url"]
        assert url.startswith("/files/")
        assert "consent" not in url and case_id not in url
        download = client.get(url)
        assert download.status_code == 200, download.text
        assert download.content == PDF
        assert download.headers["content-type"].startswith("application/pdf")
        assert download.headers["cache-control"] == "no-store"


def test_tampered_download_link_is_refused(client, world):
    case_id = record_case(client, npo(world))
    attachment_id = upload(client, case_id, npo(world)).json()["id"]
    url = client.get(f"{attachments_url(case_id)}/{attachment_id}",
                     headers=npo(world)).json()["url"]
    payload, signature = url.removeprefix("/files/").split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    problem(client.get(f"/files/{payload}.{flipped}"), 403, "link_invalid")
    problem(client.get("/files/not-a-token"), 403, "link_invalid")


def test_png_and_jpeg_are_accepted(client, world):
    case_id = record_case(client, npo(world))
    for content_type, data in (("image/png", b"\x89PNG\r\n\x1a\nfake"),
                               ("image/jpeg", b"\xff\xd8\xff\xe0fake")):
        response = upload(client, case_id, npo(world), data=data, content_type=content_type,
                          kind="meeting_minutes", filename="minutes")
        assert response.status_code == 201, response.text
        assert response.json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_unsupported_type_is_415_in_both_languages(client, world):
    case_id = record_case(client, npo(world))
    before = head(world)
    response = upload(client, case_id, npo(world), data=b"MZ\x90\x00", content_type="text/html",
                      filename="架空花子の同意書.html")
    problem(response, 415, "attachment_type_unsupported")
    assert "架空" not in shown(response)
    assert head(world) == before
    assert stored_files(world) == []


def test_oversize_attachment_is_413_and_nothing_is_stored(client, world):
    case_id = record_case(client, npo(world))
    before = head(world)
    response = upload(client, case_id, npo(world), data=b"%PDF-1.4\n" + b"0" * (10 * MiB))
    problem(response, 413, "attachment_too_large")
    assert head(world) == before
    assert stored_files(world) == []


def test_attachment_of_exactly_10_mib_is_accepted(client, world):
    case_id = record_case(client, npo(world))
    data = b"%PDF-1.4\n" + b"0" * (10 * MiB - 9)
    assert len(data) == 10 * MiB
    response = upload(client, case_id, npo(world), data=data)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == 10 * MiB


def test_unknown_attachment_kind_is_refused_and_nothing_is_stored(client, world):
    case_id = record_case(client, npo(world))
    before = head(world)
    problem(upload(client, case_id, npo(world), kind="love_letter"), 422,
            "attachment_kind_unknown")
    assert head(world) == before
    assert stored_files(world) == []


def test_other_municipality_gets_403_for_upload_and_link(client, world):
    case_id = record_case(client, npo(world))
    attachment_id = upload(client, case_id, npo(world)).json()["id"]
    before = head(world)

    problem(upload(client, case_id, city(world, CITY_B, "specialist")), 403,
            "municipality_not_permitted")
    problem(client.get(f"{attachments_url(case_id)}/{attachment_id}",
                       headers=city(world, CITY_B)), 403, "municipality_not_permitted")
    # In its own space the case does not exist.
    problem(upload(client, case_id, city(world, CITY_B, "specialist"), code=CITY_B), 404,
            "case_not_found")
    assert head(world) == before


def test_contractor_without_active_contract_gets_403(client, world):
    case_id = record_case(client, npo(world))
    idle = world.headers("contractor", IDLE_NPO, roles=("specialist",))
    problem(upload(client, case_id, idle), 403, "contract_not_active")


def test_contractor_cannot_attach_to_or_read_a_case_outside_its_contract(client, world):
    direct = record_case(client, city(world, CITY_A, "specialist"), siteId="a-counter")
    attachment = upload(client, direct, city(world, CITY_A, "specialist"))
    assert attachment.status_code == 201, attachment.text
    problem(upload(client, direct, npo(world)), 404, "case_not_found")
    problem(client.get(f"{attachments_url(direct)}/{attachment.json()['id']}",
                       headers=npo(world)), 404, "case_not_found")


def test_ended_contract_removes_attachment_access_at_once(client, world):
    headers = npo(world)
    case_id = record_case(client, headers)
    attachment_id = upload(client, case_id, headers).json()["id"]
    with acting_as(OPERATOR):
        world.services.directory.end_contract(
            contract_id="contract-a-npo", ended_on=japan_today(), reason="test")
    problem(upload(client, case_id, headers), 403, "contract_not_active")
    problem(client.get(f"{attachments_url(case_id)}/{attachment_id}", headers=headers), 403,
            "contract_not_active")


def test_supervisor_may_fetch_links_but_not_upload(client, world):
    case_id = record_case(client, npo(world))
    problem(upload(client, case_id, city(world, CITY_A)), 403, "role_not_permitted")


@pytest.mark.parametrize("case_id", [str(uuid.UUID(int=1)), "not-a-uuid",
                                     "6f1c2b3a-0000-4000-8000-00000000000x"])
def test_unknown_or_malformed_case_id_is_404(client, world, case_id):
    problem(upload(client, case_id, npo(world)), 404, "case_not_found")
    problem(client.get(f"{attachments_url(case_id)}/{uuid.uuid4()}",
                       headers=city(world, CITY_A)), 404, "case_not_found")
    assert stored_files(world) == []


def test_unknown_attachment_on_a_real_case_is_404(client, world):
    case_id = record_case(client, npo(world))
    problem(client.get(f"{attachments_url(case_id)}/{uuid.uuid4()}", headers=npo(world)), 404,
            "attachment_not_found")
    traversal = client.get(f"{attachments_url(case_id)}/..%2F..%2Fkeys", headers=npo(world))
    assert traversal.status_code == 404, traversal.text


def test_missing_or_bad_token_is_401(client, world):
    case_id = record_case(client, npo(world))
    problem(upload(client, case_id, {}), 401, "token_missing")
    problem(client.get(f"{attachments_url(case_id)}/{uuid.uuid4()}"), 401, "token_missing")
    problem(upload(client, case_id, {"Authorization": "Bearer garbage"}), 401, "token_malformed")
    expired = {"Authorization": f"Bearer {world.token('contractor', NPO, expires_in=-120)}"}
    problem(upload(client, case_id, expired), 401, "token_expired")
    assert stored_files(world) == []


def test_request_validation_error_is_422_and_does_not_echo_input(client, world):
    case_id = record_case(client, npo(world))
    secret = "架空 花子 090-0000-0000"
    response = client.post(attachments_url(case_id), headers=npo(world),
                           data={"kind": secret, "note": secret})
    detail = problem(response, 422, "validation_failed")
    assert "body.file" in detail["fields"]
    assert secret not in shown(response)
    assert "花子" not in shown(response) and "090" not in shown(response)
    assert "input" not in response.json()["detail"]


def test_attachment_event_names_the_contract_and_request(client, world):
    case_id = record_case(client, npo(world))
    request_id = f"req-{uuid.uuid4()}"
    before = head(world)
    response = upload(client, case_id, {**npo(world), "X-Request-ID": request_id})
    assert response.status_code == 201, response.text
    with world.services.runtimes.lease(CITY_A) as rt:
        [added] = rt.casework.recorder.select_notifications(start=before + 1, limit=10)
    assert added.topic.endswith("AttachmentAdded")
    state = json.loads(bytes(added.state))
    assert "consent.pdf" not in bytes(added.state).decode()
    meta = state["_meta"]
    assert (meta["user_id"], meta["organisation_kind"], meta["organisation_id"]) == (
        "user-1", "contractor", NPO)
    assert meta["request_id"] == request_id


def test_attachment_event_records_the_acting_contract_request_and_trace(client, world):
    case_id = record_case(client, npo(world))
    before = head(world)
    assert upload(client, case_id, npo(world)).status_code == 201  # no X-Request-ID sent
    with world.services.runtimes.lease(CITY_A) as rt:
        [added] = rt.casework.recorder.select_notifications(start=before + 1, limit=10)
    meta = json.loads(bytes(added.state))["_meta"]
    assert {k: meta[k] for k in ("contract_id", "site_id")} == {
        "contract_id": "contract-a-npo", "site_id": "a-hiroba"}, meta
    assert meta["request_id"], meta
    assert meta["trace_id"] and re.fullmatch(r"[0-9a-f]{32}", meta["trace_id"]), meta


# --------------------------------------------------------------------------- S3


@pytest.fixture
def s3_world(backend_settings, s3_env) -> Iterator[Any]:
    settings = backend_settings.model_copy(update={
        "storage": "s3", "s3_endpoint_url": s3_env,
        "s3_bucket": f"yorisoi-rest-{uuid.uuid4().hex[:12]}"})
    built = build_world(settings)
    built.services.objects.ensure_bucket()
    yield built
    built.services.close()


@pytest.mark.s3
def test_attachment_round_trip_through_s3_and_the_application_link(s3_world, s3_env):
    """Objects are sealed, so the link is the application's (it decrypts on the way out),
    never a presigned URL to the bucket; the bucket holds no plaintext."""
    world = s3_world
    assert world.services.objects.backend == "s3"
    with TestClient(create_app(world.services.settings, world.services)) as client:
        case_id = record_case(client, npo(world))
        response = upload(client, case_id, npo(world))
        assert response.status_code == 201, response.text
        assert response.json()["sha256"] == hashlib.sha256(PDF).hexdigest()
        attachment_id = response.json()["id"]

        link = client.get(f"{attachments_url(case_id)}/{attachment_id}",
                          headers=city(world, CITY_A))
        assert link.status_code == 200, link.text
        url = link.json()["url"]
        assert url.startswith("/files/")
        assert "consent" not in url and case_id not in url

        download = client.get(url)
        assert download.status_code == 200, download.text
        assert download.content == PDF
        assert download.headers["content-type"].startswith("application/pdf")

        # The bucket itself: every version of every object, none holding the file.
        s3 = boto3.client("s3", endpoint_url=s3_env, region_name="ap-northeast-1")
        bucket = world.services.settings.s3_bucket
        versions = s3.list_object_versions(Bucket=bucket).get("Versions", [])
        assert versions
        for version in versions:
            got = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
            assert b"%PDF" not in got["Body"].read()
            assert got["ContentType"] == "application/octet-stream" and not got["Metadata"]

        assert client.get("/files/anything").status_code == 403
