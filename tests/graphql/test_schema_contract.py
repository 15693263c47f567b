"""The published GraphQL contract and its guards.

* ``import graphql`` is graphql-core, never the repository's ``graphql/`` folder
  (which would shadow it whenever the repository root is on ``sys.path``);
* the SDL committed in ``graphql/schema.graphql`` is the schema the code builds;
* production refuses introspection and serves no IDE; depth, alias and token
  limits refuse oversized documents before anything runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from world import CASES, CITY_A, NPO, RECORD, consultation_input

from yorisoi.infra.http.app import create_app

REPO = Path(__file__).resolve().parents[2]
REGENERATE = ("run python -c 'from yorisoi.graphql.schema import SDL_PATH, published_sdl; "
              "SDL_PATH.write_text(published_sdl())'")


def supervisor(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, roles=("municipal_supervisor",))


def post(client: TestClient, query: str, headers: dict[str, str] | None = None,
         variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}},
                           headers=headers or {})
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def app_with(world: Any, **changes: Any) -> TestClient:
    settings = world.services.settings.model_copy(update=changes)
    return TestClient(create_app(settings, world.services))


# --------------------------------------------------------------------------- graphql-core


def _site_packages() -> list[Path]:
    return [Path(sysconfig.get_paths()[name]).resolve() for name in ("purelib", "platlib")]


def test_import_graphql_is_graphql_core():
    import graphql

    location = Path(graphql.__file__).resolve()
    assert any(location.is_relative_to(sp) for sp in _site_packages()), location
    assert not location.is_relative_to(REPO / "graphql"), location
    assert hasattr(graphql, "GraphQLSchema") and hasattr(graphql, "graphql_sync")


def test_import_graphql_is_graphql_core_with_the_repository_root_first_on_sys_path():
    # `python -c` puts the working directory first on sys.path, as `python -m
    # pytest` and uvicorn do: the repository's graphql/ folder must not win.
    program = (
        "import json, sys, graphql, strawberry\n"
        "import yorisoi.graphql.schema as schema\n"
        "print(json.dumps({'path0': sys.path[0], 'graphql': graphql.__file__,\n"
        "                  'yorisoi_graphql': schema.__file__,\n"
        "                  'core': hasattr(graphql, 'GraphQLSchema')}))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["path0"] in ("", str(REPO)), facts
    location = Path(facts["graphql"]).resolve()
    assert any(location.is_relative_to(sp) for sp in _site_packages()), facts
    assert not location.is_relative_to(REPO / "graphql"), facts
    assert facts["core"] is True
    # The repository folder is reachable only as yorisoi.graphql.
    assert Path(facts["yorisoi_graphql"]).name == "schema.py"


def test_repository_graphql_folder_is_not_a_package():
    assert (REPO / "graphql").is_dir()
    assert not (REPO / "graphql" / "__init__.py").exists(), (
        "graphql/__init__.py would shadow graphql-core whenever the repository root "
        "is on sys.path; the folder installs as yorisoi.graphql without it")


# --------------------------------------------------------------------------- published SDL


def test_published_sdl_matches_the_committed_schema_file():
    from yorisoi.graphql.schema import SDL_PATH, published_sdl

    committed = (REPO / "graphql" / "schema.graphql").read_text(encoding="utf-8")
    assert Path(SDL_PATH).resolve() == (REPO / "graphql" / "schema.graphql").resolve()
    assert published_sdl() == committed, (
        f"graphql/schema.graphql is out of date with the code; {REGENERATE}")


def test_published_sdl_is_stable_and_says_what_clients_rely_on():
    from yorisoi.graphql.schema import published_sdl

    sdl = published_sdl()
    assert sdl == published_sdl()  # deterministic
    for part in ("recordConsultation(input: RecordConsultationInput!): RecordConsultationResult!",
                 # PossibleDuplicates (issue 14) is answered only to an input that registers a
                 # family already on file; clients switch on __typename.
                 "union RecordConsultationResult = ConsultationRecorded | PossibleDuplicates | "
                 "ValidationError | NotAuthorizedError | NotFoundError | ConflictError",
                 "cases(", "totalCount: Int!", "hasNextPage: Boolean!", "endCursor: String",
                 "interface UserError", "messageJa: String!", "fieldErrors: [FieldError!]!"):
        assert part in sdl, part
    assert "Subscription" not in sdl


# --------------------------------------------------------------------------- production


INTROSPECTION = "{ __schema { queryType { name } types { name } } }"


def test_introspection_works_outside_production(client, world):
    body = post(client, INTROSPECTION)
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


def test_production_refuses_introspection_and_serves_no_ide(world):
    with app_with(world, environment="production") as prod:
        for query in (INTROSPECTION, '{ __type(name: "Case") { fields { name } } }',
                      "query Q { cases(first: 1) { totalCount } __schema { types { name } } }"):
            body = post(prod, query, supervisor(world))
            assert body["data"] is None, body
            assert body["errors"], body
            assert any("introspection" in e["message"].lower() for e in body["errors"]), body

        # Ordinary queries and __typename still work.
        assert post(prod, "{ __typename }")["data"] == {"__typename": "Query"}
        assert post(prod, CASES, supervisor(world), {"first": 1})["data"]["cases"] == {
            "totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}

        ide = prod.get("/graphql", headers={"Accept": "text/html"})
        assert ide.status_code == 404, ide.status_code
        assert "graphiql" not in ide.text.lower()
        assert prod.get("/docs").status_code == 404


def test_ide_is_served_outside_production(client):
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


def test_queries_are_not_accepted_over_get(client, world):
    # A GET query would put variables (personal data) into URLs and access logs.
    response = client.get("/graphql", params={"query": "{ __typename }"},
                          headers=supervisor(world))
    assert response.status_code == 400, response.status_code
    assert response.text == "queries are not allowed when using GET"  # no result, no echo


# --------------------------------------------------------------------------- limits


DEEP_CASES = "{ cases(first: 1) { edges { node { household { guardians { name } } } } } }"


def test_query_deeper_than_the_limit_is_refused(world):
    # The published schema has no cycles, so its deepest query is far below the
    # default limit of 10; a lower limit shows the guard works.
    with app_with(world, graphql_max_depth=3) as limited:
        for too_deep in (DEEP_CASES,
                         "{ cases(first: 1) { edges { node { household { id } } } } }",
                         "query { ...A } fragment A on Query { cases(first: 1) "
                         "{ edges { node { household { id } } } } }"):
            body = post(limited, too_deep, supervisor(world))
            assert body["data"] is None, (too_deep, body)
            assert any("depth" in e["message"].lower() for e in body["errors"]), body
        # At the limit it runs.
        ok = post(limited, "{ cases(first: 1) { edges { node { id } } } }", supervisor(world))
        assert "errors" not in ok, ok


def test_default_depth_limit_admits_the_published_queries(client, world):
    assert world.services.settings.graphql_max_depth == 10
    body = post(client, DEEP_CASES, supervisor(world))
    assert "errors" not in body, body


def test_refused_deep_query_does_not_run_its_resolvers(world):
    # A refused mutation writes nothing: limits apply before execution.
    with app_with(world, graphql_max_depth=1) as limited:
        with world.services.runtimes.lease(CITY_A) as rt:
            before = rt.casework.recorder.max_notification_id() or 0
        headers = world.headers("contractor", NPO, roles=("specialist",), sites=("a-hiroba",))
        body = post(limited, RECORD, headers, {"input": consultation_input()})
        assert body["data"] is None, body
        with world.services.runtimes.lease(CITY_A) as rt:
            assert (rt.casework.recorder.max_notification_id() or 0) == before


def _aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"


def test_too_many_aliases_are_refused(client, world):
    assert "errors" not in post(client, _aliases(15), supervisor(world))
    body = post(client, _aliases(16), supervisor(world))
    assert body["data"] is None, body
    assert any("alias" in e["message"].lower() for e in body["errors"]), body

    fan_out = "{ " + " ".join(f"c{i}: cases(first: 100) {{ totalCount }}" for i in range(16)) + " }"
    body = post(client, fan_out, supervisor(world))
    assert body["data"] is None, body


def test_too_many_tokens_are_refused(client, world):
    # (graphql-core's own validation gives up on ~2000 identical fields, so the
    # control stays well below the limit.)
    assert "errors" not in post(client, "{ " + "__typename " * 150 + "}", supervisor(world))
    body = post(client, "{ " + "__typename " * 2100 + "}", supervisor(world))
    assert body["data"] is None, body
    assert body["errors"], body


def test_unparsable_document_reports_the_parse_error(client, world):
    syntax = post(client, "{ cases(first: 1) { totalCount ", supervisor(world))
    assert syntax["data"] is None
    assert any("syntax error" in e["message"].lower() for e in syntax["errors"]), syntax
    tokens = post(client, "{ " + "__typename " * 2100 + "}", supervisor(world))
    assert any("token" in e["message"].lower() for e in tokens["errors"]), tokens
