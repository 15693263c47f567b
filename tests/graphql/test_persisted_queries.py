"""Persisted queries: the committed allow-list, its CLI, and both modes over HTTP.

The behaviour is the HTTP layer's, not the database's, so these run on the
embedded SQLite backend only (a real one: provisioned world, real tokens).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from world import CITY_A, NPO, RECORD, build_world, consultation_input, head

from yorisoi.graphql.persisted import (
    MANIFEST_PATH,
    OPERATIONS_DIR,
    PersistedQueries,
    document_hash,
    operation_files,
    read_document,
)
from yorisoi.infra import cli
from yorisoi.infra.http.app import create_app

CASES_DOC = read_document(OPERATIONS_DIR / "cases.graphql")
RECORD_DOC = read_document(OPERATIONS_DIR / "record_consultation.graphql")
UNKNOWN = "0" * 64


@pytest.fixture
def world(sqlite_settings):
    built = build_world(sqlite_settings)
    yield built
    built.services.close()


def npo(world: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, subject="npo-staff-1", roles=("specialist",),
                         sites=("a-hiroba",))


def app_with(world: Any, **changes: Any) -> TestClient:
    settings = world.services.settings.model_copy(update=changes)
    return TestClient(create_app(settings, world.services))


def post(client: TestClient, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def refused(body: dict[str, Any], code: str) -> None:
    """The typed, bilingual refusal: no data, one error with code and Japanese message."""
    assert body.get("data") is None, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code, body
    assert error["message"] and error["extensions"]["messageJa"], body


def by_hash(key: str, **extra: Any) -> dict[str, Any]:
    return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": key}}, **extra}


# --------------------------------------------------------------------------- the manifest


def test_committed_manifest_is_built_from_the_operation_files():
    manifest = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    files = operation_files(OPERATIONS_DIR)
    assert files, "no operations are persisted"
    assert manifest == {document_hash(read_document(p)): read_document(p) for p in files}
    result = CliRunner().invoke(cli.app, ["graphql", "persist", "--check"])
    assert result.exit_code == 0, result.output


def test_persist_writes_a_manifest_and_check_notices_a_change(tmp_path: Path):
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / "a.graphql").write_text("query A { __typename }\n")
    out = tmp_path / "manifest.json"
    runner = CliRunner()
    written = runner.invoke(cli.app, ["graphql", "persist", str(ops), "--output", str(out)])
    assert written.exit_code == 0, written.output
    assert json.loads(out.read_text()) == {
        document_hash("query A { __typename }"): "query A { __typename }"}
    ok = runner.invoke(cli.app, ["graphql", "persist", str(ops), "--output", str(out), "--check"])
    assert ok.exit_code == 0, ok.output

    (ops / "b.graphql").write_text("query B { __typename }")
    stale = runner.invoke(cli.app, ["graphql", "persist", str(ops), "--output", str(out),
                                    "--check"])
    assert stale.exit_code == 1, stale.output
    assert "out of date" in stale.output


def test_persist_refuses_a_document_that_does_not_fit_the_schema(tmp_path: Path):
    (tmp_path / "bad.graphql").write_text("query Bad { cases { noSuchField } }")
    out = tmp_path / "manifest.json"
    result = CliRunner().invoke(cli.app, ["graphql", "persist", str(tmp_path),
                                          "--output", str(out)])
    assert result.exit_code == 1, result.output
    assert "bad.graphql" in result.output and "noSuchField" in result.output
    assert not out.exists()


def test_sdl_check_compares_with_the_committed_file(tmp_path: Path):
    # (Whether the committed file is current is tests/graphql/test_schema_contract.py's.)
    runner = CliRunner()
    other = tmp_path / "schema.graphql"
    other.write_text("type Query { stale: Int }\n")
    stale = runner.invoke(cli.app, ["graphql", "sdl", "--check", "--output", str(other)])
    assert stale.exit_code == 1, stale.output
    assert runner.invoke(cli.app, ["graphql", "sdl", "--output", str(other)]).exit_code == 0
    assert runner.invoke(cli.app, ["graphql", "sdl", "--check", "--output",
                                   str(other)]).exit_code == 0


def test_a_tampered_manifest_or_an_empty_allow_list_is_refused_at_start(tmp_path: Path):
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps({UNKNOWN: "query A { __typename }"}))
    with pytest.raises(ValueError, match="does not match"):
        PersistedQueries.load("off", tampered)
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    with pytest.raises(ValueError, match="manifest"):
        PersistedQueries.load("allow_list", empty)
    assert PersistedQueries.load("off", empty).documents == {}


# --------------------------------------------------------------------------- off (default)


def test_off_mode_runs_raw_documents_and_resolves_known_hashes(client, world):
    assert world.services.settings.graphql_persisted_queries == "off"
    headers = npo(world)
    variables = {"municipalityCode": CITY_A, "first": 5}
    raw = post(client, {"query": "query { cases(municipalityCode: \"131016\") { totalCount } }"},
               headers)
    assert raw == {"data": {"cases": {"totalCount": 0}}}
    key = document_hash(CASES_DOC)
    for body in (by_hash(key, variables=variables),
                 {"documentId": f"sha256:{key}", "variables": variables},
                 {"documentId": key.upper(), "variables": variables}):
        answer = post(client, body, headers)
        assert "errors" not in answer, answer
        assert answer["data"]["cases"]["totalCount"] == 0
    # Automatic persisted queries: an unknown hash sent with its document runs.
    doc = "query { __typename }"
    assert post(client, by_hash(document_hash(doc), query=doc), headers) == {
        "data": {"__typename": "Query"}}
    refused(post(client, by_hash(UNKNOWN), headers), "persisted_query_not_found")
    refused(post(client, by_hash(document_hash(doc), query=doc + " "), headers),
            "persisted_query_hash_mismatch")


# --------------------------------------------------------------------------- allow_list


def test_allow_list_refuses_a_raw_document_that_is_not_on_the_list_and_runs_nothing(world):
    with app_with(world, graphql_persisted_queries="allow_list") as strict:
        before = head(world)
        body = post(strict, {"query": RECORD, "variables": {"input": consultation_input()}},
                    npo(world))
        refused(body, "persisted_query_not_allowed")
        assert head(world) == before  # nothing written
        # Introspection and small talk are refused alike.
        refused(post(strict, {"query": "{ __schema { types { name } } }"}, npo(world)),
                "persisted_query_not_allowed")
        refused(post(strict, {"query": "{ __typename }"}, {}), "persisted_query_not_allowed")


def test_allow_list_runs_registered_operations_by_hash_by_document_id_or_verbatim(world):
    headers = npo(world)
    with app_with(world, graphql_persisted_queries="allow_list") as strict:
        before = head(world)
        recorded = post(strict, by_hash(document_hash(RECORD_DOC),
                                        variables={"input": consultation_input()}), headers)
        assert recorded["data"]["recordConsultation"]["__typename"] == "ConsultationRecorded", (
            recorded)
        assert head(world) > before
        variables = {"municipalityCode": CITY_A, "first": 5}
        for body in ({"documentId": f"sha256:{document_hash(CASES_DOC)}", "variables": variables},
                     {"query": CASES_DOC, "variables": variables},
                     by_hash(document_hash(CASES_DOC), query=CASES_DOC, variables=variables)):
            answer = post(strict, body, headers)
            assert "errors" not in answer, answer
            (edge,) = answer["data"]["cases"]["edges"]
            assert edge["node"]["household"]["guardians"][0]["name"] == "架空 花子"


def test_allow_list_refuses_unknown_ids_mismatches_and_malformed_ids(world):
    headers = npo(world)
    with app_with(world, graphql_persisted_queries="allow_list") as strict:
        refused(post(strict, by_hash(UNKNOWN), headers), "persisted_query_not_found")
        refused(post(strict, {"documentId": f"sha256:{UNKNOWN}"}, headers),
                "persisted_query_not_found")
        # An unknown hash with its document is not registered on the fly.
        doc = "query { __typename }"
        refused(post(strict, by_hash(document_hash(doc), query=doc), headers),
                "persisted_query_not_found")
        refused(post(strict, by_hash(document_hash(CASES_DOC), query=CASES_DOC + "\n"), headers),
                "persisted_query_hash_mismatch")
        for bad in ("sha256:xyz", 123, "", {"a": 1}):
            refused(post(strict, {"documentId": bad}, headers), "persisted_query_invalid")
        refused(post(strict, {"extensions": {"persistedQuery": {"sha256Hash": None}}}, headers),
                "persisted_query_invalid")


def test_refusals_quote_nothing_the_caller_sent(world):
    secret = "架空 花子の相談"
    with app_with(world, graphql_persisted_queries="allow_list") as strict:
        response = strict.post("/graphql", json={
            "query": f'query {{ cases(after: "{secret}") {{ totalCount }} }}'}, headers=npo(world))
    assert response.status_code == 200
    assert secret not in response.text
    refused(response.json(), "persisted_query_not_allowed")


def test_a_document_id_under_an_escaped_key_is_still_read(client, world):
    # The body is parsed a second time only when it can name a documentId: spelt out,
    # or with a \u escape in it (JSON may spell the key "document\u0049d").
    key = document_hash(CASES_DOC)
    body = ('{"document\\u0049d": "sha256:%s", "variables": {"municipalityCode": "%s",'
            ' "first": 5}}' % (key, CITY_A))
    response = client.post("/graphql", content=body, headers={
        **npo(world), "content-type": "application/json"})
    answer = response.json()
    assert "errors" not in answer, answer
    assert answer["data"]["cases"]["totalCount"] == 0
