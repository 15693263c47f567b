"""The case view: one row per case, its household and its consultations.

Written only by the projection below.  Personal values (who the family is,
what they said) are re-sealed under the household key before they reach a
row, so a read-model table, its backups and its replicas hold ciphertext
only, and disposal of the key makes them unreadable too.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
from typing import Any

from eventsourcing.persistence import Notification

from yorisoi.domain.cases import Case
from yorisoi.domain.consultations import TEXT_FIELDS, Consultation
from yorisoi.domain.households import Household
from yorisoi.infra.db import Cursor
from yorisoi.projections.case_activity import (
    ACTIVITY_CLASSES,
    CREATED_ON_CASE,
    LINK_DDL,
    LINK_TABLE,
    activity_day,
)
from yorisoi.projections import fresh_rows
from yorisoi.projections.folded_batches import FoldedBatches
from yorisoi.projections.id_text import id_text
from yorisoi.services.event_mapper import read_metadata
from yorisoi.services.personal_data import HouseholdKeyring

CASE_VIEW_TABLES = ("case_view", "household_view", "consultation_view")


def household_aad(household_id: str) -> bytes:
    return f"household_view:{household_id}".encode()


def consultation_aad(consultation_id: str) -> bytes:
    return f"consultation_view:{consultation_id}".encode()


class CaseView(FoldedBatches):
    """Projection of households, cases and consultations into the case view tables.

    Batches are folded (``FoldedBatches``): instead of ~2.4 statements per event
    (an insert, a SELECT and an UPDATE of the case row for every consultation) a
    batch of 500 events costs about six — one read of the case rows it touches,
    one multi-row write per table.
    """

    name = "case_view"
    # With the record → case links behind 最終対応日 (ids only; projections/case_activity.py).
    tables = (*CASE_VIEW_TABLES, LINK_TABLE)

    def __init__(self, keyring: HouseholdKeyring) -> None:
        self.keyring = keyring
        super().__init__()

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
            " version INTEGER NOT NULL DEFAULT 1, position BIGINT NOT NULL,"
            " reception_number TEXT)",
            # A number is said aloud and typed: found by it (unique per municipality).
            "CREATE INDEX IF NOT EXISTS case_view_reception ON {s}case_view (reception_number)",
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
            LINK_DDL,
        ]

    def reset(self, cur: Cursor) -> None:
        self._write(cur)  # events held so far belong before the reset
        for table in self.tables:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def purge(self, cur: Cursor, household_id: str) -> None:
        """Disposal: drop the household's sealed values (what a rebuild after it stores)."""
        for table in ("household_view", "consultation_view"):
            cur.execute(f"UPDATE {{s}}{table} SET sealed = NULL WHERE household_id = %s",
                        (str(household_id),))

    @staticmethod
    def handles(event_cls: type) -> bool:
        """What ``_fold`` acts on: households, consultations, every Case event and activity."""
        return (issubclass(event_cls, _HANDLED) or _is_case_class(event_cls)
                or issubclass(event_cls, ACTIVITY_CLASSES))

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        self._hold(cur, event, notification)

    def _fold(self, cur: Cursor, items: list[tuple[Any, Notification]]) -> None:
        """Apply ``items`` in order to the rows they touch, in memory; then write them."""
        # ``n.originator_text``: the event's originator id as the rows store it.
        opened: set[str] = set()
        recorded: set[str] = set()
        case_ids: set[str] = set()
        corrected_ids: set[str] = set()
        activity: list[tuple[Any, Notification]] = []
        kinds = [_KINDS.get(type(event)) or _kind(type(event)) for event, _ in items]
        for kind, (event, n) in zip(kinds, items, strict=True):
            if kind == _RECORDED:
                recorded.add(n.originator_text)
                case_ids.add(id_text(event.case_id))
            elif kind == _CORRECTED:
                corrected_ids.add(n.originator_text)
            elif kind == _OPENED:
                opened.add(n.originator_text)
            elif kind == _CASE_EVENT:
                case_ids.add(n.originator_text)
            if _is_activity(type(event)):
                activity.append((event, n))
        links, household_cases = self._activity_cases(cur, activity, case_ids)
        # Rows from before these events (only this projection writes case_view,
        # under its position lock, so they cannot change until the batch commits).
        stored = {row["case_id"]: _case_row(row) for row in cur.select_in(
            "SELECT * FROM {s}case_view WHERE", "case_id", sorted(case_ids - opened))}
        stored_sealed = {row["consultation_id"]: row["sealed"] for row in cur.select_in(
            "SELECT consultation_id, sealed FROM {s}consultation_view WHERE",
            "consultation_id", sorted(corrected_ids - recorded))}
        households: dict[str, tuple[Any, ...]] = {}
        corrected_households: dict[str, Any] = {}
        new_cases: dict[str, dict[str, Any]] = {}
        changed: dict[str, dict[str, Any]] = {}
        consultations: dict[str, list[Any]] = {}
        corrections: dict[str, list[Any]] = {}

        def case_row(case_id: str) -> dict[str, Any] | None:
            row = new_cases.get(case_id) or changed.get(case_id)
            if row is None and case_id in stored:
                row = changed[case_id] = stored.pop(case_id)
            return row

        for kind, (event, n) in zip(kinds, items, strict=True):
            if kind == _REGISTERED:
                row = self._household_row(event, n.originator_text)
                households[row[0]] = row
            elif kind == _HOUSEHOLD_CORRECTED:
                household_id, sealed = self._household_corrected(event, n.originator_text)
                if household_id in households:  # registered in this batch
                    households[household_id] = (household_id, sealed,
                                                households[household_id][2])
                else:
                    corrected_households[household_id] = sealed
            elif kind == _OPENED:
                new_cases[n.originator_text] = _opened_row(event, n)
            elif kind == _RECORDED:
                row = self._consultation_row(event, n)
                consultations[row[0]] = row
                case = case_row(row[1])
                if case is None:  # cannot happen: a case is opened before its consultations
                    raise LookupError("consultation for a case the view has not seen")
                case["consultation_count"] += 1
                case["themes"] = list(dict.fromkeys(case["themes"] + event.themes))
                case["last_activity_on"] = max(case["last_activity_on"],
                                               event.occurred_on.isoformat())
                case["position"] = n.id
                if case["status"] == Case.OPENED:
                    case["status"] = Case.ACTIVE
            elif kind == _CORRECTED:
                consultation_id = n.originator_text
                if consultation_id in consultations:
                    pending = consultations[consultation_id]
                    pending[8] = self._corrected(event, consultation_id, pending[8])
                    pending[13] = n.id
                elif consultation_id in corrections:
                    pending = corrections[consultation_id]
                    pending[:] = [self._corrected(event, consultation_id, pending[0]), n.id]
                elif consultation_id in stored_sealed:
                    corrections[consultation_id] = [self._corrected(
                        event, consultation_id, stored_sealed[consultation_id]), n.id]
                else:  # cannot happen: a consultation is recorded before it is corrected
                    raise LookupError("correction of a consultation the view has not seen")
            elif kind == _CASE_EVENT:
                case = case_row(n.originator_text)
                if case is not None:  # (as an UPDATE of no row: nothing)
                    case.update(_case_changes(event), version=event.originator_version,
                                position=n.id)
            if kind == _HOUSEHOLD_CORRECTED or kind == _IGNORED:
                # Work on the case (a note, a referral, a meeting, a correction): 最終対応日.
                self._touch(event, n, links, household_cases, new_cases, case_row)
        cur.insert_many("household_view", ("household_id", "sealed", "registered_at"),
                        ("text", "bytea", "text"), list(households.values()),
                        "ON CONFLICT (household_id) DO NOTHING")
        cur.update_many("household_view", "household_id", ("sealed",), ("text", "bytea"),
                        list(corrected_households.items()))
        cur.insert_many("case_view", ("case_id", *_CASE_COLUMNS), ("text", *_CASE_TYPES),
                        [_case_values(case_id, row) for case_id, row in new_cases.items()])
        cur.update_many("case_view", "case_id", _CASE_COLUMNS, ("text", *_CASE_TYPES),
                        [_case_values(case_id, row) for case_id, row in changed.items()])
        cur.insert_many("consultation_view", _CONSULTATION_COLUMNS, _CONSULTATION_TYPES,
                        list(consultations.values()))
        cur.insert_many(LINK_TABLE, ("record_id", "case_id"), ("text", "text"),
                        [(record_id, case_id) for record_id, case_id in links.items()
                         if record_id in links.created],
                        "ON CONFLICT (record_id) DO NOTHING")
        cur.update_many("consultation_view", "consultation_id", ("sealed", "position"),
                        ("text", "bytea", "int8"),
                        [(cid, sealed, position)
                         for cid, (sealed, position) in corrections.items()])
        if fresh_rows.collecting():  # a command's answer is built from these (no read back)
            space = cur.database.tenant
            for case_id, row in (*new_cases.items(), *changed.items()):
                fresh_rows.note(space, "case_view", case_id,
                                dict(zip(_CASE_KEYS, _case_values(case_id, row), strict=True)))
            for row in consultations.values():
                fresh_rows.note(space, "consultation_view", row[0],
                                dict(zip(_CONSULTATION_COLUMNS, row, strict=True)))

    @staticmethod
    def _activity_cases(cur: Cursor, activity: list[tuple[Any, Notification]],
                        case_ids: set[str]) -> tuple[_Links, dict[str, list[str]]]:
        """The cases ``activity`` touches: record → case links, household → its stored cases.

        Adds those cases to ``case_ids`` (the rows the batch reads).
        """
        links = _Links()
        wanted: set[str] = set()
        households: set[str] = set()
        for event, n in activity:
            if isinstance(event, CREATED_ON_CASE):
                links[n.originator_text] = id_text(event.case_id)
                links.created.add(n.originator_text)
            elif isinstance(event, Household.Corrected):
                households.add(n.originator_text)
            else:
                wanted.add(n.originator_text)
        links.update({row["record_id"]: row["case_id"] for row in cur.select_in(
            f"SELECT record_id, case_id FROM {{s}}{LINK_TABLE} WHERE", "record_id",
            sorted(wanted - links.keys()))})
        household_cases: dict[str, list[str]] = {}
        for row in cur.select_in("SELECT case_id, household_id FROM {s}case_view WHERE",
                                 "household_id", sorted(households)):
            household_cases.setdefault(row["household_id"], []).append(row["case_id"])
        case_ids.update(links.values())
        case_ids.update(c for cases in household_cases.values() for c in cases)
        return links, household_cases

    @staticmethod
    def _touch(event: Any, n: Notification, links: _Links,
               household_cases: dict[str, list[str]], new_cases: dict[str, dict[str, Any]],
               case_row: Any) -> None:
        """Move the last activity of the case(s) ``event`` is work on (never back)."""
        if not _is_activity(type(event)):
            return
        if isinstance(event, Household.Corrected):
            household_id = n.originator_text
            targets = [*household_cases.get(household_id, ()),
                       *(c for c, row in new_cases.items()
                         if row["household_id"] == household_id)]
        else:
            target = links.get(n.originator_text)
            targets = [target] if target else []  # a record from before the links: unknown
        day = activity_day(event)
        for case_id in dict.fromkeys(targets):
            case = case_row(case_id)
            if case is not None and day > case["last_activity_on"]:
                case["last_activity_on"] = day
                case["position"] = n.id

    def _household_row(self, event: Household.Registered, household_id: str) -> tuple[Any, ...]:
        sealed = None
        if not vars(event).get("_shredded"):
            sealed = self.keyring.reseal_json(event.originator_id, {
                "guardians": event.guardians, "children": event.children,
                "pregnancy_due_date": event.pregnancy_due_date,
                "outside_target_reason": event.outside_target_reason,
            }, household_aad(household_id))
        return (household_id, sealed, event.timestamp.isoformat())

    def _household_corrected(self, event: Household.Corrected,
                             household_id: str) -> tuple[str, Any]:
        """The corrected household's state, sealed (None once shredded: it stays unreadable)."""
        if vars(event).get("_shredded"):
            return household_id, None
        return household_id, self.keyring.reseal_json(event.originator_id, {
            "guardians": event.guardians, "children": event.children,
            "pregnancy_due_date": event.pregnancy_due_date,
            "outside_target_reason": event.outside_target_reason,
        }, household_aad(household_id))

    def _consultation_row(self, event: Consultation.Recorded, n: Notification) -> list[Any]:
        consultation_id = n.originator_text
        meta = read_metadata(event)
        sealed = None
        if not vars(event).get("_shredded"):
            # Current values and the correction history travel in one sealed blob.
            sealed = self.keyring.reseal_json(event.household_id, {
                **{name: getattr(event, name) for name in TEXT_FIELDS}, "corrections": [],
            }, consultation_aad(consultation_id))
        return [consultation_id, id_text(event.case_id), id_text(event.household_id), event.site_id,
                event.contract_id, event.occurred_on.isoformat(), event.channel,
                _json_codes(event.themes), sealed, meta.get("user_id"), meta.get("role"),
                meta.get("organisation_id"), event.timestamp.isoformat(), n.id]

    def _corrected(self, event: Consultation.Corrected, consultation_id: str,
                   sealed: bytes | None) -> bytes | None:
        """The consultation's sealed blob after ``event`` (None once the key is gone)."""
        aad = consultation_aad(consultation_id)
        current = self.keyring.open_json(event.household_id, sealed, aad)
        if current is None or vars(event).get("_shredded"):
            return None
        meta = read_metadata(event)
        current.update(event.changes or {})
        # Who and when, and why (personal): the history the case page shows.
        current.setdefault("corrections", []).append({
            "fields": event.changed_fields, "reason": event.reason,
            "corrected_by": meta.get("user_id"), "corrected_role": meta.get("role"),
            "corrected_at": event.timestamp.isoformat()})
        return self.keyring.reseal_json(event.household_id, current, aad)


