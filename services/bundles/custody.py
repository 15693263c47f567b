"""Custody records: an import or a restore, signed and chained in the municipality's ledger.

A restore to an earlier point leaves checkpoints in write-once storage that
sign entries the restored ledger no longer has (``checkpoint_beyond_head``),
or that later writes chain differently (``checkpoint_head``).  They are never
deleted.  Instead a *custody record* — a document signed with the platform
key naming the restored position (sequence and head hash) and every
checkpoint it supersedes — is stored as an event of the municipality's own
log, so the ledger chains it like any event: it cannot be removed or changed
without breaking the chain.  ``services/audit_verify`` accepts a superseded
checkpoint only when a valid record in the verified chain names it (key and
head hash) and reports it (``superseded``); any other mismatch stays a
failure.

An import writes a record too: it names the exporting platform's public key,
under which the imported checkpoints stay verifiable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from yorisoi.infra.signing import PlatformSigner, SignatureInvalidError, canonical_json
from yorisoi.infra.signing import verify as verify_signature

RECORD_FORMAT = "yorisoi-custody-record/1"
ACTIONS = ("import", "restore")


class CustodyRecord(Aggregate):
    """One signed custody record (no personal field: positions, hashes, object keys)."""

    @event("Recorded")
    def __init__(self, signed: dict[str, Any]) -> None:
        self.signed = signed


TOPIC = f"{CustodyRecord.__module__}:CustodyRecord.Recorded"
_TOPIC_BYTES = json.dumps(TOPIC).encode()


def sign_record(signer: PlatformSigner, *, action: str, tenant: str, restored_sequence: int,
                restored_head: str | None, supersedes: list[dict[str, Any]],
                **extra: Any) -> dict[str, Any]:
    """The signed document: ``{"record": D, "signature": S}``."""
    if action not in ACTIONS:
        raise ValueError("unknown custody action")
    document = {"format": RECORD_FORMAT, "action": action, "tenant": tenant,
                "restoredSequence": restored_sequence, "restoredHeadHash": restored_head,
                "supersedes": supersedes, "keyId": signer.key_id,
                "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                **extra}
    return {"record": document, "signature": signer.sign(document).as_dict()}


def record_in(data: bytes | None) -> dict[str, Any] | None:
    """The signed custody document inside a chained event's source bytes, if it is one.

    Cheap for every other event: a byte search for the topic first.
    """
    if data is None or _TOPIC_BYTES not in data:
        return None
    try:
        source = json.loads(data)
        if source.get("topic") != TOPIC:
            return None
        import base64

        state = json.loads(base64.b64decode(source["state"]))
        signed = state["signed"]
        return signed if isinstance(signed, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


def check_record(signed: dict[str, Any], public_pem: str, tenant: str) -> dict[str, Any] | None:
    """The record's document when the platform key signed it for this municipality."""
    try:
        document, signature = signed["record"], signed["signature"]
        verify_signature(public_pem, document, signature)
    except (KeyError, TypeError, SignatureInvalidError, ValueError):
        return None
    if document.get("format") != RECORD_FORMAT or document.get("tenant") != tenant:
        return None
    return document


def record_bytes(signed: dict[str, Any]) -> bytes:
    return canonical_json(signed)
