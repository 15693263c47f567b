"""Changes for compliance staff: who stored which event, read from the event store as stored.

Nothing here opens a household key, not even to throw the value away: the
stored state is JSON whose personal fields sit inside one sealed envelope
(``_personal``, services/event_mapper.py), and every event carries who stored
it in ``_meta``.  A :class:`Change` is the event's name, its record, the
*names* of the fields it wrote and who stored it — never a value.  So it
reads the same before and after a household is disposed of.

The events table has no index by actor or time.  A person's changes in a
time window are found by bisecting the notification ids on the events'
timestamps (they rise with the ids, give or take a transaction's length:
``SLACK``), then filtering that id range by ``_meta.user_id`` inside the
database, so only the person's own events leave it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.utils import resolve_topic

from yorisoi.infra.db import Cursor, Database

# Events are timestamped when the command builds them and numbered when its
# transaction commits: a notification id can be a little "older" than the one
# before it.  Windows are widened by this much before the exact filter.
SLACK = timedelta(minutes=5)
CHUNK = 500  # ids per lookup

# Bookkeeping in every stored state, not fields the event wrote.
_NOT_FIELDS = frozenset({"timestamp", "originator_topic", "_meta", "_personal", "_shredded",
                         "class_version"})
# Record kinds by aggregate class (services/disclosure.RECORD_KINDS says the same for families).
_KINDS = {"Household": "household", "Case": "case", "Consultation": "consultation",
          "SupportNote": "support_note", "Consent": "consent",
          "ConsentException": "consent_exception", "HouseholdConsents": "consent_index",
          "Referral": "referral", "CaseMeeting": "case_meeting", "Complaint": "complaint",
          "DataSubjectRequest": "data_subject_request", "BreakGlass": "break_glass"}


def utc_text(moment: datetime) -> str:
    """One spelling of an instant for ordering and cursors: UTC, microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(text: str) -> str:
    return utc_text(datetime.fromisoformat(text))


def as_uuid(value: Any) -> str | None:
    """A UUID as the JSON transcoder stores it (``{"_type_": "uuid_hex", ...}``) or as text."""
    if isinstance(value, dict):
        value = value.get("_data_")
    if value is None:
        return None
    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        return None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@lru_cache(maxsize=512)
def personal_field_names(topic: str) -> tuple[str, ...]:
    """The names an event class seals (empty if the topic no longer resolves)."""
    try:
        return tuple(sorted(getattr(resolve_topic(topic), "personal_fields", ()) or ()))
    except Exception:  # noqa: BLE001 - a renamed class still has a history to show
        return ()


@dataclass(frozen=True)
class Change:
    """One stored event: what, on which record, which fields (names), by whom, when."""

    at: str  # UTC, ISO 8601 with microseconds
    position: int  # the notification id
    event: str  # e.g. "Consultation.Recorded"
    record_kind: str
    record_id: str
    version: int
    fields: tuple[str, ...]  # every field the event wrote, by name
    personal_fields: tuple[str, ...]  # those of them sealed under the household key
    actor: str | None
    role: str | None
    organisation_kind: str | None
    organisation_id: str | None
    contract_id: str | None
    site_id: str | None
    request_id: str | None
    trace_id: str | None
    case_id: str | None
    household_id: str | None

    kind = "change"

    @property
    def key(self) -> tuple[str, int, int]:
        """Order of a merged history: time, then changes after views, then position."""
        return (self.at, 1, self.position)


def change_of(row: dict[str, Any]) -> Change:
    """A stored event row (id, originator_id, originator_version, topic, state) as a Change."""
    state = json.loads(bytes(row["state"]))
    meta = state.get("_meta") or {}
    stamp = state.get("timestamp")
    at = canonical(stamp.get("_data_") if isinstance(stamp, dict) else str(stamp))
    topic = str(row["topic"])
    name = topic.rsplit(":", 1)[-1]
    aggregate = name.split(".", 1)[0]
    personal = personal_field_names(topic) if "_personal" in state else ()
    fields = tuple(sorted({k for k in state if k not in _NOT_FIELDS} | set(personal)))
    record_id = as_uuid(row["originator_id"]) or str(row["originator_id"])
    return Change(
        at=at, position=int(row["id"]), event=name,
        record_kind=_KINDS.get(aggregate) or _snake(aggregate), record_id=record_id,
        version=int(row["originator_version"]), fields=fields, personal_fields=personal,
        actor=meta.get("user_id"), role=meta.get("role"),
        organisation_kind=meta.get("organisation_kind"),
        organisation_id=meta.get("organisation_id"), contract_id=meta.get("contract_id"),
        site_id=meta.get("site_id"), request_id=meta.get("request_id"),
        trace_id=meta.get("trace_id"), case_id=as_uuid(state.get("case_id")),
        household_id=(record_id if aggregate == "Household"
                      else as_uuid(state.get("household_id"))))


