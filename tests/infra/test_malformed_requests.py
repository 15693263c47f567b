"""Malformed requests answer 4xx with a typed error, always.

Bodies (infra/http/request_bodies.py, infra/middleware.RequestGuardMiddleware and the
GraphQL router's refusals): size limits from the settings, invalid UTF-8, JSON nested
too deep, lone surrogates, numbers beyond Python's digit limit, non-object GraphQL
bodies.  Tokens (infra/identity.py): absurd ``exp``/``iat``/``nbf`` and an empty or
over-long ``sub`` in a validly signed token.  The console's pages under the rate limits,
and ``yorisoi dev-token``'s refusals.

Bodies and the console on SQLite (they are refused before any storage); the token a
write is refused with, on both backends (nothing may be stored with actor ``""``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from world import CITY_A, NPO, RECORD, build_world, consultation_input

from yorisoi.infra.http.app import create_app
from yorisoi.infra.http.request_bodies import json_problem
from yorisoi.infra.rate_limits import RateLimiter

sys.path.insert(0, str(Path(__file__).parents[1] / "console"))
from console_steps import csrf_of, sign_in  # noqa: E402

SEARCH = "query($q: String) { cases(municipalityCode: $q) { totalCount } }"
CASES = '{ cases(municipalityCode: "131016") { totalCount } }'


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from yorisoi.infra.settings import Settings

    built = build_world(Settings(backend="sqlite", environment="test",
                                 data_dir=tmp_path_factory.mktemp("malformed")))
    yield built
    built.services.close()


def client_for(world: Any, **settings: Any) -> TestClient:
    app = create_app(world.services.settings.model_copy(update=settings), world.services)
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


@pytest.fixture(scope="module")
def client(world: Any) -> Iterator[TestClient]:
    with client_for(world) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def supervisor(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="a-supervisor",
                         roles=("municipal_supervisor",))


def assert_typed(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    detail = response.json()["detail"]
    assert detail["code"] == code, detail
    assert detail["message"] and detail["messageJa"], detail


def post_raw(client: TestClient, body: bytes, headers: dict[str, str],
             path: str = "/graphql", content_type: str = "application/json") -> Any:
    return client.post(path, content=body, headers={**headers, "content-type": content_type})


# --------------------------------------------------------------------------- JSON bodies

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"null", 400, "graphql_request_not_object"),
    (b"42", 400, "graphql_request_not_object"),
    (b'"a query"', 400, "graphql_request_not_object"),
    (b"true", 400, "graphql_request_not_object"),
    (b"[]", 400, "graphql_batching_disabled"),
    (b'[{"query": "{ __typename }"}]', 400, "graphql_batching_disabled"),
    (b'{"query": "\xff\xfe{ cases }"}', 400, "request_body_not_utf8"),
    (b'{"query": "\xed\xa0\x80"}', 400, "request_body_not_utf8"),  # a surrogate in UTF-8
    (DEEP, 400, "request_body_too_deep"),
    (b'{"query": "{ a }", "variables": {"v": ' + b"[" * 70 + b"]" * 70 + b"}}",
     400, "request_body_too_deep"),
    (b'{"query": "{ a }", "variables": {"v": ' + b"9" * 5000 + b"}}",
     400, "request_body_not_json"),
    (b'{"query": "' + SEARCH.encode() + b'", "variables": {"q": "\\ud800"}}',
     400, "request_body_lone_surrogate"),
    (b'{"query": "' + SEARCH.encode() + b'", "variables": {"\\udfff": "x"}}',
     400, "request_body_lone_surrogate"),
    (b'{"query": ', 400, "request_body_not_json"),
    (b'{"query": 5}', 400, "graphql_request_invalid"),
    (b'{"query": "{ a }", "variables": "x"}', 400, "graphql_request_invalid"),
    (b'{"query": "{ a }", "operationName": 5}', 400, "graphql_request_invalid"),
    (b'{}', 400, "graphql_query_missing"),
], ids=["null", "number", "string", "boolean", "empty list", "batch", "invalid utf-8",
        "encoded surrogate", "nested 100000 deep", "variables 70 deep", "5000 digits",
        "lone surrogate", "lone surrogate key", "truncated", "query not a string",
        "variables not an object", "operationName not a string", "no query"])
def test_a_malformed_graphql_body_answers_a_typed_4xx(client: TestClient,
                                                      supervisor: dict[str, str],
                                                      body: bytes, status: int,
                                                      code: str) -> None:
    assert_typed(post_raw(client, body, supervisor), status, code)


def test_sound_bodies_still_pass(client: TestClient, supervisor: dict[str, str]) -> None:
    # A surrogate *pair* is a character (an emoji); nesting within the limit is fine.
    paired = post_raw(client, b'{"query": "' + SEARCH.encode()
                      + b'", "variables": {"q": "\\ud83d\\ude00"}}', supervisor)
    assert paired.status_code == 200, paired.text
    nested = post_raw(client, b'{"query": "{ __typename }", "variables": {"v": '
                      + b"[" * 60 + b"]" * 60 + b"}}", supervisor)
    assert nested.status_code == 200 and nested.json() == {"data": {"__typename": "Query"}}
    assert client.post("/graphql", json={"query": CASES}, headers=supervisor).json() == {
        "data": {"cases": {"totalCount": 0}}}


def test_a_syntax_error_names_its_kind_and_position_only(client: TestClient,
                                                         supervisor: dict[str, str]) -> None:
    response = client.post("/graphql", json={"query": '{ cases { "架空 花子" } }'},
                           headers=supervisor)
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error == {"message": "Syntax Error: Expected Name, found String.",
                     "locations": [{"line": 1, "column": 11}]}
    for query in ("{ 山田 }", "{ a(x: 0123) }", '{ a(x: "\\x") }', "{ a(x: 'q') }"):
        [error] = client.post("/graphql", json={"query": query},
                              headers=supervisor).json()["errors"]
        assert error["message"].startswith("Syntax Error: "), error
        assert not any(c in error["message"] for c in ("'", '"', "山", "U+")), error


def test_a_rest_json_body_is_checked_too(client: TestClient) -> None:
    response = post_raw(client, DEEP, {}, path="/agency-packets/x/acknowledge")
    assert_typed(response, 400, "request_body_too_deep")
    response = post_raw(client, b"\xff", {}, path="/agency-packets/x/acknowledge",
                        content_type="")
    assert_typed(response, 400, "request_body_not_utf8")


def test_json_problem_walks_only_when_it_must() -> None:
    assert json_problem(b"", 3) is None
    assert json_problem(b'{"a": [[1]]}', 3) is None
    assert json_problem(b'{"a": [[[1]]]}', 3).code == "request_body_too_deep"
    assert json_problem(b'{"a": "\\uD800"}', 3).code == "request_body_lone_surrogate"
    assert json_problem(b'{"a": "\\uD83D\\uDE00"}', 3) is None


# --------------------------------------------------------------------------- sizes


def test_the_body_size_limit_is_configurable_and_typed(world: Any,
                                                       supervisor: dict[str, str]) -> None:
    with client_for(world, max_request_body_bytes=4096) as small:
        padded = {"query": CASES, "operationName": None, "extensions": {"pad": "x" * 3000}}
        assert small.post("/graphql", json=padded, headers=supervisor).status_code == 200
        padded["extensions"]["pad"] = "x" * 5000
        response = small.post("/graphql", json=padded, headers=supervisor)
        assert_typed(response, 413, "request_too_large")
        assert "4 KiB" in response.json()["detail"]["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield b'{"query": "{ a }", "extensions": {"pad": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}}'

        streamed = small.post("/graphql", content=chunks(),
                              headers={**supervisor, "content-type": "application/json"})
        assert_typed(streamed, 413, "request_too_large")


def test_the_default_limit_is_one_mebibyte(client: TestClient,
                                           supervisor: dict[str, str]) -> None:
    body = b'{"query": "{ a }", "extensions": {"pad": "' + b"x" * (1024 * 1024) + b'"}}'
    assert_typed(post_raw(client, body, supervisor), 413, "request_too_large")
    declared = client.post("/graphql", content=b"{}", headers={
        **supervisor, "content-type": "application/json", "content-length": "50000000"})
    assert_typed(declared, 413, "request_too_large")


def test_uploads_have_their_own_larger_limit(world: Any) -> None:
    headers = world.headers("contractor", NPO, sites=("a-hiroba",))
    path = f"/api/municipalities/{CITY_A}/cases/{'0' * 8}-0000-0000-0000-{'0' * 12}/attachments"
    two_mib = b"%PDF-1.4 " + b"0" * (2 * 1024 * 1024)
    with client_for(world) as default:
        # Past the 1 MiB of other bodies: the route answers (no such case), not the guard.
        response = default.post(path, headers=headers, data={"kind": "other"},
                                files={"file": ("a.pdf", two_mib, "application/pdf")})
        assert response.status_code == 404, response.text
    with client_for(world, max_upload_body_bytes=64 * 1024) as small:
        response = small.post(path, headers=headers, data={"kind": "other"},
                              files={"file": ("a.pdf", two_mib, "application/pdf")})
        assert_typed(response, 413, "request_too_large")


def test_a_console_form_beyond_the_limit_is_refused(world: Any) -> None:
    with client_for(world, max_request_body_bytes=4096) as small:
        sign_in(small, "municipality", CITY_A, "a-specialist", "specialist", ("a-hiroba",))
        form = small.get(f"/console/m/{CITY_A}/cases/new")
        assert form.status_code == 200, form.text
        response = small.post(f"/console/m/{CITY_A}/cases/new",
                              data={"csrf": csrf_of(form.text), "asked": "x" * 8000})
        # A person sees the console's own error page, not JSON.
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("text/html")
        assert "<main" in response.text and "x" * 100 not in response.text


# --------------------------------------------------------------------------- tokens


def forged(world: Any, **claims: Any) -> dict[str, str]:
    """A token signed by the development issuer's own key, with any claims at all."""
    dev = world.services.dev_issuer
    now = int(time.time())
    body = {"iss": dev.issuer_for("municipality", CITY_A), "aud": "yorisoi", "sub": "someone",
            "iat": now, "exp": now + 600, "roles": ["municipal_supervisor"], "sites": []}
    body.update(claims)
    token = jwt.encode({k: v for k, v in body.items() if v is not None}, dev._key,
                       algorithm="RS256", headers={"kid": dev.kid})
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("claims", "code"), [
    # Fixed values only: xdist workers must collect the same parameter ids.
    ({"exp": 2_000_000_000_000}, "claim_invalid"),  # ~ year 65000 (`--expires-in 999999999999`)
    ({"exp": 10**30}, "claim_invalid"),
    ({"exp": float("inf")}, "token_malformed"),
    ({"exp": "tomorrow"}, "token_malformed"),
    ({"exp": True}, "token_expired"),  # PyJWT reads True as 1
    ({"iat": -1}, "claim_invalid"),
    ({"iat": float("nan")}, "claim_invalid"),
    ({"nbf": 10**30}, "token_not_yet_valid"),
    ({"nbf": -5}, "claim_invalid"),
    ({"sub": ""}, "claim_invalid"),
    ({"sub": " "}, "claim_invalid"),
    ({"sub": "a" * 256}, "claim_invalid"),
    ({"sub": "line\nbreak"}, "claim_invalid"),
    ({"sub": 42}, "claim_invalid"),
], ids=lambda value: str(value)[:40])
def test_absurd_claims_in_a_signed_token_answer_401(client: TestClient, world: Any,
                                                    claims: dict[str, Any], code: str) -> None:
    response = client.post("/graphql", json={"query": CASES}, headers=forged(world, **claims))
    assert_typed(response, 401, code)


