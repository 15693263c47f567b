"""Compliance staff's pages: a record's history, a person's activity, break-glass uses,
disposal certificates and the chain's verification — metadata only, never personal values.

Every page is authorised with "audit.read" (compliance auditors of the municipality).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import audit_reader, i18n, vocabulary
from yorisoi.infra.console.household_finder import Finder, find, search_text
from yorisoi.infra.console.routes_records_admin import (
    certificate_summary,
    page,
    person_namer,
    years_label,
)
from yorisoi.infra.console.web import PREFIX, Console, PageError, console
from yorisoi.projections.organisation_view import OrganisationQueries
from yorisoi.services.audit_verify import ledger_sources, verify
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix=PREFIX + "/m/{code}/audit")
Con = Annotated[Console, Depends(console)]
MAX_ACTOR = 200


async def _names(con: Console, code: str) -> dict[str, Any]:
    """Names for the audit pages: staff, organisations, fields and events — never ids."""
    registry = con.services.directory.registry

    def load(rt: TenantRuntime, grant: Grant) -> tuple[Any, list[tuple[str, str]]]:
        staff = OrganisationQueries(rt.casework.database).all_staff(japan_today())
        people = sorted({(s.subject, s.display_name) for s in staff},
                        key=lambda item: (item[1], item[0]))
        return person_namer(con, rt), people

    person, people = await con.read("audit.read", code, load)
    organisations: dict[str, str] = {}

    def org(organisation_id: str | None) -> str:
        if not organisation_id:
            return "—"
        if organisation_id not in organisations:
            tenant = registry.tenant(organisation_id)
            organisations[organisation_id] = tenant.name if tenant is not None else "—"
        return organisations[organisation_id]

    return {"person": person, "people": people, "org": org,
            "field_name": lambda name: vocabulary.field_name(name, con.lang)}


@router.get("", response_class=HTMLResponse)
async def audit_home(con: Con, code: str) -> HTMLResponse:
    await con.read("audit.read", code, lambda rt, grant: None)
    return con.page("audit_home.html", code=code, values={}, **await _names(con, code))


@router.post("/find", response_class=HTMLResponse)
async def find_record(con: Con, code: str) -> HTMLResponse:
    """A household found by reception number or the case search (POSTed: never in an address).

    The search runs with the auditor's own case reading (masked: numbers and site
    names, no personal values); each case found links to its history.
    """
    form = await con.form()
    text = search_text(form)
    await con.read("audit.read", code, lambda rt, grant: None)
    found, error = await con.read("case.read", code, lambda rt, grant: find(
        rt, grant, con.services.directory.registry, text, con.lang))
    return con.page("audit_home.html", status=200 if found else 400, code=code,
                    values={"q": text}, found=found, search_error=error,
                    **await _names(con, code))


@router.get("/records", response_class=HTMLResponse)
async def record_history(con: Con, code: str, id: str = "") -> Response:
    try:
        case_id = str(uuid.UUID(id.strip()))
    except ValueError:
        await con.read("audit.read", code, lambda rt, grant: None)
        return con.page("audit_home.html", status=400, code=code, values={},
                        search_error=i18n.text("finder.required", con.lang),
                        **await _names(con, code))
    history = await con.read("audit.read", code,
                             lambda rt, grant: audit_reader.record_history(rt, grant, case_id))
    case = await con.read("case.read", code, lambda rt, grant: Finder(
        rt, grant, con.services.directory.registry).case(case_id))
    return con.page("audit_record.html", code=code, history=history, case=case,
                    **await _names(con, code))


@router.get("/people", response_class=HTMLResponse)
async def person_activity(con: Con, code: str, actor: str = "") -> HTMLResponse:
    actor = actor.strip()[:MAX_ACTOR]
    if not actor:
        await con.read("audit.read", code, lambda rt, grant: None)
        return con.page("audit_home.html", status=400, code=code, values={}, actor_error=True,
                        **await _names(con, code))
    views, uses = await con.read("audit.read", code,
                                 lambda rt, grant: audit_reader.person_activity(rt, actor))
    return con.page("audit_person.html", code=code, actor=actor, views=views, uses=uses,
                    **await _names(con, code))


@router.get("/break-glass", response_class=HTMLResponse)
async def break_glass(con: Con, code: str) -> HTMLResponse:
    uses = await con.read("audit.read", code,
                          lambda rt, grant: audit_reader.break_glass_uses(rt))
    return con.page("audit_break_glass.html", code=code, uses=uses, **await _names(con, code))


@router.get("/disposals", response_class=HTMLResponse)
async def disposals(con: Con, code: str) -> HTMLResponse:
    batches, name = await con.read("audit.read", code, lambda rt, grant: (
        audit_reader.disposal_batches(rt, con.services), person_namer(con, rt)))
    if batches is None:
        return con.page("audit_pending.html", code=code, what="disposals")
    return con.page("audit_disposals.html", code=code, batches=batches, name=name)


@router.get("/disposals/{batch_id}", response_class=HTMLResponse)
async def certificate(con: Con, code: str, batch_id: str) -> HTMLResponse:
    try:
        bid = str(uuid.UUID(batch_id))
    except ValueError:
        raise PageError(404, "No such disposal batch.", "指定された廃棄の記録が見つかりません。",
                        "batch_not_found") from None
    summary = await con.read("audit.read", code, lambda rt, grant: (
        certificate_summary(con, rt, bid)))
    return page(con, "audit_certificate.html", code=code, cert=summary,
                years_label=lambda y: years_label(y, con.lang))


@router.get("/chain", response_class=HTMLResponse)
async def chain(con: Con, code: str) -> HTMLResponse:
    # What ``yorisoi audit verify --tenant`` checks: the municipality's ledger and the
    # registry entries it depends on (contracts, issuers, grants).
    services = con.services
    report = await con.read("audit.read", code, lambda rt, grant: verify(
        ledger_sources(services, rt), services.signer.public_pem))
    return con.page("audit_chain.html", code=code, report=report)
