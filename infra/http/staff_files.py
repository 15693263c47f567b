"""REST routes for a staff member's signed confidentiality pledge (誓約書): upload and link.

Files go to object storage under ``{space}/staff/{staff_id}/pledge/{uuid}``:
ids only in the key (a file name may carry the person's name), and the
municipality's space as the prefix, like case attachments.  A signed pledge
bears the staff member's name and signature, so it is sealed like an
attachment (``infra/sealed_objects.py``), under the staff member's own key
(a ``household_keys`` row keyed by the staff id, as complaints have theirs),
and read through the application's ``/files/`` link.  The aggregate
accepts the pledge before the bytes are stored, so a refused upload leaves
nothing behind.  A contractor's administrator reaches only its own staff.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Request, UploadFile

from yorisoi.domain.errors import DomainError
from yorisoi.infra.http.rest import (
    LINK_SECONDS,
    file_link,
    grant_for,
    keyed_write,
    problem,
    read_upload,
    services_of,
)
from yorisoi.infra.sealed_objects import SealedObjects
from yorisoi.services.context import acting_as
from yorisoi.services.idempotency import run_once
from yorisoi.services.staff import StaffMemberNotFoundError
from yorisoi.tenants.access import Grant

router = APIRouter()


def pledge_key(space: str, staff_id: uuid.UUID, attachment_id: str) -> str:
    return f"{space}/staff/{staff_id}/pledge/{attachment_id}"


def _scope(grant: Grant) -> str | None:
    # A contractor manages only its own organisation's staff.
    return grant.acting.organisation_id if grant.acting.organisation_kind == "contractor" else None


def _staff_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise problem(404, StaffMemberNotFoundError.code, StaffMemberNotFoundError.message,
                      StaffMemberNotFoundError.message_ja) from None


def _signed_on(value: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise problem(422, "invalid_input", "signedOn is not a date: use YYYY-MM-DD.",
                      "署名日の形式が正しくありません（YYYY-MM-DD）。") from None


@router.post("/api/municipalities/{municipality_code}/staff/{staff_id}/pledge",
             status_code=201, tags=["staff"])
async def upload_pledge(
    request: Request, municipality_code: str, staff_id: str,
    file: Annotated[UploadFile, File()], signed_on: Annotated[str, Form(alias="signedOn")],
    authorization: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> dict[str, Any]:
    """Store a staff member's signed confidentiality pledge (a new one replaces the old).

    With an ``Idempotency-Key`` a repeated upload answers the first one's result."""
    data, content_type = await read_upload(file)
    services = services_of(request)
    on = _signed_on(signed_on)

    def run() -> dict[str, Any]:
        grant = grant_for(request, authorization, "staff.manage", municipality_code)
        sid = _staff_id(staff_id)
        attachment_id = uuid.uuid4()
        with services.runtimes.lease(grant.municipality_code) as rt:

            def store(payload: bytes) -> str:
                key = pledge_key(rt.space, sid, str(attachment_id))
                return SealedObjects(services.objects, rt.casework.keyring).put(
                    key, sid, payload, content_type=content_type).sha256

            def attach() -> dict[str, Any]:
                with acting_as(grant.acting):
                    member = rt.casework.attach_staff_pledge(
                        sid, attachment_id=attachment_id, signed_on=on,
                        content_type=content_type, data=data, store=store,
                        organisation_id=_scope(grant))
                assert member.pledge is not None
                return {"id": str(attachment_id), "size": member.pledge["size"],
                        "sha256": member.pledge["sha256"], "signedOn": on.isoformat()}

            once = keyed_write(grant, idempotency_key, "pledge", municipality_code, staff_id,
                               on.isoformat(), content_type, hashlib.sha256(data).hexdigest())
            try:
                answer = run_once(rt.casework, once, attach)
            except StaffMemberNotFoundError as error:
                raise problem(404, error.code, error.message, error.message_ja) from None
            except DomainError as error:  # a reused key among them (422)
                raise problem(422, error.code, error.message, error.message_ja) from None
            rt.catch_up()
        return answer

    return await asyncio.to_thread(run)


@router.get("/api/municipalities/{municipality_code}/staff/{staff_id}/pledge", tags=["staff"])
def pledge_link(request: Request, municipality_code: str, staff_id: str,
                authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """A short-lived download link for the staff member's current pledge."""
    services = services_of(request)
    grant = grant_for(request, authorization, "staff.manage", municipality_code)
    sid = _staff_id(staff_id)
    with services.runtimes.lease(grant.municipality_code) as rt:
        try:
            member = rt.casework.staff_member(sid, _scope(grant))
        except StaffMemberNotFoundError as error:
            raise problem(404, error.code, error.message, error.message_ja) from None
        if member.pledge is None:
            raise problem(404, "pledge_not_found", "No pledge on file for this staff member.",
                          "この職員の誓約書は提出されていません。")
        key = pledge_key(rt.space, sid, str(member.pledge["attachment_id"]))
    return {"url": file_link(services, key), "expiresIn": LINK_SECONDS}
