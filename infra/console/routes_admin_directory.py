"""Agencies (関係機関), the resource directory (社会資源) and consultation themes.

Agencies: the list and registering one with its confidentiality basis (the
API's ``registerAgency``: "case.manage").  Directory entries: register, edit,
verify, publish/unpublish, with the optional reading (the API's resource
mutations: "directory.manage").  Themes: the municipality's own additions, add
and retire ("taxonomy.manage").  Each form is checked field by field first
(every error at once) and run through ``Console.command``.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from yorisoi.domain.errors import DomainError
from yorisoi.domain.resources import FEES, FORMS, KINDS, OPERATOR_KINDS, SUBKINDS
from yorisoi.domain.resources import OpeningSlot as SlotValue
from yorisoi.domain.resources import checked_attributes, checked_reading
from yorisoi.domain.themes import MAX_LABEL
from yorisoi.domain.vocabulary import AGENCY_KINDS, CONFIDENTIALITY_BASES
from yorisoi.graphql.errors import UserError
from yorisoi.graphql.resources import Resource
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import admin_words, i18n
from yorisoi.infra.console.admin_common import admin_url, errors_of, gate, page
from yorisoi.infra.console.web import Console, FormErrors, PageError, console, form_values
from yorisoi.projections.referral_board import ReferralBoardQueries
from yorisoi.projections.resource_directory import ResourceDirectoryQueries, ResourceFilters
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix="/console/m/{code}/admin")
Con = Annotated[Console, Depends(console)]
MAX_AGENCY_NAME = 200
LIST_LIMIT = 200
THEME_CODE = re.compile(r"[a-z][a-z0-9_]{1,39}")


def _choose(check: Checker, field: str, value: str, allowed: Any, key: str) -> None:
    if value not in allowed:
        check.bad(field, admin_words.text(key, "en"), admin_words.text(key, "ja"))


# --------------------------------------------------------------------------- agencies


async def _agencies_page(con: Con, code: str, *, values: dict[str, Any] | None = None,
                         errors: FormErrors | None = None, saved: str = "",
                         status: int = 200) -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> tuple[list[Any], list[Resource]]:
        agencies = ReferralBoardQueries(rt.casework.database, rt.casework.keyring).agencies()
        standing = {a.resource_id for a in agencies if a.resource_id}
        records, _ = ResourceDirectoryQueries(rt.casework.database).search(
            grant.municipality_code, ResourceFilters(published_only=False), limit=LIST_LIMIT,
            after=None)
        # Entries receiving referrals become agencies at their first referral: shown beside.
        entries = [Resource.from_record(r) for r in records
                   if r.referral_profile and r.resource_id not in standing]
        return agencies, entries

    agencies, entries = await con.read("case.read", code, load)
    return page(con, "admin_agencies.html", status=status, code=code, agencies=agencies,
                entries=entries,
                may_register=await con.may("case.manage", code),
                kinds=i18n.choices("agency_kind", con.lang),
                bases=i18n.choices("confidentiality", con.lang),
                values=values or {}, errors=errors or FormErrors(), saved=saved)


@router.get("/agencies", response_class=HTMLResponse)
async def agencies(con: Con, code: str, saved: str = "") -> HTMLResponse:
    gate(con)
    return await _agencies_page(con, code, saved=saved)


@router.post("/agencies")
async def register_agency(con: Con, code: str) -> Response:
    gate(con)
    form = await con.form()
    check = con.checker()  # the same checks as registerAgency
    name = check.required("name", str(form.get("name", "")), MAX_AGENCY_NAME)
    recipient = _recipient(check, form, "kind")

    def command(rt: TenantRuntime, grant: Grant) -> None:
        rt.casework.register_agency(municipality_code=grant.municipality_code, name=name.strip(),
                                    **recipient)
        rt.catch_up()

    result = await con.command("case.manage", code, command, check=check)
    if isinstance(result, UserError):
        return await _agencies_page(con, code, values=form_values(form),
                                    errors=errors_of(con, result), status=400)
    return con.redirect(admin_url(code, "/agencies?saved=1"))


# --------------------------------------------------------------------------- the directory


def _rid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PageError(404, "No such directory entry.", "指定された社会資源が見つかりません。",
                        "resource_not_found") from None


@router.get("/resources", response_class=HTMLResponse)
async def resources(con: Con, code: str, saved: str = "") -> HTMLResponse:
    gate(con)

    def load(rt: TenantRuntime, grant: Grant) -> tuple[list[Resource], int]:
        records, total = ResourceDirectoryQueries(rt.casework.database).search(
            grant.municipality_code, ResourceFilters(published_only=False), limit=LIST_LIMIT,
            after=None)
        return [Resource.from_record(r) for r in records], total

    entries, total = await con.read("directory.manage", code, load)
    return page(con, "admin_resources.html", code=code, entries=entries, total=total,
                saved=saved)


def _subkinds(lang: str) -> list[tuple[str, str]]:
    return [(f"{kind}:{sub}", f"{admin_words.word('resource_kind', kind, lang)}："
             f"{admin_words.word('subkind', sub, lang)}")
            for kind, subs in SUBKINDS.items() for sub in subs]


def _entry_form_context(con: Con) -> dict[str, Any]:
    lang = con.lang
    return {"kind_options": admin_words.choices("resource_kind", lang, KINDS),
            "subkind_options": _subkinds(lang),
            "operator_options": admin_words.choices("operator", lang, OPERATOR_KINDS),
            "form_options": admin_words.choices("form", lang, FORMS),
            "fee_options": admin_words.choices("fee", lang, FEES)}


@router.get("/resources/new", response_class=HTMLResponse)
async def new_resource(con: Con, code: str) -> HTMLResponse:
    gate(con)
    await con.read("directory.manage", code, lambda rt, grant: None)
    return page(con, "admin_resource_new.html", code=code, errors=FormErrors(),
                values={"operatorKind": "public", "form": "facility", "fee": "free"},
                **_entry_form_context(con))


def _attributes(check: Checker, form: FormData) -> dict[str, Any]:
    """The entry's attributes from the form, each field checked (all errors at once)."""
    from yorisoi.domain.resources import MAX_ADDRESS, MAX_AREA, MAX_CONTENT, MAX_NAME, MAX_SCHEDULE

    name = check.required("name", str(form.get("name", "")), MAX_NAME)
    kind = str(form.get("kind", ""))
    _choose(check, "kind", kind, KINDS, "res.choose_kind")
    sub = str(form.get("subkind", ""))
    subkind = sub.split(":", 1)[1] if ":" in sub else None
    if subkind is not None and (kind not in KINDS or sub.split(":", 1)[0] != kind):
        check.bad("subkind", "The subkind belongs to another kind.",
                  "細分類は選んだ種別のものを選んでください。")
    operator = str(form.get("operatorKind", ""))
    _choose(check, "operatorKind", operator, OPERATOR_KINDS, "res.choose_kind")
    shape = str(form.get("form", ""))
    _choose(check, "form", shape, FORMS, "res.choose_kind")
    fee = str(form.get("fee", ""))
    _choose(check, "fee", fee, FEES, "res.choose_kind")
    reading = str(form.get("reading", "")).strip() or None
    check.text("reading", reading, 100)
    try:
        checked_reading(reading)
    except DomainError as error:
        check.bad("reading", error.message, error.message_ja)
    return {"name": name.strip(), "kind": kind, "subkind": subkind,
            "address": check.text("address", str(form.get("address", "")), MAX_ADDRESS) or None,
            "area": check.text("area", str(form.get("area", "")), MAX_AREA) or None,
            "operator_kind": operator,
            "monthly_schedule": check.text("monthlySchedule",
                                           str(form.get("monthlySchedule", "")),
                                           MAX_SCHEDULE) or None,
            "content": check.text("content", str(form.get("content", "")), MAX_CONTENT) or None,
            "form": shape, "fee": fee, "reading": reading}


