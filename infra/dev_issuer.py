"""The development OIDC issuer of the embedded default.

One RSA key, kept on disk so tokens survive restarts, signs tokens for every
tenant; each tenant still gets its own issuer URL, so a dev token for one
tenant can never be verified as another's (the tenant comes from the
issuer's registration).  Never enabled in production (``Settings.dev_issuer``).

It also speaks the authorization-code flow with PKCE (RFC 7636, S256 only) for
the staff console: ``issue_code`` after someone picks a user on the sign-in
page (``infra/console/dev_idp.py``), ``redeem_code`` at the token endpoint.
Codes live in this process's memory for a minute and work once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .identity import IssuerRegistration, TenantKind, validate_tenant

KEY_FILENAME = "dev-issuer.pem"
ALGORITHM = "RS256"
CODE_SECONDS = 60
# A console session lasts a working day at most; the token carries that limit.
CODE_TOKEN_SECONDS = 8 * 3600
# RFC 7636 §4.1: 43-128 unreserved characters.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
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


class AuthorizationCodeError(Exception):
    """A token request refused; ``error`` is the OAuth 2.0 error code (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class _PendingCode:
    tenant_kind: TenantKind
    tenant_id: str
    subject: str
    roles: tuple[str, ...]
    sites: tuple[str, ...]
    org_name: str | None
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    expires_at: float


class DevIssuer:
    """Mints RS256 tokens for any tenant, one issuer URL per tenant."""

    def __init__(self, keys_dir: Path, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._codes: dict[str, _PendingCode] = {}
        self._codes_lock = threading.Lock()
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

    def openid_configuration(self, tenant_kind: TenantKind, tenant_id: str,
                             endpoint_base: str | None = None) -> dict[str, Any]:
        """Discovery; ``endpoint_base`` (where a browser reaches this app) adds the endpoints."""
        config: dict[str, Any] = {
            "issuer": self.issuer_for(tenant_kind, tenant_id),
            "jwks_uri": self.jwks_uri,
            "id_token_signing_alg_values_supported": [ALGORITHM],
        }
        if endpoint_base is not None:
            base = endpoint_base.rstrip("/")
            config.update({
                "authorization_endpoint": f"{base}/dev-idp/{tenant_kind}/{tenant_id}/authorize",
                "token_endpoint": f"{base}/dev-idp/token",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "code_challenge_methods_supported": ["S256"],
            })
        return config

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

    # -- authorization-code flow with PKCE ---------------------------------------------

    def issue_code(self, tenant_kind: TenantKind, tenant_id: str, subject: str, *,
                   roles: tuple[str, ...] | list[str], sites: tuple[str, ...] | list[str],
                   org_name: str | None, client_id: str, redirect_uri: str,
                   code_challenge: str, nonce: str | None) -> str:
        """A one-time code for the chosen user, bound to the client, redirect and challenge."""
        validate_tenant(tenant_kind, tenant_id)
        if not subject or not code_challenge:
            raise ValueError("subject and code_challenge are required")
        code = secrets.token_urlsafe(32)
        now = time.time()
        with self._codes_lock:
            for stale in [c for c, p in self._codes.items() if p.expires_at < now]:
                del self._codes[stale]
            self._codes[code] = _PendingCode(
                tenant_kind, tenant_id, subject, tuple(roles), tuple(sites), org_name,
                client_id, redirect_uri, code_challenge, nonce, now + CODE_SECONDS)
        return code

    def redeem_code(self, code: str, *, client_id: str, redirect_uri: str,
                    code_verifier: str) -> dict[str, Any]:
        """The token response for a code (once), or AuthorizationCodeError."""
        with self._codes_lock:
            pending = self._codes.pop(code, None)  # used or not, a code works once
        if pending is None or pending.expires_at < time.time():
            raise AuthorizationCodeError("invalid_grant", "unknown, used or expired code")
        if client_id != pending.client_id or redirect_uri != pending.redirect_uri:
            raise AuthorizationCodeError("invalid_grant", "client or redirect_uri mismatch")
        if not _VERIFIER.fullmatch(code_verifier or "") or not secrets.compare_digest(
                pkce_challenge(code_verifier), pending.code_challenge):
            raise AuthorizationCodeError("invalid_grant", "code_verifier does not match")
        extra = {"azp": client_id, **({"nonce": pending.nonce} if pending.nonce else {})}
        token = self.mint(pending.tenant_kind, pending.tenant_id, pending.subject,
                          roles=pending.roles, sites=pending.sites, org_name=pending.org_name,
                          expires_in=CODE_TOKEN_SECONDS, audience=client_id,
                          extra_claims=extra)
        # One JWT serves as both: the console verifies it exactly as the API does.
        return {"access_token": token, "id_token": token, "token_type": "Bearer",
                "expires_in": CODE_TOKEN_SECONDS, "scope": "openid"}
