"""``GET /disclosures/<token>``: a disclosure export read through its short-lived link.

The export is stored and the link signed by ``infra/disclosure_links.py``; here
the link is opened and the file unsealed (410 once the household is disposed of).
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from yorisoi.infra.disclosure_links import FORMATS, KEY_PATTERN, disclosure_secret
from yorisoi.infra.http.rest import open_link, problem
from yorisoi.infra.sealed_objects import SealedObjectError, is_sealed, open_bytes
from yorisoi.infra.storage import ObjectNotFoundError, content_disposition
from yorisoi.infra.wiring.bootstrap import Services
from yorisoi.services.disclosure import disclosure_aad

router = APIRouter()

_INVALID = (403, "disclosure_link_invalid", "The link is not valid.", "リンクが無効です。")
_EXPIRED = (410, "disclosure_link_expired", "The link has expired; export the records again.",
            "リンクの有効期限が切れています。改めて出力してください。")
_GONE = (410, "disclosure_gone", "These records are no longer available.",
         "この記録は閲覧できなくなりました。")


@router.get("/disclosures/{token}", tags=["data-subject requests"])
def read_disclosure(request: Request, token: str) -> Response:
    """Download a disclosure export (JSON or the Japanese HTML document) through its link."""
    services: Services = request.app.state.services
    match = open_link(token, disclosure_secret(services), KEY_PATTERN,
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
