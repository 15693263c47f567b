"""An identity provider's new signing key is accepted at once (issue 18, operations).

The verifier refetches an issuer's JWKS as soon as a token names a kid it does not
know — guarded: at most one fetch per issuer per interval (1 s by default), concurrent
requests sharing a fetch.  Real RSA keys, real HTTP on 127.0.0.1, the deployment's
default timings (no test-only cooldown).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwks_server import JwksServer

from yorisoi.infra.identity import (
    AuthenticationError,
    IssuerRegistration,
    TokenVerifier,
    verify_token,
)

ISSUER = "https://idp.city-chiyoda.example/realms/staff"
AUDIENCE = "yorisoi"


class SlowJwks(JwksServer):
    """The issuer's endpoint, its keys published by private key and kid."""

    def publish(self, *keys: tuple[rsa.RSAPrivateKey, str]) -> None:
        self.document = {"keys": [
            {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True),
             "kid": kid, "use": "sig"} for key, kid in keys]}


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {"k1": _rsa(), "k2": _rsa()}


@pytest.fixture
def idp() -> Iterator[SlowJwks]:
    server = SlowJwks()
    yield server
    server.close()


def _verifier(idp: SlowJwks) -> TokenVerifier:
    registration = IssuerRegistration(issuer=ISSUER, audience=AUDIENCE,
                                      tenant_kind="municipality", tenant_id="131016",
                                      jwks_uri=idp.url)
    return TokenVerifier({ISSUER: registration}.get)  # the deployment's defaults


def _token(key: rsa.RSAPrivateKey, kid: str, subject: str = "staff-0042") -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now,
                       "exp": now + 600, "roles": ["specialist"]},
                      key, algorithm="RS256", headers={"kid": kid})


def _outcome(verifier: TokenVerifier, token: str) -> str:
    try:
        return verifier.verify(token).subject
    except AuthenticationError as error:
        return error.code


def test_a_key_published_right_after_a_fetch_is_accepted_at_once(idp, keys) -> None:
    """The case that refused a rotated key for up to 30 s: a fetch moments before the
    IdP published its new key.  Now the token waits out the rest of the interval at most."""
    verifier = _verifier(idp)
    idp.publish((keys["k1"], "k1"))
    assert verifier.verify(_token(keys["k1"], "k1")).tenant_id == "131016"
    assert idp.fetches == 1

    idp.publish((keys["k1"], "k1"), (keys["k2"], "k2"))  # the IdP rotates
    started = time.monotonic()
    assert verifier.verify(_token(keys["k2"], "k2")).subject == "staff-0042"
    assert time.monotonic() - started < 2.5  # the 1 s interval, not 30 s
    assert idp.fetches == 2
    # Both keys now verify from the refreshed set, without another fetch.
    assert verifier.verify(_token(keys["k1"], "k1", "staff-0043")).subject == "staff-0043"
    assert verifier.verify(_token(keys["k2"], "k2", "staff-0044")).subject == "staff-0044"
    assert idp.fetches == 2


def test_a_new_key_long_after_the_last_fetch_is_fetched_without_waiting(idp, keys) -> None:
    verifier = _verifier(idp)
    idp.publish((keys["k1"], "k1"))
    verifier.verify(_token(keys["k1"], "k1"))
    time.sleep(1.1)  # past the interval: nothing to wait for
    idp.publish((keys["k2"], "k2"))
    started = time.monotonic()
    assert verifier.verify(_token(keys["k2"], "k2")).subject == "staff-0042"
    assert time.monotonic() - started < 0.9
    assert idp.fetches == 2
    # The withdrawn key is refused after that fetch (it named a kid the set lacks).
    assert _outcome(verifier, _token(keys["k1"], "k1", "staff-0045")) == "key_unknown"