def test_sane_claims_still_pass(client: TestClient, world: Any) -> None:
    for claims in ({}, {"exp": int(time.time()) + 600.5}, {"sub": "a" * 255},
                   {"nbf": int(time.time()) - 10}):
        response = client.post("/graphql", json={"query": CASES},
                               headers=forged(world, **claims))
        assert response.status_code == 200 and "errors" not in response.json(), response.text


def test_the_dev_issuers_huge_lifetime_answers_401(client: TestClient, world: Any) -> None:
    """``yorisoi dev-token … --expires-in 999999999999`` was a 500."""
    token = world.services.dev_issuer.mint("municipality", CITY_A, "x",
                                           roles=["municipal_supervisor"],
                                           expires_in=999_999_999_999)
    response = client.post("/graphql", json={"query": CASES},
                           headers={"Authorization": f"Bearer {token}"})
    assert_typed(response, 401, "claim_invalid")


def test_an_empty_subject_writes_nothing(backend_settings: Any) -> None:
    """An empty ``sub`` was accepted and its writes stored with actor "" (both backends)."""
    from audit_world import counts

    world = build_world(backend_settings)
    try:
        with world.services.runtimes.lease(CITY_A) as rt:
            before = counts(rt)
        with client_for(world) as client:
            headers = forged(world, sub="", roles=["specialist"], sites=["a-hiroba"])
            response = client.post("/graphql", json={"query": RECORD, "variables": {
                "input": consultation_input()}}, headers=headers)
            assert_typed(response, 401, "claim_invalid")
            # The same write with a subject is stored (the test can fail).
            headers = forged(world, sub="a-specialist", roles=["specialist"],
                             sites=["a-hiroba"])
            response = client.post("/graphql", json={"query": RECORD, "variables": {
                "input": consultation_input()}}, headers=headers)
            assert "ConsultationRecorded" in response.text, response.text
        with world.services.runtimes.lease(CITY_A) as rt:
            events, _ = counts(rt)
        assert events > before[0]
        with world.services.runtimes.lease(CITY_A) as rt, \
                rt.casework.database.transaction(write=False) as cur:
            actors = {row["actor"] for row in cur.execute(
                "SELECT actor FROM {s}access_log").fetchall()}
        assert "" not in actors
    finally:
        world.services.close()


