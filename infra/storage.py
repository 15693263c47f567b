"""Object storage for attachments, exports and audit checkpoints.

Two backends share the :class:`ObjectStore` interface: :class:`S3ObjectStore`
(production; versioned bucket with Object Lock) and :class:`LocalObjectStore`
(embedded default; files under a folder).  Keys are opaque ids such as
``<tenant-uuid>/<household-uuid>/<object-uuid>``: never put personal data in
keys, metadata or download filenames.  Error messages never echo rejected input.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from opentelemetry import trace

from yorisoi.infra.local_secrets import load_or_create_secret

MAX_LINK_SECONDS = 7 * 24 * 3600  # S3's limit for SigV4 presigned URLs.
STREAM_PIECE = 64 * 1024  # bytes read or written at a time by the streaming calls
_SPOOL_BYTES = 1024 * 1024  # a streamed upload to S3 spills to disk beyond this
_SEGMENT = re.compile(r"^[A-Za-z0-9_=-][A-Za-z0-9._=-]*$")
_META_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(;[ -~]*)?$")
_TOKEN_CONTEXT = b"yorisoi.download-link.v1:"


class StorageError(Exception):
    """Base class of every object storage error."""


class ObjectNotFoundError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"object {key} does not exist")
        self.key = key


class InvalidObjectKeyError(StorageError, ValueError):
    """A key or prefix breaks the key rules (the offending text is not echoed)."""


class ObjectLockedError(StorageError):
    """A write-once object exists, or objects under retention were kept."""


class ObjectIntegrityError(StorageError):
    """Stored bytes do not match their recorded SHA-256."""


class DownloadLinkError(StorageError):
    """Base class of download token errors."""


class DownloadLinkExpiredError(DownloadLinkError):
    pass


class DownloadLinkInvalidError(DownloadLinkError):
    pass


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str  # lower-case hex
    content_type: str
    version_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)


@runtime_checkable
class ObjectStore(Protocol):
    backend: str

    def ensure_bucket(self) -> None: ...
    def put(self, key: str, data: bytes, *, content_type: str,
            metadata: dict[str, str] | None = None) -> StoredObject: ...
    def put_locked(self, key: str, data: bytes, *, content_type: str,
                   retain_until: datetime) -> StoredObject: ...
    def get(self, key: str) -> tuple[bytes, StoredObject]: ...
    def put_stream(self, key: str, chunks: Iterable[bytes], *,
                   content_type: str) -> StoredObject: ...
    def open(self, key: str) -> tuple[Iterator[bytes], StoredObject]: ...
    def keys(self, prefix: str) -> Iterator[str]: ...
    def purge_noncurrent(self, prefix: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def download_url(self, key: str, *, expires_in: int, filename: str | None = None) -> str: ...


# --------------------------------------------------------------------------- validation


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative path of ``[A-Za-z0-9._=-]`` segments."""
    if not isinstance(key, str) or not key:
        raise InvalidObjectKeyError("object key must be a non-empty string")
    if len(key.encode()) > 512:
        raise InvalidObjectKeyError("object key is longer than 512 bytes")
    if "\\" in key:
        raise InvalidObjectKeyError("object key must not contain backslashes")
    if key.startswith("/"):
        raise InvalidObjectKeyError("object key must be relative, not absolute")
    for segment in key.split("/"):
        if not segment:
            raise InvalidObjectKeyError("object key must not contain empty segments")
        if segment in (".", ".."):
            raise InvalidObjectKeyError("object key must not contain '.' or '..' segments")
        if not _SEGMENT.match(segment):
            raise InvalidObjectKeyError(
                "object key segments may hold only A-Z a-z 0-9 . _ = - and must not start with '.'"
            )
    return key


def _folder_prefix(prefix: str) -> str:
    """``a/b`` or ``a/b/`` -> ``a/b/``: a prefix always names a whole folder."""
    return validate_key(prefix[:-1] if prefix.endswith("/") else prefix) + "/"