class EventReader:
    """Reads one space's stored events as :class:`Change` metadata."""

    def __init__(self, database: Database) -> None:
        self.db = database
        postgres = database.dialect == "postgres"
        self._key = "notification_id" if postgres else "rowid"
        self._select = (f"SELECT {self._key} AS id, originator_id, originator_version, topic,"
                        " state FROM {events}")
        # The actor, read inside the database (no index: bounded by an id range).
        self._actor = ("(convert_from(state, 'UTF8')::jsonb -> '_meta' ->> 'user_id')"
                       if postgres else "json_extract(CAST(state AS TEXT), '$._meta.user_id')")

    def _ids(self, ids: Sequence[UUID]) -> tuple[str, list[Any]]:
        # PostgreSQL stores a uuid, SQLite 32 hex digits (the library's choice).
        if self.db.dialect == "postgres":
            return " WHERE originator_id = ANY(%s)", [list(ids)]
        return (f" WHERE originator_id IN ({', '.join(['%s'] * len(ids))})",
                [i.hex for i in ids])

    def of_records(self, ids: Iterable[UUID]) -> list[Change]:
        """Every event of these records (primary-key lookups), oldest first."""
        unique = list(dict.fromkeys(ids))
        changes: list[Change] = []
        with self.db.transaction(write=False) as cur:
            for start in range(0, len(unique), CHUNK):
                where, params = self._ids(unique[start:start + CHUNK])
                changes += [change_of(r) for r in cur.execute(self._select + where,
                                                              params).fetchall()]
        return sorted(changes, key=lambda c: c.key)

    def by_actor(self, actor: str, since: datetime, until: datetime) -> list[Change]:
        """The person's changes stored in [since, until), oldest first."""
        with self.db.transaction(write=False) as cur:
            bounds = self._bounds(cur, since - SLACK, until + SLACK)
            if bounds is None:
                return []
            rows = cur.execute(
                self._select + f" WHERE {self._key} >= %s AND {self._key} < %s"
                f" AND {self._actor} = %s", (*bounds, actor)).fetchall()
        low, high = utc_text(since), utc_text(until)
        return sorted((c for c in map(change_of, rows) if low <= c.at < high),
                      key=lambda c: c.key)

    # -- the id range of a time window ----------------------------------------

    def _at_or_after(self, cur: Cursor, position: int) -> tuple[int, str] | None:
        row = cur.execute(f"SELECT {self._key} AS id, state FROM {{events}}"
                          f" WHERE {self._key} >= %s ORDER BY {self._key} LIMIT 1",
                          (position,)).fetchone()
        if row is None:
            return None
        stamp = json.loads(bytes(row["state"])).get("timestamp")
        return int(row["id"]), canonical(stamp.get("_data_") if isinstance(stamp, dict)
                                         else str(stamp))

    def _first_at(self, cur: Cursor, moment: str, low: int, high: int) -> int:
        """The first id (in [low, high + 1]) whose event is stamped at or after ``moment``."""
        while low <= high:
            middle = (low + high) // 2
            found = self._at_or_after(cur, middle)
            if found is None or found[0] > high or found[1] >= moment:
                high = middle - 1
            else:
                low = found[0] + 1
        return low

    def _bounds(self, cur: Cursor, since: datetime, until: datetime) -> tuple[int, int] | None:
        row = cur.execute(f"SELECT MIN({self._key}) AS low, MAX({self._key}) AS high"
                          " FROM {events}").fetchone()
        if row is None or row["low"] is None:
            return None
        low, high = int(row["low"]), int(row["high"])
        start = self._first_at(cur, utc_text(since), low, high)
        end = self._first_at(cur, utc_text(until), start, high)
        return (start, end) if start < end else None
