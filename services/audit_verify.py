"""Verifying a municipality's audit ledger, online (its database) or offline (an export).

One function, :func:`verify`, reads a :class:`LedgerSource` — the ledger's
entries in sequence order, each with its source's stored bytes, plus the
checkpoint objects found in storage — so the database and an export file give
the same answer by construction.  It recomputes the chain and stops at the
first broken link; then checks completeness (no source below the chained
maximum left out) and every checkpoint (signature, tenant, and the signed head
hash against the recomputed chain).  Problems name places (sequence, kind,
source id, object key) and hashes, never a stored value.

Coverage: sources written longer than a grace period ago but still beyond the
chain (nothing chained them: the background chainer is not running) are a
finding, ``unchained_tail`` — a change to them would go unnoticed.  The
platform's registry ledger is verified by the same function (tenant
``platform``); a municipality's verification carries a second report for the
registry entries it depends on (``registry``: every link of the registry
chain, and the stored bytes of the entries whose chained scope concerns it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from yorisoi.infra.audit_ledger_store import PLATFORM_LEDGER, AuditLedgerStore, ledger_transaction
# The checkpoint object (format, key, signed body) is the checkpoint store's; verified here.
from yorisoi.infra.checkpoints import (
    CHECKPOINT_FORMAT,
    Checkpointer,
    CheckpointCopy,
    checkpoint_store,
)
from yorisoi.infra.db import Database
from yorisoi.infra.signing import SignatureInvalidError, key_id
from yorisoi.infra.signing import verify as verify_signature
from yorisoi.services.audit_ledger import (
    KINDS,
    LedgerEntry,
    access_bytes,
    concerns,
    event_bytes,
    genesis_hash,
    parse_scope,
    scope_filter,
)
from yorisoi.services.bundles.custody import check_record, record_in

# A source not chained this long after it was written is a finding: the
# background chainer runs every few seconds, and waits at most a minute for a
# PostgreSQL access-log id whose transaction is still open.
UNCHAINED_GRACE = timedelta(seconds=120)
_TAIL_SCAN = 10_000  # tail rows read per kind to tell stale from fresh


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class RecordedCheckpoint:
    """A checkpoint the database says was written (its object must exist)."""

    sequence: int
    key: str


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Problem:
    code: str
    detail: str
    sequence: int | None = None
    kind: str | None = None
    source_id: int | None = None
    key: str | None = None

    def place(self) -> str:
        if self.key is not None:
            return f"checkpoint {self.key}"
        parts = [f"sequence {self.sequence}"] if self.sequence is not None else []
        if self.kind is not None:
            parts.append(f"{self.kind} {self.source_id}")
        return ", ".join(parts) or "ledger"


@dataclass
class VerificationReport:
    tenant: str
    key_id: str
    entries_verified: int = 0
    head_sequence: int = 0
    head_hash: str | None = None
    checkpoints_verified: int = 0
    covered_to: int = 0  # the highest sequence a valid checkpoint signs
    pending: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    concerning: str | None = None  # registry report: the municipality whose entries were read
    sources_checked: int = 0  # entries whose stored bytes were hashed again
    registry: VerificationReport | None = None  # a municipality's registry entries
    # Custody records (import, restore) found in the verified chain, and the checkpoints a
    # restore superseded: reported, never deleted (services/bundles/custody.py).
    custody: list[dict[str, Any]] = field(default_factory=list)
    superseded: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and (self.registry is None or self.registry.ok)

    def as_dict(self) -> dict[str, Any]:
        data = {**asdict(self), "ok": self.ok}
        if self.registry is not None:
            data["registry"] = self.registry.as_dict()
        return data


# --------------------------------------------------------------------------- sources


@dataclass
class LedgerSource:
    """Everything verification reads; built from a database or from an export."""

    tenant: str
    head: int  # verify sequences 1..head
    entries: Iterable[tuple[LedgerEntry, bytes | None]]
    unchained: Callable[[], list[tuple[str, int]]]  # first source left out, per kind
    pending: Callable[[], dict[str, int]]  # sources beyond the chained maximum, per kind
    checkpoints: list[CheckpointCopy]
    recorded: list[RecordedCheckpoint]
    # Sources beyond the chain written before the grace period: (kind, first id, count).
    stale: Callable[[], list[tuple[str, int, int]]] = lambda: []
    # Registry only: check the stored bytes of the entries this municipality depends on
    # (``refs``: the scope references it depends on, from the chained scopes).
    concerning: str | None = None
    refs: frozenset[str] = frozenset()
    registry: LedgerSource | None = None  # a municipality's: its registry entries


def _written_at(value: Any) -> datetime | None:
    """When a source was written: an access row's ``recorded_at``, an event state's timestamp."""
    try:
        if isinstance(value, bytes):
            value = json.loads(value)["timestamp"]["_data_"]
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: treated as old (a finding, not silence)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def online_source(db: Database, tenant: str, list_copies: Callable[[], list[CheckpointCopy]],
                  *, batch_size: int = 1000, concerning: str | None = None,
                  grace: timedelta = UNCHAINED_GRACE) -> LedgerSource:
    """The ledger as the database holds it now.

    Order matters under concurrent writers: recorded checkpoints first, then
    the objects, then the head — so every checkpoint found is at or below the
    head verified, and every recorded one had time to reach storage.

    ``concerning`` (the registry's ledger only): read the stored bytes of the
    entries that municipality depends on, and no other's.
    """
    store = AuditLedgerStore(db)
    with ledger_transaction(db, write=False) as cur:
        recorded = [RecordedCheckpoint(int(r["sequence"]), r["object_key"])
                    for r in store.checkpoints(cur)]
    copies = list_copies()
    refs: frozenset[str] = frozenset()
    with ledger_transaction(db, write=False) as cur:
        head, _ = store.head(cur)
        if concerning is not None:
            refs = frozenset(scope_filter(concerning, [
                parse_scope(text) for text in store.scopes(cur, up_to=head)]))

    def wanted(entry: LedgerEntry) -> bool:
        return concerning is None or concerns(entry.scope, concerning, set(refs))

    def entries() -> Iterator[tuple[LedgerEntry, bytes | None]]:
        after = 0
        while after < head:
            with ledger_transaction(db, write=False) as cur:
                rows = [LedgerEntry.from_row(r)
                        for r in store.entries(cur, after=after, up_to=head, limit=batch_size)]
                events = store.events_by_id(
                    cur, [e.source_id for e in rows if e.kind == "event" and wanted(e)],
                    batch_size)
                access = store.access_by_id(
                    cur, [e.source_id for e in rows if e.kind == "access"], batch_size)
            if not rows:
                return
            for entry in rows:
                event, row = events.get(entry.source_id), access.get(entry.source_id)
                data = (event_bytes(event) if entry.kind == "event" and event is not None
                        else access_bytes(row) if entry.kind == "access" and row is not None
                        else None)
                yield entry, data
            after = rows[-1].sequence

    def maxima(cur: Any) -> dict[str, int]:
        return {kind: store.chained_up_to(cur, kind, at_most=head) for kind in KINDS}

    def unchained() -> list[tuple[str, int]]:
        with ledger_transaction(db, write=False) as cur:
            return [(kind, ids[0]) for kind, up_to in maxima(cur).items()
                    if (ids := store.unchained(cur, kind, up_to, limit=1))]

    def pending() -> dict[str, int]:
        with ledger_transaction(db, write=False) as cur:
            return {kind: store.pending(cur, kind, after) for kind, after in maxima(cur).items()}

    def stale() -> list[tuple[str, int, int]]:
        cutoff = datetime.now(UTC) - grace
        found = []
        with ledger_transaction(db, write=False) as cur:
            for kind, after in maxima(cur).items():
                old = [source_id for source_id, written in
                       store.written_at(cur, kind, after, _TAIL_SCAN)
                       if (moment := _written_at(written)) is None or moment < cutoff]
                if old:
                    found.append((kind, old[0], len(old)))
        return found

    return LedgerSource(tenant, head, entries(), unchained, pending, copies, recorded,
                        stale, concerning, refs)


# --------------------------------------------------------------------------- verification


def _short(digest: str | None) -> str:
    return (digest or "none")[:16]


_RECENT = 4096  # hashes kept behind the walk: a custody record names a position just before it


@dataclass
class _Custody:
    """Valid custody records met on the walk (services/bundles/custody.py)."""

    superseding: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (hash, at)
    foreign: list[tuple[str, int]] = field(default_factory=list)  # (public PEM, up to sequence)


def _custody(entry: LedgerEntry, data: bytes | None, source: LedgerSource, public_pem: str,
             recent: dict[int, str], report: VerificationReport,
             custody: _Custody) -> Problem | None:
    signed = record_in(data) if entry.kind == "event" else None
    if signed is None:
        return None
    where = {"sequence": entry.sequence, "kind": entry.kind, "source_id": entry.source_id}
    document = check_record(signed, public_pem, source.tenant)
    if document is None:
        return Problem("custody_record", "a custody record in the chain is not signed by the"
                       " platform key for this municipality", **where)
    restored = int(document.get("restoredSequence") or 0)
    expected = recent.get(restored) if restored else None
    if restored >= entry.sequence or (restored and expected is None) or (
            restored and expected != document.get("restoredHeadHash")):
        return Problem("custody_record", f"the custody record names entry {restored} with a"
                       f" head hash the chain does not have ({_short(expected)}…)", **where)
    for item in document.get("supersedes") or []:
        custody.superseding[str(item.get("key"))] = (str(item.get("headHash")), entry.sequence)
    if document.get("sourcePublicKey"):
        custody.foreign.append((str(document["sourcePublicKey"]), restored))
    report.custody.append({"sequence": entry.sequence, "action": document.get("action"),
                           "restoredSequence": restored, "time": document.get("time"),
                           "supersedes": len(document.get("supersedes") or []),
                           **({"sourceKeyId": document["sourceKeyId"]}
                              if document.get("sourceKeyId") else {})})
    return None


def _walk(source: LedgerSource, wanted: set[int], report: VerificationReport,
          progress: Callable[[int], None] | None, public_pem: str = "",
          custody: _Custody | None = None) -> tuple[Problem | None, dict[int, str]]:
    """Recompute the chain; the first broken link (if any) and the hashes at ``wanted``."""
    prev, expected, last = genesis_hash(source.tenant), 1, dict.fromkeys(KINDS, 0)
    hashes: dict[int, str] = {}
    recent: dict[int, str] = {}
    refs = set(source.refs)
    for entry, data in source.entries:
        where = {"sequence": expected}
        if entry.sequence != expected:
            return Problem("entry_missing" if entry.sequence > expected else "entry_order",
                           f"ledger entry {expected} is missing: the next entry stored is "
                           f"{entry.sequence}", **where), hashes
        where.update(kind=entry.kind, source_id=entry.source_id)
        if entry.prev_hash != prev:
            return Problem("prev_hash", f"the previous hash recorded ({_short(entry.prev_hash)}…)"
                           f" is not entry {expected - 1}'s hash ({_short(prev)}…): entries "
                           "were removed, inserted or reordered", **where), hashes
        if entry.kind not in KINDS or entry.source_id <= last[entry.kind]:
            return Problem("source_order", f"{entry.kind} {entry.source_id} is out of order"
                           " (each kind enters the chain once, in increasing order)",
                           **where), hashes
        if entry.computed_hash() != entry.entry_hash:
            return Problem("entry_hash", "the entry's fields no longer give its hash"
                           f" ({_short(entry.entry_hash)}…): the ledger row was altered",
                           **where), hashes
        checked = source.concerning is None or concerns(entry.scope, source.concerning, refs)
        if not checked:
            pass  # another municipality's registry entry: its links hold, its bytes are not read
        elif data is None:
            return Problem("source_missing", f"{entry.kind} {entry.source_id} chained here is"
                           " missing from the store", **where), hashes
        elif (found := hashlib.sha256(data).hexdigest()) != entry.source_sha256:
            return Problem("source_changed", f"the stored bytes of {entry.kind}"
                           f" {entry.source_id} changed: sha256 {_short(found)}…, chained "
                           f"{_short(entry.source_sha256)}…", **where), hashes
        else:
            report.sources_checked += 1
            if custody is not None and (found_problem := _custody(
                    entry, data, source, public_pem, recent, report, custody)) is not None:
                return found_problem, hashes
        if expected in wanted:
            hashes[expected] = entry.entry_hash
        recent[expected] = entry.entry_hash
        if len(recent) > _RECENT:
            del recent[expected - _RECENT]
        prev, last[entry.kind] = entry.entry_hash, entry.source_id
        report.entries_verified, report.head_sequence, report.head_hash = expected, expected, prev
        expected += 1
        if progress is not None and expected % 1000 == 0:
            progress(1000)
    if progress is not None:
        progress((expected - 1) % 1000)
    if expected - 1 < source.head:
        return Problem("entry_missing", f"the ledger ends at entry {expected - 1}, but"
                       f" {source.head} entries were expected", sequence=expected), hashes
    return None, hashes


def _read_checkpoint(copy: CheckpointCopy, tenant: str, public_pem: str,
                     problems: list[Problem],
                     foreign: list[tuple[str, int]] | None = None) -> dict[str, Any] | None:
    """``foreign``: keys of platforms a custody record (an import) names, with the last
    sequence each may sign — the exporting platform's checkpoints stay verifiable."""
    def problem(code: str, detail: str) -> None:
        problems.append(Problem(code, detail, key=copy.key))

    if copy.versions > 1 or copy.delete_markers:
        problem("checkpoint_rewritten", f"the object has {copy.versions} versions and"
                f" {copy.delete_markers} delete markers: it was written again after the"
                " checkpoint (the first version is checked)")
    if copy.data is None:
        problem("checkpoint_missing", "no version of the object is left")
        return None
    try:
        stored = json.loads(copy.data)
        document, signature = stored["checkpoint"], stored["signature"]
        int(document["sequence"]), str(document["headHash"])
    except (ValueError, KeyError, TypeError):
        problem("checkpoint_unreadable", "the object is not a checkpoint document")
        return None
    try:
        verify_signature(public_pem, document, signature)
    except SignatureInvalidError as error:
        for pem, up_to in foreign or []:
            try:
                verify_signature(pem, document, signature)
            except (SignatureInvalidError, ValueError):
                continue
            if int(document["sequence"]) <= up_to:
                break
        else:
            problem("checkpoint_signature", f"signature check failed: {error}")
            return None
    if document.get("keyId") != signature.get("keyId"):
        problem("checkpoint_signature", "the document names another key than its signature")
        return None
    if document.get("format") != CHECKPOINT_FORMAT or document.get("tenant") != tenant:
        problem("checkpoint_tenant", "a valid checkpoint of another format or municipality")
        return None
    return document


def verify(source: LedgerSource, public_pem: str, *,
           progress: Callable[[int], None] | None = None) -> VerificationReport:
    """Recompute the chain and check the checkpoints; see the module docstring."""
    report = VerificationReport(source.tenant, key_id(public_pem), concerning=source.concerning)
    checkpoint_problems: list[Problem] = []
    present = {copy.key for copy in source.checkpoints if copy.data is not None}
    checkpoint_problems += [
        Problem("checkpoint_missing", f"checkpoint of sequence {r.sequence} was written but"
                " its object is not in storage", key=r.key)
        for r in source.recorded if r.key not in present]
    # Where each checkpoint claims to be (unchecked yet): the walk keeps those hashes.
    claimed = set()
    for copy in source.checkpoints:
        try:
            claimed.add(int(json.loads(copy.data or b"")["checkpoint"]["sequence"]))
        except (ValueError, KeyError, TypeError):
            pass
    custody = _Custody()
    broken, hashes = _walk(source, claimed, report, progress, public_pem, custody)
    documents = [(copy.key, doc) for copy in source.checkpoints
                 if (doc := _read_checkpoint(copy, source.tenant, public_pem,
                                             checkpoint_problems, custody.foreign)) is not None]
    if broken is not None:
        report.problems.append(broken)
    else:
        report.problems += [Problem("unchained", f"{kind} {source_id} is below the chained"
                                    " maximum but not in the chain", kind=kind,
                                    source_id=source_id)
                            for kind, source_id in source.unchained()]
        report.problems += [Problem("unchained_tail", f"{count} {kind} sources written before"
                                    " the grace period are not chained yet (the first is"
                                    f" {kind} {first}): a change to them would go unnoticed"
                                    " — is the background chainer running?", kind=kind,
                                    source_id=first)
                            for kind, first, count in source.stale()]
        report.pending = source.pending()
    for key, document in sorted(documents, key=lambda item: int(item[1]["sequence"])):
        sequence = int(document["sequence"])
        superseding = custody.superseding.get(key)
        if superseding is not None and superseding[0] == document["headHash"]:
            # Named by a signed restore record in the verified chain: reported, not a failure.
            report.superseded.append({"key": key, "sequence": sequence,
                                      "byRecordAt": superseding[1]})
            continue
        if sequence > report.head_sequence:
            if broken is None:
                checkpoint_problems.append(Problem(
                    "checkpoint_beyond_head", f"signs entry {sequence}, but the ledger ends at"
                    f" {report.head_sequence}: entries were removed", key=key))
            continue  # beyond a broken link nothing can be compared
        if hashes.get(sequence) != document["headHash"]:
            checkpoint_problems.append(Problem(
                "checkpoint_head", f"signs hash {_short(document['headHash'])}… for entry"
                f" {sequence}; the ledger gives {_short(hashes.get(sequence))}…: the ledger was"
                " rewritten at or before that entry", sequence=sequence, key=key))
            continue
        report.checkpoints_verified += 1
        report.covered_to = max(report.covered_to, sequence)
    report.problems += sorted(checkpoint_problems, key=lambda p: (p.key or "", p.code))
    if source.registry is not None:
        report.registry = verify(source.registry, public_pem)
    return report


def ledger_sources(services: Any, runtime: Any | None,
                   grace: timedelta = UNCHAINED_GRACE) -> LedgerSource:
    """What ``audit verify`` reads: a municipality's ledger with the registry entries it
    depends on (``runtime``), or the whole registry's ledger (``None``)."""
    checkpointer = Checkpointer(checkpoint_store(services.settings, services), services.signer)
    platform_db = services.directory.platform.database
    if runtime is None:
        return online_source(platform_db, PLATFORM_LEDGER,
                             lambda: checkpointer.copies(PLATFORM_LEDGER), grace=grace)
    source = online_source(runtime.casework.database, runtime.municipality_code,
                           lambda: checkpointer.copies(runtime.municipality_code), grace=grace)
    source.registry = online_source(platform_db, PLATFORM_LEDGER,
                                    lambda: checkpointer.copies(PLATFORM_LEDGER),
                                    concerning=runtime.municipality_code, grace=grace)
    return source
