"""Signed audit checkpoints in write-once storage.

A checkpoint says "entry N of municipality M's ledger has hash H", signed with
the platform key (``signed_checkpoint`` below; ``services/audit_verify.py``
verifies it).  Anyone who later rewrites the ledger in the database — even
recomputing every hash — cannot make it agree with a checkpoint they cannot
replace.

- **S3** (production): a bucket of its own (``s3_audit_bucket``, by default
  ``<s3_bucket>-audit``), created with Object Lock (hence versioning) and a
  default retention in COMPLIANCE
  mode, which nobody, the root account included, can shorten or lift; each
  object is also written with its own COMPLIANCE retention and ``If-None-Match:
  *``.  Object Lock cannot stop a *new version* of a key being written (nor a
  delete marker): verification reads every version, checks the first, and
  reports any later one as tampering.  The audit bucket is separate because a
  default retention applies to every object of a bucket, and attachments must
  stay deletable for disposal.
- **Local** (embedded default): one file per checkpoint under
  ``<data_dir>/audit-checkpoints``, created with ``O_EXCL`` (never
  overwritten by the application) and read-only.  This is weaker: whoever can
  write the folder can delete a file or replace it (a flipped byte is still
  caught by the signature; a deleted file by the database's record of it —
  unless they can change the database too).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from opentelemetry import trace

from yorisoi.infra.audit_ledger_store import AuditLedgerStore, ledger_transaction
from yorisoi.infra.db import Database
from yorisoi.infra.signing import PlatformSigner, canonical_json
from yorisoi.infra.storage import ObjectLockedError, StorageError, validate_key

_log = logging.getLogger("yorisoi.audit")
_tracer = trace.get_tracer("yorisoi.audit")

# Ten years, the longest fixed retention class of case records; a newer
# checkpoint covers the whole chain from its start, so older ones may expire.
RETENTION_DAYS = 3653
# The worker writes a checkpoint after this many new entries, or when the
# last one is older than CHECKPOINT_MAX_AGE and anything new was chained.
CHECKPOINT_EVERY = 1000
CHECKPOINT_MAX_AGE = timedelta(hours=1)
CHECKPOINT_FORMAT = "yorisoi-audit-checkpoint/1"


def checkpoint_key(tenant: str, sequence: int) -> str:
    """Where a checkpoint lives in its store (zero-padded: keys sort by sequence)."""
    return f"{tenant}/{sequence:012d}.json"


def signed_checkpoint(signer: PlatformSigner, tenant: str, sequence: int, head_hash: str,
                      time: str) -> bytes:
    """The bytes of a checkpoint object: the document and the platform's signature of it
    (services/audit_verify.py checks both)."""
    document = {"format": CHECKPOINT_FORMAT, "tenant": tenant, "sequence": sequence,
                "headHash": head_hash, "time": time, "keyId": signer.key_id}
    return canonical_json({"checkpoint": document, "signature": signer.sign(document).as_dict()})


@dataclass(frozen=True)
class CheckpointCopy:
    """What object storage holds under one checkpoint key."""

    key: str
    data: bytes | None  # the first (original) version; None when none is left
    versions: int = 1  # more than one: someone wrote the key again
    delete_markers: int = 0


class CheckpointStore(Protocol):
    backend: str

    def ensure(self) -> None: ...
    def write(self, key: str, data: bytes) -> str | None: ...  # version id
    def copies(self, prefix: str) -> list[CheckpointCopy]: ...


class LocalCheckpointStore:
    """Write-once files (see the module docstring for what this does not guarantee)."""

    backend = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def write(self, key: str, data: bytes) -> str | None:
        path = self.root.joinpath(*validate_key(key).split("/"))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError:
            raise ObjectLockedError(f"checkpoint {key} already exists") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return None

    def copies(self, prefix: str) -> list[CheckpointCopy]:
        folder = self.root.joinpath(*validate_key(prefix.rstrip("/")).split("/"))
        if not folder.is_dir():
            return []
        return [CheckpointCopy(path.relative_to(self.root).as_posix(), path.read_bytes())
                for path in sorted(folder.rglob("*.json")) if path.is_file()]


class S3CheckpointStore:
    """A versioned bucket with Object Lock and a COMPLIANCE default retention."""

    backend = "s3"

    def __init__(self, bucket: str, *, endpoint_url: str | None = None,
                 region: str = "ap-northeast-1", retention_days: int = RETENTION_DAYS) -> None:
        self.bucket = bucket
        self.region = region
        self.retention_days = retention_days
        self._client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            config=Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 5}))

    @contextlib.contextmanager
    def _call(self, api: str, allow: tuple[str, ...] = ()) -> Any:
        with _tracer.start_as_current_span(f"s3.{api}", attributes={
                "yorisoi.storage.backend": "s3", "yorisoi.storage.operation": api}):
            try:
                yield
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code in allow:
                    raise
                if code == "PreconditionFailed":
                    raise ObjectLockedError("the checkpoint already exists") from exc
                raise StorageError(f"S3 {api} failed with {code or 'an unknown error'}") from exc
            except BotoCoreError as exc:
                raise StorageError(f"S3 {api} failed: {type(exc).__name__}") from exc

    def _default_retention(self) -> None:
        with self._call("put_object_lock_configuration"):
            self._client.put_object_lock_configuration(
                Bucket=self.bucket, ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE",
                                                  "Days": self.retention_days}}})

    def ensure(self) -> None:
        """Create the bucket if missing; refuse one without Object Lock."""
        try:
            with self._call("head_bucket", allow=("404", "NoSuchBucket")):
                self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            args: dict[str, Any] = {"Bucket": self.bucket, "ObjectLockEnabledForBucket": True}
            if self.region != "us-east-1":
                args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            with self._call("create_bucket"):
                self._client.create_bucket(**args)
            with self._call("put_public_access_block"):
                self._client.put_public_access_block(
                    Bucket=self.bucket, PublicAccessBlockConfiguration={
                        "BlockPublicAcls": True, "IgnorePublicAcls": True,
                        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
            self._default_retention()
            return
        try:
            with self._call("get_object_lock_configuration",
                            allow=("ObjectLockConfigurationNotFoundError",)):
                conf = self._client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError:
            conf = {}
        lock = conf.get("ObjectLockConfiguration", {})
        if lock.get("ObjectLockEnabled") != "Enabled":
            raise StorageError(f"bucket {self.bucket} exists without Object Lock; "
                               "audit checkpoints cannot be written to it")
        if lock.get("Rule", {}).get("DefaultRetention", {}).get("Mode") != "COMPLIANCE":
            self._default_retention()

    def write(self, key: str, data: bytes) -> str | None:
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        until = datetime.now(UTC) + timedelta(days=self.retention_days)
        with self._call("put_object"):
            response = self._client.put_object(
                Bucket=self.bucket, Key=validate_key(key), Body=data,
                ContentType="application/json", IfNoneMatch="*", ChecksumAlgorithm="SHA256",
                ChecksumSHA256=digest, ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=until)
        return response.get("VersionId")

    def copies(self, prefix: str) -> list[CheckpointCopy]:
        """Every key under ``prefix`` with its first version's bytes and its history."""
        history: dict[str, dict[str, Any]] = {}
        with self._call("list_object_versions"):
            for page in self._client.get_paginator("list_object_versions").paginate(
                    Bucket=self.bucket, Prefix=validate_key(prefix.rstrip("/")) + "/"):
                for item in page.get("Versions", []):
                    versions = history.setdefault(item["Key"], {"versions": [], "markers": 0})
                    versions["versions"].append(item)
                for item in page.get("DeleteMarkers", []):
                    history.setdefault(item["Key"], {"versions": [], "markers": 0})["markers"] += 1
        copies = []
        for key in sorted(history):
            # S3 lists a key's versions newest first; times may tie within a second.
            versions = sorted(reversed(history[key]["versions"]), key=lambda v: v["LastModified"])
            data = None
            if versions:  # the first version written is the checkpoint
                with self._call("get_object"):
                    data = self._client.get_object(Bucket=self.bucket, Key=key,
                                                   VersionId=versions[0]["VersionId"])["Body"].read()
            copies.append(CheckpointCopy(key, data, len(versions), history[key]["markers"]))
        return copies


