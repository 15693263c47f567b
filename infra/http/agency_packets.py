"""``/agency-packets/<token>``: an off-system agency reads its referral packet and
acknowledges receipt.

The packet is stored and the link signed by ``infra/referral_packets.py``; here
the link is opened, the agency's read logged, and its acknowledgement recorded.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from yorisoi.domain.referrals import Referral
from yorisoi.infra.clock import japan_today
from yorisoi.infra.http.rest import open_link, problem
from yorisoi.infra.referral_packets import KEY_PATTERN, packet_secret
from yorisoi.infra.storage import ObjectNotFoundError
from yorisoi.infra.telemetry import client_request_id, current_trace_id
from yorisoi.infra.wiring.bootstrap import Services
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.personal_access import PersonalAccess, Reader, reading_as
from yorisoi.services.referrals import ReferralNotFoundError, packet_aad
from yorisoi.tenants.reading import write_access_log

router = APIRouter()

_INVALID = (403, "packet_link_invalid", "The link is not valid.", "リンクが無効です。")
_EXPIRED = (410, "packet_link_expired", "The link has expired; ask the sender for a new one.",
            "リンクの有効期限が切れています。送付元に再送を依頼してください。")
_GONE = (410, "packet_withdrawn", "This referral is no longer available.",
         "このつなぎの情報は閲覧できなくなりました。")


def _open_link(services: Services, token: str) -> tuple[str, str, UUID, UUID]:
    """(key, municipality code, household id, referral id) of a valid, unexpired link."""
    match = open_link(token, packet_secret(services), KEY_PATTERN, invalid=_INVALID, expired=_EXPIRED)
    space, household_id, referral_id = match.groups()
    return match.group(0), space.removeprefix("t_"), UUID(household_id), UUID(referral_id)


def _referral(rt: Any, household_id: UUID, referral_id: UUID) -> Referral:
    try:
        referral = rt.casework.readable_referral(referral_id, None)
    except ReferralNotFoundError:
        raise problem(*_GONE) from None
    if referral.household_id != household_id:
        raise problem(*_INVALID)
    if referral.status == Referral.CLOSED:
        raise problem(*_GONE)
    return referral


def _agency(request: Request, referral: Referral) -> ActingContext:
    """The off-system agency as the actor: of its reads and its acknowledgement."""
    agency = str(referral.agency_id)
    return ActingContext(
        user_id=f"agency:{agency}", role="agency", organisation_kind="agency",
        organisation_id=agency, contract_id=referral.contract_id, site_id=referral.site_id,
        request_id=client_request_id(request.headers.get("x-request-id")),
        trace_id=current_trace_id())


@router.get("/agency-packets/{token}", tags=["referrals"])
def read_packet(request: Request, token: str) -> JSONResponse:
    """An off-system agency reads its referral packet: only the fields chosen for it."""
    services: Services = request.app.state.services
    key, code, household_id, referral_id = _open_link(services, token)
    with services.runtimes.lease(code) as rt:
        referral = _referral(rt, household_id, referral_id)
        try:
            sealed, _ = services.objects.get(key)
        except ObjectNotFoundError:
            raise problem(*_GONE) from None
        # The agency's read is a disclosure of personal data: logged like any
        # other read (by field name), under the referral that was sent with consent.
        access = PersonalAccess("rest")
        access.admit(rt.space, Reader(_agency(request, referral), "full"))
        with reading_as(access):
            packet = rt.casework.keyring.read_json(household_id, sealed,
                                                   packet_aad(referral_id),
                                                   record=("referral_packet", str(referral_id)))
    write_access_log(services, access)
    if packet is None:  # the household was disposed of
        raise problem(*_GONE)
    return JSONResponse(packet, headers={"Cache-Control": "no-store"})


@router.post("/agency-packets/{token}/acknowledge", tags=["referrals"])
def acknowledge_packet(request: Request, token: str) -> dict[str, str]:
    """The agency confirms receipt; recorded once (a repeated click changes nothing)."""
    services: Services = request.app.state.services
    _key, code, household_id, referral_id = _open_link(services, token)
    with services.runtimes.lease(code) as rt:
        referral = _referral(rt, household_id, referral_id)
        if referral.status == Referral.SENT:
            try:
                with acting_as(_agency(request, referral)):
                    referral = rt.casework.acknowledge_referral(
                        referral_id, acknowledged_on=japan_today(), via="packet_link",
                        expected_version=None, writable_contract_ids=None)
            except IntegrityError:  # a simultaneous click recorded it first
                referral = _referral(rt, household_id, referral_id)
            rt.catch_up()
    return {"referralId": str(referral_id), "status": referral.status}