def test_concurrent_requests_with_the_new_key_share_one_fetch(keys) -> None:
    idp = SlowJwks(delay=0.3)  # long enough for every request to arrive during the fetch
    try:
        verifier = _verifier(idp)
        idp.publish((keys["k1"], "k1"))
        verifier.verify(_token(keys["k1"], "k1"))
        time.sleep(1.1)
        idp.publish((keys["k1"], "k1"), (keys["k2"], "k2"))
        tokens = [_token(keys["k2"], "k2", f"staff-{n:04d}") for n in range(12)]
        gate = threading.Barrier(len(tokens))
        outcomes: list[str] = [""] * len(tokens)

        def request(n: int) -> None:
            gate.wait()
            outcomes[n] = _outcome(verifier, tokens[n])

        threads = [threading.Thread(target=request, args=(n,)) for n in range(len(tokens))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert outcomes == [f"staff-{n:04d}" for n in range(12)]
        assert idp.fetches == 2  # the first load and one shared refetch
    finally:
        idp.close()


def test_made_up_kids_from_many_callers_fetch_at_most_once_a_second(keys) -> None:
    idp = SlowJwks(delay=0.1)
    try:
        verifier = _verifier(idp)
        idp.publish((keys["k1"], "k1"))
        verifier.verify(_token(keys["k1"], "k1"))
        outcomes: list[str] = []
        lock = threading.Lock()
        started = time.monotonic()

        def attacker(n: int) -> None:
            for round_ in range(3):
                code = _outcome(verifier, _token(keys["k1"], f"made-up-{n}-{round_}"))
                with lock:
                    outcomes.append(code)

        threads = [threading.Thread(target=attacker, args=(n,)) for n in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        elapsed = time.monotonic() - started
        assert outcomes == ["key_unknown"] * 30
        # One initial fetch, then at most one per started second (30 refusals, not 30 fetches).
        assert idp.fetches - 1 <= int(elapsed) + 1, (idp.fetches, elapsed)
        assert idp.fetches <= len(outcomes) // 2
        # A genuine token for the known key is still served meanwhile, from the set.
        assert verifier.verify(_token(keys["k1"], "k1", "staff-0099")).subject == "staff-0099"
    finally:
        idp.close()


def test_an_issuer_down_at_the_refetch_is_unavailable_not_an_unknown_key(keys) -> None:
    idp = SlowJwks()
    verifier = _verifier(idp)
    idp.publish((keys["k1"], "k1"))
    verifier.verify(_token(keys["k1"], "k1"))
    idp.close()  # the IdP goes away
    time.sleep(1.1)
    assert _outcome(verifier, _token(keys["k2"], "k2")) == "issuer_unavailable"
    # The key set already fetched still verifies its own keys.
    assert verifier.verify(_token(keys["k1"], "k1", "staff-0046")).subject == "staff-0046"


def test_an_issuer_that_is_down_is_not_asked_again_for_every_request(keys) -> None:
    """With no key set yet and the issuer failing, requests within the second share the
    failure (503 at once) instead of each asking the issuer again."""
    idp = SlowJwks(delay=0.05)
    idp.status = 503
    idp.publish((keys["k1"], "k1"))
    try:
        verifier = _verifier(idp)
        started = time.monotonic()
        outcomes = [_outcome(verifier, _token(keys["k1"], "k1", f"staff-{n:04d}"))
                    for n in range(20)]
        elapsed = time.monotonic() - started
        assert outcomes == ["issuer_unavailable"] * 20
        assert idp.fetches <= int(elapsed) + 1, (idp.fetches, elapsed)  # not 20
        # The issuer recovers: the next request after the second is served.
        idp.status = 200
        time.sleep(1.1)
        assert verifier.verify(_token(keys["k1"], "k1")).subject == "staff-0042"
    finally:
        idp.close()


def test_an_issuer_that_resets_the_connection_is_unavailable_not_a_server_error(keys) -> None:
    """A reset while the response is awaited escapes urllib as a bare ConnectionResetError
    (PyJWT wraps only URLError, timeouts and HTTPException): it is the issuer's trouble."""
    idp = SlowJwks()
    idp.status = 0
    idp.publish((keys["k1"], "k1"))
    try:
        verifier = _verifier(idp)
        assert _outcome(verifier, _token(keys["k1"], "k1")) == "issuer_unavailable"
        assert idp.fetches == 1
        # Within the second the failure is shared, not retried.
        assert _outcome(verifier, _token(keys["k1"], "k1", "staff-0047")) == "issuer_unavailable"
        assert idp.fetches == 1
    finally:
        idp.close()


def _waiting_verifier(idp: SlowJwks, keys: dict[str, rsa.RSAPrivateKey]) -> TokenVerifier:
    """A verifier that has just fetched, with a 3 s interval: a made-up kid now waits."""
    registration = IssuerRegistration(issuer=ISSUER, audience=AUDIENCE,
                                      tenant_kind="municipality", tenant_id="131016",
                                      jwks_uri=idp.url)
    verifier = TokenVerifier({ISSUER: registration}.get, jwks_refetch_cooldown=3.0)
    idp.publish((keys["k1"], "k1"))
    verifier.verify(_token(keys["k1"], "k1"))
    return verifier


async def _outcomes(tasks: list[asyncio.Task]) -> list[str]:
    """Each verification's subject-free outcome: "verified" or its refusal's code."""
    codes = []
    for task in tasks:
        try:
            await task
            codes.append("verified")
        except AuthenticationError as error:
            codes.append(error.code)
    return codes


def test_tokens_waiting_for_an_issuer_leave_the_processs_threads_free(idp, keys) -> None:
    """Twelve tokens with made-up kids wait out the refetch interval; meanwhile the
    event loop's own thread pool (the rate limits, the registry, the resolvers use it)
    still runs work at once — before the fix the waiters held all of its threads."""
    verifier = _waiting_verifier(idp, keys)
    services = SimpleNamespace(verifier=verifier)  # no registry: every check on a thread

    async def scenario() -> tuple[list[bool], list[str]]:
        waiting = [asyncio.create_task(verify_token(services, _token(keys["k1"], f"made-up-{n}")))
                   for n in range(12)]
        await asyncio.sleep(0.1)  # they are on their threads now, waiting for the interval
        await asyncio.gather(*(asyncio.to_thread(int, "1") for _ in range(12)))
        finished_first = [task.done() for task in waiting]
        return finished_first, await _outcomes(waiting)

    finished_first, codes = asyncio.run(scenario())
    assert not any(finished_first)
    assert codes == ["key_unknown"] * 12


def test_past_the_queue_a_token_needing_the_issuer_is_unavailable_at_once(
        idp, keys, monkeypatch) -> None:
    from yorisoi.infra import identity

    monkeypatch.setattr(identity, "_IDENTITY_QUEUE", 4)
    verifier = _waiting_verifier(idp, keys)
    services = SimpleNamespace(verifier=verifier)

    async def scenario() -> list[str]:
        return await _outcomes([
            asyncio.create_task(verify_token(services, _token(keys["k1"], f"made-up-{n}")))
            for n in range(6)])

    codes = asyncio.run(scenario())
    assert sorted(codes) == ["issuer_unavailable"] * 2 + ["key_unknown"] * 4
    # Once the queue has drained, a genuine token is verified as before.
    assert asyncio.run(verify_token(services, _token(keys["k1"], "k1"))).subject == "staff-0042"


def _short_lived_verifier(idp: SlowJwks, stale_if_error: float) -> TokenVerifier:
    """Key sets live 1 s (a day's lifespan, compressed); stale ones serve ``stale_if_error``."""
    registration = IssuerRegistration(issuer=ISSUER, audience=AUDIENCE,
                                      tenant_kind="municipality", tenant_id="131016",
                                      jwks_uri=idp.url)
    return TokenVerifier({ISSUER: registration}.get, jwks_lifespan=1.0,
                         jwks_stale_if_error=stale_if_error)


def test_an_issuer_down_when_its_keys_are_due_leaves_valid_tokens_valid(idp, keys) -> None:
    """The IdP is down when the set is due for its refresh: the keys it published still
    verify their tokens (staff stay signed in), a kid the old set lacks is unavailable."""
    verifier = _short_lived_verifier(idp, stale_if_error=600.0)
    idp.publish((keys["k1"], "k1"))
    assert verifier.verify(_token(keys["k1"], "k1")).subject == "staff-0042"
    idp.status = 503  # the IdP is in trouble
    time.sleep(1.2)  # the set is past its lifespan
    fetches = idp.fetches
    assert verifier.verify(_token(keys["k1"], "k1", "staff-0050")).subject == "staff-0050"
    assert idp.fetches == fetches + 1  # it did try the issuer first
    # Within the refetch interval the issuer is not asked again; the old set answers.
    assert verifier.verify(_token(keys["k1"], "k1", "staff-0051")).subject == "staff-0051"
    assert idp.fetches == fetches + 1
    assert _outcome(verifier, _token(keys["k2"], "k2")) == "issuer_unavailable"
    # Back up: a set that was fetched is believed — a withdrawn k1 is refused at once.
    idp.status = 200
    idp.publish((keys["k2"], "k2"))
    time.sleep(1.1)
    assert _outcome(verifier, _token(keys["k1"], "k1", "staff-0052")) == "key_unknown"
    assert verifier.verify(_token(keys["k2"], "k2")).subject == "staff-0042"


def test_a_stale_key_set_serves_only_for_its_bound(idp, keys) -> None:
    verifier = _short_lived_verifier(idp, stale_if_error=0.5)
    idp.publish((keys["k1"], "k1"))
    verifier.verify(_token(keys["k1"], "k1"))
    idp.status = 0  # the IdP resets every connection
    time.sleep(1.7)  # past the lifespan and the bound
    assert _outcome(verifier, _token(keys["k1"], "k1")) == "issuer_unavailable"
