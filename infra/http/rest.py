"""REST routes: health, readiness, attachments (presigned) and the dev issuer's keys."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from yorisoi.domain.errors import DomainError
from yorisoi.infra.identity import AuthenticationError, bearer_token
from yorisoi.infra.sealed_objects import (
    ObjectKeyDestroyedError,
    SealedObjectError,
    SealedObjects,
    subject_of,
)
from yorisoi.infra.storage import (
    DownloadLinkError,
    DownloadLinkExpiredError,
    ObjectIntegrityError,
    ObjectNotFoundError,
    link_secret,
    make_download_token,
    open_download_link,
    read_download_token,
)
from yorisoi.infra.telemetry import client_request_id, current_trace_id, tag_tenant
from yorisoi.infra.wiring.bootstrap import Services
from yorisoi.services.casework import CaseNotFoundError
from yorisoi.services.context import acting_as
from yorisoi.services.idempotency import (
    IdempotencyKeyInvalidError,
    IdempotencyKeyReusedError,
    IdempotentRequest,
    request_digest,
    run_once,
)
from yorisoi.services.personal_access import PersonalAccess, may_read, reading_as
from yorisoi.services.personal_data import HouseholdKeyDestroyedError
from yorisoi.tenants.access import AccessDeniedError, Grant, Principal, authorize
from yorisoi.tenants.reading import admit, write_access_log

router = APIRouter()

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENT_TYPES = {"application/pdf", "image/png", "image/jpeg"}
LINK_SECONDS = 300


def problem(status: int, code: str, message: str, message_ja: str) -> HTTPException:
    return HTTPException(status, detail={"code": code, "message": message,
                                         "messageJa": message_ja})


Problem = tuple[int, str, str, str]  # problem()'s arguments: status, code, English, Japanese


def open_link(token: str, secret: bytes, key_pattern: re.Pattern[str], *,
              invalid: Problem, expired: Problem) -> re.Match[str]:
    """Open a signed expiring link of one kind (packet, disclosure) or answer its problem."""
    try:
        return open_download_link(token, secret, key_pattern)
    except DownloadLinkExpiredError:
        raise problem(*expired) from None
    except DownloadLinkError:
        raise problem(*invalid) from None


def services_of(request: Request) -> Services:
    return request.app.state.services


# File links (``/files/<token>``) are the application's on every store: objects
# are sealed, so a presigned S3 URL would hand out ciphertext.  The secret is the
# local store's own file, so links issued before sealing keep working.
_FILE_SECRET = "download-link.secret"
_FILE_CONTENT_TYPES = ("application/pdf", "image/png", "image/jpeg", "application/json",
                       "text/html; charset=utf-8", "application/octet-stream")


def file_secret(services: Services) -> bytes:
    return link_secret(Path(services.settings.keys_dir) / _FILE_SECRET)


def file_link(services: Services, key: str, seconds: int = LINK_SECONDS) -> str:
    """A short-lived ``/files/`` link to a sealed object (opened and decrypted on the way out)."""
    return "/files/" + make_download_token(key, file_secret(services), expires_in=seconds)


@router.get("/healthz", tags=["operations"])
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


# /readyz lives in infra/http/app.py: answered from the background probe (infra/http/readiness.py).


def grant_for(request: Request, authorization: str | None, action: str,
           municipality_code: str) -> Grant:
    services = services_of(request)
    try:
        token = services.verifier.verify(bearer_token(authorization))
        grant = authorize(Principal.from_token(token), action,  # type: ignore[arg-type]
                          municipality_code, services.directory.registry,
                          request_id=client_request_id(request.headers.get("x-request-id")),
                          trace_id=current_trace_id())
    except AuthenticationError as error:
        raise problem(401, error.code, error.message, error.message_ja) from None
    except AccessDeniedError as error:
        raise problem(403, error.code, error.message, error.message_ja) from None
    tag_tenant(None, request.state, grant)
    return grant


def keyed_write(grant: Grant, key: str | None, *asked: str) -> IdempotentRequest | None:
    """The idempotency scope of a REST write sent with an ``Idempotency-Key`` (None without)."""
    if key is None:
        return None
    a = grant.acting
    try:
        return IdempotentRequest.of(f"{a.organisation_kind}:{a.organisation_id}:{a.user_id}",
                                    key, request_digest("rest", *asked))
    except IdempotencyKeyInvalidError as error:
        raise problem(400, error.code, error.message, error.message_ja) from None


def _case_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise problem(404, "case_not_found", CaseNotFoundError.message,
                      CaseNotFoundError.message_ja) from None


def _object_key(space: str, household_id: uuid.UUID, attachment_id: str) -> str:
    # Keys hold ids only; the household prefix lets disposal delete them all at once.
    return f"{space}/households/{household_id}/attachments/{attachment_id}"


async def read_upload(file: UploadFile) -> tuple[bytes, str]:
    """An uploaded document's bytes and type, within the size and type limits (413/415)."""
    data = await file.read(MAX_ATTACHMENT_BYTES + 1)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise problem(413, "attachment_too_large", "Attachments are limited to 10 MiB.",
                      "添付ファイルは10MiBまでです。")
    content_type = file.content_type or ""
    if content_type not in ATTACHMENT_TYPES:
        raise problem(415, "attachment_type_unsupported", "Upload a PDF, PNG or JPEG file.",
                      "PDF・PNG・JPEGのファイルを添付してください。")
    return data, content_type


@router.post("/api/municipalities/{municipality_code}/cases/{case_id}/attachments",
             status_code=201, tags=["attachments"])