def audit_bucket(settings: Any) -> str:
    """The checkpoints' bucket: ``s3_audit_bucket``, or ``<s3_bucket>-audit`` when unset."""
    return getattr(settings, "s3_audit_bucket", "") or f"{settings.s3_bucket}-audit"


_stores: weakref.WeakKeyDictionary[Any, CheckpointStore] = weakref.WeakKeyDictionary()


def checkpoint_store(settings: Any, owner: Any = None) -> CheckpointStore:
    """The store ``settings.storage`` names, ready to write (cached per ``owner``, e.g. Services)."""
    if owner is not None and owner in _stores:
        return _stores[owner]
    store: CheckpointStore
    if settings.storage == "s3":
        store = S3CheckpointStore(audit_bucket(settings), endpoint_url=settings.s3_endpoint_url,
                                  region=settings.s3_region)
    else:
        store = LocalCheckpointStore(Path(settings.data_dir) / "audit-checkpoints")
    store.ensure()
    if owner is not None:
        _stores[owner] = store
    return store


def _now() -> datetime:
    return datetime.now(UTC)


class Checkpointer:
    """Writes a municipality's checkpoint of its ledger's current head."""

    def __init__(self, store: CheckpointStore, signer: PlatformSigner) -> None:
        self.store = store
        self.signer = signer

    def checkpoint(self, db: Database, tenant: str) -> dict[str, Any] | None:
        """Sign and store the head; the existing record if the head is already signed.

        None when the ledger is empty.  The object is written before the
        database records it: a record never names an object that was not stored.
        """
        ledger = AuditLedgerStore(db)
        with ledger_transaction(db, write=False) as cur:
            sequence, head = ledger.head(cur)
            last = ledger.last_checkpoint(cur)
        if head is None:
            return None
        if last is not None and int(last["sequence"]) >= sequence:
            return last
        with _tracer.start_as_current_span("audit.checkpoint",
                                           attributes={"yorisoi.tenant": db.tenant}):
            created = _now().isoformat(timespec="seconds").replace("+00:00", "Z")
            data = signed_checkpoint(self.signer, tenant, sequence, head, created)
            key, version = self._write(tenant, sequence, head, data)
            with ledger_transaction(db) as cur:
                ledger.record_checkpoint(cur, sequence, head, key, version, created)
        return {"sequence": sequence, "head_hash": head, "object_key": key,
                "version_id": version, "created_at": created}

    def _write(self, tenant: str, sequence: int, head: str, data: bytes) -> tuple[str, str | None]:
        """Write under the sequence's key; after a restore that key may hold a superseded one.

        A checkpoint is never overwritten (write-once storage): when the key
        holds a checkpoint of another head — one a restore superseded, named by
        its custody record — this one goes under ``<sequence>.r<n>.json``.
        """
        for attempt in range(100):
            key = checkpoint_key(tenant, sequence)
            if attempt:
                key = key[:-len(".json")] + f".r{attempt}.json"
            try:
                return key, self.store.write(key, data)
            except ObjectLockedError:
                existing = next((c for c in self.store.copies(tenant) if c.key == key), None)
                if existing is None or _signed_head(existing.data) == head:
                    return key, None  # another process signed this head first: record it
        raise StorageError(f"no free checkpoint key for entry {sequence}")

    def copies(self, tenant: str) -> list[CheckpointCopy]:
        return self.store.copies(tenant)

    def checkpoint_if_due(self, db: Database, tenant: str) -> dict[str, Any] | None:
        """The worker's rule: every CHECKPOINT_EVERY entries, or hourly when anything is new."""
        ledger = AuditLedgerStore(db)
        with ledger_transaction(db, write=False) as cur:
            sequence, _ = ledger.head(cur)
            last = ledger.last_checkpoint(cur)
        if not is_due(sequence, last["sequence"] if last else None,
                      last["created_at"] if last else None):
            return None
        return self.checkpoint(db, tenant)