# --------------------------------------------------------------------------- the console's limits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_console_pages_are_rate_limited_per_person(world: Any) -> None:
    settings = world.services.settings.model_copy(update={
        "rate_limits": True, "rate_limit_principal_burst": 5,
        "rate_limit_principal_per_second": 1.0, "rate_limit_tenant_burst": 100,
        "rate_limit_tenant_per_second": 100.0})
    clock = Clock()

    def fresh_client() -> TestClient:
        app = create_app(settings, world.services)
        app.state.rate_limiter = RateLimiter.from_settings(settings, clock=clock)
        return app, TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)

    app, alice = fresh_client()
    with alice:
        bob = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
        # Signing in takes the address's bucket (no session yet): refill it for Bob.
        sign_in(alice, "municipality", CITY_A, "alice", "municipal_supervisor")
        clock.now += 100
        sign_in(bob, "municipality", CITY_A, "bob", "municipal_supervisor")
        clock.now += 100
        pages = [alice.get(f"/console/m/{CITY_A}/cases") for _ in range(5)]
        assert [p.status_code for p in pages] == [200] * 5
        refused = alice.get(f"/console/m/{CITY_A}/cases")
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["content-type"].startswith("text/html")
        assert "リクエストが多すぎます" in refused.text
        # Static files are not charged; Bob, behind the same address, is not affected.
        assert alice.get("/console/static/console.css").status_code == 200
        assert bob.get(f"/console/m/{CITY_A}/cases").status_code == 200
        clock.now += 1
        assert alice.get(f"/console/m/{CITY_A}/cases").status_code == 200


