"""Referrals (つなぎ): drafting with the fields the family agreed to share, sending, and
recording the agency's responses, the outcome, follow-ups and closure.

Every step is the specialist's explicit act; steps on an existing referral act
under the referral's own contract and site, exactly as the GraphQL mutations do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from yorisoi.domain.referrals import SHAREABLE_FIELDS
from yorisoi.graphql.commands import on_referral
from yorisoi.graphql.errors import UserError
from yorisoi.graphql.referrals import Referral
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import dates, i18n
from yorisoi.infra.console.routes_cases import case_uuid, staff_choices, staff_namer, staff_names
from yorisoi.infra.console.web import PREFIX, Console, FormErrors, PageError, console, form_values
from yorisoi.infra.referral_packets import ObjectStorePacketPublisher, packet_secret
from yorisoi.projections.referral_board import ReferralBoardQueries
from yorisoi.services.referrals import ReferralNotFoundError
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix=PREFIX + "/m/{code}")
Con = Annotated[Console, Depends(console)]
MAX_CODE = 50


def _board(rt: TenantRuntime) -> ReferralBoardQueries:
    return ReferralBoardQueries(rt.casework.database, rt.casework.keyring)


def _referral_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PageError(404, ReferralNotFoundError.message, ReferralNotFoundError.message_ja,
                        ReferralNotFoundError.code) from None


# --------------------------------------------------------------------------- drafting


async def _draft_form(con: Con, code: str, case_id: str, values: dict[str, Any],
                      checked: list[str], errors: FormErrors | None = None,
                      status: int = 200) -> HTMLResponse:
    agencies = await con.read("case.read", code, lambda rt, grant: _board(rt).agencies())
    options = [(a.agency_id, f"{a.name}（{i18n.label('agency_kind', a.kind, con.lang)}）")
               for a in agencies]
    return con.page("referral_draft.html", status=status, code=code, case_id=case_id,
                    agencies=options, shareable=[(k, i18n.label("shared_field", k, con.lang))
                                                 for k in SHAREABLE_FIELDS],
                    values=values, checked=checked, errors=errors or FormErrors())


@router.get("/cases/{case_id}/referrals/new", response_class=HTMLResponse)
async def new_referral(con: Con, code: str, case_id: str) -> HTMLResponse:
    case_uuid(case_id)
    return await _draft_form(con, code, case_id, {}, ["referral.reason"])


@router.post("/cases/{case_id}/referrals/new")
async def draft(con: Con, code: str, case_id: str) -> Response:
    cid = case_uuid(case_id)
    form = await con.form()
    check = con.checker()  # the same checks as draftReferral
    agency_id = check.record_id("agencyId", str(form.get("agencyId", "")) or None)
    if agency_id is None and not check.errors:
        check.bad("agencyId", "Give either an agency or a directory entry.",
                  "関係機関か社会資源のどちらか一方を指定してください。")
    reason = check.required("reason", str(form.get("reason", "")))  # all errors at once
    shared = [str(f) for f in form.getlist("sharedFields")]
    check.count("sharedFields", shared, len(SHAREABLE_FIELDS))
    shared = [check.text(f"sharedFields.{i}", f, MAX_CODE) for i, f in enumerate(shared)]

    def command(rt: TenantRuntime, grant: Grant) -> Any:
        return rt.casework.draft_referral(
            case_id=cid, agency_id=agency_id, resource_id=None, reason=reason,
            urgent=form.get("urgent") == "on", accompanied=form.get("accompanied") == "on",
            shared_fields=shared, writable_contract_ids=grant.scope.contract_ids)

    result = await con.command("case.manage", code, command, check=check, case_id=cid)
    if isinstance(result, UserError):
        return await _draft_form(con, code, case_id, form_values(form), shared,
                                 FormErrors.of(result, con.lang), status=400)
    return con.saved(f"{PREFIX}/m/{code}/referrals/{result.id}")


# --------------------------------------------------------------------------- one referral


async def _page(con: Con, code: str, rid: uuid.UUID, *, errors: FormErrors | None = None,
                values: dict[str, Any] | None = None, packet_link: str | None = None,
                status: int = 200) -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> tuple[Referral, Any, dict[str, str]]:
        record = _board(rt).get(grant.scope, str(rid))
        if record is None:
            raise ReferralNotFoundError(field="referralId")
        agency = next((a for a in _board(rt).agencies() if a.agency_id == record.agency_id),
                      None)
        return Referral.from_record(record), agency, staff_names(rt)

    referral, agency, staff = await con.read("case.read", code, load)
    today = japan_today().isoformat()
    return con.page("referral.html", status=status, code=code, r=referral, agency=agency,
                    people=staff_choices(con, staff), person=staff_namer(con, staff),
                    errors=errors or FormErrors(), packet_link=packet_link,
                    values=values or {"sentOn": today, "on": today, "recordedOn": today,
                                      "dueOn": today, "closedOn": today,
                                      "ownerUserId": con.principal.subject},
                    bases=i18n.choices("confidentiality", con.lang),
                    legal_bases=i18n.choices("legal_basis", con.lang),
                    outcomes=i18n.choices("outcome", con.lang),
                    closures=i18n.choices("referral_closure", con.lang),
                    may_manage=await con.may("case.manage", code))


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
async def referral_page(con: Con, code: str, referral_id: str) -> HTMLResponse:
    return await _page(con, code, _referral_uuid(referral_id))


async def _step(con: Con, code: str, rid: uuid.UUID, check: Checker, form: FormData,
                act: Callable[[TenantRuntime, Grant], object],
                packet_link: Callable[[], str | None] = lambda: None,
                ) -> Response:
    """One step on an existing referral, under the referral's own contract and site."""

    def command(rt: TenantRuntime, grant: Grant) -> None:
        on_referral(rt, grant, rid, act)

    result = await con.command("case.manage", code, command, check=check)
    if isinstance(result, UserError):
        return await _page(con, code, rid, errors=FormErrors.of(result, con.lang),
                           values=form_values(form), status=400)
    link = packet_link()
    if link is not None:  # shown once: the agency's expiring link to its packet
        return await _page(con, code, rid, packet_link=link)
    return con.saved(f"{PREFIX}/m/{code}/referrals/{rid}")