# Columns of case_view after case_id, with their PostgreSQL types (for the batch arrays).
_CASE_COLUMNS = ("household_id", "municipality_code", "site_id", "contract_id", "status",
                 "opened_on", "last_activity_on", "consultation_count", "themes", "closed_on",
                 "closure_reason", "council_case", "version", "position", "reception_number")
_CASE_KEYS = ("case_id", *_CASE_COLUMNS)
_CASE_TYPES = ("text", "text", "text", "text", "text", "text", "text", "int4", "text", "text",
               "text", "bool", "int4", "int8", "text")
# Columns added to case_view after spaces were provisioned with it: ``yorisoi tenant
# upgrade`` adds them to existing spaces (tenants/view_columns.py) before the DDL above.
CASE_VIEW_ADDED_COLUMNS = (("case_view", "reception_number", "TEXT"),)
_CONSULTATION_COLUMNS = ("consultation_id", "case_id", "household_id", "site_id",
                         "contract_id", "occurred_on", "channel", "themes", "sealed",
                         "recorded_by", "recorded_role", "recorded_org", "recorded_at",
                         "position")
_CONSULTATION_TYPES = ("text", "text", "text", "text", "text", "text", "text", "text",
                       "bytea", "text", "text", "text", "text", "int8")


class _Links(dict[str, str]):
    """Record id → case id, with the ids of records created in this batch (to store)."""

    def __init__(self) -> None:
        super().__init__()
        self.created: set[str] = set()


