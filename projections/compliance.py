"""Compliance queries: who saw or changed what, when and why — never what they saw.

Read-only, for one municipality's space, for compliance auditors (``audit.read``):

- :meth:`ComplianceQueries.record_history` — a record's changes (its stored
  events and, for a case, those of its household, consultations, notes,
  referrals, meetings, consents, complaints and break-glass uses) and its
  views (access-log rows of the record, or of the case's household), merged
  newest first;
- :meth:`person_activity` — the changes a person stored and the reads they
  made in a period;
- :meth:`break_glass_uses` — each use with how many reads it covered;
- :meth:`exports` — disclosure exports (access-log channel ``export``,
  grouped per request) and disposal certificates;
- :meth:`after_hours` and :meth:`bulk_access` — projections/compliance_patterns.py.

Nothing returned is a personal value: event names, record ids, field
*names*, actors, roles, organisations, times, reason codes, request and
trace ids.  Nothing here opens a household key (changes are read from the
stored JSON, projections/compliance_events.py) and so nothing here is logged as
a read of personal data: the auditor never reads any.

Lists are keyset pages (``first`` + the last edge's cursor) with a total.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from yorisoi.infra.db import Database
from yorisoi.projections.break_glass_view import BreakGlassRecord
from yorisoi.projections.compliance_events import Change, EventReader, canonical
from yorisoi.projections.compliance_patterns import (
    AfterHoursRead,
    BulkAccess,
    BusinessHours,
    after_hours,
    bulk_access,
)
from yorisoi.projections.compliance_trail import (
    MAX_PAGE,
    Key,
    Page,
    View,
    Window,
    after_sql,
    decode_as,
    encode_cursor,
    merged_page,
    views_page,
    window,
)
from yorisoi.projections.disposal_due import DisposalDueQueries

__all__ = ["MAX_PAGE", "AfterHoursRead", "BreakGlassUse", "BulkAccess", "BusinessHours",
           "CertificateIssued", "Change", "ComplianceQueries", "ExportMade", "Page",
           "RecordHistory", "View", "Window", "window"]


@dataclass(frozen=True)
class RecordHistory:
    record_id: str
    record_kind: str | None  # None: known only from the access log (e.g. an attachment)
    household_id: str | None
    page: Page[Change | View]


@dataclass(frozen=True)
class BreakGlassUse(BreakGlassRecord):
    """A break-glass use (as the break-glass view holds it) and the reads made under it."""

    reads: int
    records: int  # distinct records read under it
    first_read_at: str | None
    last_read_at: str | None


@dataclass(frozen=True)
class ExportMade:
    """Records read out of the system in one request (a disclosure export)."""

    at: str  # the last read of the export
    started_at: str
    last_entry: int
    actor: str
    role: str
    organisation_kind: str
    organisation_id: str
    basis: str
    basis_ref: str | None
    request_id: str | None
    records: int
    households: int

    kind = "export"

    @property
    def data_subject_request_id(self) -> str | None:
        ref = self.basis_ref
        return ref[4:] if ref and ref.startswith("dsr:") else None

    @property
    def key(self) -> Key:
        return (self.at, 0, self.last_entry)


@dataclass(frozen=True)
class CertificateIssued:
    """A disposal batch's signed certificate (counts and ids; no personal data)."""

    batch_id: str
    at: str  # when the batch completed (its certificate was issued)
    sha256: str
    proposed_by: str
    approved_by: str | None
    households: int
    disposed: int

    kind = "disposal_certificate"

    @property
    def key(self) -> Key:
        return (self.at, 1, self.batch_id)


# The household's records that belong to no single case (kept in a case's history).
_HOUSEHOLD_KINDS = frozenset({"household", "consent_index"})


