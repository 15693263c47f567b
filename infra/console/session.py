"""Console sessions: a signed, encrypted cookie, with idle and absolute expiry, and CSRF tokens.

The cookie holds the verified access token, a session id, a CSRF token and two
times; it is sealed with AES-GCM under a key kept in the keys directory (like
the link-signing secrets), so it can be neither read nor altered by the
browser, and any process of the deployment can open it.  Cookies are HttpOnly,
SameSite=Lax, and Secure unless the console is served on plain loopback HTTP.

Signing out clears the cookie and revokes its session id in every process of the
deployment: the id is recorded in the platform database (infra/session_revocations.py)
until its absolute expiry, and a copy replayed later — to this process or another —
is refused.  Each request asks the database once (the answer is kept on the request).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Request, Response

from yorisoi.infra.local_secrets import load_or_create_secret
from yorisoi.infra.session_revocations import SessionRevocations

_log = logging.getLogger("yorisoi.console")

SESSION_COOKIE = "yorisoi_console"
LOGIN_COOKIE = "yorisoi_console_login"
LANG_COOKIE = "yorisoi_lang"
COOKIE_PATH = "/"
SECRET_FILE = "console-session.secret"

IDLE_SECONDS = 30 * 60
ABSOLUTE_SECONDS = 8 * 3600
LOGIN_SECONDS = 10 * 60
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass(frozen=True)
class Session:
    """One signed-in person's session."""

    sid: str
    token: str
    csrf: str
    created: float
    seen: float
    expires: float  # the token's own expiry: the session never outlives it


