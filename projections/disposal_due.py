"""Records governance views: what each household holds, its cases' closures, holds, batches.

The projection keeps facts only — which records (ids, record classes) belong
to which household, when each case was closed (reopening clears it), the
holds, and the disposal batches and the households they disposed of.
Whether a household is *due* depends on today and on the schedule version in
effect, so the queries decide it with the pure clock of ``domain/retention.py``.
Nothing here is personal: ids, classes, dates, reason codes and staff ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from yorisoi.domain.cases import Case
from yorisoi.domain.disposal import DisposalBatch
from yorisoi.domain.holds import Hold, hold_blocks
from yorisoi.domain.households import Household
from yorisoi.domain.retention import ScheduleVersion, household_due_on
from yorisoi.infra.db import Cursor, Database
from yorisoi.services.event_mapper import event_metadata

DISPOSAL_TABLES = ("retention_case_view", "retention_record_view", "retention_hold_view",
                   "disposal_batch_view", "disposed_household_view")

# Which record class each kind of household record belongs to.  A record of a
# kind not listed counts as part of the case file: retention errs towards keeping.
RECORD_CLASS_OF = {
    "Household": "consultation_file", "Case": "consultation_file",
    "Consultation": "consultation_file", "SupportNote": "consultation_file",
    "Referral": "referral", "CaseMeeting": "meeting_minutes",
    "Consent": "consent_form", "ConsentException": "consent_form",
    "HouseholdConsents": "consent_form",
}
ATTACHMENT_CLASS_OF = {"consent_form": "consent_form", "meeting_minutes": "meeting_minutes"}
# Records *about* records governance and audit, not records of the family: they hold
# no personal data and stay, as the record that a request was answered or a hold kept.
NOT_HOUSEHOLD_RECORDS = frozenset({"Hold", "DisposalBatch", "BreakGlass", "DataSubjectRequest",
                                   "HouseholdRequests"})


def _kind(event: Any) -> str:
    return type(event).__qualname__.split(".", 1)[0]


class DisposalDueView:
    """Projection of household inventories, case closures, holds and disposal batches."""

    name = "disposal_due"
    tables = DISPOSAL_TABLES

    def __init__(self, keyring: Any = None) -> None:
        self.keyring = keyring  # unused: nothing here is sealed

    @staticmethod
    def ddl() -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {s}retention_case_view ("
            " case_id TEXT PRIMARY KEY, household_id TEXT NOT NULL, closed_on TEXT,"
            " position BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS retention_case_household"
            " ON {s}retention_case_view (household_id)",
            "CREATE TABLE IF NOT EXISTS {s}retention_record_view ("
            " record_id TEXT PRIMARY KEY, household_id TEXT NOT NULL, record_class TEXT NOT NULL,"
            " kind TEXT NOT NULL, position BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS retention_record_household"
            " ON {s}retention_record_view (household_id)",
            "CREATE TABLE IF NOT EXISTS {s}retention_hold_view ("
            " hold_id TEXT PRIMARY KEY, household_id TEXT NOT NULL, reason TEXT NOT NULL,"
            " owner TEXT NOT NULL, starts_on TEXT NOT NULL, ends_on TEXT, released_on TEXT,"
            " released_by TEXT, placed_by TEXT, position BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS retention_hold_household"
            " ON {s}retention_hold_view (household_id)",
            "CREATE TABLE IF NOT EXISTS {s}disposal_batch_view ("
            " batch_id TEXT PRIMARY KEY, status TEXT NOT NULL, schedule_version INTEGER NOT NULL,"
            " proposed_by TEXT NOT NULL, proposed_at TEXT NOT NULL, approved_by TEXT,"
            " approved_at TEXT, households INTEGER NOT NULL, disposed INTEGER NOT NULL DEFAULT 0,"
            " skipped INTEGER NOT NULL DEFAULT 0, certificate_sha256 TEXT, completed_at TEXT,"
            " version INTEGER NOT NULL, position BIGINT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {s}disposed_household_view ("
            " household_id TEXT PRIMARY KEY, batch_id TEXT NOT NULL, disposed_at TEXT NOT NULL,"
            " position BIGINT NOT NULL)",
        ]

    def reset(self, cur: Cursor) -> None:
        for table in DISPOSAL_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def purge(self, cur: Cursor, household_id: UUID | str) -> None:
        """Nothing personal here: the inventory is what the certificate and statistics keep."""

    def apply(self, cur: Cursor, event: Any, n: Notification) -> None:
        kind = _kind(event)
        if isinstance(event, Household.Registered):
            self._record(cur, str(event.originator_id), str(event.originator_id), kind, n)
        elif isinstance(event, Hold.Placed | Hold.Released):
            self._hold(cur, event, n)
        elif kind == "DisposalBatch":
            self._batch(cur, event, n)
        elif (event.originator_version == 1 and "household_id" in vars(event)
              and kind not in NOT_HOUSEHOLD_RECORDS):
            self._record(cur, str(event.originator_id), str(event.household_id), kind, n)
        if isinstance(event, Case.Opened):
            cur.execute("INSERT INTO {s}retention_case_view (case_id, household_id, closed_on,"
                        " position) VALUES (%s, %s, NULL, %s)",
                        (str(event.originator_id), str(event.household_id), n.id))
        elif isinstance(event, Case.Closed):
            cur.execute("UPDATE {s}retention_case_view SET closed_on = %s, position = %s"
                        " WHERE case_id = %s",
                        (event.closed_on.isoformat(), n.id, str(event.originator_id)))
        elif isinstance(event, Case.Reopened):  # the clock stops
            cur.execute("UPDATE {s}retention_case_view SET closed_on = NULL, position = %s"
                        " WHERE case_id = %s", (n.id, str(event.originator_id)))
        elif isinstance(event, Case.AttachmentAdded):
            row = cur.execute("SELECT household_id FROM {s}retention_case_view WHERE case_id = %s",
                              (str(event.originator_id),)).fetchone()
            if row is None:  # cannot happen: a case is opened before its attachments
                raise LookupError("attachment of a case the view has not seen")
            cur.execute(
                "INSERT INTO {s}retention_record_view (record_id, household_id, record_class,"
                " kind, position) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (record_id) DO NOTHING",
                (event.attachment_id, row["household_id"],
                 ATTACHMENT_CLASS_OF.get(event.kind, "consultation_file"), "Attachment", n.id))

    def _record(self, cur: Cursor, record_id: str, household_id: str, kind: str,
                n: Notification) -> None:
        cur.execute(
            "INSERT INTO {s}retention_record_view (record_id, household_id, record_class, kind,"
            " position) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (record_id) DO NOTHING",
            (record_id, str(UUID(household_id)), RECORD_CLASS_OF.get(kind, "consultation_file"),
             kind, n.id))

    def _hold(self, cur: Cursor, event: Any, n: Notification) -> None:
        hold_id = str(event.originator_id)
        if isinstance(event, Hold.Placed):
            cur.execute(
                "INSERT INTO {s}retention_hold_view (hold_id, household_id, reason, owner,"
                " starts_on, ends_on, placed_by, position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (hold_id, str(event.household_id), event.reason, event.owner,
                 event.starts_on.isoformat(),
                 event.ends_on.isoformat() if event.ends_on else None,
                 event_metadata(event).get("user_id"), n.id))
        else:
            cur.execute("UPDATE {s}retention_hold_view SET released_on = %s, released_by = %s,"
                        " position = %s WHERE hold_id = %s",
                        (event.released_on.isoformat(), event.released_by, n.id, hold_id))

    def _batch(self, cur: Cursor, event: Any, n: Notification) -> None:
        batch_id = str(event.originator_id)
        if isinstance(event, DisposalBatch.Proposed):
            cur.execute(
                "INSERT INTO {s}disposal_batch_view (batch_id, status, schedule_version,"
                " proposed_by, proposed_at, households, version, position)"
                " VALUES (%s, 'proposed', %s, %s, %s, %s, %s, %s)",
                (batch_id, event.schedule_version, event.proposed_by, event.proposed_at,
                 len(event.households), event.originator_version, n.id))
            return
        columns: dict[str, Any] = {}
        name = type(event).__qualname__.split(".", 1)[1]
        if name == "Approved":
            columns = {"status": "approved", "approved_by": event.approved_by,
                       "approved_at": event.approved_at}
        elif name == "Started":
            columns = {"status": "running"}
        elif name == "HouseholdDisposed":
            cur.execute("INSERT INTO {s}disposed_household_view (household_id, batch_id,"
                        " disposed_at, position) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (household_id) DO NOTHING",
                        (event.household_id, batch_id, event.at, n.id))
            cur.execute("UPDATE {s}disposal_batch_view SET disposed = disposed + 1"
                        " WHERE batch_id = %s", (batch_id,))
        elif name == "HouseholdSkipped":
            cur.execute("UPDATE {s}disposal_batch_view SET skipped = skipped + 1"
                        " WHERE batch_id = %s", (batch_id,))
        elif name == "Certified":
            columns = {"certificate_sha256": event.certificate.get("sha256")}
        elif name == "Completed":
            columns = {"status": "completed", "completed_at": event.at}
        columns |= {"version": event.originator_version, "position": n.id}
        assignments = ", ".join(f"{column} = %s" for column in columns)
        cur.execute(f"UPDATE {{s}}disposal_batch_view SET {assignments} WHERE batch_id = %s",
                    [*columns.values(), batch_id])


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class HouseholdStanding:
    """A closed, not yet disposed household and where it stands on a given day."""

    household_id: str
    closed_on: date
    due_on: date | None  # None: a permanent class keeps it
    record_counts: dict[str, int]
    held: bool

    def due(self, on: date) -> bool:
        return not self.held and self.due_on is not None and self.due_on <= on


@dataclass(frozen=True)
class HoldRecord:
    hold_id: str
    household_id: str
    reason: str
    owner: str
    starts_on: str
    ends_on: str | None
    released_on: str | None
    released_by: str | None
    placed_by: str | None

    def blocks(self, on: date) -> bool:
        return hold_blocks(
            released_on=date.fromisoformat(self.released_on) if self.released_on else None,
            ends_on=date.fromisoformat(self.ends_on) if self.ends_on else None, on=on)


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    status: str
    schedule_version: int
    proposed_by: str
    proposed_at: str
    approved_by: str | None
    approved_at: str | None
    households: int
    disposed: int
    skipped: int
    certificate_sha256: str | None
    completed_at: str | None
    version: int


@dataclass(frozen=True)
class Inventory:
    """What one household holds, by id and class (the disposal certificate lists it)."""

    household_id: str
    records: list[dict[str, str]] = field(default_factory=list)  # id, class, kind
    closures: list[date | None] = field(default_factory=list)  # one per case; None: open
    disposed: bool = False


class DisposalDueQueries:
    """Read side: standings and the due list, holds, batches, one household's inventory."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def standings(self, schedule: ScheduleVersion, on: date) -> list[HouseholdStanding]:
        """Every household whose cases are all closed and that was not disposed of yet."""
        with self.db.transaction(write=False) as cur:
            closed = cur.execute(
                "SELECT household_id, MAX(closed_on) AS closed_on FROM {s}retention_case_view"
                " WHERE household_id NOT IN (SELECT household_id FROM {s}disposed_household_view)"
                " GROUP BY household_id"
                " HAVING SUM(CASE WHEN closed_on IS NULL THEN 1 ELSE 0 END) = 0"
                " ORDER BY MAX(closed_on), household_id").fetchall()
            counts: dict[str, dict[str, int]] = {}
            for row in cur.execute(
                    "SELECT r.household_id, r.record_class, COUNT(*) AS n"
                    " FROM {s}retention_record_view r WHERE r.household_id IN ("
                    "  SELECT household_id FROM {s}retention_case_view GROUP BY household_id"
                    "  HAVING SUM(CASE WHEN closed_on IS NULL THEN 1 ELSE 0 END) = 0)"
                    " GROUP BY r.household_id, r.record_class").fetchall():
                counts.setdefault(row["household_id"], {})[row["record_class"]] = int(row["n"])
            held = {h.household_id for h in self._holds(cur, "", []) if h.blocks(on)}
        standings = []
        for row in closed:
            household_id = row["household_id"]
            classes = counts.get(household_id, {})
            standings.append(HouseholdStanding(
                household_id=household_id, closed_on=date.fromisoformat(row["closed_on"]),
                due_on=household_due_on([date.fromisoformat(row["closed_on"])],
                                        [schedule.years_for(c) for c in classes]
                                        or [schedule.years_for("consultation_file")]),
                record_counts=dict(sorted(classes.items())), held=household_id in held))
        return standings

    def due(self, schedule: ScheduleVersion, on: date) -> list[HouseholdStanding]:
        """Households due for disposal on ``on``: periods run out, no active hold, not disposed."""
        return [s for s in self.standings(schedule, on) if s.due(on)]

    def inventory(self, household_id: str) -> Inventory:
        with self.db.transaction(write=False) as cur:
            records = cur.execute(
                "SELECT record_id, record_class, kind FROM {s}retention_record_view"
                " WHERE household_id = %s ORDER BY record_class, kind, record_id",
                (household_id,)).fetchall()
            cases = cur.execute("SELECT closed_on FROM {s}retention_case_view"
                                " WHERE household_id = %s", (household_id,)).fetchall()
            disposed = cur.execute("SELECT 1 FROM {s}disposed_household_view"
                                   " WHERE household_id = %s", (household_id,)).fetchone()
        return Inventory(
            household_id=household_id,
            records=[{"id": r["record_id"], "class": r["record_class"], "kind": r["kind"]}
                     for r in records],
            closures=[date.fromisoformat(c["closed_on"]) if c["closed_on"] else None
                      for c in cases],
            disposed=disposed is not None)

    def _holds(self, cur: Cursor, where: str, params: list[Any]) -> list[HoldRecord]:
        rows = cur.execute(
            f"SELECT hold_id, household_id, reason, owner, starts_on, ends_on, released_on,"
            f" released_by, placed_by FROM {{s}}retention_hold_view{where}"
            f" ORDER BY starts_on, hold_id", params).fetchall()
        return [HoldRecord(**row) for row in rows]

    def holds(self, household_id: str | None = None) -> list[HoldRecord]:
        with self.db.transaction(write=False) as cur:
            if household_id is None:
                return self._holds(cur, "", [])
            return self._holds(cur, " WHERE household_id = %s", [household_id])

    def blocking_holds(self, household_id: str, on: date) -> list[HoldRecord]:
        return [h for h in self.holds(household_id) if h.blocks(on)]

    def batches(self) -> list[BatchRecord]:
        with self.db.transaction(write=False) as cur:
            rows = cur.execute("SELECT batch_id, status, schedule_version, proposed_by,"
                               " proposed_at, approved_by, approved_at, households, disposed,"
                               " skipped, certificate_sha256, completed_at, version"
                               " FROM {s}disposal_batch_view ORDER BY proposed_at DESC,"
                               " batch_id").fetchall()
        return [BatchRecord(**row) for row in rows]