def _check_put(data: bytes, content_type: str, metadata: Mapping[str, str] | None) -> dict[str, str]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("object data must be bytes")
    if not isinstance(content_type, str) or not _CONTENT_TYPE.match(content_type):
        raise ValueError("content_type must be a plain MIME type such as application/pdf")
    meta = dict(metadata or {})
    for name, value in meta.items():
        if not isinstance(name, str) or not _META_KEY.match(name):
            raise ValueError("metadata names must be lower-case a-z 0-9 and '-' (max 64)")
        if not isinstance(value, str) or not all(" " <= ch <= "~" for ch in value):
            raise ValueError("metadata values must be printable ASCII")
    if sum(len(k) + len(v) for k, v in meta.items()) > 2048:
        raise ValueError("metadata is larger than 2 KiB")
    return meta


def _check_retention(retain_until: datetime) -> datetime:
    if retain_until.tzinfo is None:
        raise ValueError("retain_until must be timezone-aware")
    if retain_until <= datetime.now(timezone.utc):
        raise ValueError("retain_until must be in the future")
    return retain_until.astimezone(timezone.utc)


def _check_expiry(expires_in: int) -> int:
    if isinstance(expires_in, bool) or not isinstance(expires_in, int):
        raise TypeError("expires_in must be an int number of seconds")
    if not 1 <= expires_in <= MAX_LINK_SECONDS:
        raise ValueError(f"expires_in must be between 1 and {MAX_LINK_SECONDS} seconds")
    return expires_in


def content_disposition(filename: str) -> str:
    """An RFC 6266 ``attachment`` header value with an ASCII fallback name."""
    name = filename.replace("/", "_").replace("\\", "_") or "download"
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"%' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


# --------------------------------------------------------------------------- tracing


@contextlib.contextmanager
def _span(tracer: trace.Tracer, name: str, backend: str, operation: str,
          size: int | None = None) -> Iterator[trace.Span]:
    attributes: dict[str, Any] = {
        "yorisoi.storage.backend": backend,
        "yorisoi.storage.operation": operation,
    }
    if size is not None:
        attributes["yorisoi.object.size"] = size
    with tracer.start_as_current_span(name, attributes=attributes) as span:
        yield span


# --------------------------------------------------------------------------- download tokens


@dataclass(frozen=True)
class DownloadGrant:
    key: str
    expires_at: int  # Unix seconds
    filename: str | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, _TOKEN_CONTEXT + payload.encode("ascii"), hashlib.sha256).digest())


def _now(now: datetime | float | None) -> float:
    if now is None:
        return time.time()
    return now.timestamp() if isinstance(now, datetime) else float(now)


def make_download_token(key: str, secret: bytes, *, expires_in: int,
                        filename: str | None = None, now: datetime | float | None = None) -> str:
    """A URL-safe ``payload.signature`` token; the payload is signed, not encrypted."""
    body: dict[str, Any] = {"k": validate_key(key), "e": int(_now(now)) + _check_expiry(expires_in)}
    if filename:
        body["f"] = filename
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{payload}.{_sign(secret, payload)}"


def read_download_token(token: str, secret: bytes, now: datetime | float | None = None) -> DownloadGrant:
    """Check signature then expiry; return the whole grant (key, expiry, filename)."""
    invalid = DownloadLinkInvalidError("download link is invalid")
    if not isinstance(token, str) or not token.isascii() or token.count(".") != 1 or len(token) > 4096:
        raise invalid
    payload, signature = token.split(".")
    if not hmac.compare_digest(_sign(secret, payload).encode(), signature.encode("ascii", "replace")):
        raise invalid
    try:
        body = json.loads(_unb64(payload))
        grant = DownloadGrant(key=validate_key(body["k"]), expires_at=body["e"], filename=body.get("f"))
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid from exc
    if type(grant.expires_at) is not int or not isinstance(grant.filename, (str, type(None))):
        raise invalid
    if _now(now) >= grant.expires_at:
        raise DownloadLinkExpiredError("download link has expired")
    return grant


def verify_download_token(token: str, secret: bytes, now: datetime | float | None = None) -> str:
    """The object key a valid, unexpired token grants; raises a DownloadLinkError otherwise."""
    return read_download_token(token, secret, now).key


def open_download_link(token: str, secret: bytes, key_pattern: re.Pattern[str],
                       now: datetime | float | None = None) -> re.Match[str]:
    """``key_pattern``'s match on the key a valid, unexpired token grants.

    A signed key of another shape is an invalid link: each link kind (packets,
    disclosures) opens only its own objects, even if a secret were shared.
    """
    match = key_pattern.match(read_download_token(token, secret, now).key)
    if match is None:
        raise DownloadLinkInvalidError("download link is invalid")
    return match