# --------------------------------------------------------------------------- dev-token


@pytest.fixture
def cli(world: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from typer.testing import CliRunner

    from yorisoi.infra import cli as cli_module
    from yorisoi.infra.settings import get_settings

    monkeypatch.setenv("YORISOI_DATA_DIR", str(world.services.settings.data_dir))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli_module.app, ["dev-token", *args])
    get_settings.cache_clear()


def test_dev_token_refuses_unknown_roles(cli: Any) -> None:
    result = cli("someone", "--tenant-kind", "municipality", "--tenant-id", CITY_A,
                 "--role", "specialist", "--role", "superuser")
    assert result.exit_code == 2, result.output
    assert "superuser" in result.output and "municipal_supervisor" in result.output
    ok = cli("someone", "--tenant-kind", "municipality", "--tenant-id", CITY_A,
             "--role", "municipal_supervisor")
    assert ok.exit_code == 0 and ok.output.count(".") == 2, ok.output


@pytest.mark.parametrize("args", [
    ("someone", "--tenant-kind", "municipality", "--tenant-id", CITY_A,
     "--expires-in", "999999999999"),
    ("someone", "--tenant-kind", "prefecture", "--tenant-id", CITY_A),
    ("someone", "--tenant-kind", "municipality", "--tenant-id", "1310"),
    ("", "--tenant-kind", "municipality", "--tenant-id", CITY_A),
], ids=["lifetime", "tenant kind", "tenant id", "empty subject"])
def test_dev_token_refuses_what_the_api_would(cli: Any, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_the_schema_answers_syntax_errors_safely_outside_http_too() -> None:
    from yorisoi.graphql.schema import build_schema, syntax_error_message

    result = build_schema(production=False).execute_sync('{ cases { "架空 花子" } }')
    assert [e.message for e in result.errors] == ["Syntax Error: Expected Name, found String."]
    assert syntax_error_message("Syntax Error: Unexpected character: U+5C71.") == \
        "Syntax Error: Unexpected character."
    assert syntax_error_message("Syntax Error: Expected Name, found ')'.") == \
        "Syntax Error: Expected Name."
    assert syntax_error_message("Syntax Error: Unterminated string.") == \
        "Syntax Error: Unterminated string."
