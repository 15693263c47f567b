"""The access log as compliance staff read it: views, reasons, time windows and keyset pages.

Shared by the compliance queries (projections/compliance.py) and the access
patterns (projections/compliance_patterns.py).  A :class:`View` is one
``access_log`` row — who read which record's fields (names only), when, on
which basis — with the basis spelled out: a grant, a break-glass use (its id
and reason code) or a data-subject request (``dsr:<id>``).

Lists merge two sources (stored events and access-log rows, or export groups
and disposal certificates) newest first.  Every item has a ``key``
``(at, rank, id)``: time in UTC with microseconds, then a rank that orders
the two sources at the same instant, then the source's own id; a cursor is
the last key shown.  The database side of a page is a keyset query on
``(recorded_at, entry_id)``: ``recorded_at`` is written by
``datetime.isoformat()`` in UTC everywhere, so its text orders like time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from yorisoi.domain.errors import InvalidInputError
from yorisoi.infra.clock import JST
from yorisoi.infra.db import Cursor
from yorisoi.projections.case_queries import CursorInvalidError
from yorisoi.projections.compliance_events import canonical

T = TypeVar("T")
Key = tuple[str, int, Any]
MAX_PAGE = 100


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class View:
    """One read of personal data: who, which record, which fields (names), why, how."""

    entry_id: int
    at: str  # UTC, ISO 8601 with microseconds
    actor: str
    role: str
    organisation_kind: str
    organisation_id: str
    contract_id: str | None
    household_id: str
    record_kind: str
    record_id: str
    fields: tuple[str, ...]
    basis: str  # grant | break_glass | system
    basis_ref: str | None
    reason_code: str | None  # the break-glass reason, when basis is break_glass
    break_glass_id: str | None
    data_subject_request_id: str | None  # when the read served a disclosure
    request_id: str | None
    trace_id: str | None
    channel: str  # graphql | rest | export | console

    kind = "view"

    @property
    def key(self) -> Key:
        return (self.at, 0, self.entry_id)

    @property
    def organisation(self) -> str:
        return f"{self.organisation_kind}:{self.organisation_id}"


def view_of(row: dict[str, Any], reasons: dict[str, str]) -> View:
    ref = row["basis_ref"]
    glass = ref if row["basis"] == "break_glass" else None
    return View(
        entry_id=int(row["entry_id"]), at=canonical(row["recorded_at"]), actor=row["actor"],
        role=row["role"], organisation_kind=row["organisation_kind"],
        organisation_id=row["organisation_id"], contract_id=row["contract_id"],
        household_id=row["household_id"], record_kind=row["record_kind"],
        record_id=row["record_id"], fields=tuple(json.loads(row["fields"])),
        basis=row["basis"], basis_ref=ref, reason_code=reasons.get(glass) if glass else None,
        break_glass_id=glass,
        data_subject_request_id=ref[4:] if ref and ref.startswith("dsr:") else None,
        request_id=row["request_id"], trace_id=row["trace_id"], channel=row["channel"])


def reasons_of(cur: Cursor, rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Break-glass id -> reason code, for the rows read under break-glass."""
    ids = sorted({r["basis_ref"] for r in rows if r["basis"] == "break_glass" and r["basis_ref"]})
    if not ids:
        return {}
    marks = ", ".join(["%s"] * len(ids))
    return {r["break_glass_id"]: r["reason_code"] for r in cur.execute(
        "SELECT break_glass_id, reason_code FROM {s}break_glass_view"
        f" WHERE break_glass_id IN ({marks})", ids).fetchall()}


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Window:
    """A half-open period [since, until)."""

    since: datetime
    until: datetime

    @property
    def low(self) -> str:
        return log_text(self.since)

    @property
    def high(self) -> str:
        return log_text(self.until)


def log_text(moment: datetime) -> str:
    """An instant spelled as ``access_log.recorded_at`` is (UTC ``isoformat()``)."""
    return moment.astimezone(UTC).isoformat()


