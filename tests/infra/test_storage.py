"""Object storage: both backends against real components (moto's S3 server over HTTP)."""

from __future__ import annotations

import hashlib
import os
import stat
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from yorisoi.infra.settings import Settings
from yorisoi.infra.storage import (
    DownloadLinkExpiredError,
    DownloadLinkInvalidError,
    InvalidObjectKeyError,
    LocalObjectStore,
    ObjectIntegrityError,
    ObjectLockedError,
    ObjectNotFoundError,
    ObjectStore,
    S3ObjectStore,
    StorageError,
    build_object_store,
    make_download_token,
    read_download_token,
    verify_download_token,
)

REGION = "ap-northeast-1"
SECRET = b"s" * 32
BAD_KEYS = [
    "", "/etc/passwd", "../outside", "a/../../outside", "a/..", "a\\b", "a//b", "a/", "./a",
    "a/./b", ".hidden", "a/.tmp/x", "氏名.pdf", "a b", "a\nb",
]


def _key(*parts: str) -> str:
    return "/".join([*parts, str(uuid.uuid4())])


def _raw_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


def _in(days: int = 1) -> datetime:
    return datetime.now(timezone.utc) + timedelta(days=days)


@pytest.fixture
def s3_store(s3_env: str) -> S3ObjectStore:
    store = S3ObjectStore(f"yorisoi-test-{uuid.uuid4().hex[:12]}", endpoint_url=s3_env, region=REGION)
    store.ensure_bucket()
    return store


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "objects", SECRET)
    store.ensure_bucket()
    return store


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    return request.getfixturevalue(f"{request.param}_store")


def _download(store: ObjectStore, url: str) -> bytes:
    """Follow a download link the way a browser (S3) or the /files route (local) would."""
    if isinstance(store, S3ObjectStore):
        response = httpx.get(url)
        response.raise_for_status()
        return response.content
    assert url.startswith("/files/")
    return store.get(verify_download_token(url.removeprefix("/files/"), SECRET))[0]


# --------------------------------------------------------------------------- shared behaviour


def test_store_satisfies_the_protocol(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)


def test_round_trip_with_sha256_and_metadata(store: ObjectStore) -> None:
    key = _key("tenant", "household")
    data = b"%PDF-1.7 signed consent form" + os.urandom(64)
    stored = store.put(key, data, content_type="application/pdf", metadata={"kind": "consent"})
    assert stored.key == key
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.content_type == "application/pdf"

    body, info = store.get(key)
    assert body == data
    assert (info.key, info.size, info.sha256, info.content_type) == (
        key, len(data), stored.sha256, "application/pdf")
    assert dict(info.metadata) == {"kind": "consent"}
    assert info.version_id == stored.version_id
    assert store.exists(key)


def test_overwrite_replaces_content(store: ObjectStore) -> None:
    key = _key("t")
    store.put(key, b"first", content_type="text/plain")
    store.put(key, b"second", content_type="text/csv")
    body, info = store.get(key)
    assert (body, info.content_type) == (b"second", "text/csv")


def test_empty_object(store: ObjectStore) -> None:
    key = _key("t")
    assert store.put(key, b"", content_type="application/octet-stream").size == 0
    assert store.get(key)[0] == b""


def test_missing_key(store: ObjectStore) -> None:
    key = _key("t")
    with pytest.raises(ObjectNotFoundError) as excinfo:
        store.get(key)
    assert excinfo.value.key == key
    assert isinstance(excinfo.value, StorageError)
    assert not store.exists(key)


@pytest.mark.parametrize("bad", BAD_KEYS)
def test_bad_keys_are_rejected_without_echo(store: ObjectStore, bad: str) -> None:
    for call in (
        lambda: store.put(bad, b"x", content_type="text/plain"),
        lambda: store.get(bad),
        lambda: store.exists(bad),
        lambda: store.put_locked(bad, b"x", content_type="text/plain", retain_until=_in()),
        lambda: store.download_url(bad, expires_in=60, filename=None),
    ):
        with pytest.raises(InvalidObjectKeyError) as excinfo:
            call()
        assert not bad or bad not in str(excinfo.value)


