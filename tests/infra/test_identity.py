"""Token verification against per-tenant issuers, with real keys and HTTP.

Issuer A (municipality 131016) publishes its JWKS over real HTTP from a tiny
server on 127.0.0.1; issuer B (contractor "acme-care") is the dev issuer
with an inline JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwks_server import JwksServer

from yorisoi.infra.dev_issuer import DevIssuer, jwk_thumbprint
from yorisoi.infra.identity import (
    AuthenticationError,
    IssuerRegistration,
    TokenVerifier,
    VerifiedToken,
    bearer_token,
)

ISSUER_A = "https://idp.city-chiyoda.example/realms/staff"
AUDIENCE = "yorisoi"


# -- keys and the JWKS server ------------------------------------------------


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_jwk(private_key: Any, kid: str) -> dict[str, Any]:
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        data = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        data = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    return {**data, "kid": kid, "use": "sig"}


@pytest.fixture(scope="module")
def key_a1() -> rsa.RSAPrivateKey:
    return _rsa()


@pytest.fixture
def server(key_a1: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    srv = JwksServer()
    srv.document = {"keys": [_public_jwk(key_a1, "a1")]}
    yield srv
    srv.close()


@pytest.fixture
def dev(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "keys", "http://127.0.0.1:8000")


@pytest.fixture
def registrations(server: JwksServer, dev: DevIssuer) -> dict[str, IssuerRegistration]:
    reg_a = IssuerRegistration(
        issuer=ISSUER_A,
        audience=AUDIENCE,
        tenant_kind="municipality",
        tenant_id="131016",
        jwks_uri=server.url,
    )
    reg_b = dev.registration_for("contractor", "acme-care")
    return {reg_a.issuer: reg_a, reg_b.issuer: reg_b}


@pytest.fixture
def verifier(registrations: dict[str, IssuerRegistration]) -> TokenVerifier:
    # No refetch cooldown, so rotation is visible immediately in tests.
    return TokenVerifier(registrations.get, jwks_refetch_cooldown=0)


def claims_a(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER_A,
        "aud": AUDIENCE,
        "sub": "staff-0042",
        "iat": now,
        "exp": now + 600,
        "roles": ["caseworker"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], key: Any, kid: str | None, alg: str = "RS256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def refused(verifier: TokenVerifier, token: str, code: str) -> AuthenticationError:
    """Assert the token is refused with `code`, and that no message leaks it."""
    with pytest.raises(AuthenticationError) as info:
        verifier.verify(token)
    error = info.value
    assert error.code == code, (error.code, code)
    texts = (str(error), error.message, error.message_ja)
    for text in texts:
        assert text and token not in text
        for segment in token.split("."):
            if len(segment) >= 8:
                assert segment not in text
        assert "staff-0042" not in text  # a claim value
    return error


# -- the happy paths -----------------------------------------------------------


def test_token_from_issuer_a_verifies_as_tenant_a(
    verifier: TokenVerifier, key_a1: rsa.RSAPrivateKey
) -> None:
    token = sign(
        claims_a(org_name="千代田区", sites=["s-1", "s-2"], jti="t-1", tenant_id="999999"),
        key_a1,
        "a1",
    )
    verified = verifier.verify(token)
    assert isinstance(verified, VerifiedToken)
    assert (verified.tenant_kind, verified.tenant_id) == ("municipality", "131016")
    assert verified.issuer == ISSUER_A
    assert verified.subject == "staff-0042"
    assert verified.roles == ("caseworker",)
    assert verified.sites == ("s-1", "s-2")
    assert verified.org_name == "千代田区"
    assert verified.token_id == "t-1"
    assert verified.expires_at.timestamp() == verified.claims["exp"]
    # The tenant comes from the registration, never from a claim.
    assert verified.claims["tenant_id"] == "999999"
    assert "claims=" not in repr(verified)  # logging it does not log claims


def test_token_from_issuer_b_verifies_as_tenant_b(verifier: TokenVerifier, dev: DevIssuer) -> None:
    token = dev.mint("contractor", "acme-care", "helper-7", roles=["helper"], org_name="Acme")
    verified = verifier.verify(token)
    assert (verified.tenant_kind, verified.tenant_id) == ("contractor", "acme-care")
    assert verified.issuer == dev.issuer_for("contractor", "acme-care")
    assert verified.roles == ("helper",)
    assert verified.org_name == "Acme"
    assert verified.sites == ()
    assert verified.token_id


def test_es256_key_verifies(server: JwksServer, verifier: TokenVerifier) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    server.document = {"keys": [*server.document["keys"], _public_jwk(ec_key, "ec1")]}
    verified = verifier.verify(sign(claims_a(), ec_key, "ec1", alg="ES256"))
    assert verified.tenant_id == "131016"


# -- refusals --------------------------------------------------------------------


def test_expired_token_refused(verifier: TokenVerifier, key_a1: rsa.RSAPrivateKey) -> None:
    now = int(time.time())
    token = sign(claims_a(iat=now - 7200, exp=now - 3600), key_a1, "a1")
    refused(verifier, token, "token_expired")


def test_wrong_audience_refused(verifier: TokenVerifier, key_a1: rsa.RSAPrivateKey) -> None:
    refused(verifier, sign(claims_a(aud="another-app"), key_a1, "a1"), "audience_mismatch")


def test_unknown_issuer_refused(verifier: TokenVerifier) -> None:
    token = sign(claims_a(iss="https://idp.evil.example"), _rsa(), "a1")
    refused(verifier, token, "issuer_unknown")


def test_token_cannot_claim_another_registered_issuer(
    verifier: TokenVerifier, key_a1: rsa.RSAPrivateKey, dev: DevIssuer
) -> None:
    # Signed by A's key but naming B's issuer: B's keys do not include it.
    token = sign(claims_a(iss=dev.issuer_for("contractor", "acme-care")), key_a1, "a1")
    refused(verifier, token, "key_unknown")
    # And a dev token relabelled as A's finds no dev key in A's JWKS.
    forged = dev.mint("contractor", "acme-care", "x", roles=[])
    payload = jwt.decode(forged, options={"verify_signature": False})
    token = sign({**payload, "iss": ISSUER_A}, _rsa(), dev.kid)
    refused(verifier, token, "key_unknown")


def test_unknown_kid_refused(verifier: TokenVerifier, key_a1: rsa.RSAPrivateKey) -> None:
    refused(verifier, sign(claims_a(), key_a1, "no-such-kid"), "key_unknown")
    refused(verifier, sign(claims_a(), key_a1, None), "key_unknown")


def test_key_rotation_refetches_once(
    server: JwksServer, verifier: TokenVerifier, key_a1: rsa.RSAPrivateKey
) -> None:
    verifier.verify(sign(claims_a(), key_a1, "a1"))
    assert server.fetches == 1
    verifier.verify(sign(claims_a(), key_a1, "a1"))
    assert server.fetches == 1  # served from the cache

    key_a2 = _rsa()
    server.document = {"keys": [_public_jwk(key_a1, "a1"), _public_jwk(key_a2, "a2")]}
    verified = verifier.verify(sign(claims_a(), key_a2, "a2"))
    assert verified.tenant_id == "131016"
    assert server.fetches == 2

    # Once a1 is withdrawn, tokens under it stop verifying on the next fetch.
    server.document = {"keys": [_public_jwk(key_a2, "a2")]}
    refused(verifier, sign(claims_a(), key_a2, "a3"), "key_unknown")  # forces a refetch
    refused(verifier, sign(claims_a(), key_a1, "a1"), "key_unknown")


def test_unknown_kids_do_not_hammer_the_issuer(
    server: JwksServer, registrations: dict[str, IssuerRegistration], key_a1: rsa.RSAPrivateKey
) -> None:
    verifier = TokenVerifier(registrations.get)  # default: one refetch per second at most
    verifier.verify(sign(claims_a(), key_a1, "a1"))
    started = time.monotonic()
    for n in range(5):
        refused(verifier, sign(claims_a(), key_a1, f"made-up-{n}"), "key_unknown")
    # An unknown kid refetches at once, but never twice within the second
    # (tests/infra/test_ops_jwks_rotation.py holds the timing and concurrency cases).
    assert server.fetches - 1 <= int(time.monotonic() - started) + 1


def test_alg_none_refused(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims_a(), None, algorithm="none", headers={"kid": "a1"})
    refused(verifier, token, "algorithm_not_allowed")


def test_hs256_signed_with_public_key_pem_refused(
    verifier: TokenVerifier, key_a1: rsa.RSAPrivateKey
) -> None:
    # The classic algorithm-confusion forgery: the public key as HMAC secret.
    # (PyJWT refuses to produce this, so build it by hand.)
    pem = key_a1.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "a1"}).encode())
    payload = b64url(json.dumps(claims_a()).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = b64url(hmac.new(pem, signing_input, hashlib.sha256).digest())
    refused(verifier, f"{header}.{payload}.{signature}", "algorithm_not_allowed")


@pytest.mark.parametrize("alg", [["RS256"], {"RS256": True}, 256, None])
def test_a_header_alg_that_is_not_a_string_is_refused(verifier: TokenVerifier, alg: Any) -> None:
    # A list or an object as "alg" was a TypeError out of the verifier: a 500.
    header = b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": "a1"}).encode())
    payload = b64url(json.dumps(claims_a()).encode())
    refused(verifier, f"{header}.{payload}.{b64url(b'signature')}", "algorithm_not_allowed")


def test_header_alg_must_match_key_type(
    server: JwksServer, verifier: TokenVerifier
) -> None:
    # An ES256 token pointing at an RSA key's kid.
    ec_key = ec.generate_private_key(ec.SECP256R1())
    refused(verifier, sign(claims_a(), ec_key, "a1", alg="ES256"), "algorithm_not_allowed")
    # A JWK whose own "alg" names something outside the allowlist.
    other = _rsa()
    server.document = {"keys": [*server.document["keys"], {**_public_jwk(other, "rs512"), "alg": "RS512"}]}
    refused(verifier, sign(claims_a(), other, "rs512"), "algorithm_not_allowed")


def test_symmetric_key_in_jwks_is_not_trusted(server: JwksServer, verifier: TokenVerifier) -> None:
    secret = b"s" * 32
    server.document = {"keys": [{"kty": "oct", "k": b64url(secret), "kid": "oct1", "alg": "HS256"}]}
    # A JWKS publishing a symmetric key is misconfigured; that key is never used.
    refused(verifier, sign(claims_a(), _rsa(), "oct1"), "key_unknown")


def test_other_private_key_with_same_kid_refused(verifier: TokenVerifier) -> None:
    refused(verifier, sign(claims_a(), _rsa(), "a1"), "signature_invalid")


def test_missing_sub_refused(verifier: TokenVerifier, key_a1: rsa.RSAPrivateKey) -> None:
    error = refused(verifier, sign(claims_a(sub=None), key_a1, "a1"), "claim_missing")
    assert error.claim == "sub"
    for claim in ("exp", "iat", "aud"):
        error = refused(verifier, sign(claims_a(**{claim: None}), key_a1, "a1"), "claim_missing")
        assert error.claim == claim


def test_ill_typed_claims_refused(verifier: TokenVerifier, key_a1: rsa.RSAPrivateKey) -> None:
    error = refused(verifier, sign(claims_a(roles="admin"), key_a1, "a1"), "claim_invalid")
    assert error.claim == "roles"
    error = refused(verifier, sign(claims_a(sub=42), key_a1, "a1"), "claim_invalid")
    assert error.claim == "sub"


def test_malformed_tokens_refused(verifier: TokenVerifier, key_a1: rsa.RSAPrivateKey) -> None:
    refused(verifier, "not-a-jwt-at-all", "token_malformed")
    refused(verifier, "e30.e30", "token_malformed")
    good = sign(claims_a(), key_a1, "a1")
    _, payload, signature = good.split(".")
    refused(verifier, f"{b64url(b'{not json')}.{payload}.{signature}", "token_malformed")
    refused(verifier, "a" * 20_000, "token_malformed")
    with pytest.raises(AuthenticationError) as info:
        verifier.verify("")
    assert info.value.code == "token_missing"


def test_bearer_token_header_parsing() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer   abc.def.ghi ") == "abc.def.ghi"
    for value, code in [
        (None, "token_missing"),
        ("", "token_missing"),
        ("Bearer", "token_missing"),
        ("Bearer   ", "token_missing"),
        ("Basic dXNlcjpwYXNz", "token_malformed"),
        ("Bearer abc def", "token_malformed"),
        ("Bearer abc\ndef", "token_malformed"),
        ("Bearer <script>", "token_malformed"),
    ]:
        with pytest.raises(AuthenticationError) as info:
            bearer_token(value)
        assert info.value.code == code, value
        assert info.value.message and info.value.message_ja


def test_error_messages_in_both_languages() -> None:
    error = AuthenticationError("token_expired")
    assert error.message_ja == "トークンの有効期限が切れています。"
    assert str(error) == error.message == "The token has expired."


def test_registration_requires_exactly_one_key_source() -> None:
    with pytest.raises(ValueError):
        IssuerRegistration(ISSUER_A, AUDIENCE, "municipality", "131016")
    with pytest.raises(ValueError):
        IssuerRegistration(
            ISSUER_A, AUDIENCE, "municipality", "131016", jwks_uri="https://x/j", jwks={"keys": []}
        )
    with pytest.raises(ValueError):
        IssuerRegistration(ISSUER_A, AUDIENCE, "municipality", "131016", jwks_uri="file:///etc/passwd")
    with pytest.raises(ValueError):
        IssuerRegistration(ISSUER_A, AUDIENCE, "municipality", "13101", jwks_uri="https://x/j")
    with pytest.raises(ValueError):
        IssuerRegistration(
            ISSUER_A, AUDIENCE, "prefecture", "131016", jwks_uri="https://x/j"  # type: ignore[arg-type]
        )


def test_unreachable_jwks_is_issuer_unavailable(key_a1: rsa.RSAPrivateKey) -> None:
    srv = JwksServer()
    url = srv.url
    srv.close()  # nothing listens there any more
    reg = IssuerRegistration(ISSUER_A, AUDIENCE, "municipality", "131016", jwks_uri=url)
    verifier = TokenVerifier({ISSUER_A: reg}.get, jwks_timeout=2)
    refused(verifier, sign(claims_a(), key_a1, "a1"), "issuer_unavailable")


# -- the development issuer ------------------------------------------------------


def test_dev_key_file_is_private(tmp_path: Path) -> None:
    DevIssuer(tmp_path / "keys", "http://localhost:8000")
    mode = (tmp_path / "keys" / "dev-issuer.pem").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_dev_kid_is_stable_across_instances(tmp_path: Path) -> None:
    first = DevIssuer(tmp_path / "keys", "http://localhost:8000")
    second = DevIssuer(tmp_path / "keys", "http://localhost:8000/")
    assert first.kid == second.kid
    assert first.jwks() == second.jwks()
    assert DevIssuer(tmp_path / "other", "http://localhost:8000").kid != first.kid
    assert first.kid == jwk_thumbprint(first.jwks()["keys"][0])


def test_jwk_thumbprint_matches_rfc7638_example() -> None:
    jwk = {
        "kty": "RSA",
        "e": "AQAB",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
            "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
            "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhA"
            "I4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_dev_minted_token_verifies_with_its_registration(dev: DevIssuer) -> None:
    reg = dev.registration_for("municipality", "011002")
    verifier = TokenVerifier({reg.issuer: reg}.get)
    token = dev.mint(
        "municipality", "011002", "user-1", roles=["admin", "caseworker"], sites=["sapporo-1"],
        org_name="札幌市",
    )
    verified = verifier.verify(token)
    assert (verified.tenant_kind, verified.tenant_id) == ("municipality", "011002")
    assert verified.roles == ("admin", "caseworker")
    assert verified.sites == ("sapporo-1",)
    assert verified.org_name == "札幌市"
    assert jwt.get_unverified_header(token)["kid"] == dev.kid

    # The same key signs for every tenant, yet a token for another tenant
    # names another issuer and is not accepted here.
    other = dev.mint("municipality", "131016", "user-1", roles=["admin"])
    refused(verifier, other, "issuer_unknown")
    expired = dev.mint("municipality", "011002", "user-1", roles=[], expires_in=-3600)
    refused(verifier, expired, "token_expired")
    wrong_aud = dev.mint("municipality", "011002", "user-1", roles=[], audience="x")
    refused(verifier, wrong_aud, "audience_mismatch")


def test_dev_issuer_urls_and_discovery(dev: DevIssuer) -> None:
    assert dev.issuer_for("contractor", "acme-care") == "http://127.0.0.1:8000/dev-idp/contractor/acme-care"
    config = dev.openid_configuration("municipality", "131016")
    assert config == {
        "issuer": "http://127.0.0.1:8000/dev-idp/municipality/131016",
        "jwks_uri": "http://127.0.0.1:8000/dev-idp/jwks.json",
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    public = dev.jwks()["keys"][0]
    assert "d" not in public and public["kid"] == dev.kid and public["alg"] == "RS256"
    with pytest.raises(ValueError):
        dev.issuer_for("contractor", "../../etc")
    with pytest.raises(ValueError):
        dev.mint("contractor", "acme-care", "u", roles=[], extra_claims={"iss": "x"})