def _instant(field: str, value: str, *, end: bool) -> datetime:
    """A date (Japan time; as an end, the whole day counts) or an ISO 8601 date-time."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).replace(tzinfo=JST)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            field=field, message="Not a date or time: use YYYY-MM-DD or ISO 8601.",
            message_ja="日付・日時の形式が正しくありません（YYYY-MM-DD または ISO 8601）。",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=JST)


def window(since: str | None, until: str | None, *, default_days: int, max_days: int,
           now: datetime | None = None) -> Window:
    """The period a query covers: by default the last ``default_days`` up to now."""
    end = _instant("until", until, end=True) if until else (now or datetime.now(UTC))
    start = (_instant("since", since, end=False) if since
             else end - timedelta(days=default_days))
    if start >= end:
        raise InvalidInputError(field="since", message="since must be before until.",
                                message_ja="開始日時は終了日時より前にしてください。")
    if end - start > timedelta(days=max_days):
        raise InvalidInputError(
            field="since", message=f"The period is at most {max_days} days.",
            message_ja=f"期間は{max_days}日以内で指定してください。")
    return Window(start, end)


# --------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class Page(Generic[T]):
    """A keyset page: (cursor, item) edges, newest first."""

    edges: list[tuple[str, T]]
    total_count: int
    has_next_page: bool
    end_cursor: str | None
    counts: dict[str, int] = field(default_factory=dict)  # per kind of item, where useful

    @property
    def items(self) -> list[T]:
        return [item for _, item in self.edges]


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise CursorInvalidError from None


def decode_key(cursor: str) -> Key:
    """A merged list's cursor: (time, rank, id)."""
    value = _decode(cursor)
    try:
        at, rank, ident = value
        if rank not in (0, 1) or not isinstance(ident, (int, str)) or isinstance(ident, bool):
            raise TypeError
        return canonical(at), rank, ident
    except (TypeError, ValueError):
        raise CursorInvalidError from None


def decode_as(cursor: str, *types: type) -> tuple[Any, ...]:
    """A cursor that is a fixed list of plain values (e.g. ``[position]``)."""
    value = _decode(cursor)
    if (not isinstance(value, list) or len(value) != len(types)
            or not all(isinstance(v, t) and not isinstance(v, bool)
                       for v, t in zip(value, types, strict=True))):
        raise CursorInvalidError
    return tuple(value)


def after_sql(at: str, ident: str, rank: int, cursor: Key | None) -> tuple[str, list[Any]]:
    """The keyset condition for database rows of ``rank`` that come after ``cursor``."""
    if cursor is None:
        return "", []
    moment = log_text(datetime.fromisoformat(cursor[0]))
    if cursor[1] > rank:
        return f" AND {at} <= %s", [moment]
    if cursor[1] < rank or not isinstance(cursor[2], int):
        return f" AND {at} < %s", [moment]
    return f" AND ({at} < %s OR ({at} = %s AND {ident} < %s))", [moment, moment, cursor[2]]


def merged_page(memory: Sequence[Any], fetch: Callable[[Key | None, int], list[Any]],
                fetched_total: int, *, first: int, after: str | None,
                counts: dict[str, int] | None = None) -> Page[Any]:
    """Newest first over items held in memory and items a keyset query fetches."""
    cursor = decode_key(after) if after else None
    older = sorted((m for m in memory if cursor is None or m.key < cursor),
                   key=lambda m: m.key, reverse=True)[:first + 1]
    items = sorted([*older, *fetch(cursor, first + 1)], key=lambda i: i.key,
                   reverse=True)[:first + 1]
    shown = items[:first]
    return Page(edges=[(encode_cursor(i.key), i) for i in shown],
                total_count=len(memory) + fetched_total, has_next_page=len(items) > first,
                end_cursor=encode_cursor(shown[-1].key) if shown else None,
                counts=counts or {})


def views_page(cur: Cursor, where: str, params: Sequence[Any], *, first: int,
               after: str | None, memory: Sequence[Any] = (),
               counts: Callable[[int], dict[str, int]] | None = None) -> Page[Any]:
    """A page of access-log rows matching ``where``, merged with ``memory`` (e.g. changes)."""

    def fetch(cursor: Key | None, limit: int) -> list[View]:
        keyset, more = after_sql("recorded_at", "entry_id", 0, cursor)
        rows = cur.execute(f"SELECT * FROM {{s}}access_log WHERE {where}{keyset}"
                           " ORDER BY recorded_at DESC, entry_id DESC LIMIT %s",
                           [*params, *more, limit]).fetchall()
        reasons = reasons_of(cur, rows)
        return [view_of(r, reasons) for r in rows]

    total = int(cur.execute(f"SELECT COUNT(*) AS n FROM {{s}}access_log WHERE {where}",
                            list(params)).fetchone()["n"])
    return merged_page(memory, fetch, total, first=first, after=after,
                       counts=counts(total) if counts else None)
