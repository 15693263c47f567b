"""The case timeline: one entry per thing that happened in a case, newest first.

Each kind of entry is one function from an event to an ``Entry`` in
``ENTRY_MAKERS``; a correction is one function in ``AMENDERS`` that gives the
entry's new summary.  Adding a kind (referrals, meetings) is adding a line
to one of them.  A household's correction concerns every case of the household:
``HOUSEHOLD_MAKERS`` make one entry per case (the cases the view has seen for
that household).  The summary is personal (what the family asked, the note's
text) and is sealed under the household key, so a disposed household's
timeline keeps its dates and kinds but no longer says anything about it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from yorisoi.domain.case_meetings import CaseMeeting
from yorisoi.domain.cases import Case
from yorisoi.domain.consent import Consent, ConsentException
from yorisoi.domain.consultations import Consultation
from yorisoi.domain.households import Household
from yorisoi.domain.outreach import OutreachVisit
from yorisoi.domain.referrals import Referral
from yorisoi.domain.support_notes import SupportNote
from yorisoi.infra.clock import JST
from yorisoi.infra.db import Cursor, Database
from yorisoi.projections.case_queries import CursorInvalidError
from yorisoi.projections.folded_batches import FoldedBatches
from yorisoi.projections.id_text import id_text
from yorisoi.services.event_mapper import read_metadata
from yorisoi.services.personal_data import HouseholdKeyring

TIMELINE_TABLES = ("timeline_view",)


def timeline_aad(entry_id: str) -> bytes:
    return f"timeline_view:{entry_id}".encode()


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~1.5 µs an entry
class Entry:
    """What one event adds to a case's timeline (made and read once, in ``_fold``)."""

    entry_id: str
    case_id: str  # as the rows store it
    occurred_on: date
    kind: str
    household_id: UUID | None = None  # None: the case's own (looked up from its first entry)
    summary: str | None = None  # personal: sealed before it reaches a row
    detail: dict[str, Any] = field(default_factory=dict)  # never personal


# An entry maker gets the event and its notification (whose ``originator_text``
# is the originator id as text, converted once for every view).
Maker = Callable[[Any, Notification], Entry]


def _case_entry(kind: str, on: Callable[[Any], date],
                detail: Callable[[Any], dict[str, Any]] = lambda e: {}) -> Maker:
    def make(event: Any, n: Notification) -> Entry:
        return Entry(entry_id=f"{n.originator_text}:{event.originator_version}",
                     case_id=n.originator_text, occurred_on=on(event), kind=kind,
                     household_id=vars(event).get("household_id"), detail=detail(event))
    return make


def _recorded_on(event: Any) -> date:
    return event.timestamp.astimezone(JST).date()


def _consultation(event: Consultation.Recorded, n: Notification) -> Entry:
    return Entry(entry_id=n.originator_text, case_id=id_text(event.case_id),
                 household_id=event.household_id, occurred_on=event.occurred_on,
                 kind="consultation", summary=event.asked,
                 detail={"channel": event.channel, "themes": event.themes})


def _referral(event: Referral.Drafted, n: Notification) -> Entry:
    return Entry(entry_id=n.originator_text, case_id=id_text(event.case_id),
                 household_id=event.household_id, occurred_on=event.drafted_on,
                 kind="referral_drafted", summary=event.reason,
                 detail={"agency_kind": event.agency_kind, "urgent": event.urgent})


def _case_meeting(event: CaseMeeting.Scheduled, n: Notification) -> Entry:
    return Entry(entry_id=n.originator_text, case_id=id_text(event.case_id),
                 household_id=event.household_id,
                 occurred_on=event.starts_at.astimezone(JST).date(),
                 kind="case_meeting_scheduled", summary=event.agenda,
                 detail={"council_case": event.council_case})


def _support_note(event: SupportNote.Written, n: Notification) -> Entry:
    return Entry(entry_id=n.originator_text, case_id=id_text(event.case_id),
                 household_id=event.household_id, occurred_on=event.written_on,
                 kind="support_note", summary=event.body,
                 detail={"note_kind": event.kind, "version": event.originator_version})


def _consent_given(event: Consent.Given, n: Notification) -> Entry:
    # Who consented is personal (not on the timeline); the purpose is the vocabulary's.
    return Entry(entry_id=n.originator_text, case_id=id_text(event.case_id),
                 household_id=event.household_id, occurred_on=event.given_on,
                 kind="consent_given",
                 detail={k: v for k, v in (("purpose", event.purpose),
                                           ("agency_kind", event.agency_kind),
                                           ("evidence", bool(event.evidence_attachment_id)))
                         if v})


