"""Bearer-token verification against each tenant's own OIDC issuer.

Every tenant (a municipality or a contractor organisation) registers one
issuer.  A token is trusted only after its signature verifies with a key
published by the registered issuer; the tenant then comes from that
*registration*, never from a claim inside the token.

The unverified parts of a token are read for exactly two purposes: the
header's ``alg``/``kid`` (to pick a key) and the payload's ``iss`` (to pick
the registration).  Everything else is read only after ``jwt.decode`` has
checked the signature, issuer, audience and lifetime.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import copy
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import (
    SECP256R1,
    EllipticCurvePublicKey,
)
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

# "platform": the hosted service's own operators (one registered issuer, tenant id "platform").
TenantKind = Literal["municipality", "contractor", "platform"]
TENANT_KINDS: frozenset[str] = frozenset({"municipality", "contractor", "platform"})

_log = logging.getLogger("yorisoi.identity")

PLATFORM_TENANT = "platform"

# Asymmetric algorithms only.  HS* would let anyone holding the (public) JWKS
# forge tokens if a key were ever misread as an HMAC secret; "none" is no
# signature at all.
ALLOWED_ALGORITHMS: frozenset[str] = frozenset({"RS256", "ES256"})

CLOCK_LEEWAY_SECONDS = 30
# A token lives a working day or an integration's key rotation, not decades: an ``exp``
# further ahead than this (or an ``iat``/``nbf`` before the epoch or beyond it) is refused
# as invalid rather than turned into a date (``--expires-in 999999999999`` was a 500).
MAX_TOKEN_LIFETIME_SECONDS = 366 * 24 * 3600
# OpenID Connect Core §2: ``sub`` is at most 255 ASCII characters; it becomes the actor
# of every event the token writes, so it may not be empty either.
MAX_SUBJECT_LENGTH = 255
_SUBJECT = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
# Tokens are small; refusing huge ones early bounds the work an anonymous
# caller can make us do before any signature check.
MAX_TOKEN_LENGTH = 16 * 1024

_MUNICIPALITY_CODE = re.compile(r"[0-9]{6}")
# Contractor ids end up in URLs (the dev issuer's paths) and key names, so keep
# them to a conservative slug.
_CONTRACTOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# RFC 6750 b64token; a JWS compact serialisation is a subset of it.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def validate_tenant(tenant_kind: str, tenant_id: str) -> None:
    """Raise ValueError unless (tenant_kind, tenant_id) is well formed."""
    if tenant_kind not in TENANT_KINDS:
        raise ValueError(f"tenant_kind must be one of {sorted(TENANT_KINDS)}")
    if tenant_kind == "platform":
        if tenant_id != PLATFORM_TENANT:
            raise ValueError(f"the platform's tenant_id is {PLATFORM_TENANT!r}")
        return
    pattern = _MUNICIPALITY_CODE if tenant_kind == "municipality" else _CONTRACTOR_ID
    if not isinstance(tenant_id, str) or not pattern.fullmatch(tenant_id):
        expected = "a 6-digit municipality code" if tenant_kind == "municipality" else "a contractor id"
        raise ValueError(f"tenant_id must be {expected}")


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

# code -> (English, Japanese).  Messages name claims at most, never values:
# they end up in responses and logs.
_MESSAGES: dict[str, tuple[str, str]] = {
    "token_missing": ("No bearer token was presented.", "認証トークンがありません。"),
    "token_malformed": ("The bearer token is malformed.", "認証トークンの形式が正しくありません。"),
    "token_expired": ("The token has expired.", "トークンの有効期限が切れています。"),
    "token_not_yet_valid": ("The token is not valid yet.", "トークンはまだ有効ではありません。"),
    "issuer_unknown": ("The token's issuer is not registered.", "トークンの発行者が登録されていません。"),
    "issuer_unavailable": (
        "The issuer's signing keys could not be fetched; try again later.",
        "発行者の署名鍵を取得できませんでした。しばらくしてから再度お試しください。",
    ),
    "audience_mismatch": ("The token was issued for another audience.", "トークンの対象（audience）が一致しません。"),
    "signature_invalid": ("The token's signature is invalid.", "トークンの署名が正しくありません。"),
    "algorithm_not_allowed": (
        "The token's signing algorithm is not allowed.",
        "トークンの署名アルゴリズムは許可されていません。",
    ),
    "key_unknown": ("The token's signing key is not known.", "トークンの署名鍵が見つかりません。"),
    "claim_missing": ("The token lacks a required claim.", "トークンに必要な項目がありません。"),
    "claim_invalid": ("A claim in the token has an invalid value.", "トークンの項目の値が正しくありません。"),
}


class AuthenticationError(Exception):
    """Authentication failed; ``code`` is stable, messages are for people.

    ``issuer_unavailable`` is the issuer's fault, not the caller's (think 503);
    every other code means the credential was refused (think 401).
    """

    def __init__(self, code: str, *, claim: str | None = None) -> None:
        message, message_ja = _MESSAGES[code]
        if claim is not None:
            # ``claim`` is always one of our own claim names, not token input.
            message = f"{message[:-1]} ({claim})."
            message_ja = f"{message_ja[:-1]}（{claim}）。"
        super().__init__(message)
        self.code = code
        self.claim = claim
        self.message = message
        self.message_ja = message_ja


class LookupUnavailable(Exception):  # noqa: N818 - a signal, not an error
    """``verify_offline`` cannot answer from memory (a registry read or a JWKS fetch is due)."""


def bearer_token(authorization_header: str | None) -> str:
    """The token from an ``Authorization: Bearer <token>`` header value."""
    if authorization_header is None or not authorization_header.strip():
        raise AuthenticationError("token_missing")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise AuthenticationError("token_malformed")
    if not token:
        raise AuthenticationError("token_missing")
    if len(token) > MAX_TOKEN_LENGTH or not _B64TOKEN.fullmatch(token):
        raise AuthenticationError("token_malformed")
    return token


# --------------------------------------------------------------------------
# Registrations and results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuerRegistration:
    """One tenant's trusted issuer, with exactly one source of its keys."""

    issuer: str
    audience: str
    tenant_kind: TenantKind
    tenant_id: str
    jwks_uri: str | None = None
    # Inline JWKS (the dev issuer).  Excluded from hashing because dicts are
    # unhashable, and from repr because it is long and uninteresting.
    jwks: dict[str, Any] | None = field(default=None, hash=False, repr=False)

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ValueError("issuer and audience must be non-empty")
        validate_tenant(self.tenant_kind, self.tenant_id)
        if (self.jwks_uri is None) == (self.jwks is None):
            raise ValueError("exactly one of jwks_uri and jwks must be given")
        if self.jwks_uri is not None:
            parsed = urlparse(self.jwks_uri)
            if parsed.scheme not in ("https", "http") or not parsed.netloc:
                raise ValueError("jwks_uri must be an http(s) URL")
        if self.jwks is not None and not isinstance(self.jwks.get("keys"), list):
            raise ValueError("jwks must be a JWKS document with a 'keys' list")


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose signature, issuer, audience and lifetime have been checked."""

    issuer: str
    subject: str
    tenant_kind: TenantKind
    tenant_id: str
    roles: tuple[str, ...]
    org_name: str | None
    sites: tuple[str, ...]
    expires_at: datetime
    token_id: str | None
    # Kept out of repr so that logging a VerifiedToken does not log claims.
    claims: dict[str, Any] = field(repr=False, compare=False, hash=False)


# --------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------


def _algorithm_for(key: jwt.PyJWK) -> str | None:
    """The one algorithm a key may verify, from the key's own type.

    Only public keys qualify: a JWKS that publishes private or symmetric
    ("oct") material is misconfigured and is not trusted at all.
    """
    if isinstance(key.key, RSAPublicKey):
        return "RS256"
    if isinstance(key.key, EllipticCurvePublicKey) and isinstance(key.key.curve, SECP256R1):
        return "ES256"
    return None


def _int_claim(claims: dict[str, Any], name: str) -> int:
    """A time claim that jwt.decode accepted (or 0 when absent)."""
    return int(claims.get(name, 0))


def valid_subject(subject: object) -> bool:
    """1-255 printable ASCII characters, no space at either end (OIDC Core §2)."""
    return isinstance(subject, str) and len(subject) <= MAX_SUBJECT_LENGTH \
        and _SUBJECT.fullmatch(subject) is not None


def _check_times(claims: dict[str, Any], now: float | None = None) -> None:
    """``exp``, ``iat`` and ``nbf`` as NumericDates within sane bounds (jwt.decode
    accepts any number: a year beyond ``datetime``'s range, say)."""
    now = time.time() if now is None else now
    latest = now + MAX_TOKEN_LIFETIME_SECONDS
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if value is None and name == "nbf":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0 <= value <= latest:  # NaN compares false: refused too
            raise AuthenticationError("claim_invalid", claim=name)


def _string_tuple(claims: dict[str, Any], name: str) -> tuple[str, ...]:
    value = claims.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AuthenticationError("claim_invalid", claim=name)
    return tuple(value)


# PyJWT's exceptions, most specific first, mapped to our codes.
_DECODE_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token_expired"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid"),
    (jwt.InvalidAudienceError, "audience_mismatch"),
    (jwt.InvalidIssuerError, "issuer_unknown"),
    (jwt.InvalidSignatureError, "signature_invalid"),
    (jwt.InvalidAlgorithmError, "algorithm_not_allowed"),
    (jwt.InvalidKeyError, "key_unknown"),  # e.g. an RSA key under 2048 bits
    (jwt.PyJWTError, "token_malformed"),
)
_CLAIM_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.exceptions.InvalidSubjectError, "sub"),
    (jwt.exceptions.InvalidJTIError, "jti"),
    (jwt.InvalidIssuedAtError, "iat"),
)


