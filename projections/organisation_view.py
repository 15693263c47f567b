"""The organisation view: site profiles and staff (assignments, training, pledge) — and its reads.

Nothing of a family is here.  ``staff_view.display_name`` is the one personal
column: a staff member's name, kept plaintext on purpose (staff records are
employment records, not crypto-shredded with a household) and read only by
the staff pages — never by oversight, spans or logs.  Findings are computed at
read time (they depend on today's date) by the pure functions of
``domain/findings.py``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from eventsourcing.persistence import Notification

from yorisoi.domain.findings import Finding, TrainingRecord, site_findings, staff_findings
from yorisoi.domain.sites import SiteProfile
from yorisoi.domain.staff import DEDICATED, StaffMember
from yorisoi.infra.db import Cursor, Database
from yorisoi.projections.case_queries import CursorInvalidError

ORGANISATION_TABLES = ("site_profile_view", "staff_view", "staff_training_view",
                       "staff_assignment_view")


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


# The event classes ``apply`` acts on (``handles``).
_HANDLED = (SiteProfile.Registered, SiteProfile.Described, SiteProfile.ScheduleSet,
            SiteProfile.ExceptionAdded, SiteProfile.ExceptionRemoved, StaffMember.Registered,
            StaffMember.Updated, StaffMember.Assigned, StaffMember.AssignmentEnded,
            StaffMember.TrainingRecorded, StaffMember.PledgeAttached)


class OrganisationView:
    """Projection of site profiles and staff members into the organisation tables."""

    name = "organisation"
    tables = ORGANISATION_TABLES

    def __init__(self, keyring: Any = None) -> None:
        self.keyring = keyring  # unused: nothing here is sealed under a household key

    @staticmethod
    def ddl() -> list[str]:
        return [
            ("CREATE TABLE IF NOT EXISTS {s}site_profile_view ("
             " site_id TEXT PRIMARY KEY, profile_id TEXT NOT NULL, municipality_code TEXT NOT NULL,"
             " site_type TEXT NOT NULL, address TEXT NOT NULL, contractor_id TEXT,"
             " contract_id TEXT, weekly TEXT NOT NULL DEFAULT '{}',"
             " closed_on_public_holidays BOOLEAN NOT NULL DEFAULT TRUE,"
             " exceptions TEXT NOT NULL DEFAULT '{}', version INTEGER NOT NULL,"
             " position BIGINT NOT NULL)"),
            # display_name: STAFF PERSONAL DATA (plaintext by design, see module docstring).
            ("CREATE TABLE IF NOT EXISTS {s}staff_view ("
             " staff_id TEXT PRIMARY KEY, subject TEXT NOT NULL, display_name TEXT NOT NULL,"
             " organisation_kind TEXT NOT NULL, organisation_id TEXT NOT NULL,"
             " roles TEXT NOT NULL, qualifications TEXT NOT NULL, pledge_attachment_id TEXT,"
             " pledge_signed_on TEXT, version INTEGER NOT NULL, position BIGINT NOT NULL)"),
            "CREATE INDEX IF NOT EXISTS staff_view_org ON {s}staff_view (organisation_id, staff_id)",
            ("CREATE TABLE IF NOT EXISTS {s}staff_training_view ("
             " training_id TEXT PRIMARY KEY, staff_id TEXT NOT NULL, kind TEXT NOT NULL,"
             " completed_on TEXT NOT NULL, valid_until TEXT, position BIGINT NOT NULL)"),
            ("CREATE INDEX IF NOT EXISTS staff_training_view_staff"
             " ON {s}staff_training_view (staff_id)"),
            ("CREATE TABLE IF NOT EXISTS {s}staff_assignment_view ("
             " assignment_id TEXT PRIMARY KEY, staff_id TEXT NOT NULL, site_id TEXT NOT NULL,"
             " kind TEXT NOT NULL, starts_on TEXT NOT NULL, ends_on TEXT,"
             " position BIGINT NOT NULL)"),
            ("CREATE INDEX IF NOT EXISTS staff_assignment_view_site"
             " ON {s}staff_assignment_view (site_id, staff_id)"),
        ]

    def reset(self, cur: Cursor) -> None:
        for table in ORGANISATION_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def purge(self, cur: Cursor, household_id: str) -> None:
        """Nothing of a household: sites and staff only."""

    @staticmethod
    def handles(event_cls: type) -> bool:
        return issubclass(event_cls, _HANDLED)

    def apply(self, cur: Cursor, event: Any, n: Notification) -> None:
        if isinstance(event, SiteProfile.Registered):
            cur.execute(
                "INSERT INTO {s}site_profile_view (site_id, profile_id, municipality_code,"
                " site_type, address, contractor_id, contract_id, version, position)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (event.site_id, str(event.originator_id), event.municipality_code,
                 event.site_type, event.address, event.contractor_id, event.contract_id,
                 event.originator_version, n.id))
        elif isinstance(event, SiteProfile.Described):
            self._site(cur, event, n, site_type=event.site_type, address=event.address,
                       contractor_id=event.contractor_id, contract_id=event.contract_id)
        elif isinstance(event, SiteProfile.ScheduleSet):
            self._site(cur, event, n, weekly=json.dumps(event.weekly),
                       closed_on_public_holidays=bool(event.closed_on_public_holidays))
        elif isinstance(event, (SiteProfile.ExceptionAdded, SiteProfile.ExceptionRemoved)):
            row = cur.execute("SELECT exceptions FROM {s}site_profile_view WHERE profile_id = %s",
                              (str(event.originator_id),)).fetchone()
            if row is None:  # cannot happen: a profile is registered before it changes
                raise LookupError("exception of a site profile the view has not seen")
            exceptions = json.loads(row["exceptions"])
            if isinstance(event, SiteProfile.ExceptionAdded):
                exceptions[event.on.isoformat()] = {"kind": event.kind, "opens": event.opens,
                                                    "closes": event.closes}
            else:
                exceptions.pop(event.on.isoformat(), None)
            self._site(cur, event, n, exceptions=json.dumps(dict(sorted(exceptions.items()))))
        elif isinstance(event, StaffMember.Registered):
            cur.execute(
                "INSERT INTO {s}staff_view (staff_id, subject, display_name, organisation_kind,"
                " organisation_id, roles, qualifications, version, position)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (str(event.originator_id), event.subject, event.display_name,
                 event.organisation_kind, event.organisation_id, json.dumps(event.roles),
                 json.dumps(event.qualifications), event.originator_version, n.id))
        elif isinstance(event, StaffMember.Updated):
            self._staff(cur, event, n, display_name=event.display_name,
                        roles=json.dumps(event.roles),
                        qualifications=json.dumps(event.qualifications))
        elif isinstance(event, StaffMember.Assigned):
            cur.execute(
                "INSERT INTO {s}staff_assignment_view (assignment_id, staff_id, site_id, kind,"
                " starts_on, ends_on, position) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (event.assignment_id, str(event.originator_id), event.site_id, event.kind,
                 _day(event.starts_on), _day(event.ends_on), n.id))
            self._staff(cur, event, n)
        elif isinstance(event, StaffMember.AssignmentEnded):
            cur.execute("UPDATE {s}staff_assignment_view SET ends_on = %s, position = %s"
                        " WHERE assignment_id = %s", (_day(event.ends_on), n.id,
                                                      event.assignment_id))
            self._staff(cur, event, n)
        elif isinstance(event, StaffMember.TrainingRecorded):
            cur.execute(
                "INSERT INTO {s}staff_training_view (training_id, staff_id, kind, completed_on,"
                " valid_until, position) VALUES (%s, %s, %s, %s, %s, %s)",
                (event.training_id, str(event.originator_id), event.kind,
                 _day(event.completed_on), _day(event.valid_until), n.id))
            self._staff(cur, event, n)
        elif isinstance(event, StaffMember.PledgeAttached):
            self._staff(cur, event, n, pledge_attachment_id=event.attachment_id,
                        pledge_signed_on=_day(event.signed_on))

    def _site(self, cur: Cursor, event: Any, n: Notification, **columns: Any) -> None:
        self._update(cur, "site_profile_view", "profile_id", event, n, columns)

    def _staff(self, cur: Cursor, event: Any, n: Notification, **columns: Any) -> None:
        self._update(cur, "staff_view", "staff_id", event, n, columns)

    @staticmethod
    def _update(cur: Cursor, table: str, key: str, event: Any, n: Notification,
                columns: dict[str, Any]) -> None:
        columns |= {"version": event.originator_version, "position": n.id}
        assignments = ", ".join(f"{name} = %s" for name in columns)
        cur.execute(f"UPDATE {{s}}{table} SET {assignments} WHERE {key} = %s",
                    [*columns.values(), str(event.originator_id)])


# ---------------------------------------------------------------------- reads


@dataclass(frozen=True)
class SiteProfileRecord:
    site_id: str
    site_type: str
    address: str
    contractor_id: str | None
    contract_id: str | None
    weekly: dict[str, list[str]]
    closed_on_public_holidays: bool
    exceptions: dict[str, dict[str, str | None]]
    version: int
    dedicated_specialists: int
    findings: list[Finding]


@dataclass(frozen=True)
class StaffRecord:
    staff_id: str
    subject: str
    display_name: str  # staff personal data
    organisation_kind: str
    organisation_id: str
    roles: list[str]
    qualifications: list[str]
    pledge_signed_on: str | None
    version: int
    assignments: list[dict[str, Any]] = field(default_factory=list)
    trainings: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


# The training a specialist's site counts for (domain/findings.py names it).
SPECIALIST_TRAINING = "kosodate_shienin_senmon"


def _active(row: dict[str, Any], today: str) -> bool:
    return row["starts_on"] <= today and (row["ends_on"] is None or row["ends_on"] >= today)


def _encode(staff_id: str) -> str:
    return base64.urlsafe_b64encode(staff_id.encode()).decode()


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise CursorInvalidError from None


class OrganisationQueries:
    """Reads of the organisation view, with findings as of ``today``."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def sites(self, today: date, site_id: str | None = None) -> list[SiteProfileRecord]:
        day = today.isoformat()
        with self.db.transaction(write=False) as cur:
            where, params = (" WHERE site_id = %s", [site_id]) if site_id else ("", [])
            rows = cur.execute(f"SELECT * FROM {{s}}site_profile_view{where} ORDER BY site_id",
                               params).fetchall()
            dedicated = self._dedicated_specialists(cur, day)
        return self._site_records(rows, dedicated)

    def site_page(self, today: date, *, after: str | None,
                  limit: int) -> tuple[list[SiteProfileRecord], int]:
        """Site profiles by site_id after the keyset ``after``; and how many in all."""
        where, params = ("", []) if after is None else (" WHERE site_id > %s", [after])
        with self.db.transaction(write=False) as cur:
            total = cur.execute("SELECT COUNT(*) AS n FROM {s}site_profile_view").fetchone()
            rows = cur.execute(f"SELECT * FROM {{s}}site_profile_view{where} ORDER BY site_id"
                               f" LIMIT %s", [*params, limit]).fetchall()
            dedicated = self._dedicated_specialists(cur, today.isoformat())
        return self._site_records(rows, dedicated), int(total["n"])

    @staticmethod
    def _site_records(rows: list[Any], dedicated: dict[str, int]) -> list[SiteProfileRecord]:
        return [SiteProfileRecord(
            site_id=r["site_id"], site_type=r["site_type"], address=r["address"],
            contractor_id=r["contractor_id"], contract_id=r["contract_id"],
            weekly=json.loads(r["weekly"]),
            closed_on_public_holidays=bool(r["closed_on_public_holidays"]),
            exceptions=json.loads(r["exceptions"]), version=r["version"],
            dedicated_specialists=dedicated.get(r["site_id"], 0),
            findings=site_findings(json.loads(r["weekly"]), dedicated.get(r["site_id"], 0)))
            for r in rows]

    def staffing(self, as_of: date) -> dict[str, dict[str, int]]:
        """Per site: specialists assigned 専任 (dedicated) / 兼任 (assisting) on the day, and
        how many of them had the specialist training (子育て支援員専門研修) by then.  Counts only."""
        day = as_of.isoformat()
        with self.db.transaction(write=False) as cur:
            rows = self._specialist_assignments(cur, day)
            trained = {r["staff_id"] for r in cur.execute(
                "SELECT staff_id FROM {s}staff_training_view"
                " WHERE kind = %s AND completed_on <= %s",
                (SPECIALIST_TRAINING, day)).fetchall()}
        found: dict[str, dict[str, int]] = {}
        for r in rows:
            site = found.setdefault(r["site_id"], {"dedicated": 0, "assisting": 0, "trained": 0})
            site["dedicated" if r["kind"] == DEDICATED else "assisting"] += 1
            site["trained"] += r["staff_id"] in trained
        return found

    @staticmethod
    def _specialist_assignments(cur: Cursor, day: str) -> list[dict[str, Any]]:
        """The assignments of specialists in force on ``day`` (either kind)."""
        rows = cur.execute(
            "SELECT a.site_id, a.kind, a.staff_id, a.starts_on, a.ends_on, s.roles"
            " FROM {s}staff_assignment_view a"
            " JOIN {s}staff_view s ON s.staff_id = a.staff_id").fetchall()
        return [r for r in rows if _active(r, day) and "specialist" in json.loads(r["roles"])]

    @staticmethod
    def _dedicated_specialists(cur: Cursor, day: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in OrganisationQueries._specialist_assignments(cur, day):
            if r["kind"] == DEDICATED:
                counts[r["site_id"]] = counts.get(r["site_id"], 0) + 1
        return counts

    def staff_page(self, today: date, *, organisation_id: str | None, first: int,
                   after: str | None) -> tuple[list[StaffRecord], int, bool]:
        """Staff ordered by id (keyset), limited to one organisation when given."""
        where, params = " WHERE 1 = 1", []
        if organisation_id is not None:
            where += " AND organisation_id = %s"
            params.append(organisation_id)
        with self.db.transaction(write=False) as cur:
            total = cur.execute(f"SELECT COUNT(*) AS n FROM {{s}}staff_view{where}",
                                params).fetchone()
            if after is not None:
                where += " AND staff_id > %s"
                params.append(_decode(after))
            rows = cur.execute(f"SELECT * FROM {{s}}staff_view{where} ORDER BY staff_id LIMIT %s",
                               [*params, first + 1]).fetchall()
            records = self._records(cur, rows[:first], today)
        return records, int(total["n"]), len(rows) > first

    def staff(self, today: date, staff_id: str,
              organisation_id: str | None = None) -> StaffRecord | None:
        with self.db.transaction(write=False) as cur:
            row = cur.execute("SELECT * FROM {s}staff_view WHERE staff_id = %s",
                              (staff_id,)).fetchone()
            if row is None or (organisation_id is not None
                               and row["organisation_id"] != organisation_id):
                return None
            return self._records(cur, [row], today)[0]

    def all_staff(self, today: date) -> list[StaffRecord]:
        with self.db.transaction(write=False) as cur:
            rows = cur.execute("SELECT * FROM {s}staff_view ORDER BY staff_id").fetchall()
            return self._records(cur, rows, today)

    @staticmethod
    def _records(cur: Cursor, rows: list[dict[str, Any]], today: date) -> list[StaffRecord]:
        if not rows:
            return []
        ids = [r["staff_id"] for r in rows]
        marks = ", ".join(["%s"] * len(ids))
        assignments = cur.execute(
            f"SELECT * FROM {{s}}staff_assignment_view WHERE staff_id IN ({marks})"
            " ORDER BY starts_on, assignment_id", ids).fetchall()
        trainings = cur.execute(
            f"SELECT * FROM {{s}}staff_training_view WHERE staff_id IN ({marks})"
            " ORDER BY completed_on, training_id", ids).fetchall()
        records = []
        for r in rows:
            mine = [t for t in trainings if t["staff_id"] == r["staff_id"]]
            roles = json.loads(r["roles"])
            found = staff_findings(roles, [TrainingRecord(
                t["kind"], date.fromisoformat(t["completed_on"]),
                date.fromisoformat(t["valid_until"]) if t["valid_until"] else None)
                for t in mine], r["pledge_attachment_id"] is not None, today)
            records.append(StaffRecord(
                staff_id=r["staff_id"], subject=r["subject"], display_name=r["display_name"],
                organisation_kind=r["organisation_kind"], organisation_id=r["organisation_id"],
                roles=roles, qualifications=json.loads(r["qualifications"]),
                pledge_signed_on=r["pledge_signed_on"], version=r["version"],
                assignments=[a for a in assignments if a["staff_id"] == r["staff_id"]],
                trainings=mine, findings=found))
        return records
