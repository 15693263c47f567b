"""The municipal administrator's pages: the administration menu and staff (職員).

Staff: the list, registering a person, their name, roles and qualifications,
site assignments (専任/兼任), training records and the signed pledge (誓約書).
Each form is checked with the API's own ``Checker`` (every error of a form at
once, each next to its field) and run through ``Console.command`` — the same
``execute`` path and the same service commands as ``graphql/staff.py``; the
pledge goes through the REST endpoint's own code (``infra/http/staff_files.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.exceptions import HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from yorisoi.domain.findings import TRAINING_KINDS
from yorisoi.domain.staff import ASSIGNMENT_KINDS, MAX_NAME, QUALIFICATIONS, STAFF_ROLES
from yorisoi.domain.staff import organisation_kind_of
from yorisoi.graphql.errors import UserError
from yorisoi.graphql.staff import StaffMember, allowed_organisations, staff_scope
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import admin_words
from yorisoi.infra.console.admin_common import Names, admin_url, errors_of, gate, names, page
from yorisoi.infra.console.web import Console, FormErrors, PageError, console, form_values
from yorisoi.infra.http import staff_files
from yorisoi.projections.organisation_view import OrganisationQueries
from yorisoi.services.staff import StaffMemberNotFoundError
from yorisoi.tenants.access import AccessDeniedError, Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix="/console/m/{code}/admin")
Con = Annotated[Console, Depends(console)]


def _info(con: Console) -> Any:
    return SimpleNamespace(context=con.ctx)  # the API's helpers read nothing but the context


def _staff_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PageError(404, StaffMemberNotFoundError.message, StaffMemberNotFoundError.message_ja,
                        StaffMemberNotFoundError.code) from None


def _one_of(check: Checker, field: str, value: str, allowed: Any, key: str, lang: str) -> str:
    """A choice from a list: a missing or unknown one is this form's error."""
    if value not in allowed:
        check.bad(field, admin_words.text(key, "en"), admin_words.text(key, "ja"))
    return value


# --------------------------------------------------------------------------- the menu


@router.get("", response_class=HTMLResponse)
async def admin_home(con: Con, code: str) -> HTMLResponse:
    """The menu, each area with what needs attention (counts only)."""
    gate(con)
    today = japan_today()

    def staff(rt: TenantRuntime, grant: Grant) -> dict[str, int]:
        records = OrganisationQueries(rt.casework.database).all_staff(today)
        return {"staff": len(records),
                "staff_findings": sum(1 for r in records if r.findings)}

    def sites(rt: TenantRuntime, grant: Grant) -> dict[str, int]:
        known = names(con, rt, grant.municipality_code)
        profiles = OrganisationQueries(rt.casework.database).sites(today)
        return {"sites": len(known.sites),
                "sites_unprofiled": len(set(known.sites) - {p.site_id for p in profiles}),
                "site_findings": sum(1 for p in profiles if p.findings)}

    def grants(rt: TenantRuntime, grant: Grant) -> dict[str, int]:
        rows = con.services.directory.registry.access_grants(grant.municipality_code)
        return {"grants": sum(1 for g in rows if g.is_active_on(today))}

    counts: dict[str, int] = {}
    for action, read in (("staff.manage", staff), ("organisation.manage", sites),
                         ("access.manage", grants)):
        counts.update(await con.read(action, code, read))  # type: ignore[arg-type]
    return page(con, "admin_home.html", code=code, counts=counts)


# --------------------------------------------------------------------------- the list


@router.get("/staff", response_class=HTMLResponse)
async def staff_list(con: Con, code: str, saved: str = "", organisation: str = "",
                     site: str = "") -> HTMLResponse:
    """Everyone the administrator manages, by name; filtered by organisation or site."""
    gate(con)
    info = _info(con)

    def load(rt: TenantRuntime, grant: Grant) -> tuple[list[StaffMember], Names]:
        scope = staff_scope(info, grant)
        records = OrganisationQueries(rt.casework.database).all_staff(japan_today())
        members = [StaffMember.from_record(r) for r in records
                   if scope.organisation_id is None or r.organisation_id == scope.organisation_id]
        members.sort(key=lambda m: (m.display_name, str(m.id)))
        return members, names(con, rt, grant.municipality_code)

    members, known = await con.read("staff.manage", code, load)
    if organisation:
        members = [m for m in members if m.organisation_id == organisation]
    if site:
        members = [m for m in members if any(a.site_id == site and a.active
                                             for a in m.assignments)]
    return page(con, "admin_staff_list.html", code=code, members=members, names=known,
                saved=saved, values={"organisation": organisation, "site": site},
                organisations=list(known.organisations.items()),
                site_options=known.site_choices())