def _translate(error: jwt.PyJWTError) -> AuthenticationError:
    if isinstance(error, jwt.MissingRequiredClaimError):
        return AuthenticationError("claim_missing", claim=error.claim)
    for kind, claim in _CLAIM_ERRORS:
        if isinstance(error, kind):
            return AuthenticationError("claim_invalid", claim=claim)
    for kind, code in _DECODE_ERRORS:
        if isinstance(error, kind):
            return AuthenticationError(code)
    return AuthenticationError("token_malformed")


@dataclass(frozen=True)
class _Verified:
    """A token that passed ``jwt.decode`` with this registration and this key object."""

    header: dict[str, Any]
    issuer: str
    registration: IssuerRegistration
    key: jwt.PyJWK
    token: VerifiedToken
    not_before: int  # the latest of iat and nbf

    def still_valid(self, registration: IssuerRegistration, key: jwt.PyJWK) -> bool:
        """Whether ``jwt.decode`` would accept the token again, right now.

        Signature, issuer and audience depend on the key and the registration only:
        the very same key object (the JWKS caches hand out new objects when a set is
        refetched) and an equal registration give the same answer.  The lifetime is
        checked again, more strictly than with the leeway, so near a boundary the
        full verification decides (and names the error).
        """
        now = time.time()
        return (key is self.key and registration == self.registration
                and self.not_before <= now < self.token.expires_at.timestamp())


