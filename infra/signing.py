"""The platform's signing key: disposal certificates and audit checkpoints are signed with it.

Ed25519 (deterministic, small, fast to verify offline).  The embedded default
keeps the private key in a file under ``keys_dir/platform`` (mode 0600); the
public key is published so that anyone holding a certificate or a ledger
export can verify it without access to the platform.  What is signed is
always canonical JSON (sorted keys, no spaces, UTF-8), so a verifier in any
language reproduces the exact bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ALGORITHM = "Ed25519"


def canonical_json(value: Any) -> bytes:
    """The exact bytes that are signed and hashed: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(public_pem: str) -> str:
    """A short, stable name for a public key (first 16 hex digits of its SHA-256)."""
    public = serialization.load_pem_public_key(public_pem.encode())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signature:
    algorithm: str
    key_id: str
    value: str  # base64

    def as_dict(self) -> dict[str, str]:
        return {"algorithm": self.algorithm, "keyId": self.key_id, "value": self.value}


class SignatureInvalidError(Exception):
    """The signature does not match the document, or was made by another key."""


class PlatformSigner:
    """Signs canonical JSON documents with the platform's Ed25519 key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.key_id = key_id(self.public_pem)

    @classmethod
    def from_keys_dir(cls, keys_dir: Path) -> PlatformSigner:
        """Load the key file, creating it on first use (exclusive create: never overwritten)."""
        path = Path(keys_dir) / "platform" / "signing-ed25519.pem"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption())
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first: use theirs
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(pem)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the platform signing key must be Ed25519")
        return cls(key)

    def sign(self, document: Any) -> Signature:
        value = self._key.sign(canonical_json(document))
        return Signature(ALGORITHM, self.key_id, base64.b64encode(value).decode())


def verify(public_pem: str, document: Any, signature: dict[str, str] | Signature) -> None:
    """Raise SignatureInvalidError unless ``signature`` is the key's signature of ``document``."""
    sig = signature.as_dict() if isinstance(signature, Signature) else signature
    if sig.get("algorithm") != ALGORITHM:
        raise SignatureInvalidError("unsupported signature algorithm")
    if sig.get("keyId") != key_id(public_pem):
        raise SignatureInvalidError("signed with a different key")
    public = serialization.load_pem_public_key(public_pem.encode())
    if not isinstance(public, Ed25519PublicKey):
        raise SignatureInvalidError("the public key is not Ed25519")
    try:
        public.verify(base64.b64decode(sig.get("value", "")), canonical_json(document))
    except (InvalidSignature, ValueError):
        raise SignatureInvalidError("the signature does not match the document") from None
