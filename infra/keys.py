"""Tenant key-encryption keys (KEKs): they wrap each household's data key.

The embedded default keeps 256-bit key files per tenant; production uses AWS
KMS (one key per tenant *version*, behind aliases), so a key never leaves KMS
and every unwrap is logged by the cloud.  Both bind the wrapped key to its
tenant and household (AES-GCM associated data / KMS encryption context), so a
wrapped key copied to another household does not unwrap.

**Versions.**  A tenant's KEK has versions (1, 2, …); new wraps use the
newest.  Disposal rotates: every live household key is re-wrapped under a new
version and the old versions are retired (the key file is overwritten and
removed; the KMS key is scheduled for deletion).  A database backup taken
before the disposal holds household keys wrapped under a retired version, so
it no longer opens — the destroyed household's key included
(``services/personal_data.HouseholdKeyring.rotate_tenant_key``).

A wrapped key names its version: ``MAGIC ‖ version (4 bytes) ‖ wrapped``.
Keys wrapped before versions existed carry no header and are version 1
(a local one is exactly 60 bytes, a KMS blob never starts with ``MAGIC``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"\xffYK"
_LEGACY_LOCAL_LENGTH = 12 + 32 + 16  # nonce + data key + tag


class TenantKeyMissingError(Exception):
    """The tenant has no key-encryption key (not provisioned, or keys not mounted)."""


class TenantKeyRetiredError(TenantKeyMissingError):
    """The key was wrapped under a KEK version that disposal has retired: it never opens again."""


@dataclass(frozen=True)
class RetiredVersion:
    """The proof that one KEK version is gone (or, for KMS, scheduled to be)."""

    version: int
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. the KMS key id and deletion date


def version_of(wrapped: bytes) -> int:
    """The KEK version a wrapped key was made under."""
    if wrapped.startswith(MAGIC) and len(wrapped) != _LEGACY_LOCAL_LENGTH:
        return int.from_bytes(wrapped[len(MAGIC):len(MAGIC) + 4], "big")
    return 1


def _split(wrapped: bytes) -> tuple[int, bytes]:
    version = version_of(wrapped)
    if wrapped.startswith(MAGIC) and len(wrapped) != _LEGACY_LOCAL_LENGTH:
        return version, wrapped[len(MAGIC) + 4:]
    return version, wrapped


def _header(version: int) -> bytes:
    return MAGIC + version.to_bytes(4, "big")


class TenantKeyProvider(Protocol):
    """Wraps and unwraps household data keys under a tenant's key, and rotates that key."""

    name: str

    def create_tenant_key(self, tenant: str) -> None: ...

    def wrap(self, tenant: str, data_key: bytes, context: dict[str, str]) -> bytes: ...

    def unwrap(self, tenant: str, wrapped: bytes, context: dict[str, str]) -> bytes: ...

    def live_versions(self, tenant: str) -> list[int]: ...

    def add_version(self, tenant: str) -> int: ...

    def retire_version(self, tenant: str, version: int) -> RetiredVersion: ...


def _aad(tenant: str, context: dict[str, str]) -> bytes:
    return json.dumps({"tenant": tenant, **context}, sort_keys=True).encode()


