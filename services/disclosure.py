"""Disclosure (開示): everything held about one household, as JSON and as a Japanese document.

The read models say *which* records concern the household (its cases, the
timeline's notes, referrals and meetings, complaints about its cases); the
event store says *what* each holds: every event of every record, so the
original of a corrected text and who changed it are disclosed too.  Consents,
consent exceptions and requests come from the household's own indexes.  The
access log adds who read what.

Producing the export is itself a read of personal data: one ``access_log``
row per record read (channel ``export``, the request as the basis), written
before the file leaves.  The files are sealed under the household key (sealed
objects, ``infra/sealed_objects.py``: the object key bound in) and
stored under the household's object prefix (``.../disclosures/``), so
disposal deletes them and crypto-shredding covers any copy; they are served
through an expiring link (``infra/disclosure_links.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID, uuid4

from yorisoi.infra.access_log_store import COLUMNS, AccessEntry, AccessLogStore
from yorisoi.infra.telemetry import command_span
from yorisoi.projections.household_records import household_view_records
from yorisoi.projections.visit_queries import household_visit_ids
from yorisoi.services.context import current_context
from yorisoi.services.disclosure_document import render_html
from yorisoi.services.personal_data import HouseholdKeyDestroyedError

if TYPE_CHECKING:
    from yorisoi.services.casework import CaseworkApplication

FORMAT = "yorisoi.disclosure/1"

# Record kind by aggregate class name (the first part of an event's qualname).
RECORD_KINDS: dict[str, str] = {
    "Household": "household", "Case": "case", "Consultation": "consultation",
    "SupportNote": "support_note", "Consent": "consent",
    "ConsentException": "consent_exception", "Referral": "referral",
    "CaseMeeting": "case_meeting", "OutreachVisit": "outreach_visit", "Complaint": "complaint",
    "DataSubjectRequest": "data_subject_request",
}
_SKIPPED = {"originator_id", "originator_version", "timestamp", "originator_topic", "_meta",
            "_shredded"}
# Timeline entry kinds whose entry id is the record's own id.
_TIMELINE_RECORDS = ("support_note", "referral_drafted", "case_meeting_scheduled")


def disclosure_aad(export_id: UUID | str, fmt: str) -> bytes:
    """The associated data of exports sealed as one envelope (before sealed objects)."""
    return f"disclosure:{UUID(str(export_id))}:{fmt}".encode()


class DisclosurePublisher(Protocol):
    """Seals and stores an export file under the household key; issues its expiring link."""

    expires_at: datetime

    def publish(self, household_id: UUID, export_id: UUID, fmt: str, data: bytes,
                keyring: Any) -> str:
        """Seal (``keyring``: the household's) and store; the SHA-256 of the stored bytes."""
        ...

    def link(self, household_id: UUID, export_id: UUID, fmt: str) -> str: ...


@dataclass(frozen=True)
class DisclosureResult:
    export_id: UUID
    records: int
    access_entries: int
    links: dict[str, str]  # format -> URL path
    expires_at: datetime


def _plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _event_entry(event: Any) -> dict[str, Any]:
    state = vars(event)
    meta = state.get("_meta") or {}
    return {
        "event": type(event).__qualname__,
        "version": event.originator_version,
        "recordedAt": event.timestamp.isoformat(),
        "recordedBy": {k: meta.get(k) for k in ("user_id", "role", "organisation_kind",
                                                "organisation_id", "contract_id", "site_id")},
        "data": {k: _plain(v) for k, v in state.items() if k not in _SKIPPED},
        "shredded": bool(state.get("_shredded")),
    }


def record_of(app: CaseworkApplication, record_id: UUID) -> dict[str, Any] | None:
    """One record with its whole history (None when nothing is stored under the id)."""
    events = list(app.events.get(record_id))
    if not events:
        return None
    kind = RECORD_KINDS.get(type(events[0]).__qualname__.split(".")[0], "other")
    personal = sorted({name for e in events for name in getattr(type(e), "personal_fields", ())})
    record: dict[str, Any] = {"kind": kind, "id": str(record_id), "personalFields": personal,
                              "events": [_event_entry(e) for e in events]}
    if kind == "referral":
        agency = app.agency(events[0].agency_id)
        record["recipient"] = {"agencyName": agency.name, "agencyKind": agency.kind}
    return record


def household_record_ids(app: CaseworkApplication, household_id: UUID) -> list[UUID]:
    """Every record about the household, in the order the document shows them."""
    found = household_view_records(app.database, str(household_id), _TIMELINE_RECORDS)
    cases, timeline, complaints = found.case_ids, found.timeline, found.complaint_ids
    consultations = [cid for case_id in cases for cid in app.repository.get(UUID(case_id))
                     .consultation_ids]
    consents = app.consent_index(household_id)  # a new, empty index when none is stored
    requests = [r.id for r in app.household_data_subject_requests(household_id)]
    by_kind = {kind: [UUID(r["entry_id"]) for r in timeline if r["kind"] == kind]
               for kind in _TIMELINE_RECORDS}
    return [household_id, *map(UUID, cases), *consultations, *by_kind["support_note"],
            *consents.consent_ids, *consents.exception_ids,
            *by_kind["referral_drafted"], *by_kind["case_meeting_scheduled"],
            *map(UUID, household_visit_ids(app.database, str(household_id))), *map(UUID, complaints), *requests]


def access_log_rows(app: CaseworkApplication, household_id: UUID) -> list[dict[str, Any]]:
    """The household's access log: who read which record's fields, when and why."""
    rows = AccessLogStore(app.database).for_household(str(household_id))
    keep = [c for c in COLUMNS if c not in ("household_id", "request_id", "trace_id")]
    return [{"entryId": int(r["entry_id"]), **{c: (json.loads(r[c]) if c == "fields" else r[c])
                                                 for c in keep}} for r in rows]


def _log_reads(app: CaseworkApplication, household_id: UUID, request_id: UUID,
               records: list[dict[str, Any]]) -> int:
    acting = current_context()
    now = datetime.now(UTC).isoformat()
    entries = [AccessEntry(
        recorded_at=now, actor=acting.user_id, role=acting.role,
        organisation_kind=acting.organisation_kind, organisation_id=acting.organisation_id,
        contract_id=acting.contract_id, household_id=str(household_id),
        record_kind=r["kind"], record_id=r["id"], fields=tuple(r["personalFields"]),
        basis="grant", basis_ref=f"dsr:{request_id}", request_id=acting.request_id,
        trace_id=acting.trace_id, channel="export") for r in records if r["personalFields"]]
    AccessLogStore(app.database).append(entries)
    return len(entries)


def export_disclosure(app: CaseworkApplication, request_id: UUID, *,
                      publisher: DisclosurePublisher, municipality_name: str) -> DisclosureResult:
    """Build, log, seal and store the export of a disclosure request being handled.

    The caller catches the read models up first (they locate the records).
    """
    with command_span("command.export_disclosure", app.tenant):
        request = app.data_subject_request(request_id)
        request.check_exportable()
        household_id = request.household_id
        if app.keyring.for_reading(household_id) is None:
            # Disposed of: nothing personal is left to disclose (answer "no_data_held").
            raise HouseholdKeyDestroyedError(household_id)
        records = [r for r in (record_of(app, rid) for rid in
                               household_record_ids(app, household_id)) if r is not None]
        logged = _log_reads(app, household_id, request_id, records)
        export_id = uuid4()
        document = {
            "format": FORMAT, "exportId": str(export_id), "requestId": str(request_id),
            "municipalityCode": app.municipality_code, "municipalityName": municipality_name,
            "householdId": str(household_id), "generatedAt": datetime.now(UTC).isoformat(),
            "records": records, "accessLog": access_log_rows(app, household_id),
        }
        files = {"json": json.dumps(document, ensure_ascii=False, indent=1).encode(),
                 "html": render_html(document).encode()}
        digests = {fmt: publisher.publish(household_id, export_id, fmt, data, app.keyring)
                   for fmt, data in files.items()}
        app.note_disclosure_export(request_id, export_id=export_id, records=len(records),
                                   access_entries=logged, sealed_sha256=digests)
        return DisclosureResult(
            export_id=export_id, records=len(records), access_entries=logged,
            links={fmt: publisher.link(household_id, export_id, fmt) for fmt in files},
            expires_at=publisher.expires_at)
