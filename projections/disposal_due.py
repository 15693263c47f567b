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

from eventsourcing.domain import AggregateCreated, AggregateEvent
from eventsourcing.persistence import Notification

from yorisoi.domain.cases import Case
from yorisoi.domain.disposal import DisposalBatch
from yorisoi.domain.holds import Hold, hold_blocks
from yorisoi.domain.households import Household
from yorisoi.domain.retention import ScheduleVersion, household_due_on
from yorisoi.infra.db import Cursor, Database
from yorisoi.projections.folded_batches import FoldedBatches
from yorisoi.projections.id_text import id_text
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
    return _kind_of(type(event))


def _kind_of(event_cls: type) -> str:
    return event_cls.__qualname__.split(".", 1)[0]


# The later events (not the first of an aggregate) the view acts on.
_LATER_EVENTS = (Hold.Released, Case.Closed, Case.Reopened, Case.AttachmentAdded)


class DisposalDueView(FoldedBatches):
    """Projection of household inventories, case closures, holds and disposal batches.

    Batches are folded (``FoldedBatches``): inventories, closures and holds cost one
    multi-row insert or update per table per batch (and one read of the cases whose
    attachments it adds) instead of about one statement per event.  Disposal
    batches (rare, tables nothing else touches) are written one event at a time.
    """

    name = "disposal_due"
    tables = DISPOSAL_TABLES

    def __init__(self, keyring: Any = None) -> None:
        self.keyring = keyring  # unused: nothing here is sealed
        super().__init__()

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
        self._write(cur)  # events held so far belong before the reset
        for table in DISPOSAL_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def purge(self, cur: Cursor, household_id: UUID | str) -> None:
        """Nothing personal here: the inventory is what the certificate and statistics keep."""

    @staticmethod
    def handles(event_cls: type) -> bool:
        """The first event of any household record, the later events named, disposal batches.

        A record is inventoried from its aggregate's first event (version 1:
        only an aggregate's created event has it); any class that is not an
        aggregate event at all is taken too, rather than risk missing a record.
        """
        if _kind_of(event_cls) == "DisposalBatch" or issubclass(event_cls, _LATER_EVENTS):
            return True
        if issubclass(event_cls, AggregateCreated):
            return (_kind_of(event_cls) not in NOT_HOUSEHOLD_RECORDS
                    or issubclass(event_cls, Hold.Placed))
        return not issubclass(event_cls, AggregateEvent)

    def apply(self, cur: Cursor, event: Any, n: Notification) -> None:
        if _kind(event) == "DisposalBatch":
            self._batch(cur, event, n)
            return
        self._hold(cur, event, n)

    def _fold(self, cur: Cursor, items: list[tuple[Any, Notification]]) -> None:
        """Apply ``items`` in order to the rows they touch, in memory; then write them."""
        # ``n.originator_text``: the event's originator id as the rows store it.
        opened = {n.originator_text for e, n in items if isinstance(e, Case.Opened)}
        # Households of the cases whose attachments arrive here (only this
        # projection writes the table, under its position lock).
        case_households = {row["case_id"]: row["household_id"] for row in cur.select_in(
            "SELECT case_id, household_id FROM {s}retention_case_view WHERE", "case_id",
            sorted({n.originator_text for e, n in items
                    if isinstance(e, Case.AttachmentAdded)} - opened))}
        records: dict[str, tuple[Any, ...]] = {}  # first one wins, as ON CONFLICT DO NOTHING
        new_cases: dict[str, list[Any]] = {}  # case_id: household_id, closed_on, position
        closures: dict[str, list[Any]] = {}  # stored case_id: closed_on, position
        new_holds: dict[str, list[Any]] = {}
        releases: dict[str, list[Any]] = {}  # stored hold_id: released_on, released_by, position

        def record(record_id: str, household_id: str, kind: str, record_class: str,
                   n: Notification) -> None:
            if record_id not in records:
                records[record_id] = (record_id, household_id, record_class, kind, n.id)

        for event, n in items:
            kind = _kind(event)
            originator = n.originator_text
            if isinstance(event, Household.Registered):
                record(originator, originator, kind,
                       RECORD_CLASS_OF.get(kind, "consultation_file"), n)
            elif isinstance(event, Hold.Placed):
                new_holds[originator] = [
                    originator, id_text(event.household_id), event.reason,
                    event.owner, event.starts_on.isoformat(),
                    event.ends_on.isoformat() if event.ends_on else None, None, None,
                    event_metadata(event).get("user_id"), n.id]
            elif isinstance(event, Hold.Released):
                hold_id = originator
                released = [event.released_on.isoformat(), event.released_by, n.id]
                if hold_id in new_holds:
                    new_holds[hold_id][6:8] = released[:2]
                    new_holds[hold_id][9] = n.id
                else:
                    releases[hold_id] = released
            elif (event.originator_version == 1 and "household_id" in vars(event)
                  and kind not in NOT_HOUSEHOLD_RECORDS):
                record(originator, _id_text(event.household_id), kind,
                       RECORD_CLASS_OF.get(kind, "consultation_file"), n)
            case_id = originator
            if isinstance(event, Case.Opened):
                new_cases[case_id] = [id_text(event.household_id), None, n.id]
            elif isinstance(event, Case.Closed | Case.Reopened):  # reopening stops the clock
                closed_on = (event.closed_on.isoformat() if isinstance(event, Case.Closed)
                             else None)
                if case_id in new_cases:
                    new_cases[case_id][1:] = [closed_on, n.id]
                else:  # (as an UPDATE of no row when the view has not seen it: nothing)
                    closures[case_id] = [closed_on, n.id]
            elif isinstance(event, Case.AttachmentAdded):
                household_id = (new_cases[case_id][0] if case_id in new_cases
                                else case_households.get(case_id))
                if household_id is None:  # cannot happen: a case is opened before its attachments
                    raise LookupError("attachment of a case the view has not seen")
                record(event.attachment_id, household_id, "Attachment",
                       ATTACHMENT_CLASS_OF.get(event.kind, "consultation_file"), n)
        cur.insert_many("retention_record_view", _RECORD_COLUMNS,
                        ("text", "text", "text", "text", "int8"), list(records.values()),
                        "ON CONFLICT (record_id) DO NOTHING")
        cur.insert_many("retention_case_view", ("case_id", "household_id", "closed_on",
                                                "position"), ("text", "text", "text", "int8"),
                        [(case_id, *row) for case_id, row in new_cases.items()])
        cur.update_many("retention_case_view", "case_id", ("closed_on", "position"),
                        ("text", "text", "int8"),
                        [(case_id, *row) for case_id, row in closures.items()])
        cur.insert_many("retention_hold_view", _HOLD_COLUMNS, _HOLD_TYPES,
                        list(new_holds.values()))
        cur.update_many("retention_hold_view", "hold_id",
                        ("released_on", "released_by", "position"),
                        ("text", "text", "text", "int8"),
                        [(hold_id, *row) for hold_id, row in releases.items()])

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


