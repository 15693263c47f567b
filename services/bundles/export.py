"""Writing a municipality's bundle: its log, keys, files, ledger and registry entries, streamed.

What is cut: everything the audit ledger had chained when the export began
(the ledger is brought up to date first), so the bundle's chain is whole and
every source in it is one the chain covers; rows written meanwhile stay for
the next export.  Reads go in batches of ``BATCH`` rows by id, each in a
transaction of its own: memory stays flat in the tenant's size.

An export is itself audited: an ``access_log`` row (channel ``export``,
record kind ``tenant_bundle``, the bundle id) is written and chained before
the cut, so both the source and the bundle record it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yorisoi.infra import bundle_store
from yorisoi.infra.access_log_store import AccessEntry, AccessLogStore
from yorisoi.infra.audit_ledger_store import PLATFORM_LEDGER, AuditLedgerStore, ledger_transaction
from yorisoi.infra.checkpoints import Checkpointer, checkpoint_store
from yorisoi.infra.signing import canonical_json
from yorisoi.services.audit_ledger import (
    AuditChainer,
    LedgerEntry,
    access_bytes,
    concerns,
    event_bytes,
    parse_scope,
    scope_filter,
)
from yorisoi.services.bundles.container import BundleWriter
from yorisoi.services.bundles.recipient import RecipientWrapper
from yorisoi.services.context import ActingContextMissingError, current_context

BATCH = 1000
Progress = Callable[[str, int], None]  # (stage, units done)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    bundle_id: str
    manifest: dict[str, Any]


def _entry_record(row: dict[str, Any]) -> bytes:
    entry = LedgerEntry.from_row(row)
    record: dict[str, Any] = {"sequence": entry.sequence, "kind": entry.kind,
                              "source": entry.source_id, "sourceSha256": entry.source_sha256,
                              "chainedAt": entry.chained_at, "prevHash": entry.prev_hash,
                              "entryHash": entry.entry_hash}
    if entry.scope is not None:
        record["scope"] = list(entry.scope)
    return canonical_json(record)


def _b64(data: bytes | None) -> str | None:
    import base64

    return None if data is None else base64.b64encode(data).decode()


class TenantExporter:
    """One export of one municipality (``services``: infra/bootstrap.Services)."""

    def __init__(self, services: Any, code: str, recipient_pem: str,
                 progress: Progress | None = None) -> None:
        self.services = services
        self.code = code
        self.recipient_pem = recipient_pem
        self.progress = progress or (lambda _stage, _n: None)
        self.bundle_id = str(uuid.uuid4())
        self.counts: dict[str, int] = {}

    # ------------------------------------------------------------------ the cut

    def _record_export(self, runtime: Any) -> None:
        try:
            acting = current_context()
        except ActingContextMissingError:
            acting = None  # the command line: the platform operator
        AccessLogStore(runtime.casework.database).append([AccessEntry(
            recorded_at=datetime.now(UTC).isoformat(),
            actor=acting.user_id if acting else "cli",
            role=acting.role if acting else "platform_operator",
            organisation_kind=acting.organisation_kind if acting else "platform",
            organisation_id=acting.organisation_id if acting else "platform",
            contract_id=None, household_id="*", record_kind="tenant_bundle",
            record_id=self.bundle_id, fields=("*",), basis="system",
            basis_ref=f"bundle:{self.bundle_id}",
            request_id=acting.request_id if acting else None,
            trace_id=acting.trace_id if acting else None, channel="export")])

    def run(self, out: Path) -> ExportResult:
        services, code = self.services, self.code
        platform_db = services.directory.platform.database
        with services.runtimes.lease(code) as runtime:
            db = runtime.casework.database
            self._record_export(runtime)
            runtime.ledger.chain()
            AuditChainer(platform_db, PLATFORM_LEDGER).chain()
            store, registry = AuditLedgerStore(db), AuditLedgerStore(platform_db)
            with ledger_transaction(db, write=False) as cur:
                head, head_hash = store.head(cur)
                cut = {kind: store.chained_up_to(cur, kind, at_most=head)
                       for kind in ("event", "access")}
            with ledger_transaction(platform_db, write=False) as cur:
                registry_head, registry_hash = registry.head(cur)
                refs = scope_filter(code, [parse_scope(t)
                                           for t in registry.scopes(cur, up_to=registry_head)])
            checkpointer = Checkpointer(checkpoint_store(services.settings, services),
                                        services.signer)
            writer = BundleWriter(out)
            try:
                wrapper = RecipientWrapper(self.recipient_pem, self.bundle_id)
                self._write_log(writer, db, store, cut)
                self._write_ledger(writer, "ledger", db, store, head)
                self._write_checkpoints(writer, "checkpoints", db, store, checkpointer, code,
                                        head)
                self._write_keys(writer, runtime, wrapper)
                self._write_rows(writer, "disposal_authorisations",
                                 bundle_store.disposal_authorisations(db))
                self._write_registry(writer, platform_db, registry, registry_head, refs)
                self._write_checkpoints(writer, "registry.checkpoints", platform_db, registry,
                                        checkpointer, PLATFORM_LEDGER, registry_head)
                self._write_objects(writer, f"{runtime.space}/")
                manifest = writer.finish({
                    "bundleId": self.bundle_id, "tenant": code, "space": runtime.space,
                    "created": datetime.now(UTC).isoformat(timespec="seconds"
                                                           ).replace("+00:00", "Z"),
                    "backend": db.dialect,
                    "position": {"ledgerSequence": head, "ledgerHead": head_hash,
                                 "event": cut["event"], "access": cut["access"],
                                 "registrySequence": registry_head,
                                 "registryHead": registry_hash},
                    "recipient": wrapper.header, "counts": self.counts,
                }, services.signer)
            except BaseException:
                writer.abort()
                raise
        return ExportResult(Path(out), self.bundle_id, manifest)

    # ------------------------------------------------------------------ parts

    def _batches(self, db: Any, select: Callable[[Any, int], list[dict[str, Any]]],
                 key: Callable[[dict[str, Any]], int]) -> Iterator[dict[str, Any]]:
        after = 0
        while True:
            with ledger_transaction(db, write=False) as cur:
                rows = select(cur, after)
            yield from rows
            if len(rows) < BATCH:
                return
            after = key(rows[-1])

    def _write_log(self, writer: BundleWriter, db: Any, store: AuditLedgerStore,
                   cut: dict[str, int]) -> None:
        def events() -> Iterator[bytes]:
            done = 0
            for row in self._batches(db, lambda cur, after: store.events_after(cur, after, BATCH),
                                     lambda r: int(r["id"])):
                if int(row["id"]) > cut["event"]:
                    break
                done += 1
                if done % BATCH == 0:  # the bar moves per batch: a call per row costs more
                    self.progress("events", BATCH)
                yield event_bytes(row)
            self.progress("events", done % BATCH)

        def access() -> Iterator[bytes]:
            for row in self._batches(db, lambda cur, after: store.access_after(cur, after, BATCH),
                                     lambda r: int(r["entry_id"])):
                if int(row["entry_id"]) > cut["access"]:
                    return
                yield access_bytes(row)

        self.counts["events"] = writer.ndjson("events", events())
        self.counts["access"] = writer.ndjson("access_log", access())

    def _write_ledger(self, writer: BundleWriter, part: str, db: Any, store: AuditLedgerStore,
                      head: int) -> None:
        def lines() -> Iterator[bytes]:
            for row in self._batches(
                    db, lambda cur, after: store.entries(cur, after=after, up_to=head,
                                                         limit=BATCH),
                    lambda r: int(r["sequence"])):
                yield _entry_record(row)

        self.counts[part] = writer.ndjson(part, lines())

    def _write_checkpoints(self, writer: BundleWriter, part: str, db: Any,
                           store: AuditLedgerStore, checkpointer: Checkpointer, tenant: str,
                           head: int) -> None:
        with ledger_transaction(db, write=False) as cur:
            recorded = [r for r in store.checkpoints(cur) if int(r["sequence"]) <= head]
        lines = [canonical_json({"recorded": True, "sequence": int(r["sequence"]),
                                 "key": r["object_key"], "headHash": r["head_hash"],
                                 "createdAt": r["created_at"]}) for r in recorded]
        for copy in checkpointer.copies(tenant):
            try:  # a checkpoint written after the cut (the worker, meanwhile) stays out
                if int(json.loads(copy.data or b"{}")["checkpoint"]["sequence"]) > head:
                    continue
            except (ValueError, KeyError, TypeError):
                pass  # unreadable: carried as it is, verification names it
            lines.append(canonical_json({"key": copy.key, "data": _b64(copy.data),
                                         "versions": copy.versions,
                                         "deleteMarkers": copy.delete_markers}))
        self.counts[part] = writer.ndjson(part, lines)

    def _write_keys(self, writer: BundleWriter, runtime: Any, wrapper: RecipientWrapper) -> None:
        db, keyring = runtime.casework.database, runtime.casework.keyring
        provider, space = keyring.provider, runtime.space
        destroyed = 0

        def lines() -> Iterator[bytes]:
            nonlocal destroyed
            for row in self._batches(
                    db, lambda cur, after: bundle_store.household_keys_after(cur, after, BATCH),
                    lambda r: r["household_id"]):
                wrapped = None
                if row["wrapped_key"] is not None:
                    data_key = provider.unwrap(space, bytes(row["wrapped_key"]),
                                               {"household": row["household_id"]})
                    wrapped = wrapper.wrap(row["household_id"], data_key)
                else:
                    destroyed += 1  # disposed of: its key is not in the bundle, its ciphertext is
                yield canonical_json({"householdId": row["household_id"],
                                      "createdAt": row["created_at"],
                                      "destroyedAt": row["destroyed_at"],
                                      "wrapped": _b64(wrapped)})

        self.counts["household_keys"] = writer.ndjson("household_keys", lines())
        self.counts["destroyed_keys"] = destroyed

    def _write_rows(self, writer: BundleWriter, part: str, rows: list[dict[str, Any]]) -> None:
        self.counts[part] = writer.ndjson(part, (canonical_json(r) for r in rows))

    def _write_registry(self, writer: BundleWriter, db: Any, store: AuditLedgerStore,
                        head: int, refs: set[str]) -> None:
        self._write_ledger(writer, "registry.ledger", db, store, head)

        def events() -> Iterator[bytes]:
            for entry_row in self._batches(
                    db, lambda cur, after: store.entries(cur, after=after, up_to=head,
                                                         limit=BATCH),
                    lambda r: int(r["sequence"])):
                entry = LedgerEntry.from_row(entry_row)
                if not concerns(entry.scope, self.code, refs):
                    continue
                with ledger_transaction(db, write=False) as cur:
                    found = store.events_by_id(cur, [entry.source_id], 1)
                if entry.source_id in found:
                    yield event_bytes(found[entry.source_id])

        self.counts["registry.events"] = writer.ndjson("registry.events", events())

    def _write_objects(self, writer: BundleWriter, prefix: str) -> None:
        objects = self.services.objects
        index = []
        for key in objects.keys(prefix):
            pieces, stored = objects.open(key)
            digest = writer.add_stream(f"objects/{key}", stored.size, pieces)
            index.append(canonical_json({"key": key, "size": stored.size, "sha256": digest,
                                         "contentType": stored.content_type}))
            self.progress("objects", 1)
        self.counts["objects"] = writer.ndjson("objects", index)


def export_tenant(services: Any, code: str, out: Path, recipient_pem: str,
                  progress: Progress | None = None) -> ExportResult:
    """Write ``code``'s bundle to ``out`` (see the module docstring)."""
    return TenantExporter(services, code, recipient_pem, progress).run(out)