@pytest.mark.parametrize("bad_prefix", ["", "/", "../x", "a//b", "a\\b"])
def test_bad_prefixes_are_rejected(store: ObjectStore, bad_prefix: str) -> None:
    with pytest.raises(InvalidObjectKeyError):
        store.delete_prefix(bad_prefix)


def test_bad_content_type_and_metadata(store: ObjectStore) -> None:
    with pytest.raises(ValueError):
        store.put(_key("t"), b"x", content_type="text/plain\r\nX-Evil: 1")
    with pytest.raises(ValueError):
        store.put(_key("t"), b"x", content_type="text/plain", metadata={"Name": "x"})
    with pytest.raises(ValueError):
        store.put(_key("t"), b"x", content_type="text/plain", metadata={"name": "山田"})


def test_delete_prefix_deletes_the_folder_only(store: ObjectStore) -> None:
    tenant = str(uuid.uuid4())
    doomed = [_key(tenant, "h1"), _key(tenant, "h1", "minutes"), _key(tenant, "h1", "minutes")]
    kept = [_key(tenant, "h10"), _key(tenant, "h2")]
    for key in doomed + kept:
        store.put(key, b"data", content_type="text/plain")
    store.put(doomed[0], b"second version", content_type="text/plain")

    assert store.delete_prefix(f"{tenant}/h1") == len(doomed)
    assert not any(store.exists(key) for key in doomed)
    assert all(store.exists(key) for key in kept)
    assert store.delete_prefix(f"{tenant}/h1/") == 0


def test_put_locked_is_write_once(store: ObjectStore) -> None:
    key = _key("audit", "checkpoints")
    stored = store.put_locked(key, b'{"seq": 1}', content_type="application/json",
                              retain_until=_in(days=3650))
    assert stored.sha256 == hashlib.sha256(b'{"seq": 1}').hexdigest()
    with pytest.raises(ObjectLockedError):
        store.put_locked(key, b'{"seq": 2}', content_type="application/json", retain_until=_in())
    assert store.get(key)[0] == b'{"seq": 1}'


def test_put_locked_refuses_an_existing_plain_object(store: ObjectStore) -> None:
    key = _key("audit")
    store.put(key, b"plain", content_type="text/plain")
    with pytest.raises(ObjectLockedError):
        store.put_locked(key, b"locked", content_type="text/plain", retain_until=_in())


def test_delete_prefix_keeps_retained_objects(store: ObjectStore) -> None:
    tenant = str(uuid.uuid4())
    locked = _key(tenant, "audit")
    plain = _key(tenant, "audit")
    store.put_locked(locked, b"checkpoint", content_type="application/json", retain_until=_in())
    store.put(plain, b"export", content_type="text/csv")
    with pytest.raises(ObjectLockedError, match="1 object"):
        store.delete_prefix(tenant)
    assert store.get(locked)[0] == b"checkpoint"
    assert not store.exists(plain)


@pytest.mark.parametrize("retain_until", [
    datetime.now(timezone.utc) - timedelta(seconds=1),
    datetime.now() + timedelta(days=1),  # naive
])
def test_put_locked_needs_a_future_aware_date(store: ObjectStore, retain_until: datetime) -> None:
    with pytest.raises(ValueError):
        store.put_locked(_key("a"), b"x", content_type="text/plain", retain_until=retain_until)


def test_download_url_downloads_the_bytes(store: ObjectStore) -> None:
    key = _key("t", "h")
    data = os.urandom(300)
    store.put(key, data, content_type="application/pdf")
    url = store.download_url(key, expires_in=60, filename="consent-form.pdf")
    assert _download(store, url) == data


@pytest.mark.parametrize("expires_in", [0, -5, 7 * 24 * 3600 + 1])
def test_download_url_expiry_bounds(store: ObjectStore, expires_in: int) -> None:
    with pytest.raises(ValueError):
        store.download_url(_key("t"), expires_in=expires_in, filename=None)


