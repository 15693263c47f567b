"""The console as an OIDC client: authorization code with PKCE against the tenant's issuer.

A tenant's issuer is the one registered for it (``platform`` registry).  For a
real issuer the endpoints come from its discovery document.  The development
issuer's identifiers are not resolvable URLs: its sign-in page is served by
this app (``/dev-idp/...``), and its token endpoint is called in-process
through httpx's ASGI transport — the same HTTP exchange, without a network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from fastapi import FastAPI

from yorisoi.infra.identity import IssuerRegistration
from yorisoi.infra.wiring.bootstrap import DEV_ISSUER_BASE, Services

DISCOVERY_TIMEOUT = 5.0
_discovered: dict[str, dict[str, Any]] = {}


class SignInError(Exception):
    """The sign-in could not go on; ``code`` names why (messages in the catalogue)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def new_verifier() -> str:
    return secrets.token_urlsafe(48)  # 64 characters of the unreserved set


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Provider:
    """Where to send the browser, and where (and how) to redeem the code."""

    registration: IssuerRegistration
    authorization_endpoint: str
    token_endpoint: str
    in_process: bool  # the development issuer, served by this very app
    # Where signing out ends the issuer's own session too (RP-initiated logout), if it says.
    end_session_endpoint: str | None = None

    @property
    def client_id(self) -> str:
        # Our registration's audience is the client id the issuer knows us by.
        return self.registration.audience

    def authorize_url(self, *, redirect_uri: str, state: str, nonce: str,
                      challenge: str) -> str:
        query = urlencode({"response_type": "code", "client_id": self.client_id,
                           "redirect_uri": redirect_uri, "scope": "openid", "state": state,
                           "nonce": nonce, "code_challenge": challenge,
                           "code_challenge_method": "S256"})
        return f"{self.authorization_endpoint}?{query}"

    def logout_url(self, *, post_logout_redirect_uri: str) -> str | None:
        """The issuer's end-session address (OIDC RP-Initiated Logout 1.0), or None.

        By ``client_id``, not ``id_token_hint``: no token in an address (the issuer's
        access log keeps addresses)."""
        if not self.end_session_endpoint:
            return None
        query = urlencode({"client_id": self.client_id,
                           "post_logout_redirect_uri": post_logout_redirect_uri})
        separator = "&" if "?" in self.end_session_endpoint else "?"
        return f"{self.end_session_endpoint}{separator}{query}"

    async def redeem(self, app: FastAPI, *, code: str, verifier: str,
                     redirect_uri: str, client_secret: str | None = None) -> dict[str, Any]:
        """The token response for ``code``.  A public client (PKCE alone) names itself in
        the form; a confidential one (``client_secret``) authenticates with HTTP Basic
        (``client_secret_basic``, RFC 6749 §2.3.1), as enterprise IdPs ask of web apps."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier}
        auth = None
        if client_secret:
            # Both parts form-encoded before Basic (RFC 6749 §2.3.1).
            auth = httpx.BasicAuth(quote(self.client_id, safe=""), quote(client_secret, safe=""))
        else:
            form["client_id"] = self.client_id
        transport = httpx.ASGITransport(app=app) if self.in_process else None
        async with httpx.AsyncClient(transport=transport, timeout=DISCOVERY_TIMEOUT) as client:
            try:
                response = await client.post(self.token_endpoint, data=form, auth=auth)
            except httpx.HTTPError:
                raise SignInError("issuer_unavailable") from None
        if response.status_code != 200:
            raise SignInError("code_refused")
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            raise SignInError("code_refused")
        return body


def client_secret_for(settings: Any, issuer: str) -> str | None:
    """The console's client secret at ``issuer``, if it is a confidential client there.

    From ``YORISOI_OIDC_CLIENT_SECRETS_FILE``: a JSON object of issuer → secret, kept
    beside the keys (readable by the service only), never in the environment or the
    registry.  Read at each sign-in, so a rotated secret needs no restart."""
    path = getattr(settings, "oidc_client_secrets_file", None)
    if not path:
        return None
    try:
        secrets_by_issuer = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SignInError("issuer_unavailable") from None
    secret = secrets_by_issuer.get(issuer) if isinstance(secrets_by_issuer, dict) else None
    return secret if isinstance(secret, str) and secret else None


def dev_issuer_for(services: Services, kind: str, org: str) -> str | None:
    """The development issuer's URL for an organisation, when that issuer is on."""
    if services.dev_issuer is None:
        return None
    try:
        return services.dev_issuer.issuer_for(kind, org)  # type: ignore[arg-type]
    except ValueError:
        return None


async def provider_for(services: Services, issuer: str, base_url: str) -> Provider:
    """The registered issuer's endpoints (SignInError when it is not registered)."""
    registration = services.directory.issuer(issuer)
    if registration is None:
        raise SignInError("organisation_unknown")
    if services.dev_issuer is not None and issuer.startswith(DEV_ISSUER_BASE + "/"):
        config = services.dev_issuer.openid_configuration(
            registration.tenant_kind, registration.tenant_id, endpoint_base=base_url)
        # The token endpoint is reached in-process; any host name will do.
        return Provider(registration, config["authorization_endpoint"],
                        config["token_endpoint"], in_process=True)
    config = _discovered.get(issuer)
    if config is None:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        async with httpx.AsyncClient(timeout=DISCOVERY_TIMEOUT) as client:
            try:
                response = await client.get(url)
                response.raise_for_status()
                config = response.json()
            except (httpx.HTTPError, ValueError):
                raise SignInError("issuer_unavailable") from None
        if not _sound_discovery(config, issuer):
            raise SignInError("issuer_unavailable")
        _discovered[issuer] = config
    end_session = config.get("end_session_endpoint")
    return Provider(registration, config["authorization_endpoint"], config["token_endpoint"],
                    in_process=False,
                    end_session_endpoint=end_session if _http_url(end_session) else None)


def _http_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _sound_discovery(config: object, issuer: str) -> bool:
    """A discovery document we may follow: it names this very issuer (OpenID Connect
    Discovery §4.3 — another issuer's document would send people elsewhere), both
    endpoints as http(s) URLs, and PKCE with S256."""
    if not isinstance(config, dict):
        return False
    methods = config.get("code_challenge_methods_supported")
    return (config.get("issuer") == issuer
            and _http_url(config.get("authorization_endpoint"))
            and _http_url(config.get("token_endpoint"))
            and isinstance(methods, list) and "S256" in methods)
