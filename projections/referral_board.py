"""The referral board: referrals by status and agency, urgent first; and the agency list.

Plain columns hold what the board filters and sorts on (status, agency, dates,
the next follow-up and its owner — staff ids, never the family).  Everything
else of a referral, personal or not (why, what was shared, the disclosure's
basis, notes), is one JSON document sealed under the household key: disposal
of the key makes the whole referral unreadable, here as in the events.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from yorisoi.domain.agencies import Agency
from yorisoi.domain.referrals import Referral
from yorisoi.infra.db import Cursor, Database
from yorisoi.projections.case_queries import CaseScope, CursorInvalidError, scope_clause
from yorisoi.services.personal_data import HouseholdKeyring

REFERRAL_BOARD_TABLES = ("referral_view", "referral_follow_up_view", "agency_view")


def referral_aad(referral_id: str) -> bytes:
    return f"referral_view:{referral_id}".encode()


def follow_up_aad(follow_up_id: str) -> bytes:
    return f"referral_follow_up_view:{follow_up_id}".encode()


_STEPS = (Referral.Sent, Referral.Acknowledged, Referral.Accepted, Referral.Declined,
          Referral.OutcomeRecorded, Referral.Closed)


# The event classes ``apply`` acts on (``handles``).
_HANDLED = (Agency.Registered, Referral.Drafted, Referral.FollowUpScheduled,
            Referral.FollowUpCompleted, *_STEPS)


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class ReferralBoardView:
    """Projection of referrals and agencies into the referral board tables."""

    name = "referral_board"
    tables = REFERRAL_BOARD_TABLES

    def __init__(self, keyring: HouseholdKeyring) -> None:
        self.keyring = keyring

    @staticmethod
    def ddl() -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {s}referral_view ("
            " referral_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, household_id TEXT NOT NULL,"
            " agency_id TEXT NOT NULL, agency_kind TEXT NOT NULL, status TEXT NOT NULL,"
            " urgent BOOLEAN NOT NULL, sent_on TEXT, next_follow_up_on TEXT,"
            " follow_up_owner TEXT, sealed {bytes}, contract_id TEXT, site_id TEXT,"
            " version INTEGER NOT NULL, position BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS referral_view_board"
            " ON {s}referral_view (urgent DESC, position DESC)",
            "CREATE INDEX IF NOT EXISTS referral_view_case ON {s}referral_view (case_id)",
            "CREATE INDEX IF NOT EXISTS referral_view_follow_up"
            " ON {s}referral_view (follow_up_owner, next_follow_up_on)",
            "CREATE TABLE IF NOT EXISTS {s}referral_follow_up_view ("
            " follow_up_id TEXT PRIMARY KEY, referral_id TEXT NOT NULL,"
            " household_id TEXT NOT NULL, due_on TEXT NOT NULL, owner_user_id TEXT NOT NULL,"
            " completed_on TEXT, sealed {bytes}, position BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS referral_follow_up_view_referral"
            " ON {s}referral_follow_up_view (referral_id, due_on)",
            "CREATE TABLE IF NOT EXISTS {s}agency_view ("
            " agency_id TEXT PRIMARY KEY, municipality_code TEXT NOT NULL, name TEXT NOT NULL,"
            " kind TEXT NOT NULL, on_system BOOLEAN NOT NULL, contact_email TEXT,"
            " confidentiality_basis TEXT, registered_at TEXT NOT NULL,"
            " position BIGINT NOT NULL, resource_id TEXT)",
        ]

    def reset(self, cur: Cursor) -> None:
        for table in REFERRAL_BOARD_TABLES:
            cur.execute(f"DELETE FROM {{s}}{table}")

    def purge(self, cur: Cursor, household_id: UUID | str) -> None:
        """Disposal: referrals keep status, agency kind and dates; their details go."""
        for table in ("referral_view", "referral_follow_up_view"):
            cur.execute(f"UPDATE {{s}}{table} SET sealed = NULL WHERE household_id = %s",
                        (str(household_id),))

    @staticmethod
    def handles(event_cls: type) -> bool:
        return issubclass(event_cls, _HANDLED)

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        if isinstance(event, Agency.Registered):
            self._agency_registered(cur, event, notification)
        elif isinstance(event, Referral.Drafted):
            self._drafted(cur, event, notification)
        elif isinstance(event, Referral.FollowUpScheduled):
            self._follow_up_scheduled(cur, event, notification)
        elif isinstance(event, Referral.FollowUpCompleted):
            self._follow_up_completed(cur, event, notification)
        elif isinstance(event, _STEPS):
            self._step(cur, event, notification)

    # ------------------------------------------------------------------ agencies

    def _agency_registered(self, cur: Cursor, event: Any, n: Notification) -> None:
        cur.execute(
            "INSERT INTO {s}agency_view (agency_id, municipality_code, name, kind, on_system,"
            " contact_email, confidentiality_basis, registered_at, position, resource_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (str(event.originator_id), event.municipality_code, event.name, event.kind,
             bool(event.on_system), event.contact_email, event.confidentiality_basis,
             event.timestamp.isoformat(), n.id, _resource_id(event)))

    # ------------------------------------------------------------------ referrals

    def _seal(self, household_id: str, value: dict[str, Any], aad: bytes) -> bytes | None:
        # A view re-seals with the reading key: None once the household was disposed of.
        return self.keyring.reseal_json(UUID(household_id), value, aad)

    def _drafted(self, cur: Cursor, event: Referral.Drafted, n: Notification) -> None:
        referral_id = str(event.originator_id)
        household_id = str(event.household_id)
        sealed = None
        if not vars(event).get("_shredded"):
            sealed = self._seal(household_id, {
                "reason": event.reason, "shared_fields": event.shared_fields,
                "accompanied": event.accompanied, "drafted_on": _day(event.drafted_on),
            }, referral_aad(referral_id))
        cur.execute(
            "INSERT INTO {s}referral_view (referral_id, case_id, household_id, agency_id,"
            " agency_kind, status, urgent, sealed, contract_id, site_id, version, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (referral_id, str(event.case_id), household_id, str(event.agency_id),
             event.agency_kind, Referral.DRAFT, bool(event.urgent), sealed, event.contract_id,
             event.site_id, event.originator_version, n.id))

    def _step(self, cur: Cursor, event: Any, n: Notification) -> None:
        """A status step: the status column moves and the sealed details grow."""
        columns: dict[str, Any] = {}
        details: dict[str, Any] = {}
        if isinstance(event, Referral.Sent):
            columns = {"status": Referral.SENT, "sent_on": _day(event.sent_on)}
            details = {"confidentiality_basis": event.confidentiality_basis,
                       "consent_id": event.consent_id,
                       "exception_legal_basis": event.exception_legal_basis,
                       "exception_reason": event.exception_reason,
                       "packet_expires_at": _day(event.packet_expires_at)}
        elif isinstance(event, Referral.Acknowledged):
            columns = {"status": Referral.ACKNOWLEDGED}
            details = {"acknowledged_on": _day(event.acknowledged_on),
                       "acknowledged_via": event.acknowledged_via}
        elif isinstance(event, Referral.Accepted):
            columns = {"status": Referral.ACCEPTED}
            details = {"responded_on": _day(event.accepted_on)}
        elif isinstance(event, Referral.Declined):
            columns = {"status": Referral.DECLINED}
            details = {"responded_on": _day(event.declined_on), "decline_note": event.note}
        elif isinstance(event, Referral.OutcomeRecorded):
            columns = {"status": Referral.OUTCOME_RECORDED}
            details = {"outcome": event.outcome, "outcome_note": event.note,
                       "outcome_on": _day(event.recorded_on)}
        elif isinstance(event, Referral.Closed):
            columns = {"status": Referral.CLOSED}
            details = {"closed_on": _day(event.closed_on), "closure_reason": event.reason}
        self._update(cur, event, n, columns, details)

    def _update(self, cur: Cursor, event: Any, n: Notification, columns: dict[str, Any],
                details: dict[str, Any]) -> None:
        referral_id = str(event.originator_id)
        if details:
            row = cur.execute("SELECT household_id, sealed FROM {s}referral_view"
                              " WHERE referral_id = %s", (referral_id,)).fetchone()
            if row is None:  # cannot happen: a referral is drafted before its steps
                raise LookupError("step of a referral the view has not seen")
            aad = referral_aad(referral_id)
            current = self.keyring.open_json(UUID(row["household_id"]), row["sealed"], aad)
            # Once shredded (or shredded at drafting), the details stay unreadable.
            columns["sealed"] = None if current is None or vars(event).get("_shredded") else (
                self._seal(row["household_id"], {**current, **details}, aad))
        columns |= {"version": event.originator_version, "position": n.id}
        assignments = ", ".join(f"{name} = %s" for name in columns)
        cur.execute(f"UPDATE {{s}}referral_view SET {assignments} WHERE referral_id = %s",
                    [*columns.values(), referral_id])

    def _follow_up_scheduled(self, cur: Cursor, event: Any, n: Notification) -> None:
        row = cur.execute("SELECT household_id FROM {s}referral_view WHERE referral_id = %s",
                          (str(event.originator_id),)).fetchone()
        if row is None:
            raise LookupError("follow-up of a referral the view has not seen")
        cur.execute(
            "INSERT INTO {s}referral_follow_up_view (follow_up_id, referral_id, household_id,"
            " due_on, owner_user_id, position) VALUES (%s, %s, %s, %s, %s, %s)",
            (event.follow_up_id, str(event.originator_id), row["household_id"],
             _day(event.due_on), event.owner_user_id, n.id))
        self._next_follow_up(cur, event, n)

    def _follow_up_completed(self, cur: Cursor, event: Any, n: Notification) -> None:
        sealed = None
        if not vars(event).get("_shredded"):
            sealed = self._seal(str(event.household_id), {"note": event.note},
                                follow_up_aad(event.follow_up_id))
        cur.execute("UPDATE {s}referral_follow_up_view SET completed_on = %s, sealed = %s,"
                    " position = %s WHERE follow_up_id = %s",
                    (_day(event.completed_on), sealed, n.id, event.follow_up_id))
        self._next_follow_up(cur, event, n)

    def _next_follow_up(self, cur: Cursor, event: Any, n: Notification) -> None:
        # The earliest open check is what "my tasks" and the board show.
        row = cur.execute(
            "SELECT due_on, owner_user_id FROM {s}referral_follow_up_view"
            " WHERE referral_id = %s AND completed_on IS NULL"
            " ORDER BY due_on, follow_up_id LIMIT 1", (str(event.originator_id),)).fetchone()
        self._update(cur, event, n, {
            "next_follow_up_on": row["due_on"] if row else None,
            "follow_up_owner": row["owner_user_id"] if row else None}, {})


def _resource_id(event: Any) -> str | None:
    # Agencies registered before directory entries could be recipients carry none.
    resource_id = vars(event).get("resource_id")
    return str(resource_id) if resource_id is not None else None


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class AgencyRecord:
    agency_id: str
    name: str
    kind: str
    on_system: bool
    contact_email: str | None
    confidentiality_basis: str | None
    resource_id: str | None = None  # the directory entry it stands for


@dataclass(frozen=True)
class FollowUpRecord:
    follow_up_id: str
    due_on: str
    owner_user_id: str
    completed_on: str | None
    note: str | None


@dataclass(frozen=True)
class ReferralRecord:
    referral_id: str
    case_id: str
    household_id: str
    agency_id: str
    agency_kind: str
    status: str
    urgent: bool
    sent_on: str | None
    next_follow_up_on: str | None
    follow_up_owner: str | None
    contract_id: str | None
    site_id: str | None
    version: int
    position: int
    details: dict[str, Any] | None  # None once the household is disposed of
    follow_ups: list[FollowUpRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ReferralPage:
    referrals: list[ReferralRecord]
    total_count: int
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(record: ReferralRecord) -> str:
    raw = json.dumps([bool(record.urgent), record.position]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[bool, int]:
    try:
        urgent, position = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(urgent, bool) or type(position) is not int:
            raise TypeError
    except (ValueError, TypeError):
        raise CursorInvalidError from None
    return urgent, position


class ReferralBoardQueries:
    """Read side of the referral board for one municipality."""

    def __init__(self, database: Database, keyring: HouseholdKeyring) -> None:
        self.db = database
        self.keyring = keyring

    def agencies(self) -> list[AgencyRecord]:
        return self.agency_page(after=None, limit=None)[0]

    def agency_page(self, *, after: list[str] | None,
                    limit: int | None) -> tuple[list[AgencyRecord], int]:
        """Agencies by (kind, name, agency_id) after the keyset ``after``; and how many in all."""
        where, params = "", []
        if after is not None:
            where = (" WHERE kind > %s OR (kind = %s AND (name > %s"
                     " OR (name = %s AND agency_id > %s)))")
            params = [after[0], after[0], after[1], after[1], after[2]]
        if limit is not None:
            params.append(limit)
        with self.db.transaction(write=False) as cur:
            total = cur.execute("SELECT COUNT(*) AS n FROM {s}agency_view").fetchone()
            rows = cur.execute(f"SELECT * FROM {{s}}agency_view{where}"
                               f" ORDER BY kind, name, agency_id"
                               f"{' LIMIT %s' if limit is not None else ''}", params).fetchall()
        return [AgencyRecord(agency_id=r["agency_id"], name=r["name"], kind=r["kind"],
                             on_system=bool(r["on_system"]), contact_email=r["contact_email"],
                             confidentiality_basis=r["confidentiality_basis"],
                             resource_id=r["resource_id"]) for r in rows], int(total["n"])

    def board(self, scope: CaseScope, *, first: int, after: str | None = None,
              status: str | None = None, agency_id: str | None = None) -> ReferralPage:
        """Referrals urgent first, then most recently changed, with keyset pagination."""
        where, params = scope_clause(scope)
        for column, value in (("status", status), ("agency_id", agency_id)):
            if value is not None:
                where += f" AND {column} = %s"
                params.append(value)
        page_where, page_params = where, list(params)
        if after is not None:
            urgent, position = decode_cursor(after)
            page_where += " AND (urgent < %s OR (urgent = %s AND position < %s))"
            page_params += [urgent, urgent, position]
        with self.db.transaction(write=False) as cur:
            total = cur.execute(
                f"SELECT COUNT(*) AS n FROM {{s}}referral_view WHERE 1 = 1{where}",
                params).fetchone()
            rows = cur.execute(
                f"SELECT * FROM {{s}}referral_view WHERE 1 = 1{page_where}"
                " ORDER BY urgent DESC, position DESC LIMIT %s",
                [*page_params, first + 1]).fetchall()
            referrals = self._records(cur, rows[:first])
        return ReferralPage(referrals=referrals, total_count=int(total["n"]),
                            has_next_page=len(rows) > first,
                            end_cursor=encode_cursor(referrals[-1]) if referrals else None)

    def for_case(self, scope: CaseScope, case_id: str) -> list[ReferralRecord]:
        where, params = scope_clause(scope)
        with self.db.transaction(write=False) as cur:
            rows = cur.execute(
                f"SELECT * FROM {{s}}referral_view WHERE case_id = %s{where}"
                " ORDER BY urgent DESC, position DESC", [case_id, *params]).fetchall()
            return self._records(cur, rows)

    def get(self, scope: CaseScope, referral_id: str) -> ReferralRecord | None:
        where, params = scope_clause(scope)
        with self.db.transaction(write=False) as cur:
            rows = cur.execute(f"SELECT * FROM {{s}}referral_view WHERE referral_id = %s{where}",
                               [referral_id, *params]).fetchall()
            records = self._records(cur, rows)
        return records[0] if records else None

    def _records(self, cur: Cursor, rows: list[dict[str, Any]]) -> list[ReferralRecord]:
        """Rows unsealed, with their follow-ups (one query for the whole page)."""
        self.keyring.preload(r["household_id"] for r in rows)  # one key read per page
        follow_ups: dict[str, list[FollowUpRecord]] = {r["referral_id"]: [] for r in rows}
        if rows:
            marks = ", ".join(["%s"] * len(rows))
            for f in cur.execute(
                    f"SELECT * FROM {{s}}referral_follow_up_view WHERE referral_id IN ({marks})"
                    " ORDER BY due_on, follow_up_id", list(follow_ups)).fetchall():
                note = self.keyring.read_json(UUID(f["household_id"]), f["sealed"],
                                              follow_up_aad(f["follow_up_id"]),
                                              record=("referral_follow_up", f["follow_up_id"]))
                follow_ups[f["referral_id"]].append(FollowUpRecord(
                    follow_up_id=f["follow_up_id"], due_on=f["due_on"],
                    owner_user_id=f["owner_user_id"], completed_on=f["completed_on"],
                    note=note["note"] if note else None))
        return [ReferralRecord(
            referral_id=r["referral_id"], case_id=r["case_id"], household_id=r["household_id"],
            agency_id=r["agency_id"], agency_kind=r["agency_kind"], status=r["status"],
            urgent=bool(r["urgent"]), sent_on=r["sent_on"],
            next_follow_up_on=r["next_follow_up_on"], follow_up_owner=r["follow_up_owner"],
            contract_id=r["contract_id"], site_id=r["site_id"], version=int(r["version"]),
            position=int(r["position"]),
            details=self.keyring.read_json(UUID(r["household_id"]), r["sealed"],
                                           referral_aad(r["referral_id"]),
                                           record=("referral", r["referral_id"])),
            follow_ups=follow_ups[r["referral_id"]]) for r in rows]
