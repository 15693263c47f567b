"""Sites (実施場所): the profile (type, address, direct or contracted operation checked
against the site's contracts), weekly hours and dated exceptions, with the findings.

Every form runs through ``Console.command`` under "organisation.manage" and the
site, the same ``execute`` path and service commands as ``graphql/sites.py``; the
console checks each field first so that every error of a form shows at once.
Sites and contractors appear by name.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from yorisoi.domain.sites import EXCEPTION_KINDS, SITE_TYPES, WEEKDAYS
from yorisoi.graphql.errors import UserError
from yorisoi.graphql.sites import SiteProfile
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import admin_words, dates, i18n
from yorisoi.infra.console.admin_common import Names, admin_url, errors_of, gate, names, page
from yorisoi.infra.console.web import Console, FormErrors, PageError, console, form_values
from yorisoi.projections.organisation_view import OrganisationQueries
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix="/console/m/{code}/admin")
Con = Annotated[Console, Depends(console)]
HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
MAX_ADDRESS = 200


def _site_unknown() -> PageError:
    return PageError(404, "No such site in this municipality.",
                     "指定された実施場所はこの自治体に登録されていません。", "site_unknown")


@router.get("/sites", response_class=HTMLResponse)
async def sites(con: Con, code: str, saved: str = "") -> HTMLResponse:
    gate(con)

    def load(rt: TenantRuntime, grant: Grant) -> tuple[Names, dict[str, SiteProfile]]:
        profiles = {r.site_id: SiteProfile.from_record(r)
                    for r in OrganisationQueries(rt.casework.database).sites(japan_today())}
        return names(con, rt, grant.municipality_code), profiles

    known, profiles = await con.read("organisation.manage", code, load)
    return page(con, "admin_sites.html", code=code, names=known, profiles=profiles, saved=saved)


async def _site_page(con: Con, code: str, site_id: str, *, saved: str = "",
                     errors: FormErrors | None = None, values: dict[str, Any] | None = None,
                     form_name: str = "", status: int = 200) -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> tuple[Names, SiteProfile | None]:
        known = names(con, rt, grant.municipality_code)
        if site_id not in known.sites:
            raise _site_unknown()
        records = OrganisationQueries(rt.casework.database).sites(japan_today(), site_id)
        return known, SiteProfile.from_record(records[0]) if records else None

    known, profile = await con.read("organisation.manage", code, load, site_id=site_id)
    today = japan_today()
    contracts = [(c.contract_id, admin_words.text(
        "sites.contract_of", con.lang, name=known.organisation(c.contractor_id),
        start=dates.show_date(c.starts_on, con.lang), end=dates.show_date(c.ends_on, con.lang)))
        for c in known.contracts if site_id in c.site_ids and c.is_active_on(today)]
    defaults: dict[str, Any] = {"on": today.isoformat(), "exceptionKind": "closed"}
    if profile is not None:
        defaults.update(siteType=profile.site_type, address=profile.address,
                        contractId=profile.contract_id or "")
        for h in profile.weekly:
            defaults[f"opens.{h.weekday}"], defaults[f"closes.{h.weekday}"] = h.opens, h.closes
    holidays = profile.closed_on_public_holidays if profile is not None else True
    if form_name == "hours" and values is not None:
        holidays = values.get("holidays") == "on"
    return page(con, "admin_site.html", status=status, code=code, site_id=site_id,
                site_name=known.sites[site_id], names=known, p=profile, saved=saved,
                errors=errors or FormErrors(), form_name=form_name,
                values={**defaults, **(values or {})}, contracts=contracts, holidays=holidays,
                contractor=known.organisation(profile.contractor_id)
                if profile is not None and profile.contractor_id else None,
                type_options=i18n.choices("site_type", con.lang), weekdays=WEEKDAYS,
                exception_options=admin_words.choices("exception", con.lang, EXCEPTION_KINDS))


@router.get("/sites/{site_id}", response_class=HTMLResponse)
async def site_page(con: Con, code: str, site_id: str, saved: str = "") -> HTMLResponse:
    gate(con)
    return await _site_page(con, code, site_id, saved=saved)


async def _run(con: Con, code: str, site_id: str, check: Checker, form: FormData,
               form_name: str, act: Any) -> Response:
    def command(rt: TenantRuntime, grant: Grant) -> None:
        act(rt, grant)
        rt.catch_up()

    result = await con.command("organisation.manage", code, command, check=check,
                               site_id=site_id)
    if isinstance(result, UserError):
        return await _site_page(con, code, site_id, errors=errors_of(con, result),
                                values=form_values(form), form_name=form_name, status=400)
    return con.redirect(admin_url(code, f"/sites/{site_id}?saved={form_name}#{form_name}-h"))


@router.post("/sites/{site_id}/profile")
async def save_profile(con: Con, code: str, site_id: str) -> Response:
    gate(con)
    form = await con.form()
    check = con.checker()  # the same checks as saveSiteProfile, each field at once
    site_type = str(form.get("siteType", ""))
    if site_type not in SITE_TYPES:
        check.bad("siteType", "Choose the site type.", "事業類型を選んでください。")
    address = check.required("address", str(form.get("address", "")), MAX_ADDRESS)
    contract_id = str(form.get("contractId", "")) or None
    version = str(form.get("version", ""))
    registry = con.services.directory.registry

    def act(rt: TenantRuntime, grant: Grant) -> None:
        today = japan_today()
        contracts = {c.contract_id: c.contractor_id
                     for c in registry.contract_for_site(grant.municipality_code, site_id)
                     if c.is_active_on(today)}
        rt.casework.save_site_profile(
            grant.municipality_code, site_id, site_type=site_type, address=address.strip(),
            contract_id=contract_id, site_contracts=contracts,
            expected_version=int(version) if version.isdigit() else None)

    return await _run(con, code, site_id, check, form, "profile", act)


def _hours(check: Checker, form: FormData, opens_field: str, closes_field: str,
           required: bool) -> tuple[str, str] | None:
    """A day's HH:MM hours (both or neither; closing after opening), errors per field."""
    opens = str(form.get(opens_field, "")).strip()
    closes = str(form.get(closes_field, "")).strip()
    if not opens and not closes and not required:
        return None
    bad = False
    for field, value in ((opens_field, opens), (closes_field, closes)):
        if not HHMM.fullmatch(value):
            check.bad(field, "Give the time as HH:MM (e.g. 09:00).",
                      "時刻はHH:MM形式（例 09:00）で入力してください。")
            bad = True
    if not bad and closes <= opens:
        check.bad(closes_field, "The closing time is after the opening time.",
                  "閉所時刻は開所時刻より後にしてください。")
    return opens, closes


