"""Likely duplicates at registration: is the family being registered already on file?

Recording a new household first asks the blind index (projections/
household_index.py) for households whose guardian or child matches — same
reading and birth date, same phone, same name and birth date — confirmed
there after decryption, best match first.  What the caller is told depends
on what the caller may see:

- a candidate with a case inside the caller's scope (contract and sites), for
  a role with the need to know, is listed: the case's reception number, the
  site's name, the household's display name, why it matches;
- any other candidate (another site or contract, or a masked role) is only
  counted into one notice — "a possible duplicate exists at another
  site/contract; ask the municipality" — never its number, site or name.

The caller then records under the existing case, or registers the new
household anyway with a reason (kept, sealed, in ``Household.Registered``).
The check is one index read plus the decryption of the few candidates: about
a search's cost (the index lookup is by exact token, not a scan).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yorisoi.domain.errors import DomainError
from yorisoi.projections.case_labels import household_display_name, registry_site_names
from yorisoi.projections.case_queries import CaseScope, scope_clause
from yorisoi.projections.household_index import HouseholdIndex, PersonQuery
from yorisoi.services.casework import NewHousehold

# Reasons, strongest first, as the index reports them; with their words for people.
REASON_LABELS: dict[str, tuple[str, str]] = {
    "reading_birth_date": ("same reading and birth date", "フリガナと生年月日が同じ"),
    "phone": ("same phone number", "電話番号が同じ"),
    "name_birth_date": ("same name and birth date", "氏名と生年月日が同じ"),
}


class NewHouseholdReasonMissingError(DomainError):
    code = "new_household_reason_missing"
    message = "Say why this is a new household although likely duplicates were shown."
    message_ja = "重複の可能性がある世帯を別世帯として登録する理由を入力してください。"


@dataclass(frozen=True)
class DuplicateCandidate:
    """A likely duplicate the caller may see (never built for one the caller may not)."""

    case_id: str
    reception_number: str | None
    site_id: str
    site_name: str
    display_name: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class DuplicateFinding:
    candidates: list[DuplicateCandidate]  # best match first
    elsewhere: int  # matches the caller may not see: told only that they exist

    @property
    def any(self) -> bool:
        return bool(self.candidates or self.elsewhere)


def people_of(household: NewHousehold) -> list[PersonQuery]:
    """The persons the index compares: guardians by phone, children by reading/name + birth."""
    return ([PersonQuery(name=g.name, reading=g.reading, phone=g.phone)
             for g in household.guardians]
            + [PersonQuery(name=c.name, reading=c.reading, birth_date=c.birth_date.isoformat())
               for c in household.children])


def find_duplicates(runtime: Any, scope: CaseScope, household: NewHousehold,
                    site_name: Callable[[str], str]) -> DuplicateFinding:
    """Likely duplicates of ``household`` in the runtime's municipality, as the caller sees them.

    ``runtime``: the tenant runtime (its case view and keyring); ``scope``: the
    caller's case scope; ``site_name(site_id)``: a site's name (the registry).
    """
    database, keyring = runtime.casework.database, runtime.casework.keyring
    # The index is a read model: a family registered a moment ago by another process
    # must be in it before the question is asked (usually nothing to do).
    runtime.catch_up()
    matches = HouseholdIndex(database, keyring).likely_matches(people_of(household))
    if not matches:
        return DuplicateFinding([], 0)
    by_household = {m.household_id: m for m in matches}
    visible = _visible_cases(database, scope, list(by_household))
    # Names through the reader's access: a masked role reads MASKED (so no details).
    records = runtime.cases.households(sorted({hid for hid, _ in visible.values()}))
    candidates: list[DuplicateCandidate] = []
    shown: set[str] = set()
    for match in matches:
        for case_id, (hid, row) in visible.items():
            if hid != match.household_id:
                continue
            record = records.get(hid)
            name = None if record is None or record.masked else household_display_name(
                record.guardians, record.children)
            if name is None:
                continue  # masked or disposed: counted as elsewhere below
            candidates.append(DuplicateCandidate(
                case_id=case_id, reception_number=row["reception_number"],
                site_id=row["site_id"], site_name=site_name(row["site_id"]),
                display_name=name, reasons=match.reasons))
            shown.add(hid)
    elsewhere = sum(1 for m in matches if m.household_id not in shown)
    return DuplicateFinding(candidates, elsewhere)


def _visible_cases(database: Any, scope: CaseScope, household_ids: list[str],
                   ) -> dict[str, tuple[str, dict[str, Any]]]:
    """case id → (household id, row) of the households' cases inside the caller's scope."""
    where, params = scope_clause(scope)
    marks = ", ".join(["%s"] * len(household_ids))
    rows = database.select(
        "SELECT case_id, household_id, site_id, reception_number FROM {s}case_view"
        f" WHERE household_id IN ({marks}){where} ORDER BY last_activity_on DESC, case_id",
        [*household_ids, *params])
    return {row["case_id"]: (row["household_id"], row) for row in rows}


def site_namer(services: Any, municipality_code: str) -> Callable[[str], str]:
    """A site's name from the registry (its id only if the registry has none)."""
    return registry_site_names(services.directory.registry, municipality_code)