# Verified tokens kept per process (keyed by the token's SHA-256, not the token).
_MAX_VERIFIED = 10_000


class TokenVerifier:
    """Verifies bearer tokens against the registered issuer they name.

    Thread-safe; meant to live for the whole process so the JWKS caches do.

    A token seen before skips the signature check (an RSA verification and three
    parses, ~0.17 ms) when its issuer's registration (read as fresh as ever) and the
    signing key it selects are still the ones it was verified with, and it is within
    its lifetime; everything else runs as for a new token.
    """

    def __init__(
        self,
        lookup: Callable[[str], IssuerRegistration | None],
        *,
        jwks_lifespan: float = 300.0,
        jwks_refetch_cooldown: float = 1.0,
        jwks_timeout: float = 5.0,
        jwks_stale_if_error: float = 3600.0,
    ) -> None:
        self._lookup = lookup
        self._jwks_lifespan = jwks_lifespan
        # An unknown kid refetches the issuer's keys at once, but an issuer is asked at
        # most once per this many seconds: tokens with made-up kids must not make us
        # hammer it (a request that comes sooner waits out the rest of the interval and
        # shares the next fetch; see _IssuerKeys).
        self._jwks_refetch_cooldown = jwks_refetch_cooldown
        self._jwks_timeout = jwks_timeout
        # An issuer that cannot be reached when its set is due for a refresh: the set
        # fetched last still verifies the keys it holds for this long past its lifespan
        # (see _IssuerKeys).
        self._jwks_stale_if_error = jwks_stale_if_error
        self._lock = threading.Lock()
        self._issuer_keys: dict[str, _IssuerKeys] = {}
        self._inline: dict[str, tuple[dict[str, Any], jwt.PyJWKSet]] = {}
        self._verified: dict[bytes, _Verified] = {}

    def verify(self, token: str) -> VerifiedToken:
        return self._verify(token, self._lookup, offline=False)

    def verify_offline(self, token: str,
                       lookup: Callable[[str], IssuerRegistration | None]) -> VerifiedToken:
        """``verify`` without I/O, for the event loop: ``lookup`` answers from memory (or
        raises LookupUnavailable), and keys come from the JWKS caches as they stand.

        Raises LookupUnavailable whenever ``verify`` would have to read or fetch; any
        other answer (a VerifiedToken, an AuthenticationError) is the one ``verify``
        gives for the same registration and keys.
        """
        return self._verify(token, lookup, offline=True)

    def _verify(self, token: str, lookup: Callable[[str], IssuerRegistration | None], *,
                offline: bool) -> VerifiedToken:
        if not token:
            raise AuthenticationError("token_missing")
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationError("token_malformed")

        digest = hashlib.sha256(token.encode()).digest()
        seen = self._verified.get(digest)
        if seen is not None:
            header, issuer = seen.header, seen.issuer
        else:
            try:
                header = jwt.get_unverified_header(token)
                unverified = jwt.decode(token, options={"verify_signature": False})
            except (jwt.PyJWTError, ValueError, OverflowError, TypeError):
                raise AuthenticationError("token_malformed") from None
            issuer = unverified.get("iss")

        alg = header.get("alg")
        # (A list or an object is unhashable: the set lookup alone would raise TypeError.)
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise AuthenticationError("algorithm_not_allowed")
        if not isinstance(issuer, str) or not issuer:
            raise AuthenticationError("claim_missing", claim="iss")
        registration = lookup(issuer)
        if registration is None:
            raise AuthenticationError("issuer_unknown")

        key = self._signing_key(registration, header.get("kid"), offline=offline)
        expected = _algorithm_for(key)
        if expected is None:
            raise AuthenticationError("key_unknown")
        # The key decides the algorithm, never the header: a header claiming
        # ES256 for an RSA key (or a JWK whose own "alg" disagrees) is refused.
        if alg != expected or key.algorithm_name != expected:
            raise AuthenticationError("algorithm_not_allowed")
        if seen is not None and seen.still_valid(registration, key):
            return seen.token
        verified = self._decode(token, registration, key, expected)
        self._remember(digest, _Verified(
            header=header, issuer=issuer, registration=registration, key=key, token=verified,
            not_before=max(_int_claim(verified.claims, "iat"),
                           _int_claim(verified.claims, "nbf"))))
        return verified

    def _remember(self, digest: bytes, verified: _Verified) -> None:
        if len(self._verified) >= _MAX_VERIFIED:
            self._verified = {}
        self._verified[digest] = verified

    def _decode(self, token: str, registration: IssuerRegistration, key: jwt.PyJWK,
                expected: str) -> VerifiedToken:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[expected],
                audience=registration.audience,
                issuer=registration.issuer,
                options={
                    "require": ["exp", "iat", "iss", "aud", "sub"],
                    "enforce_minimum_key_length": True,
                },
                leeway=CLOCK_LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as error:
            raise _translate(error) from None
        except (ValueError, OverflowError, TypeError):
            # PyJWT's int() of a time claim: an infinity (1e400) or a 5,000-digit number.
            raise AuthenticationError("claim_invalid") from None

        _check_times(claims)
        subject = claims["sub"]
        if not valid_subject(subject):
            raise AuthenticationError("claim_invalid", claim="sub")
        org_name = claims.get("org_name")
        if org_name is not None and not isinstance(org_name, str):
            raise AuthenticationError("claim_invalid", claim="org_name")
        return VerifiedToken(
            issuer=registration.issuer,
            subject=claims["sub"],
            tenant_kind=registration.tenant_kind,
            tenant_id=registration.tenant_id,
            roles=_string_tuple(claims, "roles"),
            org_name=org_name,
            sites=_string_tuple(claims, "sites"),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
            token_id=claims.get("jti"),
            claims=claims,
        )

    # -- keys ---------------------------------------------------------------

    def _signing_key(self, registration: IssuerRegistration, kid: str | None, *,
                     offline: bool = False) -> jwt.PyJWK:
        # A kid is required: choosing among keys by trial would make every
        # key of every issuer a candidate for every token.
        if not kid:
            raise AuthenticationError("key_unknown")
        if registration.jwks is not None:
            for key in self._inline_keyset(registration):
                if key.key_id == kid and key.public_key_use in ("sig", None):
                    return key
            raise AuthenticationError("key_unknown")

        assert registration.jwks_uri is not None
        if offline:
            return self._cached_signing_key(registration.jwks_uri, kid)
        return self._keys_of(registration.jwks_uri).signing_key(kid)

    def _cached_signing_key(self, jwks_uri: str, kid: str) -> jwt.PyJWK:
        """The key ``signing_key`` would return without a fetch, if any.

        Anything else (no set yet, expired, kid not in it: a fetch or a refusal) is
        left to the online path.
        """
        with self._lock:
            keys = self._issuer_keys.get(jwks_uri)
        key = keys.cached(kid) if keys is not None else None
        if key is None:
            raise LookupUnavailable
        return key

    def _keys_of(self, jwks_uri: str) -> _IssuerKeys:
        with self._lock:
            keys = self._issuer_keys.get(jwks_uri)
            if keys is None:
                keys = self._issuer_keys[jwks_uri] = _IssuerKeys(
                    jwks_uri, lifespan=self._jwks_lifespan,
                    refetch_interval=self._jwks_refetch_cooldown, timeout=self._jwks_timeout,
                    stale_if_error=self._jwks_stale_if_error)
            return keys

    def _inline_keyset(self, registration: IssuerRegistration) -> jwt.PyJWKSet:
        # Parsing keys is not free, so keep the parsed set while the
        # registration's document is unchanged.
        with self._lock:
            cached = self._inline.get(registration.issuer)
            if cached is not None and cached[0] == registration.jwks:
                return cached[1]
        try:
            keyset = jwt.PyJWKSet.from_dict(registration.jwks or {})
        except jwt.PyJWTError:
            raise AuthenticationError("key_unknown") from None
        with self._lock:
            self._inline[registration.issuer] = (copy.deepcopy(registration.jwks), keyset)
        return keyset


