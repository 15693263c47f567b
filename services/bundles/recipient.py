"""Household keys wrapped for the bundle's recipient, never under the platform's tenant key.

The recipient publishes an X25519 public key (PEM).  Each bundle draws one
ephemeral X25519 key; ``HKDF-SHA256(ECDH(ephemeral, recipient), salt = bundle
id, info = "yorisoi-tenant-bundle/1 household keys")`` gives a 256-bit
AES-GCM key, and every household key is sealed under it with a random nonce
and the associated data ``bundle id ‖ 0x00 ‖ household id``: a wrapped key
moved to another household, or into another bundle, does not open.  Only the
holder of the recipient's private key opens them; the exporting platform
keeps nothing that would (the ephemeral private key is dropped once the
bundle is written).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from yorisoi.services.bundles.errors import BundleRecipientError

ALGORITHM = "X25519-HKDF-SHA256-AES256GCM"
_INFO = b"yorisoi-tenant-bundle/1 household keys"


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def recipient_key_id(public_pem: str) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key (as the platform key's id)."""
    return hashlib.sha256(_raw(load_public(public_pem))).hexdigest()[:16]


def load_public(pem: str) -> X25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise BundleRecipientError(message="The recipient key is not a PEM public key.",
                                   message_ja="受取人の鍵が PEM 形式の公開鍵ではありません。"
                                   ) from None
    if not isinstance(key, X25519PublicKey):
        raise BundleRecipientError(message="The recipient key must be an X25519 public key.",
                                   message_ja="受取人の鍵は X25519 の公開鍵を指定してください。")
    return key


def load_private(pem: bytes) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise BundleRecipientError(message="The identity is not an unencrypted PEM private key.",
                                   message_ja="秘密鍵が暗号化されていない PEM 形式ではありません。"
                                   ) from None
    if not isinstance(key, X25519PrivateKey):
        raise BundleRecipientError(message="The identity must be an X25519 private key.",
                                   message_ja="秘密鍵は X25519 の鍵を指定してください。")
    return key


def generate(directory: Path, name: str = "bundle-recipient") -> tuple[Path, Path]:
    """A new recipient key pair: ``name.key`` (0600, private) and ``name.pub`` (PEM)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = X25519PrivateKey.generate()
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _kek(shared: bytes, bundle_id: str) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=bundle_id.encode(),
                       info=_INFO).derive(shared))


def _aad(bundle_id: str, household_id: str) -> bytes:
    return bundle_id.encode() + b"\x00" + household_id.encode()


class RecipientWrapper:
    """Wraps household keys for one recipient in one bundle (the exporting side)."""

    def __init__(self, recipient_pem: str, bundle_id: str) -> None:
        recipient = load_public(recipient_pem)
        ephemeral = X25519PrivateKey.generate()
        self.bundle_id = bundle_id
        self.header = {"algorithm": ALGORITHM, "recipientKeyId": recipient_key_id(recipient_pem),
                       "ephemeralPublicKey": _raw(ephemeral.public_key()).hex()}
        self._aead = _kek(ephemeral.exchange(recipient), bundle_id)

    def wrap(self, household_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, _aad(self.bundle_id, household_id))


class RecipientUnwrapper:
    """Opens the household keys of one bundle with the recipient's private key."""

    def __init__(self, identity: X25519PrivateKey, header: dict[str, str], bundle_id: str) -> None:
        if header.get("algorithm") != ALGORITHM:
            raise BundleRecipientError(message="The bundle's keys use an unknown wrapping.",
                                       message_ja="バンドルの鍵の保護方式に対応していません。")
        own = hashlib.sha256(_raw(identity.public_key())).hexdigest()[:16]
        if own != header.get("recipientKeyId"):
            raise BundleRecipientError()
        try:
            ephemeral = X25519PublicKey.from_public_bytes(
                bytes.fromhex(header["ephemeralPublicKey"]))
        except (KeyError, ValueError):
            raise BundleRecipientError() from None
        self.bundle_id = bundle_id
        self._aead = _kek(identity.exchange(ephemeral), bundle_id)

    def unwrap(self, household_id: str, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:],
                                      _aad(self.bundle_id, household_id))
        except (InvalidTag, ValueError):
            raise BundleRecipientError() from None