# --------------------------------------------------------------------------- registering


async def _new_form(con: Con, code: str, values: dict[str, Any], roles: list[str],
                    qualifications: list[str], errors: FormErrors | None = None,
                    status: int = 200) -> HTMLResponse:
    known = await con.read("staff.manage", code,
                           lambda rt, grant: names(con, rt, grant.municipality_code))
    return page(con, "admin_staff_new.html", status=status, code=code, names=known,
                organisations=list(known.organisations.items()), values=values,
                roles=roles, qualifications=qualifications,
                role_options=admin_words.choices("staff_role", con.lang, STAFF_ROLES),
                qualification_options=admin_words.choices("qualification", con.lang,
                                                          QUALIFICATIONS),
                errors=errors or FormErrors())


@router.get("/staff/new", response_class=HTMLResponse)
async def new_staff(con: Con, code: str) -> HTMLResponse:
    gate(con)
    return await _new_form(con, code, {"organisationId": code}, [], [])


def _lists(check: Checker, form: FormData) -> tuple[list[str], list[str]]:
    roles = [str(r) for r in form.getlist("roles")]
    qualifications = [str(q) for q in form.getlist("qualifications")]
    check.count("roles", roles, 10)  # graphql/staff.py's limits
    check.count("qualifications", qualifications, 20)
    if any(r not in STAFF_ROLES for r in roles):
        check.bad("roles", "Choose roles from the list.", "職種は一覧から選んでください。")
    if any(q not in QUALIFICATIONS for q in qualifications):
        check.bad("qualifications", "Choose qualifications from the list.",
                  "資格は一覧から選んでください。")
    return roles, qualifications


@router.post("/staff/new")
async def register_staff(con: Con, code: str) -> Response:
    gate(con)
    form = await con.form()
    info = _info(con)
    check = con.checker()  # the same checks as registerStaffMember
    subject = check.required("subject", str(form.get("subject", "")), 200)
    display_name = check.required("displayName", str(form.get("displayName", "")), MAX_NAME)
    roles, qualifications = _lists(check, form)
    organisation_id = str(form.get("organisationId", "")) or code

    def command(rt: TenantRuntime, grant: Grant) -> str:
        scope = staff_scope(info, grant)
        if scope.organisation_id is not None and organisation_id != scope.organisation_id:
            raise AccessDeniedError("organisation_not_permitted",
                                    "You may register only your own organisation's staff.",
                                    "自団体の職員のみ登録できます。")
        member = rt.casework.register_staff_member(
            subject=subject.strip(), display_name=display_name.strip(),
            organisation_kind=organisation_kind_of(organisation_id, grant.municipality_code),
            organisation_id=organisation_id, roles=roles, qualifications=qualifications,
            allowed_organisations=allowed_organisations(info, grant, scope, organisation_id))
        rt.catch_up()
        return str(member.id)  # a repeated submission answers this again

    result = await con.command("staff.manage", code, command, check=check)
    if isinstance(result, UserError):
        return await _new_form(con, code, form_values(form), roles, qualifications,
                               errors_of(con, result), status=400)
    return con.redirect(admin_url(code, f"/staff/{result}?saved=registered"))


# --------------------------------------------------------------------------- one member


async def _member_page(con: Con, code: str, sid: uuid.UUID, *, saved: str = "",
                       errors: FormErrors | None = None, values: dict[str, Any] | None = None,
                       form_name: str = "", status: int = 200) -> HTMLResponse:
    info = _info(con)

    def load(rt: TenantRuntime, grant: Grant) -> tuple[StaffMember, Names]:
        scope = staff_scope(info, grant)
        record = OrganisationQueries(rt.casework.database).staff(
            japan_today(), str(sid), scope.organisation_id)
        if record is None:
            raise StaffMemberNotFoundError(field="staffId")
        return StaffMember.from_record(record), names(con, rt, grant.municipality_code)

    member, known = await con.read("staff.manage", code, load)
    today = japan_today().isoformat()
    defaults = {"displayName": member.display_name, "startsOn": today, "completedOn": today,
                "signedOn": today, "kind": "dedicated"}
    edit_values = values if form_name == "edit" and values is not None else defaults
    return page(con, "admin_staff.html", status=status, code=code, m=member, names=known,
                saved=saved, errors=errors or FormErrors(), form_name=form_name,
                values={**defaults, **(values or {})}, edit_values=edit_values,
                role_options=admin_words.choices("staff_role", con.lang, STAFF_ROLES),
                qualification_options=admin_words.choices("qualification", con.lang,
                                                          QUALIFICATIONS),
                kind_options=admin_words.choices("assignment", con.lang, ASSIGNMENT_KINDS),
                training_options=admin_words.choices("training", con.lang, TRAINING_KINDS),
                site_options=known.site_choices())