class LocalKeyFileProvider:
    """Key files under ``keys_dir/tenants`` (mode 0600): ``<tenant>.kek`` is version 1,
    ``<tenant>.v<N>.kek`` version N.  The newest file present is the current version."""

    name = "local"

    def __init__(self, keys_dir: Path) -> None:
        self.dir = Path(keys_dir) / "tenants"
        self._cache: dict[tuple[str, int], AESGCM] = {}
        self._current: dict[str, int] = {}
        self._names: dict[tuple[str, int], str] = {}

    def _path(self, tenant: str, version: int = 1) -> Path:
        if not tenant.replace("_", "").isalnum():
            raise ValueError("tenant key names are alphanumeric")
        return self.dir / (f"{tenant}.kek" if version == 1 else f"{tenant}.v{version}.kek")

    def _exists(self, tenant: str, version: int) -> bool:
        # A plain stat of a remembered path: rotation asks this for every household key.
        name = self._names.get((tenant, version))
        if name is None:
            name = self._names[(tenant, version)] = str(self._path(tenant, version))
        return os.path.exists(name)

    def _create(self, path: Path) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(AESGCM.generate_key(bit_length=256))
            handle.flush()
            os.fsync(handle.fileno())

    def create_tenant_key(self, tenant: str) -> None:
        if not self.live_versions(tenant):
            try:
                self._create(self._path(tenant))
            except FileExistsError:
                pass  # another process provisioned it first

    def live_versions(self, tenant: str) -> list[int]:
        pattern = re.compile(re.escape(tenant) + r"(?:\.v(\d+))?\.kek")
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        self._path(tenant)  # validates the name
        return sorted(int(m.group(1) or 1) for name in names
                      if (m := pattern.fullmatch(name)))

    def _aead(self, tenant: str, version: int) -> AESGCM:
        # Asked every time, not only on a cache miss: a version retired by another
        # process must stop opening here as well.
        if not self._exists(tenant, version):
            self._cache.pop((tenant, version), None)
            if version < max(self.live_versions(tenant) or [0]):
                raise TenantKeyRetiredError(f"key-encryption key version {version} of tenant "
                                            f"{tenant} has been retired")
            raise TenantKeyMissingError(f"no key-encryption key for tenant {tenant}")
        aead = self._cache.get((tenant, version))
        if aead is None:
            aead = AESGCM(self._path(tenant, version).read_bytes())
            self._cache[(tenant, version)] = aead
        return aead

    def current_version(self, tenant: str) -> int:
        """The newest live version, asked of the file system every time.

        Versions only grow, so a remembered version is still current while its
        file exists and the next one does not: two stats instead of listing a
        folder that holds every tenant's keys.
        """
        known = self._current.get(tenant)
        if known is not None and self._exists(tenant, known) and not self._exists(
                tenant, known + 1):
            return known
        versions = self.live_versions(tenant)
        if not versions:
            raise TenantKeyMissingError(f"no key-encryption key for tenant {tenant}")
        self._current[tenant] = versions[-1]
        return versions[-1]

    def wrap(self, tenant: str, data_key: bytes, context: dict[str, str]) -> bytes:
        version = self.current_version(tenant)
        nonce = os.urandom(12)
        return _header(version) + nonce + self._aead(tenant, version).encrypt(
            nonce, data_key, _aad(tenant, context))

    def unwrap(self, tenant: str, wrapped: bytes, context: dict[str, str]) -> bytes:
        version, inner = _split(wrapped)
        return self._aead(tenant, version).decrypt(inner[:12], inner[12:], _aad(tenant, context))

    def add_version(self, tenant: str) -> int:
        while True:
            version = max(self.live_versions(tenant) or [0]) + 1
            try:
                self._create(self._path(tenant, version))
            except FileExistsError:
                continue  # another process added it meanwhile: take the next number
            return version

    def retire_version(self, tenant: str, version: int) -> RetiredVersion:
        """Overwrite the key file, then remove it.

        Overwriting is best effort on journalling and flash storage; what makes
        retirement final is that key files are never copied into the database's
        backups (production keeps KEKs in KMS, where deletion is final).
        """
        path = self._path(tenant, version)
        if version >= max(self.live_versions(tenant) or [0]):
            raise ValueError("the current key-encryption key version cannot be retired")
        try:
            with open(path, "r+b") as handle:
                handle.write(os.urandom(32))
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()
        except FileNotFoundError:
            pass  # retired before (a resumed disposal)
        self._cache.pop((tenant, version), None)
        return RetiredVersion(version, {"keyFile": path.name, "removed": True})


