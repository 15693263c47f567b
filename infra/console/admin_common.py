"""What the administrator's pages share: who may open them, and names for ids.

The pages are the municipal administrator's (``ADMIN_ROLES``) in their own
municipality; every read and command is still authorised by the API's own
action (``staff.manage``, ``organisation.manage``, ``access.manage``…), so the
page gate only keeps the console's menus tidy — it never widens anything.
People see names, never ids: a site by its name, a contractor by its name, staff
by display name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.responses import HTMLResponse

from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import admin_words
from yorisoi.infra.console.web import PREFIX, Console, FormErrors, PageError, page_error
from yorisoi.projections.organisation_view import OrganisationQueries
from yorisoi.tenants.registry import ContractRecord
from yorisoi.tenants.runtime import TenantRuntime

ADMIN_ROLES = ("municipal_admin",)


def admin_url(code: str, rest: str = "") -> str:
    return f"{PREFIX}/m/{code}/admin{rest}"


def gate(con: Console) -> None:
    """Only the municipality's administrators open these pages (403 for everyone else)."""
    if not (con.has(*ADMIN_ROLES) and con.principal.tenant_kind == "municipality"):
        raise PageError(403, admin_words.text("only_admins", "en"),
                        admin_words.text("only_admins", "ja"), "not_authorized")


def page(con: Console, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """``con.page`` with the administrator's words (``w``) and vocabularies (``word``)."""
    lang = con.lang
    return con.page(template, status=status,
                    w=lambda key, **kw: admin_words.text(key, lang, **kw),
                    word=lambda kind, code: admin_words.word(kind, code, lang),
                    field_label=lambda name: admin_words.field_label(name, lang, template),
                    admin=lambda code, rest="": admin_url(code, rest), **values)


@dataclass
class Names:
    """Names of the municipality's sites, organisations and staff (never shown as ids)."""

    municipality_code: str
    municipality_name: str
    sites: dict[str, str]  # site id → name
    organisations: dict[str, str]  # municipality code or contractor id → name
    contracts: list[ContractRecord]
    staff: dict[tuple[str, str], str]  # (organisation id, subject) → display name

    def site(self, site_id: str) -> str:
        return self.sites.get(site_id) or "—"  # a site the registry does not know

    def organisation(self, organisation_id: str) -> str:
        return self.organisations.get(organisation_id, "—")

    def person(self, organisation_id: str, subject: str, lang: str) -> str:
        return self.staff.get((organisation_id, subject)) or admin_words.text(
            "staff.unknown_person", lang)

    def site_choices(self) -> list[tuple[str, str]]:
        return sorted(self.sites.items(), key=lambda item: (item[1], item[0]))


def _registry_site_ids(registry: Any, code: str) -> list[str]:
    # The registry has no public listing of a municipality's sites yet; this is its own
    # query on its own (row-secured) table, read-only.
    sql = "SELECT site_id FROM {s}sites WHERE tenant_id = %s ORDER BY site_id"
    rows = registry._all(sql, (code,), tenant=code)  # noqa: SLF001
    return [r["site_id"] for r in rows]


def names(con: Console, rt: TenantRuntime, code: str) -> Names:
    """Read under an authorised grant (inside ``con.read``'s function)."""
    registry = con.services.directory.registry
    queries = OrganisationQueries(rt.casework.database)
    ids = set(_registry_site_ids(registry, code))
    ids |= {s.site_id for s in queries.sites(japan_today())}
    sites: dict[str, str] = {}
    for site_id in ids:
        record = registry.site(code, site_id)
        if record is not None and record.name:
            sites[site_id] = record.name
    contracts = {c.contract_id: c for site_id in ids
                 for c in registry.contract_for_site(code, site_id)}
    tenant = registry.tenant(code)
    organisations = {code: tenant.name if tenant else code}
    for c in contracts.values():
        contractor = registry.tenant(c.contractor_id)
        organisations[c.contractor_id] = contractor.name if contractor else "—"
    staff = {(s.organisation_id, s.subject): s.display_name
             for s in queries.all_staff(japan_today())}
    return Names(code, organisations[code], sites, organisations,
                 sorted(contracts.values(), key=lambda c: c.contract_id), staff)


def errors_of(con: Console, error: Any) -> FormErrors:
    """A refused form's errors; a refusal of the person (not of the input) is a 403 page."""
    if type(error).__name__ == "NotAuthorizedError":
        raise page_error(error)
    return FormErrors.of(error, con.lang)