@router.post("/sites/{site_id}/hours")
async def save_hours(con: Con, code: str, site_id: str) -> Response:
    gate(con)
    form = await con.form()
    check = con.checker()
    weekly: dict[str, tuple[str, str]] = {}
    for day in WEEKDAYS:
        hours = _hours(check, form, f"opens.{day}", f"closes.{day}", required=False)
        if hours is not None:
            weekly[day] = hours
    holidays = form.get("holidays") == "on"
    version = str(form.get("version", ""))

    def act(rt: TenantRuntime, grant: Grant) -> None:
        rt.casework.set_site_schedule(
            grant.municipality_code, site_id, weekly=weekly,
            closed_on_public_holidays=holidays,
            expected_version=int(version) if version.isdigit() else None)

    return await _run(con, code, site_id, check, form, "hours", act)


@router.post("/sites/{site_id}/exceptions")
async def add_exception(con: Con, code: str, site_id: str) -> Response:
    gate(con)
    form = await con.form()
    check = con.checker()  # the same checks as addSiteScheduleException
    on = check.day("on", str(form.get("on", "")))
    kind = str(form.get("exceptionKind", ""))
    hours: tuple[str, str] | None = None
    if kind not in EXCEPTION_KINDS:
        check.bad("exceptionKind", "Choose closed or special opening.",
                  "休所か臨時開所かを選んでください。")
    elif kind == "special_opening":
        hours = _hours(check, form, "exceptionOpens", "exceptionCloses", required=True)

    def act(rt: TenantRuntime, grant: Grant) -> None:
        assert on is not None
        rt.casework.add_site_exception(grant.municipality_code, site_id, on=on, kind=kind,
                                       opens=hours[0] if hours else None,
                                       closes=hours[1] if hours else None)

    return await _run(con, code, site_id, check, form, "exceptions", act)


@router.post("/sites/{site_id}/exceptions/remove")
async def remove_exception(con: Con, code: str, site_id: str) -> Response:
    gate(con)
    form = await con.form()
    check = con.checker()
    on = check.day("on", str(form.get("on", "")))

    def act(rt: TenantRuntime, grant: Grant) -> None:
        assert on is not None
        rt.casework.remove_site_exception(grant.municipality_code, site_id, on=on)

    return await _run(con, code, site_id, check, form, "exceptions", act)
