"""How a case is named in lists and tasks: its reception number, its site's name, its family.

``R8-000123 · ひろば · 山田 花子`` instead of ``ケース 6b45fd2a · kanda-hiroba``.
The household's name is a personal read, made through the reader's access
(``CaseQueries.households``): a role without the need to know reads it masked,
and then sees the number and the site's name only.  One statement for the
cases, one for their households, whatever the length of the list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from yorisoi.projections.case_queries import CaseQueries, CaseScope, scope_clause


@dataclass(frozen=True)
class CaseLabel:
    case_id: str
    reception_number: str | None  # None: opened before numbers were given
    site_id: str
    site_name: str
    household_name: str | None  # None: masked for the reader, or disposed

    @property
    def number(self) -> str:
        """The number people say; a case from before numbers goes by its id's first part."""
        return self.reception_number or self.case_id[:8]

    @property
    def text(self) -> str:
        return " · ".join(p for p in (self.number, self.site_name, self.household_name) if p)


def household_display_name(guardians: list[dict[str, Any]] | None,
                           children: list[dict[str, Any]] | None) -> str | None:
    """A household's name for those who may see it: its first guardian's, else its first child's."""
    for person in [*(guardians or []), *(children or [])]:
        if person.get("name"):
            return str(person["name"])
    return None


def case_labels(cases: CaseQueries, scope: CaseScope, case_ids: Collection[str],
                site_name: Callable[[str], str]) -> dict[str, CaseLabel]:
    """Labels of the cases among ``case_ids`` the reader may see (others are left out)."""
    ids = sorted({str(c) for c in case_ids})
    if not ids:
        return {}
    where, params = scope_clause(scope)
    marks = ", ".join(["%s"] * len(ids))
    rows = cases.db.select(
        "SELECT case_id, household_id, site_id, reception_number FROM {s}case_view"
        f" WHERE case_id IN ({marks}){where}", [*ids, *params])
    households = cases.households([row["household_id"] for row in rows])
    labels = {}
    for row in rows:
        record = households.get(row["household_id"])
        name = None
        if record is not None and not record.masked:
            name = household_display_name(record.guardians, record.children)
        labels[row["case_id"]] = CaseLabel(
            case_id=row["case_id"], reception_number=row["reception_number"],
            site_id=row["site_id"], site_name=site_name(row["site_id"]), household_name=name)
    return labels


def registry_site_names(registry: Any, municipality_code: str) -> Callable[[str], str]:
    """``site_name(site_id)`` from the registry; the id if it has none.

    Each site is asked once per list (a page of tasks is mostly one or two sites).
    """
    names: dict[str, str] = {}

    def name(site_id: str) -> str:
        if site_id not in names:
            site = registry.site(municipality_code, site_id)
            names[site_id] = site.name if site is not None and site.name else site_id
        return names[site_id]

    return name