@router.post("/resources/new")
async def register_resource(con: Con, code: str) -> Response:
    gate(con)
    form = await con.form()
    check = con.checker()
    raw = _attributes(check, form)

    def command(rt: TenantRuntime, grant: Grant) -> str:
        entry = rt.casework.register_resource(checked_attributes(
            **raw, hours=[], owner=grant.acting.user_id))
        rt.catch_up()
        return str(entry.id)  # a repeated submission answers this again

    result = await con.command("directory.manage", code, command, check=check)
    if isinstance(result, UserError):
        return page(con, "admin_resource_new.html", status=400, code=code,
                    errors=errors_of(con, result), values=form_values(form),
                    **_entry_form_context(con))
    return con.redirect(admin_url(code, f"/resources/{result}?saved=registered"))


async def _resource_page(con: Con, code: str, rid: uuid.UUID, *, saved: str = "",
                         errors: FormErrors | None = None, values: dict[str, Any] | None = None,
                         form_name: str = "", status: int = 200) -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> Resource:
        record = ResourceDirectoryQueries(rt.casework.database).get(str(rid))
        if record is None or record.municipality_code != grant.municipality_code:
            raise _rid("absent")
        return Resource.from_record(record)

    entry = await con.read("directory.manage", code, load)
    defaults = {"name": entry.name, "reading": entry.reading or "", "kind": entry.kind,
                "subkind": f"{entry.kind}:{entry.subkind}" if entry.subkind else "",
                "address": entry.address, "area": entry.area,
                "operatorKind": entry.operator_kind, "form": entry.form, "fee": entry.fee,
                "monthlySchedule": entry.monthly_schedule, "content": entry.content,
                "verifiedOn": japan_today().isoformat()}
    profile = entry.referral_profile
    if profile is not None:
        defaults.update(agencyKind=profile.agency_kind, contactEmail=profile.contact_email or "",
                        confidentialityBasis=profile.confidentiality_basis or "",
                        onSystem="on" if profile.on_system else "")
    return page(con, "admin_resource.html", kinds=i18n.choices("agency_kind", con.lang),
                bases=i18n.choices("confidentiality", con.lang), status=status, code=code, r=entry, saved=saved,
                errors=errors or FormErrors(), form_name=form_name,
                values={**defaults, **(values or {})}, **_entry_form_context(con))