def test_spans_carry_only_the_allowed_attributes(store: ObjectStore) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    store._tracer = provider.get_tracer("yorisoi.storage")  # a private provider, no global state
    key = _key("t")
    store.put(key, b"12345", content_type="text/plain", metadata={"kind": "minutes"})
    store.get(key)
    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert {"storage.put", "storage.get"} <= names
    if isinstance(store, S3ObjectStore):
        assert {"s3.put_object", "s3.get_object"} <= names
    allowed = {"yorisoi.storage.backend", "yorisoi.storage.operation", "yorisoi.object.size"}
    for span in spans:
        assert set(span.attributes) <= allowed
        assert span.attributes["yorisoi.storage.backend"] == store.backend
    sizes = {s.name: s.attributes.get("yorisoi.object.size") for s in spans}
    assert sizes["storage.put"] == 5 and sizes["storage.get"] == 5


# --------------------------------------------------------------------------- S3 only


@pytest.mark.s3
def test_s3_bucket_has_object_lock_and_versioning(s3_store: S3ObjectStore, s3_env: str) -> None:
    client = _raw_client(s3_env)
    assert client.get_bucket_versioning(Bucket=s3_store.bucket)["Status"] == "Enabled"
    conf = client.get_object_lock_configuration(Bucket=s3_store.bucket)
    assert conf["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    s3_store.ensure_bucket()  # idempotent


@pytest.mark.s3
def test_s3_ensure_bucket_refuses_a_bucket_without_object_lock(s3_env: str) -> None:
    bucket = f"yorisoi-plain-{uuid.uuid4().hex[:12]}"
    _raw_client(s3_env).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    with pytest.raises(StorageError, match="without Object Lock"):
        S3ObjectStore(bucket, endpoint_url=s3_env, region=REGION).ensure_bucket()


@pytest.mark.s3
def test_s3_missing_bucket_is_a_storage_error(s3_env: str) -> None:
    store = S3ObjectStore(f"yorisoi-none-{uuid.uuid4().hex[:12]}", endpoint_url=s3_env, region=REGION)
    with pytest.raises(StorageError, match="does not exist"):
        store.put(_key("t"), b"x", content_type="text/plain")


@pytest.mark.s3
def test_s3_delete_prefix_removes_every_version(s3_store: S3ObjectStore, s3_env: str) -> None:
    client = _raw_client(s3_env)
    household = f"{uuid.uuid4()}/{uuid.uuid4()}"
    key_a, key_b = _key(household), _key(household, "minutes")
    for body in (b"v1", b"v2", b"v3"):
        s3_store.put(key_a, body, content_type="text/plain")
    s3_store.put(key_b, b"only", content_type="text/plain")
    client.delete_object(Bucket=s3_store.bucket, Key=key_b)  # leaves a delete marker + version
    listing = client.list_object_versions(Bucket=s3_store.bucket, Prefix=household)
    assert len(listing["Versions"]) == 4 and len(listing["DeleteMarkers"]) == 1

    assert s3_store.delete_prefix(household) == 2
    listing = client.list_object_versions(Bucket=s3_store.bucket, Prefix=household)
    assert listing.get("Versions", []) == [] and listing.get("DeleteMarkers", []) == []


@pytest.mark.s3
def test_s3_delete_prefix_pages_beyond_1000_versions(s3_store: S3ObjectStore, s3_env: str) -> None:
    client = _raw_client(s3_env)
    prefix = str(uuid.uuid4())
    for i in range(1003):
        client.put_object(Bucket=s3_store.bucket, Key=f"{prefix}/{i:04d}", Body=b"x")
    assert s3_store.delete_prefix(prefix) == 1003
    assert "Versions" not in client.list_object_versions(Bucket=s3_store.bucket, Prefix=prefix)


@pytest.mark.s3
def test_s3_locked_version_cannot_be_deleted(s3_store: S3ObjectStore, s3_env: str) -> None:
    client = _raw_client(s3_env)
    key = _key("audit")
    until = _in(days=30).replace(microsecond=0)
    stored = s3_store.put_locked(key, b"checkpoint", content_type="application/json",
                                 retain_until=until)
    assert stored.version_id
    head = client.head_object(Bucket=s3_store.bucket, Key=key, VersionId=stored.version_id)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] == until

    client.delete_object(Bucket=s3_store.bucket, Key=key)  # only adds a delete marker
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            client.delete_object(Bucket=s3_store.bucket, Key=key, VersionId=stored.version_id)
        assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
    body = client.get_object(Bucket=s3_store.bucket, Key=key, VersionId=stored.version_id)
    assert body["Body"].read() == b"checkpoint"