_link_secrets: dict[Path, bytes] = {}


def link_secret(path: Path) -> bytes:
    """A link kind's signing secret (its own file), read or created once per process."""
    if path not in _link_secrets:
        _link_secrets[path] = load_or_create_secret(path)
    return _link_secrets[path]


class ExpiringLinks:
    """Issues link tokens under one secret that share an issue time and so one expiry.

    The expiry is fixed at construction so what is recorded (``expires_at``)
    is exactly what the tokens say.
    """

    def __init__(self, secret: bytes, seconds: int) -> None:
        self.secret = secret
        self.seconds = seconds
        self.issued_at = int(time.time())
        self.expires_at = datetime.fromtimestamp(self.issued_at + seconds, timezone.utc)

    def sign(self, key: str) -> str:
        return make_download_token(key, self.secret, expires_in=self.seconds, now=self.issued_at)


# --------------------------------------------------------------------------- local store


class LocalObjectStore:
    """Files under ``root``: a one-line JSON header, a newline, then the bytes.

    Each write goes to ``root/.tmp`` and is renamed into place (``os.replace``),
    so readers see either the old or the new object.  Locked objects are linked
    into place (``os.link``), which fails atomically when the key exists.  The
    check that a plain ``put`` does not replace a retained object is serialised
    per process only: the local store is for single-process deployments.
    """

    backend = "local"
    _MAGIC = b"YORISOI-OBJECT-1 "

    def __init__(self, root: Path, secret: bytes, *, tracer: trace.Tracer | None = None) -> None:
        if len(secret) < 32:
            raise ValueError("the download link secret must be at least 32 bytes")
        self.root = Path(root)
        self._secret = bytes(secret)
        self._tracer = tracer or trace.get_tracer("yorisoi.storage")
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def ensure_bucket(self) -> None:
        with _span(self._tracer, "storage.ensure_bucket", self.backend, "ensure_bucket"):
            (self.root / ".tmp").mkdir(parents=True, exist_ok=True)

    def _read(self, key: str) -> tuple[bytes, dict[str, Any]]:
        try:
            raw = self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFoundError(key) from None
        header, sep, data = raw.partition(b"\n")
        if not header.startswith(self._MAGIC) or not sep:
            raise ObjectIntegrityError(f"object {key} is not in the store's file format")
        return data, json.loads(header[len(self._MAGIC):])

    def _write(self, key: str, data: bytes, header: dict[str, Any], *, exclusive: bool) -> None:
        path = self._path(key)
        (self.root / ".tmp").mkdir(parents=True, exist_ok=True)
        blob = self._MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n" + bytes(data)
        fd, tmp = tempfile.mkstemp(dir=self.root / ".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            path.parent.mkdir(parents=True, exist_ok=True)
            if exclusive:
                os.chmod(tmp, 0o444)
                os.link(tmp, path)
            else:
                os.replace(tmp, path)
        except FileExistsError:
            raise ObjectLockedError(f"object {key} already exists and is write-once") from None
        except (NotADirectoryError, IsADirectoryError):
            raise InvalidObjectKeyError("object key collides with an existing object or folder") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    @staticmethod
    def _retained(header: Mapping[str, Any]) -> bool:
        until = header.get("retain_until")
        return bool(until) and datetime.fromisoformat(until) > datetime.now(timezone.utc)

    def put(self, key: str, data: bytes, *, content_type: str,
            metadata: dict[str, str] | None = None) -> StoredObject:
        meta = _check_put(data, content_type, metadata)
        with _span(self._tracer, "storage.put", self.backend, "put", len(data)), self._lock:
            with contextlib.suppress(ObjectNotFoundError, ObjectIntegrityError, ValueError):
                if self._retained(self._read_header(key)):
                    raise ObjectLockedError(f"object {key} is under retention")
            digest = hashlib.sha256(data).hexdigest()
            self._write(key, data, {"content_type": content_type, "sha256": digest, "metadata": meta},
                        exclusive=False)
        return StoredObject(key, len(data), digest, content_type, None, meta)

    def put_locked(self, key: str, data: bytes, *, content_type: str,
                   retain_until: datetime) -> StoredObject:
        _check_put(data, content_type, None)
        until = _check_retention(retain_until)
        with _span(self._tracer, "storage.put_locked", self.backend, "put_locked", len(data)), self._lock:
            digest = hashlib.sha256(data).hexdigest()
            header = {"content_type": content_type, "sha256": digest, "metadata": {},
                      "retain_until": until.isoformat()}
            self._write(key, data, header, exclusive=True)
        return StoredObject(key, len(data), digest, content_type)

    def get(self, key: str) -> tuple[bytes, StoredObject]:
        with _span(self._tracer, "storage.get", self.backend, "get") as span:
            data, header = self._read(key)
            span.set_attribute("yorisoi.object.size", len(data))
            digest = hashlib.sha256(data).hexdigest()
            if not hmac.compare_digest(digest, header.get("sha256", "")):
                raise ObjectIntegrityError(f"object {key} does not match its recorded SHA-256")
            return data, StoredObject(key, len(data), digest, header["content_type"], None,
                                      header.get("metadata", {}))

    def put_stream(self, key: str, chunks: Iterable[bytes], *,
                   content_type: str) -> StoredObject:
        """Write an object from an iterable of bytes without holding it in memory.

        The header's digest is written as a placeholder of the same length and
        filled in once the last chunk is through (then the file is renamed in).
        """
        _check_put(b"", content_type, None)
        path = self._path(key)
        with _span(self._tracer, "storage.put_stream", self.backend, "put_stream") as span, \
                self._lock:
            with contextlib.suppress(ObjectNotFoundError, ObjectIntegrityError, ValueError):
                if self._retained(self._read_header(key)):
                    raise ObjectLockedError(f"object {key} is under retention")
            (self.root / ".tmp").mkdir(parents=True, exist_ok=True)

            def header(digest: str) -> bytes:
                return self._MAGIC + json.dumps(
                    {"content_type": content_type, "sha256": digest, "metadata": {}},
                    separators=(",", ":")).encode() + b"\n"

            hasher, size = hashlib.sha256(), 0
            fd, tmp = tempfile.mkstemp(dir=self.root / ".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(header("0" * 64))
                    for chunk in chunks:
                        hasher.update(chunk)
                        size += len(chunk)
                        f.write(chunk)
                    f.seek(0)
                    f.write(header(hasher.hexdigest()))
                    f.flush()
                    os.fsync(f.fileno())
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, path)
            except (NotADirectoryError, IsADirectoryError):
                raise InvalidObjectKeyError(
                    "object key collides with an existing object or folder") from None
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            span.set_attribute("yorisoi.object.size", size)
        return StoredObject(key, size, hasher.hexdigest(), content_type)

    def _read_header(self, key: str) -> dict[str, Any]:
        try:
            with self._path(key).open("rb") as f:
                line = f.readline(4096)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFoundError(key) from None
        if not line.startswith(self._MAGIC) or not line.endswith(b"\n"):
            raise ObjectIntegrityError(f"object {key} is not in the store's file format")
        return json.loads(line[len(self._MAGIC):])

    def open(self, key: str) -> tuple[Iterator[bytes], StoredObject]:
        """The object's bytes streamed in pieces; its digest is checked at the end."""
        with _span(self._tracer, "storage.open", self.backend, "open"):
            path = self._path(key)
            try:
                f = path.open("rb")
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                raise ObjectNotFoundError(key) from None
            line = f.readline(4096)
            if not line.startswith(self._MAGIC) or not line.endswith(b"\n"):
                f.close()
                raise ObjectIntegrityError(f"object {key} is not in the store's file format")
            header = json.loads(line[len(self._MAGIC):])
            size = os.fstat(f.fileno()).st_size - len(line)

        def pieces() -> Iterator[bytes]:
            hasher = hashlib.sha256()
            with f:
                while piece := f.read(STREAM_PIECE):
                    hasher.update(piece)
                    yield piece
            if not hmac.compare_digest(hasher.hexdigest(), header.get("sha256", "")):
                raise ObjectIntegrityError(f"object {key} does not match its recorded SHA-256")

        return pieces(), StoredObject(key, size, header.get("sha256", ""), header["content_type"],
                                      None, header.get("metadata", {}))

    def keys(self, prefix: str) -> Iterator[str]:
        """Every object key under the folder ``prefix``, in order."""
        folder = self.root.joinpath(*_folder_prefix(prefix).rstrip("/").split("/"))
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            yield path.relative_to(self.root).as_posix()

    def purge_noncurrent(self, prefix: str) -> int:
        """Older versions of objects under ``prefix``: a local store keeps none."""
        _folder_prefix(prefix)
        return 0

    def exists(self, key: str) -> bool:
        with _span(self._tracer, "storage.exists", self.backend, "exists"):
            return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under the folder ``prefix``; objects under retention are kept."""
        folder = self.root.joinpath(*_folder_prefix(prefix).rstrip("/").split("/"))
        deleted = kept = 0
        with _span(self._tracer, "storage.delete_prefix", self.backend, "delete_prefix"), self._lock:
            for dirpath, _dirs, files in os.walk(folder, topdown=False):
                for name in files:
                    path = Path(dirpath, name)
                    key = path.relative_to(self.root).as_posix()
                    try:  # the header only: a large file is not read to be deleted
                        if self._retained(self._read_header(key)):
                            kept += 1
                            continue
                    except (ObjectIntegrityError, ValueError):
                        pass  # an unreadable file is not retained
                    path.unlink(missing_ok=True)
                    deleted += 1
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)  # only succeeds once empty
        if kept:
            raise ObjectLockedError(f"{kept} object(s) under the prefix are under retention and "
                                    f"were kept; {deleted} deleted")
        return deleted

    def resolve_download(self, token: str) -> DownloadGrant:
        """The key (and filename) a ``/files/<token>`` link grants, if still valid."""
        return read_download_token(token, self._secret)

    def download_url(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        with _span(self._tracer, "storage.download_url", self.backend, "download_url"):
            return "/files/" + make_download_token(key, self._secret, expires_in=expires_in,
                                                   filename=filename)


# --------------------------------------------------------------------------- S3 store


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3ObjectStore:
    """A versioned S3 bucket with Object Lock; keys optionally under ``tenant_prefix/``.

    Spans: one ``storage.<operation>`` per call, with an ``s3.<api>`` child per request.
    """

    backend = "s3"

    def __init__(self, bucket: str, *, endpoint_url: str | None = None,
                 region: str = "ap-northeast-1", tenant_prefix: str | None = None,
                 tracer: trace.Tracer | None = None) -> None:
        self.bucket = bucket
        self.region = region
        self._prefix = _folder_prefix(tenant_prefix) if tenant_prefix else ""
        self._tracer = tracer or trace.get_tracer("yorisoi.storage")
        self._client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            # Short timeouts and few retries: an object store that is down must give
            # the request a fast 503, not hang on botocore's 60 s defaults.
            config=Config(signature_version="s3v4", connect_timeout=2, read_timeout=10,
                          retries={"mode": "standard", "max_attempts": 2}),
        )

    def _key(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def _op(self, operation: str, size: int | None = None) -> contextlib.AbstractContextManager[trace.Span]:
        return _span(self._tracer, f"storage.{operation}", self.backend, operation, size)

    @contextlib.contextmanager
    def _call(self, api: str, operation: str, key: str | None = None,
              size: int | None = None, allow: tuple[str, ...] = ()) -> Iterator[None]:
        """Trace one S3 request and turn botocore errors into storage errors.

        Error codes in ``allow`` propagate as ``ClientError`` for the caller to handle.
        """
        with _span(self._tracer, f"s3.{api}", self.backend, operation, size):
            try:
                yield
            except ClientError as exc:
                code = _error_code(exc)
                if code in allow:
                    raise
                if code in ("NoSuchKey", "404", "NotFound") and key is not None:
                    raise ObjectNotFoundError(key) from exc
                if code == "NoSuchBucket":
                    raise StorageError(f"bucket {self.bucket} does not exist") from exc
                if code == "PreconditionFailed" and key is not None:
                    raise ObjectLockedError(f"object {key} already exists and is write-once") from exc
                raise StorageError(f"S3 {api} failed with {code or 'an unknown error'}") from exc
            except BotoCoreError as exc:
                raise StorageError(f"S3 {api} failed: {type(exc).__name__}") from exc

    def ensure_bucket(self) -> None:
        """Create the bucket (Object Lock, hence versioning) if missing; check it otherwise."""
        with self._op("ensure_bucket"):
            try:
                with self._call("head_bucket", "ensure_bucket", allow=("404", "NoSuchBucket")):
                    self._client.head_bucket(Bucket=self.bucket)
            except ClientError:
                args: dict[str, Any] = {"Bucket": self.bucket, "ObjectLockEnabledForBucket": True}
                if self.region != "us-east-1":
                    args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
                with self._call("create_bucket", "ensure_bucket"):
                    self._client.create_bucket(**args)
                with self._call("put_public_access_block", "ensure_bucket"):
                    self._client.put_public_access_block(
                        Bucket=self.bucket, PublicAccessBlockConfiguration={
                            "BlockPublicAcls": True, "IgnorePublicAcls": True,
                            "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
                return
            try:
                with self._call("get_object_lock_configuration", "ensure_bucket",
                                allow=("ObjectLockConfigurationNotFoundError",)):
                    conf = self._client.get_object_lock_configuration(Bucket=self.bucket)
                enabled = conf["ObjectLockConfiguration"].get("ObjectLockEnabled") == "Enabled"
            except ClientError:
                enabled = False
            if not enabled:
                raise StorageError(f"bucket {self.bucket} exists without Object Lock; "
                                   "audit checkpoints cannot be written to it")

    def _put(self, operation: str, key: str, data: bytes, content_type: str,
             **extra: Any) -> StoredObject:
        digest = hashlib.sha256(data).digest()
        with self._op(operation, len(data)), self._call("put_object", operation, key, len(data)):
            response = self._client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=bytes(data), ContentType=content_type,
                ChecksumAlgorithm="SHA256", ChecksumSHA256=base64.b64encode(digest).decode(), **extra)
        return StoredObject(key, len(data), digest.hex(), content_type, response.get("VersionId"),
                            extra.get("Metadata", {}))

    def put(self, key: str, data: bytes, *, content_type: str,
            metadata: dict[str, str] | None = None) -> StoredObject:
        meta = _check_put(data, content_type, metadata)
        return self._put("put", key, data, content_type, Metadata=meta)

    def put_locked(self, key: str, data: bytes, *, content_type: str,
                   retain_until: datetime) -> StoredObject:
        """COMPLIANCE-mode write; ``If-None-Match: *`` makes it write-once like the local store."""
        _check_put(data, content_type, None)
        until = _check_retention(retain_until)
        return self._put("put_locked", key, data, content_type, IfNoneMatch="*",
                         ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)

    def get(self, key: str) -> tuple[bytes, StoredObject]:
        with self._op("get") as span:
            with self._call("get_object", "get", key):
                response = self._client.get_object(
                    Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED")
                data = response["Body"].read()
            span.set_attribute("yorisoi.object.size", len(data))
        digest = hashlib.sha256(data).digest()
        expected = response.get("ChecksumSHA256")
        if expected and "-" not in expected and base64.b64decode(expected) != digest:
            raise ObjectIntegrityError(f"object {key} does not match its recorded SHA-256")
        return data, StoredObject(key, len(data), digest.hex(), response.get("ContentType", ""),
                                  response.get("VersionId"), response.get("Metadata", {}))

    def put_stream(self, key: str, chunks: Iterable[bytes], *,
                   content_type: str) -> StoredObject:
        """Write an object from an iterable of bytes, spooled (to disk beyond 1 MiB).

        One ``PutObject`` with the whole object's SHA-256, as ``put`` sends:
        memory stays flat and S3 still checks the digest.
        """
        _check_put(b"", content_type, None)
        hasher, size = hashlib.sha256(), 0
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            for chunk in chunks:
                hasher.update(chunk)
                size += len(chunk)
                spool.write(chunk)
            spool.seek(0)
            digest = hasher.digest()
            with self._op("put_stream", size), self._call("put_object", "put_stream", key, size):
                response = self._client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=spool, ContentLength=size,
                    ContentType=content_type, ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=base64.b64encode(digest).decode())
        return StoredObject(key, size, digest.hex(), content_type, response.get("VersionId"))

    def open(self, key: str) -> tuple[Iterator[bytes], StoredObject]:
        """The object's bytes streamed in pieces; its SHA-256 is checked at the end."""
        with self._op("open"), self._call("get_object", "open", key):
            response = self._client.get_object(
                Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED")
        expected = response.get("ChecksumSHA256")
        body = response["Body"]

        def pieces() -> Iterator[bytes]:
            hasher = hashlib.sha256()
            try:
                with self._call("get_object", "open", key):
                    for piece in body.iter_chunks(STREAM_PIECE):
                        hasher.update(piece)
                        yield piece
            finally:
                body.close()
            if expected and "-" not in expected and base64.b64decode(expected) != hasher.digest():
                raise ObjectIntegrityError(f"object {key} does not match its recorded SHA-256")

        stored = StoredObject(key, int(response.get("ContentLength", 0)),
                              base64.b64decode(expected).hex() if expected and "-" not in expected
                              else "", response.get("ContentType", ""),
                              response.get("VersionId"), response.get("Metadata", {}))
        return pieces(), stored

    def keys(self, prefix: str) -> Iterator[str]:
        """Every (current) object key under the folder ``prefix``."""
        full = self._prefix + _folder_prefix(prefix)
        with self._op("keys"), self._call("list_objects_v2", "keys"):
            pages = list(self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full))
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"][len(self._prefix):]

    def purge_noncurrent(self, prefix: str) -> int:
        """Delete every non-current version and delete marker under ``prefix``.

        After an object is replaced (re-sealed), its older version is still a
        copy of what it held; this removes such copies.  Returns how many went.
        """
        full = self._prefix + _folder_prefix(prefix)
        targets: list[dict[str, str]] = []
        with self._op("purge_noncurrent"):
            with self._call("list_object_versions", "purge_noncurrent"):
                for page in self._client.get_paginator("list_object_versions").paginate(
                        Bucket=self.bucket, Prefix=full):
                    for item in page.get("Versions", []):
                        if not item.get("IsLatest"):
                            targets.append({"Key": item["Key"], "VersionId": item["VersionId"]})
                    for item in page.get("DeleteMarkers", []):
                        targets.append({"Key": item["Key"], "VersionId": item["VersionId"]})
            refused = 0
            for start in range(0, len(targets), 1000):
                with self._call("delete_objects", "purge_noncurrent"):
                    response = self._client.delete_objects(
                        Bucket=self.bucket,
                        Delete={"Objects": targets[start:start + 1000], "Quiet": True})
                refused += len(response.get("Errors", []))
        if refused:
            raise ObjectLockedError(f"{refused} older version(s) are under retention and were kept")
        return len(targets)

    def exists(self, key: str) -> bool:
        with self._op("exists"):
            try:
                with self._call("head_object", "exists", key, allow=("404", "NoSuchKey", "NotFound")):
                    self._client.head_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError:
                return False
            return True

    def delete_prefix(self, prefix: str) -> int:
        """Delete every version and delete marker under the folder ``prefix``.

        Returns the number of distinct objects removed.  Versions under Object
        Lock retention stay; they are reported with :class:`ObjectLockedError`.
        """
        full = self._prefix + _folder_prefix(prefix)
        keys: set[str] = set()
        refused: set[str] = set()
        with self._op("delete_prefix"):
            targets: list[dict[str, str]] = []
            with self._call("list_object_versions", "delete_prefix"):
                pages = self._client.get_paginator("list_object_versions").paginate(
                    Bucket=self.bucket, Prefix=full)
                for page in pages:
                    for item in page.get("Versions", []):
                        keys.add(item["Key"])
                        targets.append({"Key": item["Key"], "VersionId": item["VersionId"]})
                    for item in page.get("DeleteMarkers", []):
                        targets.append({"Key": item["Key"], "VersionId": item["VersionId"]})
            for start in range(0, len(targets), 1000):
                with self._call("delete_objects", "delete_prefix"):
                    response = self._client.delete_objects(
                        Bucket=self.bucket,
                        Delete={"Objects": targets[start:start + 1000], "Quiet": True})
                refused.update(error["Key"] for error in response.get("Errors", []))
        if refused:
            raise ObjectLockedError(f"{len(refused)} object(s) under the prefix are under retention "
                                    f"and were kept; {len(keys - refused)} deleted")
        return len(keys)

    def download_url(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        with self._op("download_url"), self._call("generate_presigned_url", "download_url", key):
            return self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=_check_expiry(expires_in))


# --------------------------------------------------------------------------- factory


def build_object_store(settings: Any) -> ObjectStore:
    """The store ``settings.storage`` names ("local" or "s3")."""
    if settings.storage == "local":
        secret = load_or_create_secret(Path(settings.data_dir) / "keys" / "download-link.secret")
        return LocalObjectStore(settings.objects_dir, secret)
    if settings.storage == "s3":
        return S3ObjectStore(settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
                             region=settings.s3_region)
    raise ValueError("settings.storage must be 'local' or 's3'")