@router.get("/staff/{staff_id}", response_class=HTMLResponse)
async def staff_page(con: Con, code: str, staff_id: str, saved: str = "") -> HTMLResponse:
    gate(con)
    return await _member_page(con, code, _staff_uuid(staff_id), saved=saved)


async def _on_member(con: Con, code: str, sid: uuid.UUID, check: Checker, form: FormData,
                     form_name: str, act: Callable[[TenantRuntime, Grant, Any], None],
                     saved: str) -> Response:
    """One command on an existing staff member, within the caller's staff scope."""
    info = _info(con)

    def command(rt: TenantRuntime, grant: Grant) -> None:
        act(rt, grant, staff_scope(info, grant))
        rt.catch_up()

    result = await con.command("staff.manage", code, command, check=check)
    if isinstance(result, UserError):
        values = form_values(form)
        if form_name == "edit":
            values["roles"] = ",".join(str(r) for r in form.getlist("roles"))
            values["qualifications"] = ",".join(str(q) for q in form.getlist("qualifications"))
        return await _member_page(con, code, sid, errors=errors_of(con, result),
                                  values=values, form_name=form_name, status=400)
    return con.redirect(admin_url(code, f"/staff/{sid}?saved={saved}#{form_name}-h"))


@router.post("/staff/{staff_id}/edit")
async def edit_staff(con: Con, code: str, staff_id: str) -> Response:
    gate(con)
    sid = _staff_uuid(staff_id)
    form = await con.form()
    check = con.checker()
    display_name = check.required("displayName", str(form.get("displayName", "")), MAX_NAME)
    roles, qualifications = _lists(check, form)
    version = str(form.get("version", ""))

    def act(rt: TenantRuntime, grant: Grant, scope: Any) -> None:
        rt.casework.update_staff_member(
            sid, display_name=display_name.strip(), roles=roles, qualifications=qualifications,
            expected_version=int(version) if version.isdigit() else None,
            organisation_id=scope.organisation_id)

    return await _on_member(con, code, sid, check, form, "edit", act, "updated")


@router.post("/staff/{staff_id}/assign")
async def assign(con: Con, code: str, staff_id: str) -> Response:
    gate(con)
    sid = _staff_uuid(staff_id)
    form = await con.form()
    check = con.checker()  # the same checks as assignStaffToSite
    site_id = str(form.get("siteId", ""))
    if not site_id:
        check.bad("siteId", admin_words.text("staff.choose_site", "en"),
                  admin_words.text("staff.choose_site", "ja"))
    kind = _one_of(check, "kind", str(form.get("kind", "")), ASSIGNMENT_KINDS,
                   "staff.choose_kind", con.lang)
    starts_on = check.day("startsOn", str(form.get("startsOn", "")))
    ends_on = check.day("endsOn", str(form.get("endsOn", "")) or None)
    if starts_on and ends_on and ends_on < starts_on:
        check.bad("endsOn", "The assignment ends before it starts.",
                  "終了日は開始日以降にしてください。")
    registry = con.services.directory.registry

    def act(rt: TenantRuntime, grant: Grant, scope: Any) -> None:
        if scope.assignable_sites is None and registry.site(grant.municipality_code,
                                                            site_id) is None:
            raise AccessDeniedError("site_unknown", "No such site in this municipality.",
                                    "指定された実施場所はこの自治体に登録されていません。")
        assert starts_on is not None
        rt.casework.assign_staff(sid, site_id=site_id, kind=kind, starts_on=starts_on,
                                 ends_on=ends_on, organisation_id=scope.organisation_id,
                                 assignable_sites=scope.assignable_sites)

    return await _on_member(con, code, sid, check, form, "assign", act, "assigned")


