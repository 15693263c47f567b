"""Uploaded files never lie in the object store in clear: attachments and pledges, large and small.

The store's bytes (every file under ``var/objects``) are scanned for the
uploaded content in every spelling a leak could take (raw, base64, hex); the
files still come back byte for byte through the application's link, and a
tampered object is refused with a typed answer, never a 5xx.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from world import CITY_A, NPO, RECORD, consultation_input

from yorisoi.infra.sealed_objects import HEADER_SIZE, is_sealed

MARK = "封緘テスト 山田 花子 090-1234-5678".encode()
PDF = b"%PDF-1.4\n" + MARK + b"\n" + os.urandom(64) + b"\n%%EOF\n"
# 10 MiB (the upload limit): text that would be recognisable anywhere, many chunks.
_LINE = MARK + b" signed consent form line\n"
LARGE = (b"%PDF-1.4\n" + _LINE * (10 * 1024 * 1024 // len(_LINE) + 1))[:10 * 1024 * 1024]


def _spellings(data: bytes) -> list[bytes]:
    probe = data[:48]
    return [probe, MARK, base64.b64encode(probe)[:40], probe.hex().encode()[:40],
            base64.b64encode(MARK)[:24]]


def _store_files(world: Any) -> dict[Path, bytes]:
    root = Path(world.services.settings.objects_dir)
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _no_plaintext(world: Any, *uploads: bytes) -> None:
    files = _store_files(world)
    assert files
    for path, blob in files.items():
        for data in uploads:
            for spelling in _spellings(data):
                assert spelling not in blob, path.name


def _npo(world: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, roles=("specialist",), sites=("a-hiroba",))


def _supervisor(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="sv-1", roles=("municipal_supervisor",))


def _case(client: Any, world: Any) -> str:
    response = client.post("/graphql", json={"query": RECORD,
                                             "variables": {"input": consultation_input()}},
                           headers=_npo(world))
    return response.json()["data"]["recordConsultation"]["case"]["id"]


def _attach(client: Any, world: Any, case_id: str, data: bytes, content_type: str) -> str:
    response = client.post(f"/api/municipalities/{CITY_A}/cases/{case_id}/attachments",
                           headers=_npo(world), data={"kind": "consent_form"},
                           files={"file": ("山田花子_同意書.pdf", data, content_type)})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _link(client: Any, world: Any, case_id: str, attachment_id: str) -> str:
    response = client.get(f"/api/municipalities/{CITY_A}/cases/{case_id}/attachments/"
                          f"{attachment_id}", headers=_supervisor(world))
    assert response.status_code == 200, response.text
    return response.json()["url"]


def test_attachments_and_pledges_are_sealed_at_rest_and_open_through_the_link(client, world):
    case_id = _case(client, world)
    small = _attach(client, world, case_id, PDF, "application/pdf")
    png = b"\x89PNG\r\n\x1a\n" + MARK + os.urandom(100)
    image = _attach(client, world, case_id, png, "image/png")
    large = _attach(client, world, case_id, LARGE, "application/pdf")

    register = client.post("/graphql", headers=_supervisor(world), json={
        "query": "mutation($i: RegisterStaffMemberInput!) { registerStaffMember(input: $i) {"
                 " __typename ... on StaffMemberSaved { staffMember { id } } } }",
        "variables": {"i": {"municipalityCode": CITY_A, "subject": "s-1",
                            "displayName": "架空 職員", "roles": ["specialist"],
                            "qualifications": ["hoikushi"], "organisationId": CITY_A}}})
    staff_id = register.json()["data"]["registerStaffMember"]["staffMember"]["id"]
    pledge = b"%PDF-1.4\n" + MARK + b" pledge\n%%EOF\n"
    stored = client.post(f"/api/municipalities/{CITY_A}/staff/{staff_id}/pledge",
                         headers=_supervisor(world), data={"signedOn": "2026-04-01"},
                         files={"file": ("架空職員_誓約書.pdf", pledge, "application/pdf")})
    assert stored.status_code == 201, stored.text

    _no_plaintext(world, PDF, png, LARGE, pledge)
    for blob in _store_files(world).values():  # the local store's header line, then the object
        header, _, body = blob.partition(b"\n")
        assert b"application/pdf" not in header and b"image/png" not in header
        assert is_sealed(body) or b"/referrals/" in header  # every object here is sealed

    for attachment_id, data, kind in ((small, PDF, "application/pdf"),
                                      (image, png, "image/png"),
                                      (large, LARGE, "application/pdf")):
        download = client.get(_link(client, world, case_id, attachment_id))
        assert download.status_code == 200
        assert download.content == data
        assert download.headers["content-type"].startswith(kind)
        assert download.headers["cache-control"] == "no-store"
    link = client.get(f"/api/municipalities/{CITY_A}/staff/{staff_id}/pledge",
                      headers=_supervisor(world)).json()["url"]
    assert link.startswith("/files/") and client.get(link).content == pledge


def test_a_tampered_object_is_refused_with_a_typed_answer(client, world):
    case_id = _case(client, world)
    attachment_id = _attach(client, world, case_id, PDF, "application/pdf")
    url = _link(client, world, case_id, attachment_id)
    [path] = [p for p in _store_files(world) if attachment_id in p.name]
    original = path.read_bytes()
    header, _, body = original.partition(b"\n")
    # A flipped ciphertext byte (the store's digest is left as it was: the seal must catch it).
    tampered = bytearray(body)
    tampered[HEADER_SIZE + 5] ^= 0x40
    meta = json.loads(header[len(b"YORISOI-OBJECT-1 "):])
    meta["sha256"] = hashlib.sha256(bytes(tampered)).hexdigest()
    path.write_bytes(b"YORISOI-OBJECT-1 " + json.dumps(meta, separators=(",", ":")).encode()
                     + b"\n" + bytes(tampered))
    response = client.get(url)
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert detail["code"] == "object_integrity" and detail["messageJa"]
    # Bytes changed behind the store's back: the store's own digest refuses them too.
    path.write_bytes(header + b"\n" + bytes(tampered))
    assert client.get(url).status_code == 409
    path.write_bytes(original)
    assert client.get(url).content == PDF
    # A link to something that is not a sealed subject object: not found, not a crash.
    assert client.get("/files/" + "x" * 40).status_code == 403
