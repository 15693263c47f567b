"""A real IdP rotates its key and nobody waits (issue 18, operations).

panva's ``oidc-provider`` (tests/oidc_provider/) as the municipality's IdP, the console
with the deployment's own verifier — default timings: key sets kept 5 minutes, at most one
refetch per issuer per second.  The IdP rotates (a new key signs, the old one is still
published) moments after the console fetched its keys: a person signing in right then gets
in, and a session signed with the old key goes on.  Under the old 30 s refetch cooldown the
new key was refused until the cooldown passed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from test_real_idp import (  # the same IdP process, accounts and browser steps
    CITY_A,
    CONSOLE,
    RealIdPs,
    _installed,
    _private_jwk,
    registered_world,
    session_token,
    sign_in,
)

from yorisoi.infra.http.app import create_app
from yorisoi.infra.identity import TokenVerifier


@pytest.fixture(scope="module")
def idps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealIdPs]:
    _installed()
    running = RealIdPs(tmp_path_factory.mktemp("idp-rotation"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def console(idps: RealIdPs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings, services = registered_world(idps, tmp_path_factory.mktemp("real-idp-rotation"))
    assert isinstance(services.verifier, TokenVerifier)  # the deployment's, untouched
    app = create_app(settings, services)
    try:
        yield app
    finally:
        services.close()


@pytest.mark.slow
def test_a_rotated_key_signs_people_in_at_once(idps, console) -> None:
    with TestClient(console, base_url=CONSOLE, follow_redirects=False) as ours, \
            httpx.Client(follow_redirects=False, timeout=30) as theirs:
        assert sign_in((ours, theirs), idps, "city", "city-supervisor").status_code == 303
        assert jwt.get_unverified_header(session_token(ours))["kid"] == "city-key-1"
        assert ours.get(f"/console/m/{CITY_A}/cases").status_code == 200

        # The IdP rotates; the console's key set (fetched just now) does not hold the new key.
        idps.restart_with("city", [_private_jwk("city-key-2"), idps.keys["city"][0]])
        rotated = time.monotonic()
        with TestClient(console, base_url=CONSOLE, follow_redirects=False) as other, \
                httpx.Client(follow_redirects=False, timeout=30) as other_idp:
            assert sign_in((other, other_idp), idps, "city",
                           "city-specialist").status_code == 303
            assert jwt.get_unverified_header(session_token(other))["kid"] == "city-key-2"
            assert other.get(f"/console/m/{CITY_A}/tasks").status_code == 200
            assert time.monotonic() - rotated < 25  # well inside the old 30 s refusal
        # The session signed with the old key (still published) goes on.
        assert ours.get(f"/console/m/{CITY_A}/cases").status_code == 200
