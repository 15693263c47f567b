"""Finding a household without typing an id: by reception number (受付番号) or the case search.

Records officers (holds, data-subject requests) and compliance auditors name a
family the way people do — ``R8-000123``, or a name, reading, phone or birth
date in the case search — and choose it from the answers.  The text is POSTed
(never in an address) and searched with the reader's own grant (``case.read``):
a role that reads masked sees the number and the site's name only, and a
search a role may not make is refused with the search's own message.

Households are shown the same way everywhere (``household_labels``): their
cases' reception numbers and sites — never their id.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from yorisoi.domain.japanese_dates import parse_typed_date
from yorisoi.domain.reception_numbers import parse_reception_number
from yorisoi.graphql.validation import Checker
from yorisoi.infra.console import i18n
from yorisoi.projections.case_labels import household_display_name, registry_site_names
from yorisoi.projections.case_queries import scope_clause
from yorisoi.projections.case_search import (
    CaseFilter,
    SearchNotPermittedError,
    SearchTextTooLongError,
)
from yorisoi.projections.household_index import SearchTooBroadError
from yorisoi.projections.reception_lookup import case_id_for_number
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_FOUND = 20
MAX_TEXT = 200


@dataclass(frozen=True)
class FoundCase:
    """One case of a household, as people name it (no id shown)."""

    case_id: str
    household_id: str
    number: str  # 受付番号, or the id's first part for a case from before numbers
    site_name: str
    status: str
    opened_on: str | None
    closed_on: str | None
    name: str | None  # the family's name, only for a reader who may see it


@dataclass(frozen=True)
class HouseholdLabel:
    household_id: str
    numbers: tuple[str, ...]
    sites: tuple[str, ...]
    name: str | None

    def text(self, lang: str) -> str:
        if not self.numbers:
            return i18n.text("finder.household_without_case", lang)
        parts = ["・".join(self.numbers), "・".join(self.sites)]
        if self.name:
            parts.append(self.name)
        return " · ".join(p for p in parts if p)


def _rows(rt: TenantRuntime, grant: Grant, column: str,
          ids: Collection[str]) -> list[dict[str, Any]]:
    ids = sorted({str(i) for i in ids})
    if not ids:
        return []
    where, params = scope_clause(grant.scope)
    marks = ", ".join(["%s"] * len(ids))
    return rt.cases.db.select(
        "SELECT case_id, household_id, site_id, reception_number, status, opened_on, closed_on"
        f" FROM {{s}}case_view WHERE {column} IN ({marks}){where}", [*ids, *params])


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


class Finder:
    """Searches and labels under one grant (``registry``: the platform registry, for site names)."""

    def __init__(self, rt: TenantRuntime, grant: Grant, registry: Any) -> None:
        self.rt, self.grant, self.registry = rt, grant, registry

    def _site_name(self) -> Any:
        return registry_site_names(self.registry, self.grant.municipality_code)

    def _cases(self, rows: list[dict[str, Any]]) -> list[FoundCase]:
        site_name = self._site_name()
        households = self.rt.cases.households([r["household_id"] for r in rows])
        found = []
        for row in rows:
            record = households.get(row["household_id"])
            name = None
            if record is not None and not record.masked:
                name = household_display_name(record.guardians, record.children)
            found.append(FoundCase(
                case_id=row["case_id"], household_id=row["household_id"],
                number=row["reception_number"] or row["case_id"][:8],
                site_name=site_name(row["site_id"]), status=row["status"],
                opened_on=_iso(row.get("opened_on")), closed_on=_iso(row.get("closed_on")),
                name=name))
        return sorted(found, key=lambda c: (c.number, c.case_id))

    def search(self, text: str) -> list[FoundCase]:
        """Cases matching a reception number, name, reading, phone or birth date (the case search).

        A reception number typed in any common form (令和8年度-123, full-width digits,
        another dash) names its case directly; anything else goes to the case search.
        """
        if parse_reception_number(text) is not None:
            case_id = case_id_for_number(self.rt.cases.db, self.grant.scope, text)
            return self._cases(_rows(self.rt, self.grant, "case_id", [case_id] if case_id else []))
        page = self.rt.cases.page(self.grant.scope, first=MAX_FOUND,
                                  filter=CaseFilter(text=text))
        return self._cases(_rows(self.rt, self.grant, "case_id", [c.case_id for c in page.cases]))

    def cases_of(self, household_ids: Collection[str]) -> list[FoundCase]:
        return self._cases(_rows(self.rt, self.grant, "household_id", household_ids))

    def case(self, case_id: str) -> FoundCase | None:
        found = self._cases(_rows(self.rt, self.grant, "case_id", [case_id]))
        return found[0] if found else None

    def labels(self, household_ids: Collection[str]) -> dict[str, HouseholdLabel]:
        """How each household is named: its cases' numbers and sites (and name, if readable)."""
        household_ids = [str(h) for h in household_ids]
        by_household: dict[str, list[FoundCase]] = {}
        for c in self.cases_of(household_ids):
            by_household.setdefault(c.household_id, []).append(c)
        labels = {}
        for hid in set(household_ids):
            cases = by_household.get(hid, [])
            labels[hid] = HouseholdLabel(
                household_id=hid, numbers=tuple(c.number for c in cases),
                sites=tuple(dict.fromkeys(c.site_name for c in cases)),
                name=next((c.name for c in cases if c.name), None))
        return labels


def search_text(form: Any) -> str:
    return str(form.get("q", "")).strip()[:MAX_TEXT]


REFUSALS = (SearchNotPermittedError, SearchTooBroadError, SearchTextTooLongError)


def find(rt: TenantRuntime, grant: Grant, registry: Any, text: str, lang: str
         ) -> tuple[list[FoundCase], str | None]:
    """(cases found, an error for the search box or None)."""
    if not text:
        return [], i18n.text("finder.required", lang)
    try:
        found = Finder(rt, grant, registry).search(text)
    except REFUSALS as refused:
        return [], i18n.message(refused, lang)
    if not found:
        return [], i18n.text("finder.none", lang)
    return found, None


def typed_day(check: Checker, field: str, raw: Any, *, required: bool = False,
              lang: str = "ja") -> date | None:
    """A date as people type it (令和8年4月1日, R8.4.1, 2026/4/1, full-width digits, ISO)."""
    text = str(raw or "").strip()
    if not text:
        if required:
            check.bad(field, "This field is required.", "必須項目です。")
        return None
    parsed = parse_typed_date(text)
    if parsed is None:
        check.bad(field, "Not a date: type e.g. 令和8年4月1日, R8.4.1 or 2026-04-01.",
                  "日付の形式が正しくありません（例: 令和8年4月1日、R8.4.1、2026-04-01）。")
        return None
    return parsed