@router.post("/staff/{staff_id}/assignments/{assignment_id}/end")
async def end_assignment(con: Con, code: str, staff_id: str, assignment_id: str) -> Response:
    gate(con)
    sid = _staff_uuid(staff_id)
    form = await con.form()
    check = con.checker()
    ends_on = check.day("endsOn-" + assignment_id, str(form.get("endsOn", "")))

    def act(rt: TenantRuntime, grant: Grant, scope: Any) -> None:
        assert ends_on is not None
        rt.casework.end_staff_assignment(sid, assignment_id=assignment_id, ends_on=ends_on,
                                         organisation_id=scope.organisation_id)

    return await _on_member(con, code, sid, check, form, "assignments", act, "ended")


@router.post("/staff/{staff_id}/training")
async def training(con: Con, code: str, staff_id: str) -> Response:
    gate(con)
    sid = _staff_uuid(staff_id)
    form = await con.form()
    check = con.checker()  # the same checks as recordStaffTraining
    kind = _one_of(check, "trainingKind", str(form.get("trainingKind", "")), TRAINING_KINDS,
                   "staff.choose_training", con.lang)
    completed_on = check.day("completedOn", str(form.get("completedOn", "")))
    valid_until = check.day("validUntil", str(form.get("validUntil", "")) or None)
    if completed_on and completed_on > japan_today():
        check.bad("completedOn", "The completion date cannot be in the future.",
                  "受講日に未来の日付は指定できません。")
    if completed_on and valid_until and valid_until <= completed_on:
        check.bad("validUntil", "The validity ends after completion.",
                  "有効期限は受講日より後にしてください。")

    def act(rt: TenantRuntime, grant: Grant, scope: Any) -> None:
        assert completed_on is not None
        rt.casework.record_staff_training(sid, kind=kind, completed_on=completed_on,
                                          valid_until=valid_until,
                                          organisation_id=scope.organisation_id)

    return await _on_member(con, code, sid, check, form, "training", act, "trained")


# --------------------------------------------------------------------------- the pledge


def _bearer(con: Con) -> str:
    return f"Bearer {con.session.token}"


def _problem(problem: HTTPException) -> dict[str, Any]:
    return problem.detail if isinstance(problem.detail, dict) else {}


@router.post("/staff/{staff_id}/pledge")
async def upload_pledge(con: Con, code: str, staff_id: str) -> Response:
    """The REST upload itself (its size and type limits, its sealed object, its event)."""
    gate(con)
    sid = _staff_uuid(staff_id)
    form = await con.form()
    file = form.get("file")
    check = con.checker()
    signed_on = check.day("signedOn", str(form.get("signedOn", "")))
    if signed_on and signed_on > japan_today():
        check.bad("signedOn", "The pledge's signing date cannot be in the future.",
                  "誓約書の署名日に未来の日付は指定できません。")
    errors = FormErrors()
    for item in check.errors:
        errors.fields.setdefault(item.field, item.message_ja if con.lang == "ja" else item.message)
    if not isinstance(file, UploadFile) or not file.filename:
        errors.fields["file"] = admin_words.text("staff.pledge_missing_file", con.lang)
    if not errors:
        assert signed_on is not None and isinstance(file, UploadFile)
        try:
            await staff_files.upload_pledge(con.request, code, str(sid), file,
                                            signed_on.isoformat(), authorization=_bearer(con))
        except HTTPException as problem:
            detail = _problem(problem)
            if problem.status_code in (401, 403, 404):
                raise PageError(problem.status_code, detail.get("message", ""),
                                detail.get("messageJa", ""), detail.get("code", "")) from None
            errors.fields["file"] = detail.get("messageJa" if con.lang == "ja" else "message", "")
    if errors:
        return await _member_page(con, code, sid, errors=errors, values=form_values(form),
                                  form_name="pledge", status=400)
    return con.redirect(admin_url(code, f"/staff/{sid}?saved=pledge#pledge-h"))


@router.get("/staff/{staff_id}/pledge")
async def download_pledge(con: Con, code: str, staff_id: str) -> RedirectResponse:
    """A short-lived link (the REST endpoint's own), followed at once."""
    gate(con)
    sid = _staff_uuid(staff_id)
    try:
        link = await asyncio.to_thread(staff_files.pledge_link, con.request, code, str(sid),
                                       authorization=_bearer(con))
    except HTTPException as problem:
        detail = _problem(problem)
        raise PageError(problem.status_code, detail.get("message", ""),
                        detail.get("messageJa", ""), detail.get("code", "")) from None
    response = con.redirect(link["url"])
    response.headers["Cache-Control"] = "no-store"
    return response
