"""A bundle's ledgers read back through the one verifier (``services/audit_verify.verify``).

The bundle holds, per ledger, every entry up to the cut and the exact bytes
each entry hashed (events and access rows of the municipality; the registry
events it depends on).  Walking both in order needs one line of each part at
a time.  A source line that no entry chains is refused too: everything in a
bundle is covered by its chain.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

from yorisoi.infra.audit_ledger_store import PLATFORM_LEDGER
from yorisoi.services.audit_ledger import LedgerEntry, concerns, parse_scope, scope_filter
from yorisoi.services.audit_verify import (
    CheckpointCopy,
    LedgerSource,
    RecordedCheckpoint,
    VerificationReport,
    verify,
)
from yorisoi.services.bundles.container import BundleReader
from yorisoi.services.bundles.errors import BundleChainError


def _entry(record: dict[str, Any]) -> LedgerEntry:
    scope = record.get("scope")
    return LedgerEntry(int(record["sequence"]), str(record["kind"]), int(record["source"]),
                       str(record["sourceSha256"]), str(record["chainedAt"]),
                       str(record["prevHash"]), str(record["entryHash"]),
                       None if scope is None else parse_scope(scope))


_ID = {"event": re.compile(rb'"notificationId":(\d+)[,}]'),
       "access": re.compile(rb'"entry_id":(\d+)[,}]')}


def _source_id(kind: str, line: bytes) -> int:
    # The id's key is unique in the line (canonical JSON; values are strings, numbers or
    # base64) and the whole line is hashed against the chain anyway: no full parse needed.
    found = _ID[kind].search(line)
    if found is None:
        return int(json.loads(line)["notificationId" if kind == "event" else "entry_id"])
    return int(found.group(1))


class _Sources:
    """The next source line of each kind, matched to ledger entries in order."""

    def __init__(self, reader: BundleReader, parts: dict[str, str]) -> None:
        self._iters = {kind: reader.lines(part) for kind, part in parts.items()}
        self._next: dict[str, tuple[int, bytes] | None] = {}
        self.unmatched: list[tuple[str, int]] = []

    def _peek(self, kind: str) -> tuple[int, bytes] | None:
        if kind not in self._next:
            line = next(self._iters[kind], None)
            self._next[kind] = None if line is None else (_source_id(kind, line), line)
        return self._next[kind]

    def take(self, kind: str, source_id: int) -> bytes | None:
        if kind not in self._iters:
            return None
        while (found := self._peek(kind)) is not None and found[0] < source_id:
            self.unmatched.append((kind, found[0]))  # in the bundle, chained by no entry
            del self._next[kind]
        if found is not None and found[0] == source_id:
            del self._next[kind]
            return found[1]
        return None

    def rest(self) -> list[tuple[str, int]]:
        for kind in list(self._iters):
            while (found := self._peek(kind)) is not None:
                self.unmatched.append((kind, found[0]))
                del self._next[kind]
        return self.unmatched


def _checkpoints(reader: BundleReader, part: str) -> tuple[list[CheckpointCopy],
                                                          list[RecordedCheckpoint]]:
    copies, recorded = [], []
    for record in reader.records(part):
        if record.get("recorded"):
            recorded.append(RecordedCheckpoint(int(record["sequence"]), str(record["key"])))
        else:
            data = record.get("data")
            copies.append(CheckpointCopy(str(record["key"]),
                                         None if data is None else base64.b64decode(data),
                                         int(record.get("versions", 1)),
                                         int(record.get("deleteMarkers", 0))))
    return copies, recorded


def bundle_sources(reader: BundleReader) -> tuple[LedgerSource, _Sources]:
    """The municipality's ledger and its registry entries as ``audit verify`` reads them."""
    manifest = reader.manifest
    tenant = str(manifest["tenant"])
    position = manifest["position"]
    sources = _Sources(reader, {"event": "events", "access": "access_log"})

    def entries() -> Iterator[tuple[LedgerEntry, bytes | None]]:
        for record in reader.records("ledger"):
            entry = _entry(record)
            yield entry, sources.take(entry.kind, entry.source_id)

    copies, recorded = _checkpoints(reader, "checkpoints")
    source = LedgerSource(tenant, int(position["ledgerSequence"]), entries(), list,
                          dict, copies, recorded)

    scopes = [_entry(r).scope or () for r in reader.records("registry.ledger")]
    refs = frozenset(scope_filter(tenant, scopes))
    registry_events = _Sources(reader, {"event": "registry.events"})

    def registry_entries() -> Iterator[tuple[LedgerEntry, bytes | None]]:
        for record in reader.records("registry.ledger"):
            entry = _entry(record)
            wanted = concerns(entry.scope, tenant, set(refs))
            yield entry, registry_events.take("event", entry.source_id) if wanted else None

    registry_copies, registry_recorded = _checkpoints(reader, "registry.checkpoints")
    source.registry = LedgerSource(PLATFORM_LEDGER, int(position["registrySequence"]),
                                   registry_entries(), list, dict, registry_copies,
                                   registry_recorded, concerning=tenant, refs=refs)
    return source, sources


def verify_bundle(reader: BundleReader) -> VerificationReport:
    """Verify the bundle's chains; refuse (BundleChainError) unless everything verifies."""
    source, sources = bundle_sources(reader)
    report = verify(source, reader.signer_pem)
    extra = sources.rest()
    if not report.ok or extra:
        first = next(iter(report.problems), None) or next(
            iter(report.registry.problems if report.registry else []), None)
        where = (f"{first.code} at {first.place()}" if first is not None
                 else f"{len(extra)} sources no entry chains (first: {extra[0][0]} {extra[0][1]})")
        raise BundleChainError(message=f"The bundle's audit ledger does not verify: {where}.",
                               message_ja=f"バンドルの監査台帳を検証できません（{where}）。")
    return report