def _id_text(value: UUID | str) -> str:
    """An id in its canonical text form (``str(UUID(str(value)))``, without re-parsing a UUID)."""
    return id_text(value) if isinstance(value, UUID) else str(UUID(str(value)))


_RECORD_COLUMNS = ("record_id", "household_id", "record_class", "kind", "position")
_HOLD_COLUMNS = ("hold_id", "household_id", "reason", "owner", "starts_on", "ends_on",
                 "released_on", "released_by", "placed_by", "position")
_HOLD_TYPES = ("text", "text", "text", "text", "text", "text", "text", "text", "text", "int8")


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

    def hold_page(self, household_id: str | None, *, after: list[str] | None,
                  limit: int) -> tuple[list[HoldRecord], int]:
        """Holds by (starts_on, hold_id) after the keyset ``after``; and how many in all."""
        where, params = " WHERE 1 = 1", []
        if household_id is not None:
            where += " AND household_id = %s"
            params.append(household_id)
        with self.db.transaction(write=False) as cur:
            total = cur.execute(f"SELECT COUNT(*) AS n FROM {{s}}retention_hold_view{where}",
                                params).fetchone()
            if after is not None:
                where += " AND (starts_on > %s OR (starts_on = %s AND hold_id > %s))"
                params += [after[0], after[0], after[1]]
            rows = cur.execute(
                f"SELECT hold_id, household_id, reason, owner, starts_on, ends_on, released_on,"
                f" released_by, placed_by FROM {{s}}retention_hold_view{where}"
                f" ORDER BY starts_on, hold_id LIMIT %s", [*params, limit]).fetchall()
        return [HoldRecord(**row) for row in rows], int(total["n"])

    def batch_page(self, *, after: list[str] | None, limit: int) -> tuple[list[BatchRecord], int]:
        """Batches newest first (proposed_at DESC, batch_id) after the keyset ``after``."""
        where, params = "", []
        if after is not None:
            where = " WHERE proposed_at < %s OR (proposed_at = %s AND batch_id > %s)"
            params = [after[0], after[0], after[1]]
        with self.db.transaction(write=False) as cur:
            total = cur.execute("SELECT COUNT(*) AS n FROM {s}disposal_batch_view").fetchone()
            rows = cur.execute("SELECT batch_id, status, schedule_version, proposed_by,"
                               " proposed_at, approved_by, approved_at, households, disposed,"
                               " skipped, certificate_sha256, completed_at, version"
                               f" FROM {{s}}disposal_batch_view{where} ORDER BY proposed_at DESC,"
                               " batch_id LIMIT %s", [*params, limit]).fetchall()
        return [BatchRecord(**row) for row in rows], int(total["n"])