class _IssuerKeys:
    """One issuer's published signing keys, fetched from its ``jwks_uri``.

    The set is fetched when missing or older than ``lifespan``.  A token naming a
    kid the set lacks makes it fetch again *at once* (an IdP that rotates signs with
    the new key as soon as it publishes it; refusing it until a cooldown passed
    signed people out for up to 30 s), with two guards against tokens carrying
    made-up kids:

    - at most one fetch starts per ``refetch_interval`` per issuer: a request that
      comes sooner waits out the rest of the interval (at most that long) instead of
      being refused, so a genuine new key is never refused for being early; after a
      failed fetch, requests within the interval are answered ``issuer_unavailable``
      at once instead of asking the issuer again;
    - concurrent requests share one fetch: a request that finds a fetch under way
      waits for it, and one that finds a fetch *begun after it arrived* uses that
      fetch's outcome instead of making another.  Nobody sleeps holding a lock.

    A request for a known kid reads the current set without waiting on any lock.

    **An issuer that is down when its set is due** (older than ``lifespan``): the set
    fetched last still verifies the keys it holds, for ``stale_if_error`` seconds past
    its lifespan, so an IdP outage does not sign out every member of staff whose token
    is still valid; a kid the old set lacks is ``issuer_unavailable`` as before, and a
    set that *was* fetched is always believed (a key the IdP withdrew is refused at once).
    Thread-safe.
    """

    def __init__(self, jwks_uri: str, *, lifespan: float, refetch_interval: float,
                 timeout: float, stale_if_error: float = 0.0) -> None:
        # PyJWKClient only for its fetch (no redirects, http(s) only, the timeout);
        # caching and the refetch policy are ours.
        self._client = jwt.PyJWKClient(jwks_uri, cache_jwk_set=False, timeout=timeout)
        self._lifespan = lifespan
        self._interval = refetch_interval
        self._stale_if_error = stale_if_error
        self._changed = threading.Condition()
        self._fetching = False  # one request at a time fetches; the others wait for it
        # Replaced whole by the fetching request; read without a lock (one attribute read).
        self._state: tuple[tuple[jwt.PyJWK, ...] | None, float] = (None, float("-inf"))
        self._last_start = float("-inf")  # when the latest fetch attempt began
        self._last_error: Exception | None = None  # that attempt's failure, if it failed
        self._said_stale = False  # logged once per outage, not per request

    def cached(self, kid: str) -> jwt.PyJWK | None:
        """The key from the current set, if the set is fresh and has it (no I/O)."""
        keyset, fetched = self._state
        if keyset is None or time.monotonic() - fetched >= self._lifespan:
            return None
        return _match(keyset, kid)

    def signing_key(self, kid: str) -> jwt.PyJWK:
        arrived = time.monotonic()
        key = self.cached(kid)
        if key is not None:
            return key
        with self._changed:
            while True:
                keyset, fetched = self._state
                fresh = keyset is not None and time.monotonic() - fetched < self._lifespan
                if fresh and (key := _match(keyset, kid)) is not None:
                    return key
                if self._fetching:  # someone is fetching (or waiting to): share it
                    self._changed.wait()
                    continue
                if self._last_start >= arrived:
                    # A fetch begun after this request arrived has finished: its answer stands.
                    if self._last_error is not None:
                        return self._stale_or_unavailable(kid, self._last_error)
                    raise AuthenticationError("key_unknown")
                if self._last_error is not None and \
                        time.monotonic() - self._last_start < self._interval:
                    # The issuer failed under a second ago: answer at once (the set held,
                    # or a 503), do not ask a struggling issuer again for every request.
                    return self._stale_or_unavailable(kid, self._last_error)
                self._fetching = True
                break
        # This request fetches; requests arriving until the fetch begins share it.
        try:
            if fresh:  # an unknown kid: not sooner than the interval after the last attempt
                wait = self._last_start + self._interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            try:
                self._fetch()
            except AuthenticationError as error:
                return self._stale_or_unavailable(kid, error.__cause__ or error)
        finally:
            with self._changed:
                self._fetching = False
                self._changed.notify_all()
        key = _match(self._state[0] or (), kid)
        if key is None:
            raise AuthenticationError("key_unknown")
        return key

    def _stale_or_unavailable(self, kid: str, error: BaseException) -> jwt.PyJWK:
        """The issuer could not be reached: the key from the set held, while it is within
        ``stale_if_error`` of its lifespan; else issuer_unavailable (a 503)."""
        keyset, fetched = self._state
        if keyset is not None and \
                time.monotonic() - fetched < self._lifespan + self._stale_if_error:
            key = _match(keyset, kid)
            if key is not None:
                if not self._said_stale:
                    self._said_stale = True
                    _log.warning("an issuer's key set could not be refreshed (%s): verifying"
                                 " with the set fetched last", type(error).__name__)
                return key
        raise AuthenticationError("issuer_unavailable") from error

    def _fetch(self) -> None:
        """Fetch the set (only the one request that set ``_fetching`` calls this)."""
        started = self._last_start = time.monotonic()
        self._last_error = None
        try:
            keyset = tuple(self._client.get_jwk_set(refresh=True).keys)
        except (jwt.PyJWKClientConnectionError, OSError, ValueError) as error:
            # PyJWKClient wraps URLError, timeouts and HTTPException only: a connection
            # reset while the answer is awaited escapes as a bare OSError, and a non-JSON
            # body as ValueError.  All are the issuer's trouble (a 503), never a 500.
            self._last_error = error
            raise AuthenticationError("issuer_unavailable") from error
        except (jwt.PyJWKClientError, jwt.PyJWKSetError):
            # A document that is not a key set, or holds no usable key: nothing verifies.
            keyset = ()
        self._state = (keyset, started)
        self._said_stale = False


