"""Reads of the case view: keyset-paginated case lists and case pages.

Personal values are unsealed here, at the last moment, with the household
key; a disposed household reads as ``None``.  The caller passes the contracts
whose cases the actor may see (decided in ``tenants/access.py``); this module
only applies that scope, it never decides it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from json.encoder import encode_basestring_ascii as _json_string
from typing import TYPE_CHECKING, Any
from uuid import UUID

from yorisoi.infra.clock import japan_today
from yorisoi.infra.db import Database

if TYPE_CHECKING:
    from yorisoi.projections.case_search import CaseFilter
from yorisoi.projections.case_view import consultation_aad, household_aad
from yorisoi.projections.fresh_rows import fresh
from yorisoi.services.personal_access import is_masked
from yorisoi.services.personal_data import HouseholdKeyring


class CursorInvalidError(ValueError):
    code = "cursor_invalid"
    message = "The page cursor is not valid; start again from the first page."
    message_ja = "ページ位置の指定が正しくありません。最初のページから取得し直してください。"


@dataclass(frozen=True)
class CaseScope:
    """Which cases a reader may see: all, only those under given contracts, only at given sites."""

    contract_ids: Collection[str] | None = None  # None: every case of the municipality
    include_direct: bool = True  # cases of sites the municipality runs itself
    site_ids: Collection[str] | None = None  # None: every site the contracts allow


@dataclass(frozen=True)
class HouseholdRecord:
    household_id: str
    guardians: list[dict[str, str]] | None
    children: list[dict[str, str]] | None
    pregnancy_due_date: str | None
    disposed: bool
    masked: bool = False  # the reader's role may not see personal fields


@dataclass(frozen=True)
class ConsultationRecord:
    consultation_id: str
    case_id: str
    site_id: str
    contract_id: str | None
    occurred_on: str
    channel: str
    themes: list[str]
    asked: str | None
    wishes: str | None
    direction: str | None
    recorded_by: str | None
    recorded_role: str | None
    recorded_at: str
    outer_situation: str | None = None
    inner_situation: str | None = None
    child_rearing_situation: str | None = None
    # Oldest first: fields, reason, corrected_by, corrected_role, corrected_at.
    corrections: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class CaseRecord:
    case_id: str
    household_id: str
    municipality_code: str
    site_id: str
    contract_id: str | None
    status: str
    opened_on: str
    last_activity_on: str
    consultation_count: int
    themes: list[str]
    closed_on: str | None = None
    closure_reason: str | None = None
    council_case: bool = False
    version: int = 1
    reception_number: str | None = None  # 受付番号, e.g. R8-000123 (None: opened before numbers)


@dataclass(frozen=True)
class CasePage:
    cases: list[CaseRecord]
    total_count: int
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(record: CaseRecord) -> str:
    activity, case_id = record.last_activity_on, record.case_id
    if type(activity) is str and type(case_id) is str:
        # Byte for byte json.dumps([activity, case_id]), without its encoder set-up
        # (one cursor per edge of every page).
        raw = f"[{_json_string(activity)}, {_json_string(case_id)}]"
    else:
        raw = json.dumps([activity, case_id])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        activity, case_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(activity, str) or not isinstance(case_id, str):
            raise TypeError
    except (ValueError, TypeError):
        raise CursorInvalidError from None
    return activity, case_id


def scope_clause(scope: CaseScope, *, sites_via_case: bool = False) -> tuple[str, list[Any]]:
    """The WHERE fragment that applies a grant's scope (shared by every case-scoped view).

    ``sites_via_case``: the table has no ``site_id`` of its own, so its rows are
    limited through their case's site.
    """
    where, params = _contract_clause(scope)
    if scope.site_ids is None:
        return where, params
    sites = list(scope.site_ids)
    if not sites:
        return where + " AND 1 = 0", params
    marks = ", ".join(["%s"] * len(sites))
    if sites_via_case:
        where += (" AND CAST(case_id AS TEXT) IN"
                  f" (SELECT case_id FROM {{s}}case_view WHERE site_id IN ({marks}))")
    else:
        where += f" AND site_id IN ({marks})"
    return where, params + sites


def in_scope(scope: CaseScope, row: dict[str, Any]) -> bool:
    """``scope_clause`` applied to one row in memory (a row this request's catch-up wrote)."""
    if scope.contract_ids is not None:
        contract_id = row["contract_id"]
        if not (contract_id in scope.contract_ids
                or (scope.include_direct and contract_id is None)):
            return False
    return scope.site_ids is None or row["site_id"] in scope.site_ids


def _contract_clause(scope: CaseScope) -> tuple[str, list[Any]]:
    if scope.contract_ids is None:
        return "", []
    ids = list(scope.contract_ids)
    parts = []
    if ids:
        parts.append(f"contract_id IN ({', '.join(['%s'] * len(ids))})")
    if scope.include_direct:
        parts.append("contract_id IS NULL")
    if not parts:
        return " AND 1 = 0", []
    return " AND (" + " OR ".join(parts) + ")", ids


def _case(row: dict[str, Any]) -> CaseRecord:
    return CaseRecord(
        case_id=row["case_id"], household_id=row["household_id"],
        municipality_code=row["municipality_code"], site_id=row["site_id"],
        contract_id=row["contract_id"], status=row["status"], opened_on=row["opened_on"],
        last_activity_on=row["last_activity_on"],
        consultation_count=int(row["consultation_count"]), themes=json.loads(row["themes"]),
        closed_on=row["closed_on"], closure_reason=row["closure_reason"],
        council_case=bool(row["council_case"]), version=int(row["version"]),
        reception_number=row.get("reception_number"))


class CaseQueries:
    """Read side of the case view for one municipality."""

    def __init__(self, database: Database, keyring: HouseholdKeyring) -> None:
        from yorisoi.projections.case_search import CaseSearch, ColumnProbe

        self.db = database
        self.keyring = keyring
        self.search = CaseSearch(database, keyring, ColumnProbe(database, "reception_number"))

    def page(self, scope: CaseScope, *, first: int, after: str | None = None,
             status: str | None = None, filter: CaseFilter | None = None,  # noqa: A002
             today: date | None = None) -> CasePage:
        """Cases by most recent activity, newest first, with keyset pagination.

        ``filter`` narrows the list (``projections/case_search.py``); the count
        and the pages apply the same conditions.
        """
        where, params = scope_clause(scope)
        if status is not None:
            where += " AND status = %s"
            params.append(status)
        if filter is not None and not filter.is_empty():
            more, more_params = self.search.filter_clause(
                filter, where, params, today=today or japan_today())
            where += more
            params += more_params
        page_where, page_params = where, list(params)
        if after is not None:
            activity, case_id = decode_cursor(after)
            page_where += (" AND (last_activity_on < %s"
                           " OR (last_activity_on = %s AND case_id < %s))")
            page_params += [activity, activity, case_id]
        # The count and the page in one statement, so in one snapshot without a
        # transaction around them (Database.select): one round trip.  The count is
        # the left side of the join, so an empty page still brings it (one row whose
        # case columns are all null).
        rows = self.db.select(
            "SELECT n.total_count, p.* FROM"
            f" (SELECT COUNT(*) AS total_count FROM {{s}}case_view WHERE 1 = 1{where}) AS n"
            f" LEFT JOIN (SELECT * FROM {{s}}case_view WHERE 1 = 1{page_where}"
            " ORDER BY last_activity_on DESC, case_id DESC LIMIT %s) AS p ON 1 = 1"
            " ORDER BY p.last_activity_on DESC, p.case_id DESC",
            [*params, *page_params, first + 1])
        total = int(rows[0]["total_count"])
        if rows[0]["case_id"] is None:  # the empty page's row
            rows = []
        cases = [_case(r) for r in rows[:first]]
        return CasePage(cases=cases, total_count=total,
                        has_next_page=len(rows) > first,
                        end_cursor=encode_cursor(cases[-1]) if cases else None)

    def get(self, scope: CaseScope, case_id: str) -> CaseRecord | None:
        row = fresh(self.db.tenant, "case_view", case_id)
        if row is not None:  # written by this command's own catch-up (projections/fresh_rows.py)
            return _case(row) if in_scope(scope, row) else None
        where, params = scope_clause(scope)
        rows = self.db.select(f"SELECT * FROM {{s}}case_view WHERE case_id = %s{where}",
                              [case_id, *params])
        return _case(rows[0]) if rows else None

    def households(self, household_ids: Collection[str]) -> dict[str, HouseholdRecord]:
        """Households by id, unsealed (one query for a whole page: no N+1)."""
        ids = list(dict.fromkeys(household_ids))
        if not ids:
            return {}
        rows = self._in("household_view", "household_id", ids)
        self.keyring.preload(r["household_id"] for r in rows)  # one key read per page
        result = {}
        for row in rows:
            hid = row["household_id"]
            data = self.keyring.read_json(UUID(hid), row["sealed"], household_aad(hid),
                                          record=("household", hid))
            result[hid] = HouseholdRecord(
                household_id=hid, guardians=data and data["guardians"],
                children=data and data["children"],
                pregnancy_due_date=data and data["pregnancy_due_date"], disposed=data is None,
                masked=is_masked(data))
        return result

    def consultations(self, case_ids: Collection[str]) -> dict[str, list[ConsultationRecord]]:
        """Consultations of the given cases, oldest first, unsealed."""
        ids = list(dict.fromkeys(case_ids))
        result: dict[str, list[ConsultationRecord]] = {cid: [] for cid in ids}
        if not ids:
            return result
        rows = self._in("consultation_view", "case_id", ids,
                        order=" ORDER BY occurred_on, recorded_at")
        for record in self._consultation_records(rows):
            result[record.case_id].append(record)
        return result

    def consultation(self, consultation_id: str) -> ConsultationRecord | None:
        """One consultation by its id, unsealed (a command's answer: not its whole case)."""
        row = fresh(self.db.tenant, "consultation_view", consultation_id)
        rows = [row] if row is not None else self._in("consultation_view", "consultation_id",
                                                      [consultation_id])
        records = self._consultation_records(rows)
        return records[0] if records else None

    def _consultation_records(self, rows: list[dict[str, Any]]) -> list[ConsultationRecord]:
        self.keyring.preload(r["household_id"] for r in rows)  # one key read per page
        result = []
        for row in rows:
            cid = row["consultation_id"]
            data = self.keyring.read_json(UUID(row["household_id"]), row["sealed"],
                                          consultation_aad(cid),
                                          record=("consultation", cid)) or {}
            result.append(ConsultationRecord(
                consultation_id=cid, case_id=row["case_id"], site_id=row["site_id"],
                contract_id=row["contract_id"], occurred_on=row["occurred_on"],
                channel=row["channel"], themes=json.loads(row["themes"]),
                asked=data.get("asked"), wishes=data.get("wishes"),
                direction=data.get("direction"), recorded_by=row["recorded_by"],
                recorded_role=row["recorded_role"], recorded_at=row["recorded_at"],
                outer_situation=data.get("outer_situation"),
                inner_situation=data.get("inner_situation"),
                child_rearing_situation=data.get("child_rearing_situation"),
                corrections=data.get("corrections") or []))
        return result

    def _in(self, table: str, column: str, ids: list[str],
            order: str = "") -> list[dict[str, Any]]:
        marks = ", ".join(["%s"] * len(ids))
        return self.db.select(f"SELECT * FROM {{s}}{table} WHERE {column} IN ({marks}){order}",
                              ids)


def case_theme_counts(database: Database, start: date, end: date) -> dict[str, int]:
    """How many cases had a consultation on each theme in [start, end] (the case view's data)."""
    rows = database.select("SELECT case_id, themes FROM {s}consultation_view"
                           " WHERE occurred_on >= %s AND occurred_on <= %s",
                           (start.isoformat(), end.isoformat()))
    cases: dict[str, set[str]] = {}
    for row in rows:
        for theme in json.loads(row["themes"]):
            cases.setdefault(theme, set()).add(row["case_id"])
    return {theme: len(ids) for theme, ids in sorted(cases.items())}