@pytest.mark.s3
def test_s3_presigned_url_headers(s3_store: S3ObjectStore) -> None:
    key = _key("t")
    s3_store.put(key, b"minutes", content_type="application/pdf")
    url = s3_store.download_url(key, expires_in=1, filename="議事録 2024.pdf")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["1"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == b"minutes"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''%E8%AD%B0%E4%BA%8B%E9%8C%B2%202024.pdf" in disposition


@pytest.mark.s3
@pytest.mark.xfail(strict=True, reason="moto 5.2.5 does not enforce X-Amz-Expires on presigned URLs")
def test_s3_presigned_url_expires(s3_store: S3ObjectStore) -> None:
    key = _key("t")
    s3_store.put(key, b"minutes", content_type="application/pdf")
    url = s3_store.download_url(key, expires_in=1, filename=None)
    assert httpx.get(url).status_code == 200
    time.sleep(2)
    assert httpx.get(url).status_code == 403


@pytest.mark.s3
def test_s3_tenant_prefix(s3_store: S3ObjectStore, s3_env: str) -> None:
    tenant = str(uuid.uuid4())
    scoped = S3ObjectStore(s3_store.bucket, endpoint_url=s3_env, region=REGION, tenant_prefix=tenant)
    key = _key("h")
    stored = scoped.put(key, b"x", content_type="text/plain")
    assert stored.key == key
    assert _raw_client(s3_env).get_object(Bucket=s3_store.bucket, Key=f"{tenant}/{key}")["Body"].read() == b"x"
    assert not s3_store.exists(key)
    assert scoped.delete_prefix(key.split("/")[0]) == 1
    assert not scoped.exists(key)


# --------------------------------------------------------------------------- local only


def test_local_rejected_keys_write_nothing_outside_root(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "root", SECRET)
    for bad in ("../escape", "a/../../escape", "/tmp/escape"):
        with pytest.raises(InvalidObjectKeyError):
            store.put(bad, b"x", content_type="text/plain")
    assert not (tmp_path / "escape").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_local_writes_are_atomic_files_without_leftovers(local_store: LocalObjectStore) -> None:
    key = _key("t")
    local_store.put(key, b"a" * 10_000, content_type="text/plain")
    local_store.put(key, b"b" * 10, content_type="text/plain")
    assert list((local_store.root / ".tmp").iterdir()) == []
    assert local_store.get(key)[0] == b"b" * 10


def test_local_key_that_collides_with_a_folder(local_store: LocalObjectStore) -> None:
    folder = _key("t")
    local_store.put(f"{folder}/child", b"x", content_type="text/plain")
    with pytest.raises(InvalidObjectKeyError):
        local_store.put(folder, b"x", content_type="text/plain")
    assert not local_store.exists(folder)
    with pytest.raises(ObjectNotFoundError):
        local_store.get(folder)


def test_local_detects_tampered_bytes(local_store: LocalObjectStore) -> None:
    key = _key("t")
    local_store.put(key, b"original", content_type="text/plain")
    path = local_store.root.joinpath(*key.split("/"))
    path.write_bytes(path.read_bytes().replace(b"original", b"tampered"))
    with pytest.raises(ObjectIntegrityError):
        local_store.get(key)


def test_local_plain_put_cannot_overwrite_a_locked_object(local_store: LocalObjectStore) -> None:
    key = _key("audit")
    local_store.put_locked(key, b"checkpoint", content_type="application/json", retain_until=_in())
    with pytest.raises(ObjectLockedError):
        local_store.put(key, b"rewrite", content_type="application/json")
    assert local_store.get(key)[0] == b"checkpoint"


def test_local_expired_retention_can_be_disposed(local_store: LocalObjectStore) -> None:
    tenant = str(uuid.uuid4())
    key = _key(tenant)
    local_store.put_locked(key, b"x", content_type="text/plain",
                           retain_until=datetime.now(timezone.utc) + timedelta(seconds=1))
    time.sleep(1.1)
    assert local_store.delete_prefix(tenant) == 1
    assert not local_store.root.joinpath(tenant).exists()


def test_local_download_token_round_trip_and_expiry() -> None:
    key = _key("t")
    now = 1_700_000_000
    token = make_download_token(key, SECRET, expires_in=60, filename="minutes.pdf", now=now)
    assert verify_download_token(token, SECRET, now=now + 59) == key
    assert read_download_token(token, SECRET, now=now).filename == "minutes.pdf"
    with pytest.raises(DownloadLinkExpiredError):
        verify_download_token(token, SECRET, now=now + 60)
    with pytest.raises(DownloadLinkExpiredError):
        verify_download_token(token, SECRET, now=datetime.fromtimestamp(now + 3600, timezone.utc))


def test_local_download_url_expires_in_real_time(local_store: LocalObjectStore) -> None:
    key = _key("t")
    local_store.put(key, b"x", content_type="text/plain")
    token = local_store.download_url(key, expires_in=1, filename=None).removeprefix("/files/")
    assert verify_download_token(token, SECRET) == key
    time.sleep(2)
    with pytest.raises(DownloadLinkExpiredError):
        verify_download_token(token, SECRET)


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1:]