def _consent_exception(event: ConsentException.Recorded, n: Notification) -> Entry:
    return Entry(entry_id=n.originator_text, case_id=id_text(event.case_id),
                 household_id=event.household_id, occurred_on=event.taken_on,
                 kind="consent_exception", summary=event.reason,
                 detail={"purpose": event.purpose, "legal_basis": event.legal_basis})


def _visit_planned(event: OutreachVisit.Planned, n: Notification) -> Entry:
    # The purpose is personal (sealed); the kind and the place in general terms are codes.
    return Entry(entry_id=n.originator_text, case_id=id_text(event.case_id),
                 household_id=event.household_id, occurred_on=event.planned_on,
                 kind="visit_planned", summary=event.purpose,
                 detail={"visit_kind": event.kind, "visit_place": event.place})


ENTRY_MAKERS: dict[type, Maker] = {
    Consultation.Recorded: _consultation,
    Consent.Given: _consent_given,
    ConsentException.Recorded: _consent_exception,
    SupportNote.Written: _support_note,
    Referral.Drafted: _referral,
    CaseMeeting.Scheduled: _case_meeting,
    OutreachVisit.Planned: _visit_planned,
    # The number the case goes by from its opening (not personal: a counter's value).
    Case.Opened: _case_entry("case_opened", lambda e: e.opened_on,
                             lambda e: {"reception_number": e.reception_number}
                             if e.reception_number else {}),
    Case.Closed: _case_entry("case_closed", lambda e: e.closed_on,
                             lambda e: {"closure_reason": e.reason}),
    Case.Reopened: _case_entry("case_reopened", lambda e: e.reopened_on),
    Case.CouncilCaseMarked: _case_entry("council_case_marked", _recorded_on,
                                        lambda e: {"council_case": e.council_case}),
    # A kept document by its kind, type and size: never its file name (names name families).
    Case.AttachmentAdded: _case_entry("attachment_added", _recorded_on,
                                      lambda e: {"attachment_kind": e.kind,
                                                 "content_type": e.content_type,
                                                 "size": e.size}),
    Case.HandedOver: _case_entry("case_handed_over", lambda e: e.handed_over_on),
}

# The later steps of a record that has its own entry (a consent, a referral, a
# meeting): each step is an entry on the same case, found from the record's entry
# (``entry_id`` = the record's id).  A step gives (kind, date, summary, detail); the
# summary is personal (a note, a reason) and sealed like every other.
Step = Callable[[Any], tuple[str, date, str | None, dict[str, Any]]]


def _no_detail(kind: str, on: Callable[[Any], date],
               summary: Callable[[Any], str | None] = lambda e: None) -> Step:
    return lambda e: (kind, on(e), summary(e), {})


STEP_MAKERS: dict[type, Step] = {
    Consent.Withdrawn: _no_detail("consent_withdrawn", lambda e: e.withdrawn_on,
                                  lambda e: e.reason),
    Referral.Sent: lambda e: ("referral_sent", e.sent_on, None,
                              {"confidentiality_basis": e.confidentiality_basis}),
    Referral.Acknowledged: lambda e: ("referral_acknowledged", e.acknowledged_on, None,
                                      {"via": e.acknowledged_via}),
    Referral.Accepted: _no_detail("referral_accepted", lambda e: e.accepted_on),
    Referral.Declined: _no_detail("referral_declined", lambda e: e.declined_on,
                                  lambda e: e.note),
    Referral.OutcomeRecorded: lambda e: ("referral_outcome", e.recorded_on, e.note,
                                         {"outcome": e.outcome}),
    Referral.FollowUpScheduled: lambda e: ("referral_follow_up_scheduled", _recorded_on(e),
                                           None, {"due_on": e.due_on.isoformat()}),
    Referral.FollowUpCompleted: _no_detail("referral_follow_up_completed",
                                           lambda e: e.completed_on, lambda e: e.note),
    Referral.Closed: lambda e: ("referral_closed", e.closed_on, None,
                                {"referral_closure": e.reason}),
    CaseMeeting.MinutesRecorded: _no_detail("case_meeting_held", _recorded_on),
    CaseMeeting.ActionAssigned: lambda e: ("case_meeting_action_assigned", _recorded_on(e),
                                           e.what, {"due_on": e.due_on.isoformat()}),
    CaseMeeting.ActionCompleted: _no_detail("case_meeting_action_completed",
                                            lambda e: e.completed_on),
    CaseMeeting.Cancelled: _no_detail("case_meeting_cancelled", _recorded_on),
    # A visit's outcome on the day it was made (or attempted); its summary is sealed.
    OutreachVisit.Done: lambda e: ("visit_done", e.done_on, e.summary,
                                   {"visit_outcome": e.outcome, "visit_next_step": e.next_step}),
    OutreachVisit.NotMet: lambda e: ("visit_not_met", e.attempted_on, e.note,
                                     {"visit_not_met": e.reason,
                                      "visit_next_step": e.next_step}),
    OutreachVisit.Rescheduled: lambda e: ("visit_rescheduled", _recorded_on(e), None,
                                          {"planned_on": e.planned_on.isoformat()}),
    OutreachVisit.Cancelled: _no_detail("visit_cancelled", _recorded_on, lambda e: e.reason),
}

