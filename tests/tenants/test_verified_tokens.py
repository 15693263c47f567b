"""A token seen before skips its signature check, and only while nothing it rests on changed.

The verifier remembers tokens it verified (infra/identity.py ``_Verified``): the
same token is accepted again without ``jwt.decode`` only with the very same
signing key and an equal registration, and within its lifetime.  Any change
(keys rotated, audience changed, issuer gone, lifetime over) means the full
verification again, with its own answer.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from yorisoi.infra import identity
from yorisoi.infra.dev_issuer import DevIssuer
from yorisoi.infra.identity import AuthenticationError, IssuerRegistration, TokenVerifier

CITY = "131016"


class Registry:
    """A lookup whose answer the test changes, as the platform registry would."""

    def __init__(self, registration: IssuerRegistration | None) -> None:
        self.registration = registration

    def __call__(self, issuer: str) -> IssuerRegistration | None:
        return self.registration if self.registration and self.registration.issuer == issuer \
            else None


@pytest.fixture
def dev(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "keys", "https://dev-issuer.yorisoi.invalid")


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts full verifications (signature and claims)."""
    seen: list[str] = []
    original = TokenVerifier._decode

    def counted(self: TokenVerifier, token: str, *args: Any) -> Any:
        seen.append(token)
        return original(self, token, *args)

    monkeypatch.setattr(TokenVerifier, "_decode", counted)
    return seen


def token(dev: DevIssuer, **kwargs: Any) -> str:
    return dev.mint("municipality", CITY, "supervisor-1", roles=["municipal_supervisor"],
                    **kwargs)


def test_a_token_seen_before_is_not_decoded_again(dev, decodes):
    verifier = TokenVerifier(Registry(dev.registration_for("municipality", CITY)))
    first = token(dev)
    assert verifier.verify(first) == verifier.verify(first) == verifier.verify(first)
    assert len(decodes) == 1
    other = token(dev, sites=["a-hiroba"])
    assert verifier.verify(other).sites == ("a-hiroba",)
    assert len(decodes) == 2


def test_rotated_keys_are_applied_to_a_token_seen_before(dev, tmp_path, decodes):
    registry = Registry(dev.registration_for("municipality", CITY))
    verifier = TokenVerifier(registry)
    known = token(dev)
    verifier.verify(known)
    # The issuer now publishes another key only: the token's kid is unknown.
    rotated = DevIssuer(tmp_path / "other-keys", "https://dev-issuer.yorisoi.invalid")
    registry.registration = rotated.registration_for("municipality", CITY)
    with pytest.raises(AuthenticationError) as refused:
        verifier.verify(known)
    assert refused.value.code == "key_unknown"


def test_a_changed_audience_means_a_full_verification(dev, decodes):
    registry = Registry(dev.registration_for("municipality", CITY))
    verifier = TokenVerifier(registry)
    known = token(dev)
    verifier.verify(known)
    registry.registration = dataclasses.replace(registry.registration, audience="elsewhere")
    with pytest.raises(AuthenticationError) as refused:
        verifier.verify(known)
    assert refused.value.code == "audience_mismatch"
    assert len(decodes) == 2


def test_an_unregistered_issuer_is_refused_for_a_token_seen_before(dev, decodes):
    registry = Registry(dev.registration_for("municipality", CITY))
    verifier = TokenVerifier(registry)
    known = token(dev)
    verifier.verify(known)
    registry.registration = None
    with pytest.raises(AuthenticationError) as refused:
        verifier.verify(known)
    assert refused.value.code == "issuer_unknown"


def test_past_its_expiry_a_token_is_verified_in_full_again(dev, decodes, monkeypatch):
    verifier = TokenVerifier(Registry(dev.registration_for("municipality", CITY)))
    known = token(dev, expires_in=60)
    verifier.verify(known)
    later = time.time() + 61

    class Clock:
        @staticmethod
        def time() -> float:
            return later

    monkeypatch.setattr(identity, "time", Clock)
    verifier.verify(known)  # still within PyJWT's leeway on the real clock: accepted
    assert len(decodes) == 2


def test_a_token_not_yet_valid_is_never_taken_from_memory(dev, decodes):
    verifier = TokenVerifier(Registry(dev.registration_for("municipality", CITY)))
    # Issued and valid from 20 s on: within the leeway, so accepted, but only in full.
    now = int(time.time())
    early = jwt.encode({"iss": dev.issuer_for("municipality", CITY), "aud": "yorisoi",
                        "sub": "supervisor-1", "iat": now + 20, "nbf": now + 20,
                        "exp": now + 600, "roles": []},
                       dev._key, algorithm="RS256", headers={"kid": dev.kid})
    verifier.verify(early)
    verifier.verify(early)
    assert len(decodes) == 2


# --------------------------------------------------------------------------- offline


@pytest.fixture
def fetched(dev: DevIssuer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The issuer's JWKS served by a counted fetch (no network)."""
    fetches: list[str] = []
    original_put = jwt.jwk_set_cache.JWKSetCache.put

    def fetch(client: jwt.PyJWKClient) -> Any:
        fetches.append(client.uri)
        document = dev.jwks()
        if client.jwk_set_cache is not None:
            original_put(client.jwk_set_cache, document)
        return document

    monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", fetch)
    return fetches


def by_uri(dev: DevIssuer) -> IssuerRegistration:
    return dataclasses.replace(dev.registration_for("municipality", CITY), jwks=None,
                               jwks_uri="https://issuer.yorisoi.invalid/jwks")


def test_offline_verification_answers_only_from_cached_keys(dev, fetched):
    registration = by_uri(dev)
    verifier = TokenVerifier(Registry(registration))
    known = token(dev)
    with pytest.raises(identity.LookupUnavailable):  # no key set fetched yet
        verifier.verify_offline(known, Registry(registration))
    online = verifier.verify(known)
    assert fetched == ["https://issuer.yorisoi.invalid/jwks"]
    assert verifier.verify_offline(known, Registry(registration)) == online
    assert verifier.verify_offline(token(dev), Registry(registration)).subject == "supervisor-1"
    assert len(fetched) == 1
    # A kid the cached set does not hold: the online path decides (refetch or refuse).
    stranger = jwt.encode({"iss": registration.issuer, "aud": "yorisoi", "sub": "x",
                           "iat": int(time.time()), "exp": int(time.time()) + 60},
                          dev._key, algorithm="RS256", headers={"kid": "other"})
    with pytest.raises(identity.LookupUnavailable):
        verifier.verify_offline(stranger, Registry(registration))


def test_offline_verification_refuses_as_the_online_one_does(dev, fetched):
    registration = by_uri(dev)
    verifier = TokenVerifier(Registry(registration))
    verifier.verify(token(dev))  # the key set is cached
    wrong_audience = dev.mint("municipality", CITY, "x", roles=[], audience="elsewhere")
    for verify in (verifier.verify, lambda t: verifier.verify_offline(t, Registry(registration))):
        with pytest.raises(AuthenticationError) as refused:
            verify(wrong_audience)
        assert refused.value.code == "audience_mismatch"