def _match(keyset: tuple[jwt.PyJWK, ...], kid: str) -> jwt.PyJWK | None:
    """The first signing key (``use`` sig or unset) with this kid."""
    for key in keyset:
        if key.public_key_use in ("sig", None) and key.key_id and key.key_id == kid:
            return key
    return None


# Verifications that must read or fetch run on threads of their own, never the event
# loop's default pool: a token naming a made-up kid waits up to the refetch interval for
# the issuer's keys, and a struggling issuer holds its fetch up to the timeout, so a
# burst of such tokens would otherwise take every thread that the rate limits, the
# registry and the resolvers need, and stall the whole process.  Here they queue among
# themselves; past ``_IDENTITY_QUEUE`` waiting, a token is answered issuer_unavailable
# (a 503 with Retry-After) at once rather than queue for seconds.
_IDENTITY_THREADS = 4
_IDENTITY_QUEUE = 64
_identity_pool: concurrent.futures.ThreadPoolExecutor | None = None
_identity_waiting = 0
_identity_lock = threading.Lock()


def _identity_executor() -> concurrent.futures.ThreadPoolExecutor:
    global _identity_pool
    with _identity_lock:
        if _identity_pool is None:
            _identity_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=_IDENTITY_THREADS, thread_name_prefix="identity-io")
        return _identity_pool


async def _verified_in_identity_thread(verifier: Any, token: str) -> VerifiedToken:
    global _identity_waiting
    with _identity_lock:
        if _identity_waiting >= _IDENTITY_QUEUE:
            raise AuthenticationError("issuer_unavailable")
        _identity_waiting += 1
    try:
        # The request's context goes along (the registry's per-request check lives there).
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            _identity_executor(), context.run, verifier.verify, token)
    finally:
        with _identity_lock:
            _identity_waiting -= 1


async def verify_token(services: Any, token: str) -> VerifiedToken:
    """Verify on the event loop when memory answers (the registry checked for this
    request, a token seen before, cached keys); otherwise on an identity thread (reads,
    fetches).

    The same answer as ``services.verifier.verify`` either way (AuthenticationError
    included), but issuer_unavailable when too many verifications already wait."""
    registry = getattr(getattr(services, "directory", None), "registry", None)
    if registry is not None:
        try:
            if await registry.checked_for_request():
                return services.verifier.verify_offline(token, registry.issuer_in_memory)
        except LookupUnavailable:
            pass
    return await _verified_in_identity_thread(services.verifier, token)