# Events about a household, not a case: one entry on each of the household's cases.
HouseholdMaker = Callable[[Any, Notification, str], Entry]


def _household_corrected(event: Household.Corrected, n: Notification, case_id: str) -> Entry:
    # The reason is personal (sealed like every summary); the names of what changed are not.
    return Entry(entry_id=f"{n.originator_text}:{event.originator_version}:{case_id}",
                 case_id=case_id, household_id=event.originator_id,
                 occurred_on=_recorded_on(event), kind="household_corrected",
                 summary=event.reason, detail={"fields": list(event.fields or ())})


HOUSEHOLD_MAKERS: dict[type, HouseholdMaker] = {
    Household.Corrected: _household_corrected,
}

# A correction: (the entry it changes, its new summary, or ``KEEP`` when the
# correction leaves the summary's text alone).
KEEP = object()
AMENDERS: dict[type, Callable[[Any, Notification], tuple[str, Any]]] = {
    SupportNote.Corrected: lambda e, n: (n.originator_text, e.body),
}
_consultation_corrected = getattr(Consultation, "Corrected", None)
if _consultation_corrected is not None:  # consultation corrections (another slice of issue 3)
    AMENDERS[_consultation_corrected] = lambda e, n: (
        n.originator_text,
        (e.changes or {}).get("asked") if "asked" in e.changed_fields else KEEP)