@router.post("/referrals/{referral_id}/send")
async def send(con: Con, code: str, referral_id: str) -> Response:
    rid = _referral_uuid(referral_id)
    form = await con.form()
    check = con.checker()  # the same checks as sendReferral
    sent_on = dates.typed_day(check, "sentOn", str(form.get("sentOn", "")))
    basis = str(form.get("confidentialityBasis", "")) or None
    reason = check.text("exception.reason", str(form.get("exception.reason", ""))) or None
    legal = check.text("exception.legalBasis", str(form.get("exception.legalBasis", "")),
                       MAX_CODE) or None
    services = con.services
    sent: dict[str, ObjectStorePacketPublisher] = {}

    def act(rt: TenantRuntime, grant: Grant) -> None:
        sent["publisher"] = ObjectStorePacketPublisher(services.objects,
                                                       packet_secret(services), rt.space)
        rt.casework.send_referral(
            rid, sent_on=sent_on, confidentiality_basis=basis, exception_reason=reason,
            exception_legal_basis=legal, expected_version=None,
            writable_contract_ids=grant.scope.contract_ids, publisher=sent["publisher"])

    def link() -> str | None:
        publisher = sent.get("publisher")
        if publisher is None or publisher.token is None:
            return None
        return f"{services.settings.public_url}/agency-packets/{publisher.token}"

    return await _step(con, code, rid, check, form, act, link)


@router.post("/referrals/{referral_id}/respond")
async def respond(con: Con, code: str, referral_id: str) -> Response:
    """Acknowledged, accepted or declined, on a date."""
    rid = _referral_uuid(referral_id)
    form = await con.form()
    check = con.checker()
    on = dates.typed_day(check, "on", str(form.get("on", "")))
    note = check.text("note", str(form.get("note", "")))
    step = str(form.get("step", ""))
    if step not in ("acknowledge", "accept", "decline"):
        check.bad("step", "Choose what the agency did.", "機関の対応を選んでください。")

    def act(rt: TenantRuntime, grant: Grant) -> None:
        common: dict[str, Any] = {"expected_version": None,
                                  "writable_contract_ids": grant.scope.contract_ids}
        if step == "acknowledge":
            rt.casework.acknowledge_referral(rid, acknowledged_on=on, via="staff", **common)
        else:
            rt.casework.respond_to_referral(rid, accepted=step == "accept", on=on, note=note,
                                            **common)

    return await _step(con, code, rid, check, form, act)


@router.post("/referrals/{referral_id}/outcome")
async def outcome(con: Con, code: str, referral_id: str) -> Response:
    rid = _referral_uuid(referral_id)
    form = await con.form()
    check = con.checker()
    recorded_on = dates.typed_day(check, "recordedOn", str(form.get("recordedOn", "")))
    note = check.text("note", str(form.get("outcomeNote", "")))
    return await _step(con, code, rid, check, form, lambda rt, grant: (
        rt.casework.record_referral_outcome(
            rid, outcome=str(form.get("outcome", "")), note=note, recorded_on=recorded_on,
            expected_version=None, writable_contract_ids=grant.scope.contract_ids)))


@router.post("/referrals/{referral_id}/follow-ups")
async def follow_up(con: Con, code: str, referral_id: str) -> Response:
    rid = _referral_uuid(referral_id)
    form = await con.form()
    check = con.checker()
    due_on = dates.typed_day(check, "dueOn", str(form.get("dueOn", "")))
    owner = check.required("ownerUserId", str(form.get("ownerUserId", "")), 200)
    return await _step(con, code, rid, check, form, lambda rt, grant: (
        rt.casework.schedule_referral_follow_up(
            rid, follow_up_id=str(uuid.uuid4()), due_on=due_on, owner_user_id=owner,
            expected_version=None, writable_contract_ids=grant.scope.contract_ids)))


@router.post("/referrals/{referral_id}/close")
async def close(con: Con, code: str, referral_id: str) -> Response:
    rid = _referral_uuid(referral_id)
    form = await con.form()
    check = con.checker()
    closed_on = dates.typed_day(check, "closedOn", str(form.get("closedOn", "")))
    return await _step(con, code, rid, check, form, lambda rt, grant: (
        rt.casework.close_referral(rid, closed_on=closed_on,
                                   reason=str(form.get("closureReason", "")),
                                   expected_version=None,
                                   writable_contract_ids=grant.scope.contract_ids)))