def test_local_tampered_tokens_are_invalid() -> None:
    key = _key("t")
    token = make_download_token(key, SECRET, expires_in=600)
    payload, signature = token.split(".")
    other = make_download_token(_key("t"), SECRET, expires_in=600).split(".")[0]
    forged = [
        _flip(token, 3),                         # payload changed
        _flip(token, len(token) - 2),            # signature changed
        f"{other}.{signature}",                  # another key, old signature
        payload, f"{payload}.", f".{signature}", f"{token}.x", "", "無効.トークン", "a.b",
    ]
    for bad in forged:
        with pytest.raises(DownloadLinkInvalidError):
            verify_download_token(bad, SECRET)
    with pytest.raises(DownloadLinkInvalidError):
        verify_download_token(token, b"t" * 32)  # another secret
    # An expired token with a bad signature is invalid, not expired.
    with pytest.raises(DownloadLinkInvalidError):
        verify_download_token(_flip(token, len(token) - 2), SECRET, now=time.time() + 10_000)


def test_local_store_needs_a_real_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalObjectStore(tmp_path, b"short")


# --------------------------------------------------------------------------- factory


def test_build_local_store_creates_the_secret_once(tmp_path: Path) -> None:
    settings = Settings(storage="local", data_dir=tmp_path, environment="test")
    store = build_object_store(settings)
    assert isinstance(store, LocalObjectStore) and store.root == settings.objects_dir
    secret_file = tmp_path / "keys" / "download-link.secret"
    assert len(secret_file.read_bytes()) == 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600

    key = _key("t")
    store.put(key, b"x", content_type="text/plain")
    url = store.download_url(key, expires_in=60, filename=None)
    again = build_object_store(settings)  # reuses the secret: old links stay valid
    assert verify_download_token(url.removeprefix("/files/"), secret_file.read_bytes()) == key
    assert again.get(key)[0] == b"x"


@pytest.mark.s3
def test_build_s3_store(s3_env: str) -> None:
    settings = Settings(storage="s3", s3_endpoint_url=s3_env, environment="test",
                        s3_bucket=f"yorisoi-built-{uuid.uuid4().hex[:12]}", s3_region=REGION)
    store = build_object_store(settings)
    assert isinstance(store, S3ObjectStore)
    store.ensure_bucket()
    key = _key("t")
    store.put(key, b"x", content_type="text/plain")
    assert store.get(key)[0] == b"x"