class TimelineView(FoldedBatches):
    """Projection of case events, consultations and support notes into ``timeline_view``.

    Batches are folded (``FoldedBatches``): instead of one statement per entry (two
    for a correction or a case event that looks its household up) a batch costs at
    most five — one read of the households of the cases it adds to, one of the
    entries it corrects, one multi-row insert and up to two multi-row updates.
    """

    name = "timeline"
    tables = TIMELINE_TABLES

    def __init__(self, keyring: HouseholdKeyring) -> None:
        self.keyring = keyring
        super().__init__()

    @staticmethod
    def ddl() -> list[str]:
        return [
            ("CREATE TABLE IF NOT EXISTS {s}timeline_view ("
             " entry_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, household_id TEXT NOT NULL,"
             " occurred_on TEXT NOT NULL, recorded_at TEXT NOT NULL, kind TEXT NOT NULL,"
             " summary_sealed {bytes}, actor TEXT, actor_role TEXT,"
             " corrected BOOLEAN NOT NULL DEFAULT FALSE, position BIGINT NOT NULL,"
             " detail TEXT NOT NULL DEFAULT '{}')"),
            ("CREATE INDEX IF NOT EXISTS timeline_view_case ON {s}timeline_view"
             " (case_id, occurred_on DESC, recorded_at DESC, entry_id DESC)"),
        ]

    def reset(self, cur: Cursor) -> None:
        self._write(cur)  # events held so far belong before the reset
        cur.execute("DELETE FROM {s}timeline_view")

    def purge(self, cur: Cursor, household_id: UUID | str) -> None:
        """Disposal: the entries keep their dates and kinds, never again a summary."""
        cur.execute("UPDATE {s}timeline_view SET summary_sealed = NULL WHERE household_id = %s",
                    (str(household_id),))

    @staticmethod
    def handles(event_cls: type) -> bool:
        """The classes with an entry maker or an amender (exactly what ``apply`` keeps)."""
        return (event_cls in ENTRY_MAKERS or event_cls in AMENDERS
                or event_cls in HOUSEHOLD_MAKERS or event_cls in STEP_MAKERS)

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        if (type(event) not in ENTRY_MAKERS and type(event) not in AMENDERS
                and type(event) not in HOUSEHOLD_MAKERS and type(event) not in STEP_MAKERS):
            return
        self._hold(cur, event, notification)

    def _seal(self, event: Any, household_id: UUID | str, entry_id: str,
              summary: str | None) -> bytes | None:
        if summary is None or vars(event).get("_shredded"):
            return None
        # None once the household was disposed of: the projection must not stop.
        return self.keyring.reseal_json(_as_uuid(household_id), summary,
                                        timeline_aad(entry_id))

    def _fold(self, cur: Cursor, items: list[tuple[Any, Notification]]) -> None:
        """Apply ``items`` in order to the rows they touch, in memory; then write them."""
        made: dict[int, Entry] = {}  # id(event): its entry
        fanned: dict[int, list[Entry]] = {}  # id(event): its entries (one per case)
        corrected: set[str] = set()
        cases_of = self._cases_of_households(cur, items)
        for event, n in items:
            maker = ENTRY_MAKERS.get(type(event))
            if maker is not None:
                entry = made[id(event)] = maker(event, n)
                if cases_of is not None and entry.household_id is not None:
                    known = cases_of.setdefault(str(_as_uuid(entry.household_id)), [])
                    if entry.case_id not in known:  # a case opened earlier in this batch
                        known.append(entry.case_id)
            elif type(event) in AMENDERS:
                corrected.add(AMENDERS[type(event)](event, n)[0])
            elif cases_of is not None and type(event) in HOUSEHOLD_MAKERS:
                fan = HOUSEHOLD_MAKERS[type(event)]
                fanned[id(event)] = [fan(event, n, case_id) for case_id in
                                     sorted(cases_of.get(str(_as_uuid(n.originator_id)), ()))]
        # A step's case and household: its record's entry, made in this batch or stored.
        parents = {e.entry_id: (e.case_id, e.household_id) for e in made.values()}
        wanted = sorted({n.originator_text for event, n in items
                         if type(event) in STEP_MAKERS} - set(parents))
        for row in cur.select_in("SELECT entry_id, case_id, household_id FROM {s}timeline_view"
                                 " WHERE", "entry_id", wanted):
            parents[row["entry_id"]] = (row["case_id"], row["household_id"])
        for event, n in items:
            step = STEP_MAKERS.get(type(event))
            if step is None:
                continue
            parent = parents.get(n.originator_text)
            if parent is None:  # a record from before the timeline kept it: nothing to hang on
                fanned[id(event)] = []
                continue
            kind, on, summary, detail = step(event)
            fanned[id(event)] = [Entry(
                entry_id=f"{n.originator_text}:{event.originator_version}", case_id=parent[0],
                household_id=parent[1], occurred_on=on, kind=kind, summary=summary,
                detail=detail)]
        # A case's household, for entries that do not carry it: from its first
        # entry, held here or stored (only this projection writes the table,
        # under its position lock, so the stored rows cannot change meanwhile).
        households: dict[str, Any] = {}
        for entry in made.values():
            if entry.household_id is not None:
                households.setdefault(entry.case_id, entry.household_id)
        missing = {e.case_id for e in made.values() if e.household_id is None} - set(households)
        for row in cur.select_in("SELECT case_id, household_id FROM {s}timeline_view WHERE",
                                 "case_id", sorted(missing)):
            households.setdefault(row["case_id"], row["household_id"])
        added = {entry.entry_id for entry in made.values()}
        stored = {row["entry_id"]: row for row in cur.select_in(
            "SELECT entry_id, household_id, detail FROM {s}timeline_view WHERE", "entry_id",
            sorted(corrected - added))}

        rows: list[list[Any]] = []  # in _ENTRY_COLUMNS order
        pending: dict[str, list[Any]] = {}
        changed: dict[str, dict[str, Any]] = {}  # entry_id: household_id, detail, [summary]
        for event, n in items:
            entries = fanned.get(id(event)) or ([made[id(event)]] if id(event) in made else [])
            for entry in entries:
                household_id = entry.household_id or households.get(entry.case_id)
                if household_id is None:  # cannot happen: a case is opened before anything else
                    raise LookupError("timeline entry for a case the view has not seen")
                meta = read_metadata(event)
                row = [entry.entry_id, entry.case_id, id_text(_as_uuid(household_id)),
                       entry.occurred_on.isoformat(),
                       event.timestamp.isoformat(timespec="microseconds"), entry.kind,
                       self._seal(event, household_id, entry.entry_id, entry.summary),
                       meta.get("user_id"), meta.get("role"), False, n.id, entry.detail]
                rows.append(row)
                pending[entry.entry_id] = row
            if entries or id(event) in fanned:
                continue
            amender = AMENDERS.get(type(event))
            if amender is None:
                continue
            entry_id, summary = amender(event, n)
            if entry_id in pending:
                row = pending[entry_id]
                target = {"household_id": row[2], "detail": row[11]}
            elif entry_id in changed:
                target = changed[entry_id]
            elif entry_id in stored:
                target = changed[entry_id] = {
                    "household_id": stored[entry_id]["household_id"],
                    "detail": json.loads(stored[entry_id]["detail"])}
            else:  # cannot happen: a record is written before it is corrected
                raise LookupError("correction of an entry the view has not seen")
            detail = dict(target["detail"])
            if "version" in detail:
                detail["version"] = event.originator_version
            sealed = KEEP if summary is KEEP else self._seal(
                event, target["household_id"], entry_id, summary)
            if entry_id in pending:
                row[9:12] = [True, n.id, detail]
                if sealed is not KEEP:
                    row[6] = sealed
            else:
                target.update(detail=detail, position=n.id)
                if sealed is not KEEP:
                    target["summary_sealed"] = sealed
        cur.insert_many("timeline_view", _ENTRY_COLUMNS, _ENTRY_TYPES,
                        [(*row[:11], _detail(row[11])) for row in rows])
        # Corrections of stored entries: the summary is written only when one
        # changed it (a purge committed meanwhile must not be undone).
        resealed = {k: c for k, c in changed.items() if "summary_sealed" in c}
        cur.update_many("timeline_view", "entry_id",
                        ("summary_sealed", "corrected", "position", "detail"),
                        ("text", "bytea", "bool", "int8", "text"),
                        [(k, c["summary_sealed"], True, c["position"], _detail(c["detail"]))
                         for k, c in resealed.items()])
        cur.update_many("timeline_view", "entry_id", ("corrected", "position", "detail"),
                        ("text", "bool", "int8", "text"),
                        [(k, True, c["position"], _detail(c["detail"]))
                         for k, c in changed.items() if k not in resealed])


    @staticmethod
    def _cases_of_households(cur: Cursor, items: list[tuple[Any, Notification]]
                             ) -> dict[str, list[str]] | None:
        """The cases of the households a batch corrects, as the view has them (None: none)."""
        households = sorted({str(_as_uuid(n.originator_id)) for event, n in items
                             if type(event) in HOUSEHOLD_MAKERS})
        if not households:
            return None
        cases: dict[str, list[str]] = {}
        for row in cur.select_in("SELECT DISTINCT household_id, case_id FROM {s}timeline_view"
                                 " WHERE", "household_id", households):
            cases.setdefault(row["household_id"], []).append(row["case_id"])
        return cases