class KmsKeyProvider:
    """AWS KMS: one symmetric key per tenant and version.

    ``<prefix><tenant>`` names the current version's key (new wraps go there, so
    KMS itself decides the version at the moment of wrapping);
    ``<prefix><tenant>--v<N>`` names version N (unwraps go there).  Retiring a
    version deletes its alias and schedules its key for deletion (KMS keeps it
    disabled for the pending window, 7 days at least, then deletes it).
    """

    name = "kms"
    VERSION_TAG = "yorisoi-kek-version"
    PENDING_WINDOW_DAYS = 7

    def __init__(self, *, endpoint_url: str | None, region: str, alias_prefix: str) -> None:
        import boto3  # only production deployments need KMS

        from botocore.config import Config

        # Short timeouts and few retries: a key service that is down must give the
        # request a fast 503, not hang on botocore's defaults.
        self.kms = boto3.client("kms", endpoint_url=endpoint_url, region_name=region,
                                config=Config(connect_timeout=2, read_timeout=5,
                                              retries={"mode": "standard", "max_attempts": 2}))
        self.alias_prefix = alias_prefix
        self._versions_by_arn: dict[str, int] = {}

    def _alias(self, tenant: str, version: int | None = None) -> str:
        base = f"{self.alias_prefix}{tenant}"
        return base if version is None else f"{base}--v{version}"

    def _target(self, alias: str) -> str | None:
        """The key id an alias names, or None when there is no such alias.

        One DescribeKey by alias name: listing every alias (a page per 100 of them, two or
        three per tenant) made ``tenant upgrade`` across thousands of tenants quadratic.
        A key pending deletion still answers DescribeKey, but only a retired version's
        key is ever pending deletion, and retiring deletes its alias first.
        """
        from botocore.exceptions import ClientError

        try:
            return self.kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NotFoundException":
                return None
            raise

    def _new_key(self, tenant: str, version: int) -> str:
        return self.kms.create_key(
            Description=f"Yorisoi tenant {tenant} KEK v{version}",
            Tags=[{"TagKey": self.VERSION_TAG, "TagValue": str(version)}],
        )["KeyMetadata"]["KeyId"]

    def create_tenant_key(self, tenant: str) -> None:
        from botocore.exceptions import ClientError

        if self._target(self._alias(tenant)) is not None:
            return
        key_id = self._new_key(tenant, 1)
        try:
            self.kms.create_alias(AliasName=self._alias(tenant), TargetKeyId=key_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "AlreadyExistsException":
                raise
            # Another process provisioned the tenant first: its key stands, ours goes.
            self.kms.schedule_key_deletion(KeyId=key_id,
                                           PendingWindowInDays=self.PENDING_WINDOW_DAYS)
            return
        self.kms.create_alias(AliasName=self._alias(tenant, 1), TargetKeyId=key_id)

    def _version_of_key(self, key_id: str) -> int:
        version = self._versions_by_arn.get(key_id)
        if version is None:
            tags = self.kms.list_resource_tags(KeyId=key_id).get("Tags", [])
            # A key made before versions existed carries no tag: it is version 1.
            version = next((int(t["TagValue"]) for t in tags
                            if t["TagKey"] == self.VERSION_TAG), 1)
            self._versions_by_arn[key_id] = version
        return version

    def wrap(self, tenant: str, data_key: bytes, context: dict[str, str]) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.kms.encrypt(KeyId=self._alias(tenant), Plaintext=data_key,
                                        EncryptionContext={"tenant": tenant, **context})
        except ClientError as error:
            # No key behind the alias, or one disabled: the tenant's key is missing (as a
            # missing key file is), not the key service down.
            if error.response.get("Error", {}).get("Code") in (
                    "NotFoundException", "DisabledException", "KMSInvalidStateException"):
                raise TenantKeyMissingError(f"no key-encryption key for tenant {tenant}"
                                            ) from None
            raise
        return _header(self._version_of_key(response["KeyId"])) + response["CiphertextBlob"]

    def unwrap(self, tenant: str, wrapped: bytes, context: dict[str, str]) -> bytes:
        from botocore.exceptions import ClientError

        version, blob = _split(wrapped)
        aliases = [self._alias(tenant, version)]
        if version == 1:
            aliases.append(self._alias(tenant))  # a tenant made before versions existed
        for alias in aliases:
            try:
                return self.kms.decrypt(KeyId=alias, CiphertextBlob=blob,
                                        EncryptionContext={"tenant": tenant, **context}
                                        )["Plaintext"]
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code not in ("NotFoundException", "IncorrectKeyException",
                                "KMSInvalidStateException", "DisabledException",
                                "AccessDeniedException"):
                    raise
        raise TenantKeyRetiredError(f"key-encryption key version {version} of tenant {tenant} "
                                    "has been retired")

    def live_versions(self, tenant: str) -> list[int]:
        """Versions whose alias exists: up to the current one, and any made after it by an
        ``add_version`` that stopped before moving the tenant's alias (a few DescribeKey
        calls per tenant, never a listing of every tenant's aliases)."""
        current_key = self._target(self._alias(tenant))
        if current_key is None:
            return []
        current = self._version_of_key(current_key)
        versions = [v for v in range(1, current) if self._target(self._alias(tenant, v))]
        newer = current
        while newer == current or self._target(self._alias(tenant, newer)) is not None:
            versions.append(newer)
            newer += 1
        # (The current version counts even without its own alias: a tenant made before
        # versions existed has only the tenant's alias, on version 1.)
        return versions

    def add_version(self, tenant: str) -> int:
        current_key = self._target(self._alias(tenant))
        if current_key is None:
            raise TenantKeyMissingError(f"no key-encryption key for tenant {tenant}")
        current = self._version_of_key(current_key)
        if self._target(self._alias(tenant, current)) is None:  # name the version about to
            self.kms.create_alias(AliasName=self._alias(tenant, current),  # be retired
                                  TargetKeyId=current_key)
        version = max([current, *self.live_versions(tenant)]) + 1
        key_id = self._new_key(tenant, version)
        self.kms.create_alias(AliasName=self._alias(tenant, version), TargetKeyId=key_id)
        self.kms.update_alias(AliasName=self._alias(tenant), TargetKeyId=key_id)
        return version

    def retire_version(self, tenant: str, version: int) -> RetiredVersion:
        from botocore.exceptions import ClientError

        key_id = self._target(self._alias(tenant, version))
        if key_id is None:
            return RetiredVersion(version, {"alias": self._alias(tenant, version),
                                            "alreadyRetired": True})
        if key_id == self._target(self._alias(tenant)):
            raise ValueError("the current key-encryption key version cannot be retired")
        self.kms.delete_alias(AliasName=self._alias(tenant, version))
        try:
            response = self.kms.schedule_key_deletion(
                KeyId=key_id, PendingWindowInDays=self.PENDING_WINDOW_DAYS)
            deletion = response["DeletionDate"]
        except ClientError as error:  # already pending deletion (a resumed disposal)
            if error.response.get("Error", {}).get("Code") != "KMSInvalidStateException":
                raise
            deletion = self.kms.describe_key(KeyId=key_id)["KeyMetadata"].get("DeletionDate")
        return RetiredVersion(version, {
            "keyId": key_id, "state": "PendingDeletion",
            "deletionDate": deletion.isoformat() if hasattr(deletion, "isoformat") else deletion})


def build_key_provider(settings) -> TenantKeyProvider:  # noqa: ANN001 - Settings
    """The key provider the settings ask for."""
    if settings.key_provider == "kms":
        return KmsKeyProvider(endpoint_url=settings.kms_endpoint_url, region=settings.s3_region,
                              alias_prefix=settings.kms_key_alias_prefix)
    return LocalKeyFileProvider(settings.keys_dir)
