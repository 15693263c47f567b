"""Access grants (アクセス権限): the municipality's explicit roles for one person.

The person is picked by name from the registered staff (their organisation and
sign-in subject come from the staff record, never typed); the role, sites,
period and reason are checked with the API's ``Checker`` and the role
catalogue, and the grant runs through ``Console.command`` ("access.manage", the
same ``execute`` path as ``grantAccess``/``revokeAccess`` in
``graphql/access_grants.py``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from yorisoi.domain.access_grants import MAX_REASON, ROLES
from yorisoi.graphql.errors import UserError
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import admin_words, i18n
from yorisoi.infra.console.admin_common import Names, admin_url, errors_of, gate, names, page
from yorisoi.infra.console.web import Console, FormErrors, console, form_values
from yorisoi.projections.organisation_view import OrganisationQueries, StaffRecord
from yorisoi.tenants.access import Grant
from yorisoi.tenants.registry import AccessGrantRecord
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix="/console/m/{code}/admin")
Con = Annotated[Console, Depends(console)]
GRANTABLE = [r for r, spec in ROLES.items() if spec.scope != "platform"]


def _load(con: Con) -> Any:
    def load(rt: TenantRuntime, grant: Grant) -> tuple[list[AccessGrantRecord], Names,
                                                       list[StaffRecord]]:
        registry = con.services.directory.registry
        grants = registry.access_grants(grant.municipality_code)
        staff = OrganisationQueries(rt.casework.database).all_staff(japan_today())
        return grants, names(con, rt, grant.municipality_code), staff

    return load


async def _page(con: Con, code: str, *, values: dict[str, Any] | None = None,
                sites: list[str] | None = None, errors: FormErrors | None = None,
                saved: str = "", status: int = 200) -> HTMLResponse:
    grants, known, staff = await con.read("access.manage", code, _load(con))
    grants = sorted(grants, key=lambda g: (g.revoked_on is not None, g.granted_at),
                    reverse=False)
    people = sorted(((str(s.staff_id), f"{s.display_name}（{known.organisation(s.organisation_id)}）")
                     for s in staff), key=lambda item: item[1])
    roles = [(r, i18n.label("role", r, con.lang)) for r in GRANTABLE]
    today = japan_today()
    return page(con, "admin_grants.html", status=status, code=code, grants=grants,
                names=known, people=people, roles=roles, today=today,
                values=values if values is not None else {"startsOn": today.isoformat()},
                checked_sites=sites or [], site_options=known.site_choices(),
                errors=errors or FormErrors(), saved=saved)


@router.get("/grants", response_class=HTMLResponse)
async def grants_page(con: Con, code: str, saved: str = "") -> HTMLResponse:
    gate(con)
    return await _page(con, code, saved=saved)


@router.post("/grants")
async def grant(con: Con, code: str) -> Response:
    gate(con)
    form = await con.form()
    check = con.checker()  # the same checks as grantAccess, and the catalogue's, all at once
    staff_id = str(form.get("staffId", ""))
    role = str(form.get("role", ""))
    sites = [str(s) for s in form.getlist("siteIds")]
    starts_on = check.day("startsOn", str(form.get("startsOn", "")) or None) or japan_today()
    ends_on = check.day("endsOn", str(form.get("endsOn", "")) or None)
    reason = check.text("reason", str(form.get("reason", "")), MAX_REASON)
    check.count("siteIds", sites, 50)
    if not staff_id:
        check.bad("staffId", admin_words.text("grants.choose_person", "en"),
                  admin_words.text("grants.choose_person", "ja"))
    if role not in GRANTABLE:
        check.bad("role", admin_words.text("grants.choose_role", "en"),
                  admin_words.text("grants.choose_role", "ja"))
    elif ROLES[role].scope == "site" and not sites:
        check.bad("siteIds", "A site role is granted at one or more sites.",
                  "実施場所単位の役割には、実施場所を1つ以上指定してください。")
    if ends_on is not None and ends_on < starts_on:
        check.bad("endsOn", "The grant ends before it starts.",
                  "付与の終了日が開始日より前です。")
    directory = con.services.directory

    def command(rt: TenantRuntime, grant: Grant) -> str:
        person = OrganisationQueries(rt.casework.database).staff(japan_today(), staff_id)
        if person is None:
            from yorisoi.services.staff import StaffMemberNotFoundError

            raise StaffMemberNotFoundError(field="staffId")
        return directory.grant_access(
            municipality_code=grant.municipality_code, subject_kind=person.organisation_kind,
            subject_tenant=person.organisation_id, subject=person.subject, role=role,
            site_ids=sites, starts_on=starts_on, ends_on=ends_on, reason=reason)

    result = await con.command("access.manage", code, command, check=check)
    if isinstance(result, UserError):
        return await _page(con, code, values=form_values(form), sites=sites,
                           errors=errors_of(con, result), status=400)
    return con.redirect(admin_url(code, "/grants?saved=granted"))


@router.post("/grants/{grant_id}/revoke")
async def revoke(con: Con, code: str, grant_id: str) -> Response:
    gate(con)
    form = await con.form()
    check = con.checker()  # the same checks as revokeAccess
    gid = check.record_id("grantId", grant_id)
    reason = check.text("revokeReason", str(form.get("reason", "")), MAX_REASON)
    directory = con.services.directory

    def command(rt: TenantRuntime, grant: Grant) -> None:
        directory.revoke_access(municipality_code=grant.municipality_code, grant_id=gid,
                                revoked_on=japan_today(), reason=reason)

    result = await con.command("access.manage", code, command, check=check)
    if isinstance(result, UserError):
        return await _page(con, code, errors=errors_of(con, result), status=400)
    return con.redirect(admin_url(code, "/grants?saved=revoked"))