_ENTRY_COLUMNS = ("entry_id", "case_id", "household_id", "occurred_on", "recorded_at", "kind",
                  "summary_sealed", "actor", "actor_role", "corrected", "position", "detail")
_ENTRY_TYPES = ("text", "text", "text", "text", "text", "text", "bytea", "text", "text", "bool",
                "int8", "text")


def _detail(detail: dict[str, Any]) -> str:
    return _DETAIL_JSON(detail)


# json.dumps(detail, ensure_ascii=False, sort_keys=True), without a new encoder per call.
_DETAIL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def _as_uuid(value: UUID | str) -> UUID:
    """A household id as the keyring's cache knows it (stored rows hold text)."""
    return value if isinstance(value, UUID) else UUID(str(value))


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class TimelineRecord:
    entry_id: str
    case_id: str
    occurred_on: str
    recorded_at: str
    kind: str
    summary: str | None  # None when there is none, or the household was disposed of
    actor: str | None
    actor_role: str | None
    corrected: bool
    detail: dict[str, Any]


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineRecord]
    total_count: int
    has_next_page: bool
    end_cursor: str | None


def encode_timeline_cursor(r: TimelineRecord) -> str:
    raw = json.dumps([r.occurred_on, r.recorded_at, r.entry_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_timeline_cursor(cursor: str) -> tuple[str, str, str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (isinstance(values, list) and len(values) == 3
                and all(isinstance(v, str) for v in values)):
            raise TypeError
    except (ValueError, TypeError):
        raise CursorInvalidError from None
    return values[0], values[1], values[2]


class TimelineQueries:
    """Read side of the timeline: one case's entries, newest first, keyset-paginated.

    The caller has already decided the case is visible to the reader.
    """

    def __init__(self, database: Database, keyring: HouseholdKeyring) -> None:
        self.db = database
        self.keyring = keyring

    def page(self, case_id: str, *, first: int, after: str | None = None) -> TimelinePage:
        where, params = " WHERE case_id = %s", [case_id]
        page_where, page_params = where, list(params)
        if after is not None:
            on, at, entry_id = decode_timeline_cursor(after)
            page_where += (" AND (occurred_on < %s OR (occurred_on = %s AND (recorded_at < %s"
                           " OR (recorded_at = %s AND entry_id < %s))))")
            page_params += [on, on, at, at, entry_id]
        with self.db.transaction(write=False) as cur:
            total = cur.execute(f"SELECT COUNT(*) AS n FROM {{s}}timeline_view{where}",
                                params).fetchone()
            rows = cur.execute(
                f"SELECT * FROM {{s}}timeline_view{page_where}"
                " ORDER BY occurred_on DESC, recorded_at DESC, entry_id DESC LIMIT %s",
                [*page_params, first + 1]).fetchall()
        entries = [self._record(r) for r in rows[:first]]
        return TimelinePage(entries=entries, total_count=int(total["n"]),
                            has_next_page=len(rows) > first,
                            end_cursor=encode_timeline_cursor(entries[-1]) if entries else None)

    def pages(self, case_ids: list[str], *, first: int,
              after: str | None = None) -> dict[str, TimelinePage]:
        """The same page of several cases' timelines in two statements (a case list
        showing each case's timeline must not query per case)."""
        ids = list(dict.fromkeys(case_ids))
        if not ids:
            return {}
        marks = ", ".join(["%s"] * len(ids))
        where, params = f" WHERE case_id IN ({marks})", list(ids)
        if after is not None:
            on, at, entry_id = decode_timeline_cursor(after)
            where += (" AND (occurred_on < %s OR (occurred_on = %s AND (recorded_at < %s"
                      " OR (recorded_at = %s AND entry_id < %s))))")
            params += [on, on, at, at, entry_id]
        with self.db.transaction(write=False) as cur:
            totals = {r["case_id"]: int(r["n"]) for r in cur.execute(
                f"SELECT case_id, COUNT(*) AS n FROM {{s}}timeline_view WHERE case_id IN ({marks})"
                " GROUP BY case_id", ids).fetchall()}
            rows = cur.execute(
                "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY case_id ORDER BY"
                " occurred_on DESC, recorded_at DESC, entry_id DESC) AS position_in_case"
                f" FROM {{s}}timeline_view{where}) AS ranked WHERE position_in_case <= %s"
                " ORDER BY case_id, position_in_case", [*params, first + 1]).fetchall()
        self.keyring.preload(r["household_id"] for r in rows)  # one key read per page
        by_case: dict[str, list[dict[str, Any]]] = {cid: [] for cid in ids}
        for row in rows:
            row.pop("position_in_case", None)
            by_case[row["case_id"]].append(row)
        result = {}
        for cid, case_rows in by_case.items():
            entries = [self._record(r) for r in case_rows[:first]]
            result[cid] = TimelinePage(
                entries=entries, total_count=totals.get(cid, 0),
                has_next_page=len(case_rows) > first,
                end_cursor=encode_timeline_cursor(entries[-1]) if entries else None)
        return result

    def _record(self, row: dict[str, Any]) -> TimelineRecord:
        summary = self.keyring.read_json(UUID(row["household_id"]), row["summary_sealed"],
                                         timeline_aad(row["entry_id"]),
                                         record=("timeline_entry", row["entry_id"]))
        return TimelineRecord(
            entry_id=row["entry_id"], case_id=row["case_id"], occurred_on=row["occurred_on"],
            recorded_at=row["recorded_at"], kind=row["kind"], summary=summary,
            actor=row["actor"], actor_role=row["actor_role"], corrected=bool(row["corrected"]),
            detail=json.loads(row["detail"]))
