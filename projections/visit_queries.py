"""Reads of the visits view: a case's visits, one visit, and a site's calendar of visits.

Personal values are unsealed here, at the last moment, with the household
key (a person's read: masked or logged by ``HouseholdKeyring.read_json``); a
disposed household reads as ``None``.  The caller passes the scope decided in
``tenants/access.py``; this module only applies it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from yorisoi.infra.db import Database
from yorisoi.projections.case_queries import CaseScope, scope_clause
from yorisoi.projections.visits_view import visit_aad
from yorisoi.services.personal_data import HouseholdKeyring


@dataclass(frozen=True)
class VisitRecord:
    visit_id: str
    case_id: str
    household_id: str
    site_id: str
    contract_id: str | None
    kind: str
    status: str
    planned_on: str
    starts_at: str | None
    ends_at: str | None
    visitors: list[str]
    place: str
    done_on: str | None
    outcome: str | None
    next_step: str | None
    follow_up_on: str | None
    follow_up_owner: str | None
    follow_up_completed_on: str | None
    consultation_id: str | None
    planned_by: str | None
    # Personal (None when disposed of, or masked for the reader).
    purpose: str | None
    place_note: str | None
    summary: str | None
    next_step_note: str | None
    cancel_reason: str | None
    disposed: bool
    version: int

    @property
    def follow_up_open(self) -> bool:
        return self.follow_up_on is not None and self.follow_up_completed_on is None


class VisitQueries:
    """Read side of the visits view for one municipality."""

    def __init__(self, database: Database, keyring: HouseholdKeyring) -> None:
        self.db = database
        self.keyring = keyring

    def _records(self, rows: list[dict[str, Any]]) -> list[VisitRecord]:
        self.keyring.preload(r["household_id"] for r in rows)  # one key read per page
        found = []
        for r in rows:
            data = self.keyring.read_json(UUID(r["household_id"]), r["sealed"],
                                          visit_aad(r["visit_id"]),
                                          record=("outreach_visit", r["visit_id"]))
            found.append(VisitRecord(
                visit_id=r["visit_id"], case_id=r["case_id"], household_id=r["household_id"],
                site_id=r["site_id"], contract_id=r["contract_id"], kind=r["kind"],
                status=r["status"], planned_on=r["planned_on"], starts_at=r["starts_at"],
                ends_at=r["ends_at"], visitors=json.loads(r["visitors"]), place=r["place"],
                done_on=r["done_on"], outcome=r["outcome"], next_step=r["next_step"],
                follow_up_on=r["follow_up_on"], follow_up_owner=r["follow_up_owner"],
                follow_up_completed_on=r["follow_up_completed_on"],
                consultation_id=r["consultation_id"], planned_by=r["planned_by"],
                purpose=data and data.get("purpose"), place_note=data and data.get("place_note"),
                summary=data and data.get("summary"),
                next_step_note=data and data.get("next_step_note"),
                cancel_reason=data and data.get("cancel_reason"),
                disposed=data is None, version=int(r["version"])))
        return found

    def get(self, scope: CaseScope, visit_id: str) -> VisitRecord | None:
        where, params = scope_clause(scope)
        rows = self.db.select(f"SELECT * FROM {{s}}visit_view WHERE visit_id = %s{where}",
                              [visit_id, *params])
        found = self._records(rows)
        return found[0] if found else None

    def for_case(self, scope: CaseScope, case_id: str) -> list[VisitRecord]:
        """A case's visits, the latest planned first."""
        where, params = scope_clause(scope)
        rows = self.db.select(
            f"SELECT * FROM {{s}}visit_view WHERE case_id = %s{where}"
            " ORDER BY planned_on DESC, COALESCE(starts_at, '') DESC, visit_id", [case_id, *params])
        return self._records(rows)

    def calendar(self, scope: CaseScope, start: date, end: date, *,
                 site_id: str | None = None, visitor: str | None = None,
                 statuses: tuple[str, ...] = ()) -> list[VisitRecord]:
        """Visits planned on the Japan dates [start, end], earliest first.

        ``site_id`` narrows to one site, ``visitor`` to the visits a person goes on,
        ``statuses`` to those statuses (every status when empty).
        """
        where, params = scope_clause(scope)
        sql = ("SELECT * FROM {s}visit_view WHERE planned_on >= %s AND planned_on < %s"
               + where)
        values: list[Any] = [start.isoformat(), (end + timedelta(days=1)).isoformat(), *params]
        if site_id is not None:
            sql += " AND site_id = %s"
            values.append(site_id)
        if statuses:
            sql += f" AND status IN ({', '.join(['%s'] * len(statuses))})"
            values += list(statuses)
        if visitor is not None:
            # visitors is a JSON list of ids: the task table holds one row per person.
            sql += (" AND visit_id IN (SELECT source_id FROM {s}visit_task_view"
                    " WHERE owner_user_id = %s AND kind = 'outreach_visit')")
            values.append(visitor)
        rows = self.db.select(sql + " ORDER BY planned_on, COALESCE(starts_at, ''), visit_id", values)
        return self._records(rows)


def staff_names(database: Database) -> dict[str, str]:
    """Sign-in subject → the staff member's name (the municipality's staff records)."""
    rows = database.select("SELECT subject, display_name FROM {s}staff_view")
    return {r["subject"]: r["display_name"] for r in rows}


def household_visit_ids(database: Database, household_id: str) -> list[str]:
    """A household's outreach visits, earliest planned first (a disclosure lists them)."""
    rows = database.select("SELECT visit_id FROM {s}visit_view WHERE household_id = %s"
                           " ORDER BY planned_on, visit_id", [household_id])
    return [r["visit_id"] for r in rows]


def case_visit_ids(database: Database, case_ids: list[str], *, status: str) -> list[str]:
    """The visits of these cases in ``status`` (a hand-over moves the planned ones)."""
    with database.transaction(write=False) as cur:
        rows = cur.select_in("SELECT visit_id, status FROM {s}visit_view WHERE", "case_id",
                             case_ids)
    return sorted(r["visit_id"] for r in rows if r["status"] == status)