def _is_case_class(event_cls: type) -> bool:
    return event_cls.__qualname__.startswith("Case.")


# What ``_fold`` does with an event, by class: the isinstance tests of its
# branches, in their order, made once per class (not ~5 per event and pass).
_REGISTERED, _HOUSEHOLD_CORRECTED, _OPENED, _RECORDED, _CORRECTED, _CASE_EVENT, _IGNORED = (
    range(1, 8))
_BRANCHES = ((_REGISTERED, Household.Registered), (_HOUSEHOLD_CORRECTED, Household.Corrected),
             (_OPENED, Case.Opened), (_RECORDED, Consultation.Recorded),
             (_CORRECTED, Consultation.Corrected))
_KINDS: dict[type, int] = {}

# Event classes the view acts on besides the Case events (``handles``).
_HANDLED = tuple(cls for _, cls in _BRANCHES)


def _kind(event_cls: type) -> int:
    kind = next((kind for kind, cls in _BRANCHES if issubclass(event_cls, cls)),
                _CASE_EVENT if _is_case_class(event_cls) else _IGNORED)
    _KINDS[event_cls] = kind
    return kind


# Whether a class is work on a case (isinstance against the ~19 ACTIVITY_CLASSES costs
# ~1.6 µs an event through their metaclass; asked once per class instead).
_ACTIVITY: dict[type, bool] = {}


