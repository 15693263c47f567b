"""A municipality's audit ledger as one portable file, verifiable with no database.

JSON Lines, UTF-8, one object per line, in this order::

    {"type": "header", "format": "yorisoi-audit-export/1", "tenant", "exportedAt",
     "entries", "genesisHash", "keyId", "publicKeyPem"}
    {"type": "checkpoint", "key", "versions", "deleteMarkers", "object": base64 | null}
    {"type": "recordedCheckpoint", "sequence", "key"}
    {"type": "entry", "sequence", "kind", "source", "sourceSha256", "chainedAt",
     "prevHash", "entryHash", "sourceBytes": base64 | null}      (in sequence order)
    {"type": "unchained", "kind", "source"}
    {"type": "pending", "kind", "count"}
    {"type": "end", "entries"}

A municipality's export begins with a second section of the same shape: the
registry entries it depends on (header ``tenant: "platform"``, ``concerning:
<code>``; entries carry their ``scope``; ``sourceBytes`` is ``null`` for
another municipality's entry — its links are checked, its bytes not shipped),
so offline verification checks the registry as ``--tenant`` does online.  The
registry's own export (``--platform``) is one section, every entry's bytes.

``sourceBytes`` are exactly the bytes the ledger hashed (ciphertext for
personal fields); ``object`` is the checkpoint object's first version as
storage holds it.  The public key travels with the file for convenience only:
an auditor pins the published key (``--public-key``) or compares ``keyId``.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from yorisoi.infra.signing import key_id
from yorisoi.services.audit_ledger import LedgerEntry, genesis_hash, parse_scope, scope_filter
from yorisoi.services.audit_verify import CheckpointCopy, LedgerSource, RecordedCheckpoint

EXPORT_FORMAT = "yorisoi-audit-export/1"


class ExportFormatError(Exception):
    """The file is not an audit export (or not one this version reads)."""


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text, validate=True)


def write_export(source: LedgerSource, public_pem: str, out: Path, *,
                 progress: Callable[[int], None] | None = None) -> int:
    """Write ``source`` to ``out`` (created 0600: it holds case metadata); returns entries."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        def line(value: dict[str, Any]) -> None:
            handle.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")

        if source.registry is not None:  # small: the registry entries it depends on
            _write_section(line, source.registry, public_pem, None)
        return _write_section(line, source, public_pem, progress)


def _write_section(line: Callable[[dict[str, Any]], None], source: LedgerSource,
                   public_pem: str, progress: Callable[[int], None] | None) -> int:
    header = {"type": "header", "format": EXPORT_FORMAT, "tenant": source.tenant,
              "exportedAt": datetime.now(UTC).isoformat(timespec="seconds"),
              "entries": source.head, "genesisHash": genesis_hash(source.tenant),
              "keyId": key_id(public_pem), "publicKeyPem": public_pem}
    if source.concerning is not None:
        header["concerning"] = source.concerning
    line(header)
    for copy in source.checkpoints:
        line({"type": "checkpoint", "key": copy.key, "versions": copy.versions,
              "deleteMarkers": copy.delete_markers, "object": _b64(copy.data)})
    for recorded in source.recorded:
        line({"type": "recordedCheckpoint", "sequence": recorded.sequence,
              "key": recorded.key})
    written = 0
    for entry, data in source.entries:
        line({"type": "entry", **entry.body(), "prevHash": entry.prev_hash,
              "entryHash": entry.entry_hash, "sourceBytes": _b64(data)})
        written += 1
        if progress is not None and written % 1000 == 0:
            progress(1000)
    if progress is not None:
        progress(written % 1000)
    for kind, source_id in source.unchained():
        line({"type": "unchained", "kind": kind, "source": source_id})
    for kind, count in source.pending().items():
        line({"type": "pending", "kind": kind, "count": count})
    for kind, first, count in source.stale():
        line({"type": "stale", "kind": kind, "source": first, "count": count})
    line({"type": "end", "entries": written})
    return written


@dataclass
class _Trailer:
    unchained: list[tuple[str, int]] = field(default_factory=list)
    pending: dict[str, int] = field(default_factory=dict)
    stale: list[tuple[str, int, int]] = field(default_factory=list)
    ended: bool = False


