"""Disclosure exports: stored sealed under the household's prefix, read through a short-lived link.

The pattern of ``infra/referral_packets.py``: the export's files are sealed
under the household key (as sealed objects: chunked, the object key bound in;
exports stored before that are single AES-GCM envelopes, still read) and stored at
``<space>/households/<household>/disclosures/<export>.<json|html>`` (so
disposal deletes them with the household's other objects, and a copy left in
a backup is unreadable once the key is destroyed); the officer gets an
HMAC-signed link valid for ``LINK_SECONDS`` under a secret of its own (a
disclosure link never opens ``/files/`` or a referral packet).  Reading the
link opens the file; once the household is disposed of the link answers 410.
"""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from yorisoi.infra.wiring.bootstrap import Services
from yorisoi.infra.http.rest import open_link, problem
from yorisoi.infra.sealed_objects import (
    Keyring,
    SealedObjectError,
    SealedObjects,
    is_sealed,
    open_bytes,
)
from yorisoi.infra.storage import (
    ExpiringLinks,
    ObjectNotFoundError,
    ObjectStore,
    content_disposition,
    link_secret,
)
from yorisoi.services.disclosure import FORMATS, disclosure_aad

router = APIRouter()

LINK_SECONDS = 15 * 60
_SECRET_FILE = "disclosure-link.secret"
_KEY = re.compile(r"^(t_\d{6})/households/([0-9a-f-]{36})/disclosures/([0-9a-f-]{36})\.(json|html)$")


def disclosure_key(space: str, household_id: UUID, export_id: UUID, fmt: str) -> str:
    return f"{space}/households/{household_id}/disclosures/{export_id}.{fmt}"


def disclosure_secret(services: Services) -> bytes:
    return link_secret(Path(services.settings.keys_dir) / _SECRET_FILE)


class ObjectStoreDisclosurePublisher(ExpiringLinks):
    """Stores an export's sealed files and issues their expiring links."""

    def __init__(self, objects: ObjectStore, secret: bytes, space: str,
                 seconds: int = LINK_SECONDS) -> None:
        super().__init__(secret, seconds)
        self.objects = objects
        self.space = space

    def publish(self, household_id: UUID, export_id: UUID, fmt: str, data: bytes,
                keyring: Keyring) -> str:
        key = disclosure_key(self.space, household_id, export_id, fmt)
        return SealedObjects(self.objects, keyring).put(
            key, household_id, data, content_type=FORMATS[fmt]).stored_sha256

    def link(self, household_id: UUID, export_id: UUID, fmt: str) -> str:
        key = disclosure_key(self.space, household_id, export_id, fmt)
        return f"/disclosures/{self.sign(key)}"


_INVALID = (403, "disclosure_link_invalid", "The link is not valid.", "リンクが無効です。")
_EXPIRED = (410, "disclosure_link_expired", "The link has expired; export the records again.",
            "リンクの有効期限が切れています。改めて出力してください。")
_GONE = (410, "disclosure_gone", "These records are no longer available.",
         "この記録は閲覧できなくなりました。")


@router.get("/disclosures/{token}", tags=["data-subject requests"])
def read_disclosure(request: Request, token: str) -> Response:
    """Download a disclosure export (JSON or the Japanese HTML document) through its link."""
    services: Services = request.app.state.services
    match = open_link(token, disclosure_secret(services), _KEY,
                      invalid=_INVALID, expired=_EXPIRED)
    key = match.group(0)
    space, household_id, export_id, fmt = match.groups()
    with services.runtimes.lease(space.removeprefix("t_")) as rt:
        keyring = rt.casework.keyring
        try:
            sealed, _ = services.objects.get(key)
        except ObjectNotFoundError:
            raise problem(*_GONE) from None
        try:
            if is_sealed(sealed):
                aead = keyring.for_reading(UUID(household_id))
                data = None if aead is None else open_bytes(aead, key, sealed)[0]
            else:  # an export sealed as one envelope, before sealed objects
                data = keyring.open(UUID(household_id), sealed, disclosure_aad(export_id, fmt))
        except (SealedObjectError, ValueError):
            raise problem(409, SealedObjectError.code, SealedObjectError.message,
                          SealedObjectError.message_ja) from None
    if data is None:  # the household was disposed of
        raise problem(*_GONE)
    return Response(data, media_type=FORMATS[fmt], headers={
        "Cache-Control": "no-store",
        "Content-Disposition": content_disposition(f"disclosure-{export_id}.{fmt}")})