@router.get("/resources/{resource_id}", response_class=HTMLResponse)
async def resource_page(con: Con, code: str, resource_id: str, saved: str = "") -> HTMLResponse:
    gate(con)
    return await _resource_page(con, code, _rid(resource_id), saved=saved)


async def _change(con: Con, code: str, rid: uuid.UUID, check: Checker, form: FormData,
                  form_name: str, act: Any) -> Response:
    def command(rt: TenantRuntime, grant: Grant) -> None:
        act(rt, grant)
        rt.catch_up()

    result = await con.command("directory.manage", code, command, check=check)
    if isinstance(result, UserError):
        return await _resource_page(con, code, rid, errors=errors_of(con, result),
                                    values=form_values(form), form_name=form_name, status=400)
    return con.redirect(admin_url(code, f"/resources/{rid}?saved={form_name}"))


def _version(form: FormData) -> int | None:
    value = str(form.get("version", ""))
    return int(value) if value.isdigit() else None


@router.post("/resources/{resource_id}/edit")
async def update_resource(con: Con, code: str, resource_id: str) -> Response:
    gate(con)
    rid = _rid(resource_id)
    form = await con.form()
    check = con.checker()
    raw = _attributes(check, form)

    def act(rt: TenantRuntime, grant: Grant) -> None:
        # The form does not edit the weekly slots or the owner: they are kept as they are.
        current = ResourceDirectoryQueries(rt.casework.database).get(str(rid))
        if current is None:
            raise PageError(404, "No such directory entry.", "指定された社会資源が見つかりません。",
                            "resource_not_found")
        hours = [SlotValue(s["day"], s["opens"], s["closes"]) for s in current.hours]
        rt.casework.update_resource(rid, checked_attributes(**raw, hours=hours,
                                                            owner=current.owner),
                                    expected_version=_version(form))

    return await _change(con, code, rid, check, form, "edit", act)


@router.post("/resources/{resource_id}/verify")
async def verify_resource(con: Con, code: str, resource_id: str) -> Response:
    gate(con)
    rid = _rid(resource_id)
    form = await con.form()
    check = con.checker()  # the same checks as verifyResource
    verified_on = check.day("verifiedOn", str(form.get("verifiedOn", "")))

    def act(rt: TenantRuntime, grant: Grant) -> None:
        assert verified_on is not None
        rt.casework.verify_resource(rid, verified_on=verified_on,
                                    expected_version=_version(form))

    return await _change(con, code, rid, check, form, "verify", act)


@router.post("/resources/{resource_id}/publication")
async def publication(con: Con, code: str, resource_id: str) -> Response:
    gate(con)
    rid = _rid(resource_id)
    form = await con.form()
    check = con.checker()
    publish = form.get("publish") == "1"

    def act(rt: TenantRuntime, grant: Grant) -> None:
        change = rt.casework.publish_resource if publish else rt.casework.unpublish_resource
        change(rid, expected_version=_version(form))

    return await _change(con, code, rid, check, form, "publication", act)