def read_export(path: Path) -> tuple[LedgerSource, str]:
    """The export as a :class:`LedgerSource` (entries streamed) and the public key it carries.

    Malformed lines raise :class:`ExportFormatError`; a file cut short shows up
    in verification as missing entries (the header says how many to expect).
    """
    handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed when the entries are read
    lines = _records(handle)
    header = _header(next(lines, None), handle)
    registry = None
    if header.get("concerning") is not None:  # a municipality's registry entries come first
        try:
            registry = _registry_section(header, lines)
        except BaseException:
            handle.close()
            raise
        header = _header(next(lines, None), handle)
    copies: list[CheckpointCopy] = []
    recorded: list[RecordedCheckpoint] = []
    first: dict[str, Any] | None = None
    for record in lines:
        if record["type"] == "checkpoint":
            copies.append(CheckpointCopy(record["key"], _unb64(record["object"]),
                                         int(record["versions"]), int(record["deleteMarkers"])))
        elif record["type"] == "recordedCheckpoint":
            recorded.append(RecordedCheckpoint(int(record["sequence"]), record["key"]))
        else:
            first = record
            break
    trailer = _Trailer()

    def entries() -> Iterator[tuple[LedgerEntry, bytes | None]]:
        try:
            record = first
            while record is not None and record["type"] == "entry":
                yield _entry(record)
                record = next(lines, None)
            while record is not None:
                _trail(record, trailer)
                record = next(lines, None)
        finally:
            handle.close()

    def rest() -> _Trailer:
        for _ in entries_iter:  # verification stopped early: finish reading the trailer
            pass
        if not trailer.ended:
            raise ExportFormatError("the export is cut short (it has no end record)")
        return trailer

    entries_iter = entries()
    source = LedgerSource(str(header["tenant"]), int(header["entries"]), entries_iter,
                          lambda: rest().unchained, lambda: rest().pending, copies, recorded,
                          lambda: rest().stale, registry=registry)
    return source, str(header["publicKeyPem"])


def _header(record: dict[str, Any] | None, handle: IO[str]) -> dict[str, Any]:
    if record is None or record.get("type") != "header" or record.get("format") != EXPORT_FORMAT:
        handle.close()
        raise ExportFormatError("not a yorisoi audit export (format yorisoi-audit-export/1)")
    return record


def _registry_section(header: dict[str, Any], lines: Iterator[dict[str, Any]]) -> LedgerSource:
    """The registry entries a municipality depends on, read whole (the registry is small)."""
    copies: list[CheckpointCopy] = []
    recorded: list[RecordedCheckpoint] = []
    entries: list[tuple[LedgerEntry, bytes | None]] = []
    trailer = _Trailer()
    for record in lines:
        kind = record["type"]
        if kind == "checkpoint" and not entries:
            copies.append(CheckpointCopy(record["key"], _unb64(record["object"]),
                                         int(record["versions"]), int(record["deleteMarkers"])))
        elif kind == "recordedCheckpoint" and not entries:
            recorded.append(RecordedCheckpoint(int(record["sequence"]), record["key"]))
        elif kind == "entry":
            entries.append(_entry(record))
        else:
            _trail(record, trailer)
            if trailer.ended:
                break
    if not trailer.ended:
        raise ExportFormatError("the export is cut short (its registry section has no end)")
    concerning = str(header["concerning"])
    refs = frozenset(scope_filter(concerning, [e.scope or () for e, _ in entries]))
    return LedgerSource(str(header["tenant"]), int(header["entries"]), entries,
                        lambda: trailer.unchained, lambda: trailer.pending, copies, recorded,
                        lambda: trailer.stale, concerning, refs)


def _records(handle: IO[str]) -> Iterator[dict[str, Any]]:
    for number, text in enumerate(handle, start=1):
        try:
            record = json.loads(text)
            if not isinstance(record, dict) or not isinstance(record.get("type"), str):
                raise ValueError
        except ValueError:
            raise ExportFormatError(f"line {number} is not an export record") from None
        yield record


def _entry(record: dict[str, Any]) -> tuple[LedgerEntry, bytes | None]:
    try:
        scope = record.get("scope")
        entry = LedgerEntry(int(record["sequence"]), str(record["kind"]), int(record["source"]),
                            str(record["sourceSha256"]), str(record["chainedAt"]),
                            str(record["prevHash"]), str(record["entryHash"]),
                            None if scope is None else parse_scope(scope))
        return entry, _unb64(record["sourceBytes"])
    except (KeyError, TypeError, ValueError):
        raise ExportFormatError(f"entry {record.get('sequence')!r} is malformed") from None


def _trail(record: dict[str, Any], trailer: _Trailer) -> None:
    kind = record["type"]
    if kind == "unchained":
        trailer.unchained.append((str(record["kind"]), int(record["source"])))
    elif kind == "pending":
        trailer.pending[str(record["kind"])] = int(record["count"])
    elif kind == "stale":
        trailer.stale.append((str(record["kind"]), int(record["source"]), int(record["count"])))
    elif kind == "end":
        trailer.ended = True
    else:
        raise ExportFormatError(f"unexpected {kind!r} record after the entries")
