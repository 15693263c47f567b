"""The development OIDC issuer of the embedded default.

One RSA key, kept on disk so tokens survive restarts, signs tokens for every
tenant; each tenant still gets its own issuer URL, so a dev token for one
tenant can never be verified as another's (the tenant comes from the
issuer's registration).  Never enabled in production (``Settings.dev_issuer``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .identity import IssuerRegistration, TenantKind, validate_tenant

KEY_FILENAME = "dev-issuer.pem"
ALGORITHM = "RS256"
# Set by mint() itself; extra_claims may not override them.
_RESERVED_CLAIMS = frozenset({"iss", "aud", "sub", "iat", "exp", "jti", "nbf"})


def jwk_thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of an RSA public JWK, base64url."""
    # Only the required members, in lexicographic order, no whitespace.
    canonical = json.dumps(
        {"e": public_jwk["e"], "kty": public_jwk["kty"], "n": public_jwk["n"]},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Write a private temp file, then hard-link it into place: the link
        # fails if another process won the race, and nobody ever reads a
        # half-written key.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # in case the umask is unusual
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a copied-in key file may have lost its mode
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return key


class DevIssuer:
    """Mints RS256 tokens for any tenant, one issuer URL per tenant."""

    def __init__(self, keys_dir: Path, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = _load_or_create_key(Path(keys_dir) / KEY_FILENAME)
        public_jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(
            self._key.public_key(), as_dict=True
        )
        self.kid = jwk_thumbprint(public_jwk)
        self._public_jwk = {**public_jwk, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    @property
    def jwks_uri(self) -> str:
        return f"{self.base_url}/dev-idp/jwks.json"

    def issuer_for(self, tenant_kind: TenantKind, tenant_id: str) -> str:
        validate_tenant(tenant_kind, tenant_id)
        return f"{self.base_url}/dev-idp/{tenant_kind}/{tenant_id}"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._public_jwk)]}

    def registration_for(
        self, tenant_kind: TenantKind, tenant_id: str, audience: str = "yorisoi"
    ) -> IssuerRegistration:
        return IssuerRegistration(
            issuer=self.issuer_for(tenant_kind, tenant_id),
            audience=audience,
            tenant_kind=tenant_kind,
            tenant_id=tenant_id,
            jwks=self.jwks(),
        )

    def openid_configuration(self, tenant_kind: TenantKind, tenant_id: str) -> dict[str, Any]:
        return {
            "issuer": self.issuer_for(tenant_kind, tenant_id),
            "jwks_uri": self.jwks_uri,
            "id_token_signing_alg_values_supported": [ALGORITHM],
        }

    def mint(
        self,
        tenant_kind: TenantKind,
        tenant_id: str,
        subject: str,
        *,
        roles: tuple[str, ...] | list[str],
        sites: tuple[str, ...] | list[str] = (),
        org_name: str | None = None,
        expires_in: int = 3600,
        audience: str = "yorisoi",
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """A signed token; a negative ``expires_in`` gives an expired one."""
        if not subject:
            raise ValueError("subject must be non-empty")
        reserved = _RESERVED_CLAIMS.intersection(extra_claims or {})
        if reserved:
            raise ValueError(f"extra_claims may not set {sorted(reserved)}")
        now = int(time.time())
        claims: dict[str, Any] = {
            **(extra_claims or {}),
            "iss": self.issuer_for(tenant_kind, tenant_id),
            "aud": audience,
            "sub": subject,
            "iat": now,
            "exp": now + int(expires_in),
            "jti": secrets.token_urlsafe(16),
            "roles": list(roles),
            "sites": list(sites),
        }
        if org_name is not None:
            claims["org_name"] = org_name
        return jwt.encode(
            claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"}
        )