def _signed_head(data: bytes | None) -> str | None:
    import json

    try:
        return str(json.loads(data or b"")["checkpoint"]["headHash"])
    except (ValueError, KeyError, TypeError):
        return None


def is_due(head: int, done: Any, created_at: Any) -> bool:
    """The worker's rule for a ledger at ``head`` whose last checkpoint signed ``done``.

    ``done``/``created_at`` are None when nothing was signed yet: then the
    first entry is signed at once.
    """
    done = int(done or 0)
    if head <= done:
        return False
    age = (_now() - datetime.fromisoformat(str(created_at).replace("Z", "+00:00"))
           if created_at else CHECKPOINT_MAX_AGE)
    return head - done >= CHECKPOINT_EVERY or age >= CHECKPOINT_MAX_AGE


def checkpoint_due(services: Any, runtime: Any) -> None:
    """The worker's hook: a checkpoint when due; storage trouble is logged, never fatal."""
    ledger_checkpoint_due(services, runtime.casework.database, runtime.municipality_code)


def ledger_checkpoint_due(services: Any, db: Database, tenant: str) -> None:
    """A checkpoint of ``tenant``'s ledger (or ``platform``'s) when due; never fatal."""
    try:
        Checkpointer(checkpoint_store(services.settings, services), services.signer
                     ).checkpoint_if_due(db, tenant)
    except StorageError as error:
        _log.warning("audit checkpoint of %s not written: %s", tenant, error)