def _is_activity(event_cls: type) -> bool:
    known = _ACTIVITY.get(event_cls)
    if known is None:
        known = _ACTIVITY[event_cls] = issubclass(event_cls, ACTIVITY_CLASSES)
    return known


def _opened_row(event: Case.Opened, n: Notification) -> dict[str, Any]:
    opened_on = event.opened_on.isoformat()
    return {"household_id": id_text(event.household_id),
            "municipality_code": event.municipality_code, "site_id": event.site_id,
            "contract_id": event.contract_id, "status": Case.OPENED, "opened_on": opened_on,
            "last_activity_on": opened_on, "consultation_count": 0, "themes": [],
            "closed_on": None, "closure_reason": None, "council_case": False, "version": 1,
            "position": n.id, "reception_number": event.reception_number}


def _case_row(stored: dict[str, Any]) -> dict[str, Any]:
    row = {name: stored[name] for name in _CASE_COLUMNS}
    row["themes"] = json.loads(row["themes"])
    return row


def _case_values(case_id: str, row: dict[str, Any]) -> tuple[Any, ...]:
    return (case_id, *(_json_codes(row[name]) if name == "themes" else row[name]
                       for name in _CASE_COLUMNS))


def _json_codes(codes: list[Any]) -> str:
    """``json.dumps(codes)`` of a list of codes (theme codes), ~3× quicker for strings.

    For a list of ``str`` json.dumps writes each with ``encode_basestring_ascii``
    between ``[``, ``, `` and ``]``: so does this.  Anything else goes to json.dumps.
    """
    if all(type(code) is str for code in codes):
        return "[" + ", ".join(map(encode_basestring_ascii, codes)) + "]"
    return json.dumps(codes)


def _case_changes(event: Any) -> dict[str, Any]:
    """The case_view columns a Case event sets (besides version and position)."""
    if isinstance(event, Case.Closed):
        return {"status": Case.CLOSED, "closed_on": event.closed_on.isoformat(),
                "closure_reason": event.reason}
    if isinstance(event, Case.Reopened):
        return {"status": Case.ACTIVE, "closed_on": None, "closure_reason": None,
                "last_activity_on": event.reopened_on.isoformat()}
    if isinstance(event, Case.CouncilCaseMarked):
        return {"council_case": event.council_case}
    if isinstance(event, Case.HandedOver):
        # The readers' contract scopes filter on contract_id, so access follows at once.
        return {"contract_id": event.to_contract_id, "site_id": event.site_id}
    return {}  # the version moves on
