"""The case view: one row per case, its household and its consultations.

Written only by the projection below.  Personal values (who the family is,
what they said) are re-sealed under the household key before they reach a
row, so a read-model table, its backups and its replicas hold ciphertext
only, and disposal of the key makes them unreadable too.
"""

from __future__ import annotations

import json
from typing import Any

from eventsourcing.persistence import Notification

from yorisoi.domain.cases import Case
from yorisoi.domain.consultations import TEXT_FIELDS, Consultation
from yorisoi.domain.households import Household
from yorisoi.infra.db import Cursor
from yorisoi.services.event_mapper import event_metadata
from yorisoi.services.personal_data import HouseholdKeyring

CASE_VIEW_TABLES = ("case_view", "household_view", "consultation_view")


def household_aad(household_id: str) -> bytes:
    return f"household_view:{household_id}".encode()


def consultation_aad(consultation_id: str) -> bytes:
    return f"consultation_view:{consultation_id}".encode()


class CaseView:
    """Projection of households, cases and consultations into the case view tables."""

    name = "case_view"
    tables = CASE_VIEW_TABLES

    def __init__(self, keyring: HouseholdKeyring) -> None:
        self.keyring = keyring

    @staticmethod
    def ddl() -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {s}household_view ("
            " household_id TEXT PRIMARY KEY, sealed {bytes}, registered_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {s}case_view ("
            " case_id TEXT PRIMARY KEY, household_id TEXT NOT NULL,"
            " municipality_code TEXT NOT NULL, site_id TEXT NOT NULL, contract_id TEXT,"
            " status TEXT NOT NULL, opened_on TEXT NOT NULL, last_activity_on TEXT NOT NULL,"
            " consultation_count INTEGER NOT NULL DEFAULT 0, themes TEXT NOT NULL DEFAULT '[]',"
            " closed_on TEXT, closure_reason TEXT, council_case BOOLEAN NOT NULL DEFAULT FALSE,"
            " version INTEGER NOT NULL DEFAULT 1, position BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS case_view_activity"
            " ON {s}case_view (last_activity_on DESC, case_id DESC)",
            "CREATE INDEX IF NOT EXISTS case_view_contract ON {s}case_view (contract_id)",
            "CREATE INDEX IF NOT EXISTS case_view_household ON {s}case_view (household_id)",
            "CREATE TABLE IF NOT EXISTS {s}consultation_view ("
            " consultation_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, household_id TEXT NOT NULL,"
            " site_id TEXT NOT NULL, contract_id TEXT, occurred_on TEXT NOT NULL,"
            " channel TEXT NOT NULL, themes TEXT NOT NULL, sealed {bytes},"
            " recorded_by TEXT, recorded_role TEXT, recorded_org TEXT, recorded_at TEXT NOT NULL,"
            " position BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS consultation_view_case"
            " ON {s}consultation_view (case_id, occurred_on)",
        ]

    def reset(self, cur: Cursor) -> None:
        for table in CASE_VIEW_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def purge(self, cur: Cursor, household_id: str) -> None:
        """Disposal: drop the household's sealed values (what a rebuild after it stores)."""
        for table in ("household_view", "consultation_view"):
            cur.execute(f"UPDATE {{s}}{table} SET sealed = NULL WHERE household_id = %s",
                        (str(household_id),))

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        if isinstance(event, Household.Registered):
            self._household_registered(cur, event)
        elif isinstance(event, Case.Opened):
            self._case_opened(cur, event, notification)
        elif isinstance(event, Consultation.Recorded):
            self._consultation_recorded(cur, event, notification)
        elif isinstance(event, Consultation.Corrected):
            self._consultation_corrected(cur, event, notification)
        elif isinstance(event, Case.Closed):
            self._case_changed(cur, event, notification, status=Case.CLOSED,
                               closed_on=event.closed_on.isoformat(),
                               closure_reason=event.reason)
        elif isinstance(event, Case.Reopened):
            self._case_changed(cur, event, notification, status=Case.ACTIVE, closed_on=None,
                               closure_reason=None,
                               last_activity_on=event.reopened_on.isoformat())
        elif isinstance(event, Case.CouncilCaseMarked):
            self._case_changed(cur, event, notification, council_case=event.council_case)
        elif isinstance(event, Case.HandedOver):
            # The readers' contract scopes filter on contract_id, so access follows at once.
            self._case_changed(cur, event, notification, contract_id=event.to_contract_id,
                               site_id=event.site_id)
        elif type(event).__qualname__.startswith("Case."):
            self._case_changed(cur, event, notification)  # the version moves on

    def _case_changed(self, cur: Cursor, event: Any, n: Notification, **columns: Any) -> None:
        columns |= {"version": event.originator_version, "position": n.id}
        assignments = ", ".join(f"{name} = %s" for name in columns)
        cur.execute(f"UPDATE {{s}}case_view SET {assignments} WHERE case_id = %s",
                    [*columns.values(), str(event.originator_id)])

    def _household_registered(self, cur: Cursor, event: Household.Registered) -> None:
        household_id = str(event.originator_id)
        sealed = None
        if not vars(event).get("_shredded"):
            sealed = self.keyring.reseal_json(event.originator_id, {
                "guardians": event.guardians, "children": event.children,
                "pregnancy_due_date": event.pregnancy_due_date,
                "outside_target_reason": event.outside_target_reason,
            }, household_aad(household_id))
        cur.execute(
            "INSERT INTO {s}household_view (household_id, sealed, registered_at)"
            " VALUES (%s, %s, %s) ON CONFLICT (household_id) DO NOTHING",
            (household_id, sealed, event.timestamp.isoformat()))

    def _case_opened(self, cur: Cursor, event: Case.Opened, n: Notification) -> None:
        cur.execute(
            "INSERT INTO {s}case_view (case_id, household_id, municipality_code, site_id,"
            " contract_id, status, opened_on, last_activity_on, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (str(event.originator_id), str(event.household_id), event.municipality_code,
             event.site_id, event.contract_id, Case.OPENED, event.opened_on.isoformat(),
             event.opened_on.isoformat(), n.id))

    def _consultation_recorded(self, cur: Cursor, event: Consultation.Recorded,
                               n: Notification) -> None:
        consultation_id = str(event.originator_id)
        meta = event_metadata(event)
        sealed = None
        if not vars(event).get("_shredded"):
            # Current values and the correction history travel in one sealed blob.
            sealed = self.keyring.reseal_json(event.household_id, {
                **{name: getattr(event, name) for name in TEXT_FIELDS}, "corrections": [],
            }, consultation_aad(consultation_id))
        cur.execute(
            "INSERT INTO {s}consultation_view (consultation_id, case_id, household_id, site_id,"
            " contract_id, occurred_on, channel, themes, sealed, recorded_by, recorded_role,"
            " recorded_org, recorded_at, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (consultation_id, str(event.case_id), str(event.household_id), event.site_id,
             event.contract_id, event.occurred_on.isoformat(), event.channel,
             json.dumps(event.themes), sealed, meta.get("user_id"), meta.get("role"),
             meta.get("organisation_id"), event.timestamp.isoformat(), n.id))
        row = cur.execute("SELECT themes, last_activity_on FROM {s}case_view WHERE case_id = %s",
                          (str(event.case_id),)).fetchone()
        if row is None:  # cannot happen: a case is opened before its consultations
            raise LookupError("consultation for a case the view has not seen")
        themes = list(dict.fromkeys(json.loads(row["themes"]) + event.themes))
        cur.execute(
            "UPDATE {s}case_view SET consultation_count = consultation_count + 1,"
            " themes = %s, last_activity_on = %s, position = %s,"
            " status = CASE WHEN status = %s THEN %s ELSE status END WHERE case_id = %s",
            (json.dumps(themes), max(row["last_activity_on"], event.occurred_on.isoformat()),
             n.id, Case.OPENED, Case.ACTIVE, str(event.case_id)))

    def _consultation_corrected(self, cur: Cursor, event: Consultation.Corrected,
                                n: Notification) -> None:
        consultation_id = str(event.originator_id)
        row = cur.execute("SELECT sealed FROM {s}consultation_view WHERE consultation_id = %s",
                          (consultation_id,)).fetchone()
        if row is None:  # cannot happen: a consultation is recorded before it is corrected
            raise LookupError("correction of a consultation the view has not seen")
        aad = consultation_aad(consultation_id)
        current = self.keyring.open_json(event.household_id, row["sealed"], aad)
        sealed = None
        if current is not None and not vars(event).get("_shredded"):
            meta = event_metadata(event)
            current.update(event.changes or {})
            # Who and when, and why (personal): the history the case page shows.
            current.setdefault("corrections", []).append({
                "fields": event.changed_fields, "reason": event.reason,
                "corrected_by": meta.get("user_id"), "corrected_role": meta.get("role"),
                "corrected_at": event.timestamp.isoformat()})
            sealed = self.keyring.reseal_json(event.household_id, current, aad)
        cur.execute("UPDATE {s}consultation_view SET sealed = %s, position = %s"
                    " WHERE consultation_id = %s", (sealed, n.id, consultation_id))
