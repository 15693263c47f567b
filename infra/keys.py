"""Tenant key-encryption keys (KEKs): they wrap each household's data key.

The embedded default keeps one 256-bit key file per tenant; production uses
AWS KMS (one key per tenant behind an alias), so a key never leaves KMS and
every unwrap is logged by the cloud.  Both bind the wrapped key to its tenant
and household (AES-GCM associated data / KMS encryption context), so a
wrapped key copied to another household does not unwrap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class TenantKeyMissingError(Exception):
    """The tenant has no key-encryption key (not provisioned, or keys not mounted)."""


class TenantKeyProvider(Protocol):
    """Wraps and unwraps household data keys under a tenant's key."""

    def create_tenant_key(self, tenant: str) -> None: ...

    def wrap(self, tenant: str, data_key: bytes, context: dict[str, str]) -> bytes: ...

    def unwrap(self, tenant: str, wrapped: bytes, context: dict[str, str]) -> bytes: ...


def _aad(tenant: str, context: dict[str, str]) -> bytes:
    return json.dumps({"tenant": tenant, **context}, sort_keys=True).encode()


class LocalKeyFileProvider:
    """One key file per tenant under ``keys_dir/tenants`` (mode 0600)."""

    def __init__(self, keys_dir: Path) -> None:
        self.dir = Path(keys_dir) / "tenants"
        self._cache: dict[str, AESGCM] = {}

    def _path(self, tenant: str) -> Path:
        if not tenant.replace("_", "").isalnum():
            raise ValueError("tenant key names are alphanumeric")
        return self.dir / f"{tenant}.kek"

    def create_tenant_key(self, tenant: str) -> None:
        path = self._path(tenant)
        if path.exists():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(AESGCM.generate_key(bit_length=256))

    def _aead(self, tenant: str) -> AESGCM:
        aead = self._cache.get(tenant)
        if aead is None:
            try:
                aead = AESGCM(self._path(tenant).read_bytes())
            except FileNotFoundError:
                raise TenantKeyMissingError(f"no key-encryption key for tenant {tenant}") from None
            self._cache[tenant] = aead
        return aead

    def wrap(self, tenant: str, data_key: bytes, context: dict[str, str]) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead(tenant).encrypt(nonce, data_key, _aad(tenant, context))

    def unwrap(self, tenant: str, wrapped: bytes, context: dict[str, str]) -> bytes:
        return self._aead(tenant).decrypt(wrapped[:12], wrapped[12:], _aad(tenant, context))


class KmsKeyProvider:
    """AWS KMS: one symmetric key per tenant, found by alias."""

    def __init__(self, *, endpoint_url: str | None, region: str, alias_prefix: str) -> None:
        import boto3  # only production deployments need KMS

        self.kms = boto3.client("kms", endpoint_url=endpoint_url, region_name=region)
        self.alias_prefix = alias_prefix

    def _alias(self, tenant: str) -> str:
        return f"{self.alias_prefix}{tenant}"

    def create_tenant_key(self, tenant: str) -> None:
        aliases = self.kms.list_aliases()["Aliases"]
        if any(a["AliasName"] == self._alias(tenant) for a in aliases):
            return
        key_id = self.kms.create_key(Description=f"Yorisoi tenant {tenant}")["KeyMetadata"]["KeyId"]
        self.kms.create_alias(AliasName=self._alias(tenant), TargetKeyId=key_id)

    def wrap(self, tenant: str, data_key: bytes, context: dict[str, str]) -> bytes:
        return self.kms.encrypt(KeyId=self._alias(tenant), Plaintext=data_key,
                                EncryptionContext={"tenant": tenant, **context})["CiphertextBlob"]

    def unwrap(self, tenant: str, wrapped: bytes, context: dict[str, str]) -> bytes:
        return self.kms.decrypt(KeyId=self._alias(tenant), CiphertextBlob=wrapped,
                                EncryptionContext={"tenant": tenant, **context})["Plaintext"]


def build_key_provider(settings) -> TenantKeyProvider:  # noqa: ANN001 - Settings
    """The key provider the settings ask for."""
    if settings.key_provider == "kms":
        return KmsKeyProvider(endpoint_url=settings.kms_endpoint_url, region=settings.s3_region,
                              alias_prefix=settings.kms_key_alias_prefix)
    return LocalKeyFileProvider(settings.keys_dir)