async def upload_attachment(
    request: Request, municipality_code: str, case_id: str,
    file: Annotated[UploadFile, File()], kind: Annotated[str, Form()] = "other",
    authorization: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> dict[str, Any]:
    """Store a document (signed consent form, minutes) with a case.

    With an ``Idempotency-Key`` a repeated upload answers the first one's result
    and stores nothing again."""
    data, content_type = await read_upload(file)
    services = services_of(request)

    def run() -> dict[str, Any]:
        grant = grant_for(request, authorization, "consultation.record", municipality_code)
        cid = _case_id(case_id)
        attachment_id = uuid.uuid4()
        with services.runtimes.lease(grant.municipality_code) as rt:
            try:
                case = rt.casework.readable_case(cid, grant.scope.contract_ids)
            except CaseNotFoundError as error:
                raise problem(404, error.code, error.message, error.message_ja) from None
            # The upload acts under the case's own contract and site.
            acting = grant.acting.at(contract_id=case.contract_id, site_id=case.site_id)

            def store(household_id: uuid.UUID, payload: bytes) -> str:
                # Sealed under the household key: no readable copy in the bucket or its backups.
                key = _object_key(rt.space, household_id, str(attachment_id))
                return SealedObjects(services.objects, rt.casework.keyring).put(
                    key, household_id, payload, content_type=content_type).sha256

            def attach() -> dict[str, Any]:
                with acting_as(acting):
                    rt.casework.attach_to_case(
                        cid, attachment_id=attachment_id, kind=kind, content_type=content_type,
                        data=data, store=store, writable_contract_ids=grant.scope.contract_ids)
                return {"id": str(attachment_id), "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()}

            once = keyed_write(grant, idempotency_key, "attachment", municipality_code,
                               case_id, kind, content_type, hashlib.sha256(data).hexdigest())
            try:
                return run_once(rt.casework, once, attach)
            except IdempotencyKeyInvalidError as error:
                raise problem(400, error.code, error.message, error.message_ja) from None
            except IdempotencyKeyReusedError as error:
                raise problem(422, error.code, error.message, error.message_ja) from None
            except CaseNotFoundError as error:
                raise problem(404, error.code, error.message, error.message_ja) from None
            except DomainError as error:
                raise problem(422, error.code, error.message, error.message_ja) from None
            except HouseholdKeyDestroyedError as error:
                raise problem(410, error.code, error.message, error.message_ja) from None

    return await asyncio.to_thread(run)


@router.get("/api/municipalities/{municipality_code}/cases/{case_id}/attachments/{attachment_id}",
            tags=["attachments"])
def attachment_link(request: Request, municipality_code: str, case_id: str,
                    attachment_id: str,
                    authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """A short-lived download link for a case's document."""
    services = services_of(request)
    grant = grant_for(request, authorization, "case.read", municipality_code)
    cid = _case_id(case_id)
    access = PersonalAccess("rest")
    admit(services, access, grant)
    with services.runtimes.lease(grant.municipality_code) as rt:
        try:
            if rt.cases.get(grant.scope, str(cid)) is None:  # contracts and sites alike
                raise CaseNotFoundError(field="caseId")
            case = rt.casework.readable_case(cid, grant.scope.contract_ids)
        except CaseNotFoundError as error:
            raise problem(404, error.code, error.message, error.message_ja) from None
        if attachment_id not in case.attachments:
            raise problem(404, "attachment_not_found", "No such attachment on this case.",
                          "このケースに該当する添付書類はありません。")
        # A document of the family is personal data: roles without the need to
        # know get no link (an auditor's break-glass for the case opens it), and
        # the link handed out is logged as a read.
        with reading_as(access):
            allowed = may_read(rt.space, str(case.household_id), "attachment", attachment_id,
                               ("document",))
        if not allowed:
            raise problem(403, "personal_data_masked",
                          "Your role does not see this family's documents.",
                          "この役割では家庭の書類を閲覧できません。")
        key = _object_key(rt.space, case.household_id, attachment_id)
    write_access_log(services, access)
    return {"url": file_link(services, key), "expiresIn": LINK_SECONDS}


_LINK_INVALID = (403, "link_invalid", "The download link is invalid or has expired.",
                 "ダウンロードリンクが無効か、有効期限が切れています。")
_NOT_FOUND = (404, "not_found", "Not found.", "見つかりません。")


@router.get("/files/{token}", tags=["attachments"], include_in_schema=False)
def download_file(request: Request, token: str) -> Response:
    """Serve a file link: the sealed object opened under its subject's key, streamed."""
    services = services_of(request)
    try:
        grant = read_download_token(token, file_secret(services))
    except DownloadLinkError:
        raise problem(*_LINK_INVALID) from None
    subject = subject_of(grant.key)
    if subject is None:  # links are issued for sealed objects only
        raise problem(*_NOT_FOUND)
    try:
        with services.runtimes.lease(subject.municipality_code) as rt:
            opened = SealedObjects(services.objects, rt.casework.keyring).open(
                grant.key, subject.subject_id)
    except ObjectNotFoundError:
        raise problem(*_NOT_FOUND) from None
    except ObjectKeyDestroyedError as error:
        raise problem(410, error.code, error.message, error.message_ja) from None
    except (SealedObjectError, ObjectIntegrityError):
        raise problem(409, SealedObjectError.code, SealedObjectError.message,
                      SealedObjectError.message_ja) from None
    media_type = (opened.content_type if opened.content_type in _FILE_CONTENT_TYPES
                  else "application/octet-stream")
    return StreamingResponse(opened.chunks, media_type=media_type,
                             headers={"Cache-Control": "no-store"})


@router.get("/dev-idp/jwks.json", tags=["development"], include_in_schema=False)
def dev_jwks(request: Request) -> dict[str, Any]:
    issuer = services_of(request).dev_issuer
    if issuer is None:
        raise problem(404, "not_found", "Not found.", "見つかりません。")
    return issuer.jwks()