class ComplianceQueries:
    """The compliance queries over one municipality's space."""

    def __init__(self, database: Database) -> None:
        self.db = database
        self.events = EventReader(database)

    # -- a record's history -----------------------------------------------------------

    def record_history(self, record_id: UUID, *, first: int = 50,
                       after: str | None = None) -> RecordHistory | None:
        """Changes and views of a record, newest first; None when nothing is known of it."""
        own = self.events.of_records([record_id])
        kind = own[0].record_kind if own else None
        household = None
        changes = own
        if kind == "case":
            household = next((c.household_id for c in own if c.household_id), None)
            changes = own + self._case_records(record_id, household)
        elif kind == "household":
            household = str(record_id)
            changes = own + self.events.of_records(self._household_record_ids(household))
        with self.db.transaction(write=False) as cur:
            where, params = (("household_id = %s", [household]) if household
                             else ("record_id = %s", [str(record_id)]))
            page = views_page(cur, where, params, first=first, after=after, memory=changes,
                              counts=lambda views: {"changes": len(changes), "views": views})
        if not changes and page.total_count == 0:
            return None
        return RecordHistory(str(record_id), kind, household, page)

    def _household_record_ids(self, household_id: str, *,
                              case_id: str | None = None) -> list[UUID]:
        """The household's records (inventory of records governance) and break-glass uses."""
        ids = [r["id"] for r in DisposalDueQueries(self.db).inventory(household_id).records
               if r["kind"] != "Attachment"]
        column, value = ("case_id", case_id) if case_id else ("household_id", household_id)
        with self.db.transaction(write=False) as cur:
            ids += [r["break_glass_id"] for r in cur.execute(
                f"SELECT break_glass_id FROM {{s}}break_glass_view WHERE {column} = %s",
                (value,)).fetchall()]
            if case_id:
                ids += [r["complaint_id"] for r in cur.execute(
                    "SELECT complaint_id FROM {s}complaint_view WHERE case_id = %s",
                    (case_id,)).fetchall()]
        return [UUID(i) for i in dict.fromkeys(ids) if _is_uuid(i)]

    def _case_records(self, case_id: UUID, household_id: str | None) -> list[Change]:
        """Events of the case's records: its household's, less other cases' own records."""
        if household_id is None:
            return []
        ids = [i for i in self._household_record_ids(household_id, case_id=str(case_id))
               if i != case_id]
        by_record: dict[str, list[Change]] = defaultdict(list)
        for change in self.events.of_records(ids):
            by_record[change.record_id].append(change)
        mine = str(case_id)
        return [c for changes in by_record.values()
                if changes[0].record_kind in _HOUSEHOLD_KINDS
                or (changes[0].record_kind != "case"
                    and any(c.case_id == mine for c in changes)
                    and all(c.case_id in (None, mine) for c in changes))
                for c in changes]

    # -- a person -----------------------------------------------------------------------

    def person_activity(self, actor: str, period: Window, *, first: int = 50,
                        after: str | None = None) -> Page[Change | View]:
        """The changes ``actor`` stored and the reads they made in ``period``, newest first."""
        changes = self.events.by_actor(actor, period.since, period.until)
        with self.db.transaction(write=False) as cur:
            return views_page(cur, "actor = %s AND recorded_at >= %s AND recorded_at < %s",
                              [actor, period.low, period.high], first=first, after=after,
                              memory=changes,
                              counts=lambda views: {"changes": len(changes), "views": views})

    # -- break-glass --------------------------------------------------------------------

    def break_glass_uses(self, *, actor: str | None = None, case_id: str | None = None,
                         period: Window | None = None, first: int = 50,
                         after: str | None = None) -> Page[BreakGlassUse]:
        """Break-glass uses, newest first, each with the reads made under it."""
        where, params = "1 = 1", []
        for column, value in (("actor", actor), ("case_id", case_id)):
            if value is not None:
                where += f" AND {column} = %s"
                params.append(value)
        if period is not None:
            where += " AND recorded_at >= %s AND recorded_at < %s"
            params += [period.low, period.high]
        keyset: list[Any] = []
        if after:
            (position,) = decode_as(after, int)
            keyset = [position]
        with self.db.transaction(write=False) as cur:
            total = int(cur.execute(f"SELECT COUNT(*) AS n FROM {{s}}break_glass_view"
                                    f" WHERE {where}", params).fetchone()["n"])
            rows = cur.execute(
                f"SELECT * FROM {{s}}break_glass_view WHERE {where}"
                + (" AND position < %s" if keyset else "")
                + " ORDER BY position DESC LIMIT %s", [*params, *keyset, first + 1]).fetchall()
            reads = self._reads_under(cur, [r["break_glass_id"] for r in rows])
        uses = [(encode_cursor([int(r["position"])]), _use(r, reads.get(r["break_glass_id"])))
                for r in rows]
        return Page(edges=uses[:first], total_count=total, has_next_page=len(uses) > first,
                    end_cursor=uses[:first][-1][0] if uses[:first] else None)

    @staticmethod
    def _reads_under(cur: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        marks = ", ".join(["%s"] * len(ids))
        return {r["basis_ref"]: r for r in cur.execute(
            "SELECT basis_ref, COUNT(*) AS reads, COUNT(DISTINCT record_id) AS records,"
            " MIN(recorded_at) AS first_read_at, MAX(recorded_at) AS last_read_at"
            f" FROM {{s}}access_log WHERE basis_ref IN ({marks}) AND basis = 'break_glass'"
            " GROUP BY basis_ref", ids).fetchall()}

    # -- exports ------------------------------------------------------------------------

    def exports(self, period: Window, *, first: int = 50,
                after: str | None = None) -> Page[ExportMade | CertificateIssued]:
        """Disclosure exports and disposal certificates in ``period``, newest first."""
        groups = ("SELECT MAX(entry_id) AS last_entry, MIN(recorded_at) AS started_at,"
                  " MAX(recorded_at) AS last_at, actor, role, organisation_kind,"
                  " organisation_id, basis, basis_ref, request_id, COUNT(*) AS records,"
                  " COUNT(DISTINCT household_id) AS households FROM {s}access_log"
                  " WHERE channel = 'export' AND recorded_at >= %s AND recorded_at < %s"
                  " GROUP BY actor, role, organisation_kind, organisation_id, basis, basis_ref,"
                  " request_id")
        bounds = [period.low, period.high]
        certificates = self._certificates(period)
        with self.db.transaction(write=False) as cur:
            def fetch(cursor: Key | None, limit: int) -> list[ExportMade]:
                keyset, more = after_sql("last_at", "last_entry", 0, cursor)
                rows = cur.execute(f"SELECT * FROM ({groups}) g WHERE 1 = 1{keyset}"
                                   " ORDER BY last_at DESC, last_entry DESC LIMIT %s",
                                   [*bounds, *more, limit]).fetchall()
                return [_export(r) for r in rows]

            total = int(cur.execute(f"SELECT COUNT(*) AS n FROM ({groups}) g",
                                    bounds).fetchone()["n"])
            return merged_page(certificates, fetch, total, first=first, after=after,
                               counts={"exports": total, "certificates": len(certificates)})

    def _certificates(self, period: Window) -> list[CertificateIssued]:
        low, high = canonical(period.low), canonical(period.high)
        issued = []
        for b in DisposalDueQueries(self.db).batches():
            when = b.completed_at or b.approved_at
            if not b.certificate_sha256 or not when:
                continue
            at = _moment(when)
            if at is not None and low <= at < high:
                issued.append(CertificateIssued(b.batch_id, at, b.certificate_sha256,
                                                b.proposed_by, b.approved_by, b.households,
                                                b.disposed))
        return issued

    # -- access patterns ----------------------------------------------------------------

    def after_hours(self, period: Window, hours: BusinessHours, *, first: int = 50,
                    after: str | None = None) -> Page[AfterHoursRead]:
        return after_hours(self.db, period, hours, first=first, after=after)

    def bulk_access(self, period: Window, *, threshold: int, window_minutes: int,
                    first: int = 50, after: str | None = None) -> Page[BulkAccess]:
        return bulk_access(self.db, period, threshold=threshold,
                           window_minutes=window_minutes, first=first, after=after)


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _moment(text: str) -> str | None:
    try:
        return canonical(text) if "T" in text else None
    except ValueError:
        return None


def _use(row: dict[str, Any], reads: dict[str, Any] | None) -> BreakGlassUse:
    reads = reads or {}
    return BreakGlassUse(
        **{name: row[name] for name in BreakGlassRecord.__dataclass_fields__},
        reads=int(reads.get("reads") or 0), records=int(reads.get("records") or 0),
        first_read_at=reads.get("first_read_at"), last_read_at=reads.get("last_read_at"))


def _export(row: dict[str, Any]) -> ExportMade:
    return ExportMade(
        at=canonical(row["last_at"]), started_at=canonical(row["started_at"]),
        last_entry=int(row["last_entry"]), actor=row["actor"], role=row["role"],
        organisation_kind=row["organisation_kind"], organisation_id=row["organisation_id"],
        basis=row["basis"], basis_ref=row["basis_ref"], request_id=row["request_id"],
        records=int(row["records"]), households=int(row["households"]))