def _recipient(check: Checker, form: FormData, kind_field: str) -> dict[str, Any]:
    """How an agency or an entry receives referrals, each field checked (all errors at once)."""
    kind = str(form.get(kind_field, ""))
    _choose(check, kind_field, kind, AGENCY_KINDS, "agencies.choose_kind")
    on_system = form.get("onSystem") == "on"
    email = check.text("contactEmail", str(form.get("contactEmail", "")).strip(), 254) or None
    if not on_system and not email:
        check.bad("contactEmail", "An agency off the system needs its address.",
                  "システムを利用しない機関には連絡先メールアドレスが必要です。")
    basis = str(form.get("confidentialityBasis", "")) or None
    if basis is not None:
        _choose(check, "confidentialityBasis", basis, CONFIDENTIALITY_BASES,
                "agencies.choose_basis")
    return {"kind": kind, "on_system": on_system, "contact_email": email,
            "confidentiality_basis": basis}


@router.post("/resources/{resource_id}/referrals")
async def accept_referrals(con: Con, code: str, resource_id: str) -> Response:
    """Make the entry a recipient of referrals (an agency standing for it), or change how."""
    gate(con)
    rid = _rid(resource_id)
    form = await con.form()
    check = con.checker()  # the same checks as acceptReferrals
    recipient = _recipient(check, form, "agencyKind")

    def act(rt: TenantRuntime, grant: Grant) -> None:
        rt.casework.accept_referrals(
            rid, agency_kind=recipient["kind"], on_system=recipient["on_system"],
            contact_email=recipient["contact_email"],
            confidentiality_basis=recipient["confidentiality_basis"],
            expected_version=_version(form))

    return await _change(con, code, rid, check, form, "referrals", act)


# --------------------------------------------------------------------------- themes


async def _themes_page(con: Con, code: str, *, values: dict[str, Any] | None = None,
                       errors: FormErrors | None = None, saved: str = "",
                       status: int = 200) -> HTMLResponse:
    themes = await con.read("taxonomy.manage", code, lambda rt, grant: rt.casework.themes())
    return page(con, "admin_themes.html", status=status, code=code, themes=themes,
                values=values or {}, errors=errors or FormErrors(), saved=saved)


@router.get("/themes", response_class=HTMLResponse)
async def themes(con: Con, code: str, saved: str = "") -> HTMLResponse:
    gate(con)
    return await _themes_page(con, code, saved=saved)


@router.post("/themes")
async def add_theme(con: Con, code: str) -> Response:
    gate(con)
    form = await con.form()
    check = con.checker()  # the same checks as addTheme, and the code's shape, at once
    theme_code = check.required("code", str(form.get("code", "")).strip(), 40)
    if theme_code and not THEME_CODE.fullmatch(theme_code):
        check.bad("code", "2–40 of a-z, 0-9 and _, starting with a letter.",
                  "英小文字で始まる2〜40文字の英小文字・数字・_で入力してください。")
    label_ja = check.required("labelJa", str(form.get("labelJa", "")), MAX_LABEL)
    label_en = check.text("labelEn", str(form.get("labelEn", "")), MAX_LABEL) or None

    def command(rt: TenantRuntime, grant: Grant) -> None:
        rt.casework.add_theme(code=theme_code, label_ja=label_ja.strip(),
                              label_en=label_en.strip() if label_en else None)

    result = await con.command("taxonomy.manage", code, command, check=check)
    if isinstance(result, UserError):
        return await _themes_page(con, code, values=form_values(form),
                                  errors=errors_of(con, result), status=400)
    return con.redirect(admin_url(code, "/themes?saved=added"))


@router.post("/themes/retire")
async def retire_theme(con: Con, code: str) -> Response:
    gate(con)
    form = await con.form()
    check = con.checker()
    theme_code = check.required("retire", str(form.get("code", "")), 40)

    def command(rt: TenantRuntime, grant: Grant) -> None:
        rt.casework.retire_theme(code=theme_code)

    result = await con.command("taxonomy.manage", code, command, check=check)
    if isinstance(result, UserError):
        return await _themes_page(con, code, errors=errors_of(con, result), status=400)
    return con.redirect(admin_url(code, "/themes?saved=retired"))
