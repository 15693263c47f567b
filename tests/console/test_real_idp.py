"""A real identity provider: panva's certified ``oidc-provider`` (tests/oidc_provider/, run
under the machine's node) as a municipality's and a contractor's IdP.

The journeys the development issuer serves, against a provider we did not write:
discovery, authorization code with PKCE, the API accepting the issued token, key
rotation (a new ``kid`` mid-session, then the old key withdrawn), signing out (here and
at the issuer), and a person without the right role.  Loopback only.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from console_steps import csrf_of
from world import CITY_A, NPO, build_world

from yorisoi.infra.console.session import SESSION_COOKIE
from yorisoi.infra.http.app import create_app
from yorisoi.infra.identity import IssuerRegistration, TokenVerifier
from yorisoi.infra.settings import Settings
from yorisoi.infra.wiring.bootstrap import OPERATOR
from yorisoi.services.context import acting_as

PROVIDER_DIR = Path(__file__).parents[1] / "oidc_provider"
CONSOLE = "http://127.0.0.1"
CALLBACK = f"{CONSOLE}/console/callback"
AFTER_LOGOUT = f"{CONSOLE}/console/login"

CITY_ACCOUNTS = {
    "city-supervisor": {"roles": ["municipal_supervisor"], "sites": [],
                        "org_name": "千代田区 こども支援課"},
    "city-specialist": {"roles": ["specialist"], "sites": ["a-hiroba", "a-counter"]},
    # Signs in fine at the IdP, but holds no role of ours.
    "city-clerk": {"roles": [], "sites": []},
}
NPO_ACCOUNTS = {"npo-specialist": {"roles": ["specialist"], "sites": ["a-hiroba"],
                                   "org_name": "NPO法人 ひだまり"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _private_jwk(kid: str) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def _installed() -> None:
    """``npm ci`` once (the Makefile's step does it too); a lock for parallel workers."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed to run the test identity provider"
    with open(PROVIDER_DIR / "package-lock.json") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
                subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR,
                               check=True, timeout=600, capture_output=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class RealIdPs:
    """The node process serving both issuers; restarted with other keys to rotate them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ports = {"city": _free_port(), "npo": _free_port()}
        self.keys = {"city": [_private_jwk("city-key-1")], "npo": [_private_jwk("npo-key-1")]}
        self.process: subprocess.Popen[str] | None = None
        # The contractor's IdP takes the console as a confidential client.
        self.client_secrets = {"npo": os.urandom(24).hex()}

    def issuer(self, which: str) -> str:
        return f"http://127.0.0.1:{self.ports[which]}"

    def start(self) -> None:
        config = {"issuers": [
            {"issuer": self.issuer(which), "port": self.ports[which],
             "client_id": f"yorisoi-console-{which}", "keys": self.keys[which],
             "redirect_uris": [CALLBACK], "post_logout_redirect_uris": [AFTER_LOGOUT],
             "cookie_secret": os.urandom(16).hex(), "accounts": accounts,
             **({"client_secret": self.client_secrets[which]}
                if which in self.client_secrets else {})}
            for which, accounts in (("city", CITY_ACCOUNTS), ("npo", NPO_ACCOUNTS))]}
        path = self.workdir / "idp.json"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        self.process = subprocess.Popen(
            [shutil.which("node") or "node", "server.mjs", str(path)], cwd=PROVIDER_DIR,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.strip() == "ready":
                return
            if not line and self.process.poll() is not None:
                break
        self.stop()
        raise AssertionError("the test identity provider did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart_with(self, which: str, keys: list[dict[str, Any]]) -> None:
        self.stop()
        self.keys[which] = keys
        self.start()


@pytest.fixture(scope="module")
def idps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealIdPs]:
    _installed()
    running = RealIdPs(tmp_path_factory.mktemp("idp"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def registered_world(idps: RealIdPs, data_dir: Path) -> tuple[Settings, Any]:
    """(settings, services) of the provisioned world with both real issuers registered
    (beside the dev issuer), the contractor's console a confidential client."""
    secrets_file = data_dir / "oidc-client-secrets.json"
    secrets_file.write_text(json.dumps({idps.issuer("npo"): idps.client_secrets["npo"]}))
    secrets_file.chmod(0o600)
    settings = Settings(backend="sqlite", data_dir=data_dir, environment="test",
                        oidc_client_secrets_file=secrets_file)
    world = build_world(settings)
    services = world.services
    with acting_as(OPERATOR):
        for which, kind, tenant in (("city", "municipality", CITY_A),
                                    ("npo", "contractor", NPO)):
            issuer = idps.issuer(which)
            services.directory.register_identity_provider(IssuerRegistration(
                issuer=issuer, audience=f"yorisoi-console-{which}", tenant_kind=kind,
                tenant_id=tenant, jwks_uri=f"{issuer}/jwks"))
    return settings, services


@pytest.fixture(scope="module")
def console(idps: RealIdPs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings, services = registered_world(idps, tmp_path_factory.mktemp("real-idp"))
    # The deployment's verifier, with short JWKS timings so the rotation needs no long waits.
    services.verifier = TokenVerifier(services.directory.issuer, jwks_lifespan=2.0,
                                      jwks_refetch_cooldown=0.5)
    app = create_app(settings, services)
    try:
        yield app
    finally:
        services.close()


@pytest.fixture
def browser(console: Any) -> Iterator[tuple[TestClient, httpx.Client]]:
    """A browser: the console (TestClient) and the IdP's pages (a real HTTP client)."""
    with TestClient(console, base_url=CONSOLE, follow_redirects=False) as ours, \
            httpx.Client(follow_redirects=False, timeout=30) as theirs:
        yield ours, theirs


def _form(html: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert action, html[:500]
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    return unescape(action.group(1)), hidden


def through_idp(theirs: httpx.Client, url: str, subject: str | None = None) -> tuple[str, list[str]]:
    """Follow the IdP's pages until it sends the browser back to the console.

    Returns that address and the kinds of page shown on the way (login, logout)."""
    shown: list[str] = []
    for _ in range(12):
        if url.startswith(CONSOLE + "/"):  # the console, not an IdP on another port
            return url, shown
        answer = theirs.get(url)
        if answer.status_code in (302, 303):
            url = urljoin(url, answer.headers["location"])
            continue
        assert answer.status_code == 200, (answer.status_code, answer.text[:500])
        action, data = _form(answer.text)
        if 'name="login"' in answer.text:
            assert subject is not None, "the IdP asked who signs in"
            shown.append("login")
            data.update({"login": subject, "password": "any password"})
        elif "op.logoutForm" in answer.text:
            shown.append("logout")
            data["logout"] = "yes"
        else:
            shown.append("consent")
        posted = theirs.post(urljoin(url, action), data=data)
        assert posted.status_code in (302, 303), (posted.status_code, posted.text[:500])
        url = urljoin(url, posted.headers["location"])
    raise AssertionError("the IdP never sent the browser back")


def sign_in(browser: tuple[TestClient, httpx.Client], idps: RealIdPs, which: str,
            subject: str, next_path: str = "/console/") -> Any:
    ours, theirs = browser
    start = ours.get(f"/console/login/start?issuer={quote(idps.issuer(which), safe='')}"
                     f"&next={quote(next_path)}")
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(idps.issuer(which) + "/auth?"), authorize
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    back, _ = through_idp(theirs, authorize, subject)
    assert back.startswith(CALLBACK), back
    return ours.get(back[len(CONSOLE):])


def session_token(ours: TestClient) -> str:
    sealed = ours.cookies.get(SESSION_COOKIE)
    session = ours.app.state.console.sealer.open("session", sealed)
    assert session is not None
    return session["token"]


def test_discovery_and_pkce_sign_a_municipality_supervisor_in(browser, idps) -> None:
    ours, _ = browser
    callback = sign_in(browser, idps, "city", "city-supervisor", f"/console/m/{CITY_A}/cases")
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == f"/console/m/{CITY_A}/cases"
    page = ours.get(f"/console/m/{CITY_A}/cases")
    assert page.status_code == 200, page.text
    # The session keeps the ID token the real IdP issued (its access token is opaque).
    token = session_token(ours)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == idps.issuer("city") and claims["aud"] == "yorisoi-console-city"
    assert jwt.get_unverified_header(token)["kid"] == "city-key-1"


def test_a_code_is_redeemed_once_and_only_with_its_verifier(browser, idps) -> None:
    ours, theirs = browser
    start = ours.get(f"/console/login/start?issuer={quote(idps.issuer('city'), safe='')}")
    back, _ = through_idp(theirs, start.headers["location"], "city-supervisor")
    code = parse_qs(urlsplit(back).query)["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                "client_id": "yorisoi-console-city"}
    # The real IdP refuses the code without the verifier the console kept...
    refused = theirs.post(f"{idps.issuer('city')}/token",
                          data={**exchange, "code_verifier": "x" * 64})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # ...redeems it with that verifier (taken here from the sealed sign-in cookie)...
    flow = ours.app.state.console.sealer.open("login", ours.cookies.get("yorisoi_console_login"))
    assert flow is not None
    first = theirs.post(f"{idps.issuer('city')}/token",
                        data={**exchange, "code_verifier": flow["verifier"]})
    assert first.status_code == 200 and first.json()["id_token"]
    # ...and only once: the console, coming second, is refused and starts no session.
    failed = ours.get(back[len(CONSOLE):])
    assert failed.status_code == 400, failed.text
    assert "サインインを完了できませんでした" in failed.text
    assert ours.cookies.get(SESSION_COOKIE) is None


def test_a_callback_naming_another_issuer_is_refused(browser, idps) -> None:
    ours, theirs = browser
    start = ours.get(f"/console/login/start?issuer={quote(idps.issuer('city'), safe='')}")
    back, _ = through_idp(theirs, start.headers["location"], "city-supervisor")
    mixed_up = re.sub(r"iss=[^&]+", "iss=" + quote(idps.issuer("npo"), safe=""), back)
    assert "iss=" in back and mixed_up != back  # the IdP names itself (RFC 9207)
    assert ours.get(mixed_up[len(CONSOLE):]).status_code == 400
    assert ours.cookies.get(SESSION_COOKIE) is None


def test_a_contractor_specialist_signs_in_at_the_contractors_idp(browser, idps) -> None:
    ours, _ = browser
    assert sign_in(browser, idps, "npo", "npo-specialist").status_code == 303
    assert ours.get(f"/console/m/{CITY_A}/tasks").status_code == 200
    # The same token is a bearer token for the API, verified by the real IdP's JWKS.
    answer = ours.post("/graphql", json={"query": "{ __typename }"},
                       headers={"Authorization": f"Bearer {session_token(ours)}"})
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text


def test_a_confidential_client_needs_its_secret(browser, idps, console) -> None:
    ours, _ = browser
    secrets_file = console.state.services.settings.oidc_client_secrets_file
    kept = secrets_file.read_text()
    try:
        for wrong in ({}, {idps.issuer("npo"): "not-the-secret"}):
            secrets_file.write_text(json.dumps(wrong))
            refused = sign_in(browser, idps, "npo", "npo-specialist")
            assert refused.status_code == 400, refused.text
            assert "サインインを完了できませんでした" in refused.text
            assert ours.cookies.get(SESSION_COOKIE) is None
    finally:
        secrets_file.write_text(kept)
    assert sign_in(browser, idps, "npo", "npo-specialist").status_code == 303


def test_a_person_without_a_role_of_ours_sees_nothing(browser, idps) -> None:
    ours, _ = browser
    assert sign_in(browser, idps, "city", "city-clerk").status_code == 303
    page = ours.get(f"/console/m/{CITY_A}/cases")
    assert page.status_code == 403, (page.status_code, page.text[:300])
    tasks = ours.get(f"/console/m/{CITY_A}/tasks")
    assert tasks.status_code == 403
    answer = ours.post("/graphql", json={"query": f'{{ cases(municipalityCode: "{CITY_A}")'
                                                  " { totalCount } }"},
                       headers={"Authorization": f"Bearer {session_token(ours)}"})
    assert answer.json().get("data") is None or answer.json()["data"].get("cases") is None


def test_signing_out_ends_the_session_here_and_at_the_issuer(browser, idps) -> None:
    ours, theirs = browser
    assert sign_in(browser, idps, "city", "city-supervisor").status_code == 303
    page = ours.get(f"/console/m/{CITY_A}/cases")
    stolen = ours.cookies.get(SESSION_COOKIE)
    out = ours.post("/console/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303
    end_session = out.headers["location"]
    assert end_session.startswith(idps.issuer("city") + "/session/end?"), end_session
    assert "id_token_hint" not in end_session  # no token in an address
    back, shown = through_idp(theirs, end_session)
    assert shown == ["logout"] and back == AFTER_LOGOUT
    # Here: the cookie is gone, and a copy of it is refused.
    ours.cookies.set(SESSION_COOKIE, stolen)
    assert ours.get(f"/console/m/{CITY_A}/cases").status_code == 303
    ours.cookies.clear()
    # There: the next sign-in asks who is signing in again (no silent pass-through).
    start = ours.get(f"/console/login/start?issuer={quote(idps.issuer('city'), safe='')}")
    _, shown = through_idp(theirs, start.headers["location"], "city-supervisor")
    assert shown[:1] == ["login"]


@pytest.mark.slow
def test_a_key_rotation_mid_session_keeps_sessions_and_signs_new_ones(
        browser, idps, console) -> None:
    ours, _ = browser
    assert sign_in(browser, idps, "city", "city-supervisor").status_code == 303
    before = ours.cookies.get(SESSION_COOKIE)
    assert jwt.get_unverified_header(session_token(ours))["kid"] == "city-key-1"
    # The IdP rotates: a new key signs, the old one is still published.
    old = idps.keys["city"][0]
    idps.restart_with("city", [_private_jwk("city-key-2"), old])
    time.sleep(0.6)  # past the verifier's refetch cooldown (30 s in production)
    assert ours.get(f"/console/m/{CITY_A}/cases").status_code == 200  # the old session
    with TestClient(console, base_url=CONSOLE, follow_redirects=False) as other, \
            httpx.Client(follow_redirects=False, timeout=30) as other_idp:
        assert sign_in((other, other_idp), idps, "city", "city-specialist").status_code == 303
        assert jwt.get_unverified_header(session_token(other))["kid"] == "city-key-2"
        assert other.get(f"/console/m/{CITY_A}/tasks").status_code == 200
        # The old key withdrawn: once the cached key set expires, its tokens are refused.
        idps.restart_with("city", [idps.keys["city"][0]])
        time.sleep(2.2)  # the verifier's JWKS lifespan in this test (300 s in production)
        ours.cookies.set(SESSION_COOKIE, before)
        expired = ours.get(f"/console/m/{CITY_A}/cases")
        assert expired.status_code == 303 and "/console/login" in expired.headers["location"]
        assert other.get(f"/console/m/{CITY_A}/tasks").status_code == 200
