"""The audit ledger: one hash chain per municipality over every stored event and access-log row.

Format (``docs/architecture.md``, "Audit ledger", says it for auditors):

- an entry is ``{sequence, kind, source, sourceSha256, chainedAt}``; ``kind``
  is ``event`` (source: the notification id) or ``access`` (source: the
  access log's ``entry_id``);
- ``sourceSha256`` is the SHA-256 of the source's *stored* bytes
  (:func:`event_bytes`, :func:`access_bytes`): ciphertext for personal
  fields, so destroying a household's key (crypto-shredding) changes nothing
  that was hashed;
- ``entryHash = SHA-256(prevHash ‖ canonical_json(entry))``, ``prevHash`` as
  32 raw bytes; the first entry's ``prevHash`` is :func:`genesis_hash`.

The platform's registry events (``platform_events``: contracts, issuers,
grants decide who may read a family's records) are chained the same way in
the platform's space, with the tenant name ``platform`` in the genesis hash,
kind ``event`` only, and one more field in each entry, ``scope``: the tenants
the registry entry concerns (:func:`registry_scope`), so a municipality's
verification can check exactly the registry entries it depends on.

The chainer appends new sources in order (events by notification id, access
rows by ``entry_id``, each kind strictly increasing) under a lock, so two
chainers never fork the chain; the table's primary key on ``sequence``
refuses a fork even if the lock were bypassed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from opentelemetry import trace

from yorisoi.infra.access_log_store import entry_bytes as access_bytes
from yorisoi.infra.audit_ledger_store import (
    PLATFORM_LEDGER,
    AuditLedgerStore,
    ledger_transaction,
)
from yorisoi.infra.db import Cursor, Database
from yorisoi.infra.signing import canonical_json

_tracer = trace.get_tracer("yorisoi.audit")

LEDGER_FORMAT = "yorisoi-audit-ledger/1"
_LEDGER_TYPES = ("int8", "text", "int8", "text", "text", "text", "text")  # LEDGER_COLUMNS
KINDS = ("event", "access")

__all__ = ["AuditChainer", "LedgerEntry", "access_bytes", "event_bytes", "genesis_hash",
           "entry_hash", "registry_scope", "scope_filter", "LEDGER_FORMAT", "KINDS",
           "PLATFORM_LEDGER"]


def genesis_hash(tenant: str) -> str:
    """The ``prevHash`` of sequence 1: binds the chain to its municipality."""
    return hashlib.sha256(canonical_json({"ledger": LEDGER_FORMAT, "tenant": tenant})).hexdigest()


def entry_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_json(body)).hexdigest()


def _uuid_text(value: Any) -> str:
    # PostgreSQL returns a UUID, SQLite stores 32 hex digits: one spelling for both.
    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        return str(value)  # not a UUID at all: hash what is there


def event_bytes(row: dict[str, Any]) -> bytes:
    """The bytes of a stored event that the ledger hashes: its row, state as stored (base64)."""
    return canonical_json({
        "notificationId": int(row["id"]),
        "originatorId": _uuid_text(row["originator_id"]),
        "originatorVersion": int(row["originator_version"]),
        "topic": row["topic"],
        "state": base64.b64encode(bytes(row["state"])).decode(),
    })


# ---------------------------------------------------------------------- registry scope

# A registry event names the tenants it concerns in these fields of its state:
# a municipality by its code, a contractor as "contractor:<id>", the platform's
# own issuer as "platform".
_MUNICIPALITY_FIELDS = ("municipality_code", "neighbour_code")


def _tenant_ref(kind: Any, tenant: Any) -> str | None:
    if not isinstance(tenant, str) or not tenant:
        return None
    return {"municipality": tenant, "contractor": f"contractor:{tenant}",
            "platform": "platform"}.get(str(kind))


def registry_scope(topic: str, state: bytes) -> set[str]:
    """The tenants one stored registry event names (its stored state as chained).

    Later events of an aggregate (a contract ended, a grant revoked) name no
    one: the chainer adds the scope of the aggregate's first event.
    """
    try:
        data = json.loads(state)
    except ValueError:
        return set()
    if not isinstance(data, dict):
        return set()
    refs = {data[f] for f in _MUNICIPALITY_FIELDS if isinstance(data.get(f), str)}
    if topic.endswith(":Municipality.Registered") and isinstance(data.get("code"), str):
        refs.add(data["code"])
    if isinstance(data.get("contractor_id"), str):
        refs.add(f"contractor:{data['contractor_id']}")
    for kind, tenant in ((data.get("tenant_kind"), data.get("tenant_id")),
                         (data.get("subject_kind"), data.get("subject_tenant"))):
        if (ref := _tenant_ref(kind, tenant)) is not None:
            refs.add(ref)
    return refs


def scope_filter(tenant: str, scopes: Sequence[Sequence[str]]) -> set[str]:
    """The scope references a municipality depends on, from the chained scopes.

    Its own code, the platform's own entries, and every contractor it has an
    entry with (a contract, a grant to the contractor's staff): that
    contractor's registration and issuer decide who reads its families' records.
    """
    refs = {tenant, PLATFORM_LEDGER}
    for scope in scopes:
        if tenant in scope:
            refs.update(ref for ref in scope if ref.startswith("contractor:"))
    return refs


def concerns(scope: Sequence[str] | None, tenant: str, refs: set[str]) -> bool:
    """Whether an entry of that scope is one the municipality depends on.

    Its own entries, and entries naming only what it depends on (a contractor's
    registration, the platform's issuer) — not another municipality's grant to
    the same contractor's staff.
    """
    if scope is None:
        return True
    return tenant in scope or (bool(scope) and set(scope) <= refs)


@dataclass(frozen=True)
class LedgerEntry:
    sequence: int
    kind: str
    source_id: int
    source_sha256: str
    chained_at: str
    prev_hash: str
    entry_hash: str
    scope: tuple[str, ...] | None = None  # registry entries only (sorted)

    def body(self) -> dict[str, Any]:
        """The canonical entry that ``entry_hash`` covers (after ``prev_hash``)."""
        body: dict[str, Any] = {"sequence": self.sequence, "kind": self.kind,
                                "source": self.source_id, "sourceSha256": self.source_sha256,
                                "chainedAt": self.chained_at}
        if self.scope is not None:
            body["scope"] = list(self.scope)
        return body

    def computed_hash(self) -> str:
        return entry_hash(self.prev_hash, self.body())

    def row(self) -> tuple[Any, ...]:
        base = (self.sequence, self.kind, self.source_id, self.source_sha256, self.chained_at,
                self.prev_hash, self.entry_hash)
        return base if self.scope is None else (*base, _scope_text(self.scope))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> LedgerEntry:
        scope = row.get("scope")
        return cls(int(row["sequence"]), str(row["kind"]), int(row["source_id"]),
                   str(row["source_sha256"]), str(row["chained_at"]), str(row["prev_hash"]),
                   str(row["entry_hash"]), None if scope is None else parse_scope(scope))


def _scope_text(scope: Sequence[str]) -> str:
    return json.dumps(list(scope), ensure_ascii=False, separators=(",", ":"))


def parse_scope(text: Any) -> tuple[str, ...]:
    """A stored scope (JSON list of strings); anything else as one opaque reference.

    A scope altered into something else still fails its entry's hash.
    """
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return (str(text),)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return (str(text),)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class AuditChainer:
    """Keeps one municipality's ledger up to date with its events and access log."""

    # An access-log id missing below a visible one belongs to a transaction that
    # rolled back or has not committed yet (PostgreSQL hands out ids before
    # commit; events have no such gaps: the library serialises their inserts).
    # The chainer waits this long for it before passing over it for good.
    GAP_SETTLE_SECONDS = 60.0

    def __init__(self, database: Database, tenant: str, *, batch_size: int = 1000,
                 gap_settle_seconds: float | None = None) -> None:
        self.db = database
        self.tenant = tenant
        self.store = AuditLedgerStore(database)
        self.platform = self.store.platform  # the registry: events only, entries scoped
        self.batch_size = batch_size
        # SQLite has one writer at a time and the chainer holds the write lock:
        # an id missing there was rolled back, never pending.
        self.gap_settle_seconds = (gap_settle_seconds if gap_settle_seconds is not None
                                   else self.GAP_SETTLE_SECONDS
                                   if database.dialect == "postgres" else 0.0)
        self._gaps: dict[int, float] = {}  # first missing access id -> when first seen

    def chain(self) -> int:
        """Append every source recorded so far; returns how many entries were added."""
        total = 0
        with _tracer.start_as_current_span("audit.chain",
                                           attributes={"yorisoi.tenant": self.db.tenant}) as span:
            while True:
                with ledger_transaction(self.db) as cur:
                    added, more = self._chain_batch(cur)
                total += added
                if not more:
                    break
            span.set_attribute("yorisoi.audit.entries", total)
        return total

    def _chain_batch(self, cur: Cursor) -> tuple[int, bool]:
        self.store.lock(cur)
        state = self.store.state(cur)
        sequence, prev = state["sequence"], state["entry_hash"] or genesis_hash(self.tenant)
        events = (self.store.events_after(cur, state["event"], self.batch_size)
                  if state["event_head"] > state["event"] else [])
        access = (self._settled(self.store.access_after(cur, state["access"], self.batch_size),
                                state["access"])
                  if state["access_head"] > state["access"] else [])
        now = _now()
        rows = []
        for kind, source_id, data, row in (
                *(("event", int(r["id"]), event_bytes(r), r) for r in events),
                *(("access", int(r["entry_id"]), access_bytes(r), r) for r in access)):
            sequence += 1
            scope = self._scope(cur, row) if self.platform else None
            entry = LedgerEntry(sequence, kind, source_id, hashlib.sha256(data).hexdigest(),
                                now, prev, "", scope)
            entry = replace(entry, entry_hash=entry.computed_hash())
            rows.append(entry.row())
            prev = entry.entry_hash
        # One statement for the batch (an array per column on PostgreSQL), not one per entry.
        types = (*_LEDGER_TYPES, "text") if self.platform else _LEDGER_TYPES  # + scope
        cur.insert_many("audit_ledger", self.store.columns, types, rows)
        more = len(events) == self.batch_size or len(access) == self.batch_size
        return len(rows), more

    def _scope(self, cur: Cursor, row: dict[str, Any]) -> tuple[str, ...]:
        """Whom a registry event concerns: what it names and what its aggregate's first names."""
        refs = registry_scope(str(row["topic"]), bytes(row["state"]))
        if int(row["originator_version"]) > 1:
            first = self.store.first_event(cur, row["originator_id"])
            if first is not None:
                refs |= registry_scope(str(first["topic"]), bytes(first["state"]))
        # Naming no one (an event type added later): every municipality checks it.
        return tuple(sorted(refs)) or (PLATFORM_LEDGER,)

    def _settled(self, rows: Sequence[dict[str, Any]], position: int) -> list[dict[str, Any]]:
        """The access rows that may be chained now: in order, stopping at an unsettled gap."""
        expected, settled = position + 1, []
        for row in rows:
            entry_id = int(row["entry_id"])
            if entry_id != expected:
                seen = self._gaps.setdefault(expected, time.monotonic())
                if time.monotonic() - seen < self.gap_settle_seconds:
                    break  # a transaction may still commit the missing id
            self._gaps.pop(expected, None)
            settled.append(row)
            expected = entry_id + 1
        return settled