class CookieSealer:
    """AES-GCM sealing of small JSON documents, one purpose per associated-data label."""

    def __init__(self, secret: bytes) -> None:
        # A key of its own, derived from the secret file (never the raw secret).
        self._aead = AESGCM(hashlib.sha256(b"yorisoi-console-cookie\x00" + secret).digest())

    def seal(self, purpose: str, document: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        body = json.dumps(document, separators=(",", ":")).encode()
        sealed = nonce + self._aead.encrypt(nonce, body, purpose.encode())
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        if not value or len(value) > 8192:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            body = self._aead.decrypt(raw[:12], raw[12:], purpose.encode())
            document = json.loads(body)
        except (ValueError, InvalidTag):
            return None
        return document if isinstance(document, dict) else None


@dataclass
class ConsoleState:
    """The console's process-wide state (``app.state.console``); tests may change the clock."""

    sealer: CookieSealer
    idle_seconds: float = IDLE_SECONDS
    absolute_seconds: float = ABSOLUTE_SECONDS
    clock: Callable[[], float] = time.time
    # Revoked here (a fast answer without the database), and shared: ``revocations``,
    # or the one made from the app's services on first use.
    revoked: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    revocations: SessionRevocations | None = None

    @classmethod
    def from_keys_dir(cls, keys_dir: Path) -> ConsoleState:
        return cls(CookieSealer(load_or_create_secret(Path(keys_dir) / SECRET_FILE)))

    # -- sessions -----------------------------------------------------------------

    def start(self, token: str, token_expires: float) -> Session:
        now = self.clock()
        return Session(sid=secrets.token_urlsafe(16), token=token,
                       csrf=secrets.token_urlsafe(24), created=now, seen=now,
                       expires=min(token_expires, now + self.absolute_seconds))

    def current(self, request: Request) -> tuple[Session | None, str | None]:
        """The request's live session, or None with why ("expired", "missing")."""
        session, why = self._opened(request)
        if session is not None and self._revoked_elsewhere(request, session.sid):
            return None, "missing"
        return session, why

    def unchecked(self, request: Request) -> Session | None:
        """The request's session as its cookie and this process know it, not yet checked
        against sign-outs made by other processes (``note_revocation`` records that
        check when another statement made it)."""
        return self._opened(request)[0]

    def note_revocation(self, request: Request, sid: str, revoked: bool) -> None:
        """The sign-out check for ``sid``, made for this request by another statement
        (the rate limits' charge): ``current`` answers from it without asking again."""
        request.scope.setdefault("state", {})["yorisoi_revocation"] = (sid, revoked)
        if revoked:
            with self.lock:
                self.revoked[sid] = self.clock() + self.absolute_seconds

    def revocation_probe(self, request: Request, sid: str) -> tuple[str, tuple[str, ...]] | None:
        """The sign-out check's statement for ``sid``, to ride along another (None: no
        shared store)."""
        store = self._store(request)
        return store.probe(sid) if store is not None else None

    def _opened(self, request: Request) -> tuple[Session | None, str | None]:
        data = self.sealer.open("session", request.cookies.get(SESSION_COOKIE))
        if data is None:
            return None, "missing"
        try:
            session = Session(**data)
        except TypeError:
            return None, "missing"
        now = self.clock()
        with self.lock:
            if session.sid in self.revoked:
                return None, "missing"
        if now - session.seen > self.idle_seconds or now >= session.expires:
            return None, "expired"
        return replace(session, seen=now), None

    def revoke(self, session: Session, request: Request | None = None) -> None:
        """Sign ``session`` out here and, through the platform database, everywhere."""
        with self.lock:
            now = self.clock()
            for sid in [s for s, until in self.revoked.items() if until < now]:
                del self.revoked[sid]
            self.revoked[session.sid] = session.expires
        store = self._store(request)
        if store is not None:
            store.revoke(session.sid, session.expires)

    def _store(self, request: Request | None) -> SessionRevocations | None:
        if self.revocations is None and request is not None:
            services = getattr(request.app.state, "services", None)
            if services is not None:
                self.revocations = SessionRevocations(
                    lambda: services.directory.platform.database)
        return self.revocations

    def _revoked_elsewhere(self, request: Request, sid: str) -> bool:
        """Whether another process signed ``sid`` out: asked once per request."""
        state = request.scope.setdefault("state", {})
        asked = state.get("yorisoi_revocation")
        if asked is not None and asked[0] == sid:
            return bool(asked[1])
        store = self._store(request)
        if store is None:
            return False
        try:
            revoked = store.is_revoked(sid)
        except Exception as error:  # noqa: BLE001 - an outage: the page meets it and answers 503
            # The pages this cookie would open read the same database, so they fail too;
            # refusing here would send the person to a sign-in that cannot work either.
            _log.warning("sign-out check unavailable: %s", type(error).__name__)
            return False
        state["yorisoi_revocation"] = (sid, revoked)
        if revoked:
            with self.lock:
                self.revoked[sid] = self.clock() + self.absolute_seconds
        return revoked

    def write(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(SESSION_COOKIE, self.sealer.seal("session", asdict(session)),
                            max_age=int(max(1, session.expires - self.clock())),
                            path=COOKIE_PATH, httponly=True, samesite="lax",
                            secure=secure_cookies(request))

    # -- the sign-in round trip ------------------------------------------------------

    def write_login(self, request: Request, response: Response, flow: dict[str, Any]) -> None:
        flow = {**flow, "at": self.clock()}
        response.set_cookie(LOGIN_COOKIE, self.sealer.seal("login", flow), max_age=LOGIN_SECONDS,
                            path=COOKIE_PATH, httponly=True, samesite="lax",
                            secure=secure_cookies(request))

    def login_flow(self, request: Request) -> dict[str, Any] | None:
        flow = self.sealer.open("login", request.cookies.get(LOGIN_COOKIE))
        if flow is None or self.clock() - float(flow.get("at", 0)) > LOGIN_SECONDS:
            return None
        return flow


def secure_cookies(request: Request) -> bool:
    """Secure cookies everywhere except plain HTTP on the loopback address (development)."""
    return not (request.url.scheme == "http" and request.url.hostname in _LOOPBACK)


def csrf_matches(session: Session, submitted: object) -> bool:
    return isinstance(submitted, str) and hmac.compare_digest(session.csrf, submitted)


def clear(response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH)
