"""The case list's count and page: one statement, one snapshot (projections/case_queries.py).

``CaseQueries.page`` reads the count and the page with one statement
(``Database.select``): no transaction around it, and the count still arrives
when the page is empty.  Both backends (the ``client``/``world`` fixtures).
"""

from __future__ import annotations

from typing import Any

import pytest
from world import CITY_A, NPO, gql, record

from yorisoi.infra.telemetry import in_memory_exporter

LIST = """query($first: Int!, $after: String) {
  cases(municipalityCode: "131016", first: $first, after: $after) {
    totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""


@pytest.fixture(scope="module")
def exporter() -> Any:
    return in_memory_exporter()


def supervisor(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="a-supervisor",
                         roles=("municipal_supervisor",))


def seed(client: Any, world: Any, n: int) -> None:
    headers = world.headers("contractor", NPO, subject="npo-staff-1", roles=("specialist",),
                            sites=("a-hiroba",))
    for _ in range(n):
        assert record(client, headers)["__typename"] == "ConsultationRecorded"
    with world.services.runtimes.lease(CITY_A) as rt:
        rt.catch_up()


def cases(client: Any, world: Any, first: int, after: str | None = None) -> dict[str, Any]:
    body = gql(client, LIST, {"first": first, "after": after}, supervisor(world))
    assert "errors" not in body, body
    return body["data"]["cases"]


def test_a_page_past_the_end_still_counts_every_case(client, world):
    seed(client, world, 3)
    whole = cases(client, world, 3)
    assert whole["totalCount"] == 3 and len(whole["edges"]) == 3
    assert whole["pageInfo"]["hasNextPage"] is False
    assert cases(client, world, 2)["pageInfo"]["hasNextPage"] is True
    last = whole["pageInfo"]["endCursor"]
    assert last == whole["edges"][-1]["cursor"]
    assert cases(client, world, 2, after=last) == {
        "totalCount": 3, "edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    # A middle page: the count is the whole list's, the edges follow the cursor.
    middle = cases(client, world, 1, after=whole["edges"][0]["cursor"])
    assert middle["totalCount"] == 3
    assert [e["node"]["id"] for e in middle["edges"]] == [whole["edges"][1]["node"]["id"]]
    assert middle["pageInfo"] == {"hasNextPage": True,
                                  "endCursor": whole["edges"][1]["cursor"]}


def test_the_count_and_the_page_are_one_statement(exporter, client, world):
    seed(client, world, 2)
    cases(client, world, 1)  # warms the registry's answers
    exporter.clear()
    page = cases(client, world, 1)
    assert page["totalCount"] == 2 and len(page["edges"]) == 1
    spans = list(exporter.get_finished_spans())
    (http,) = [s for s in spans if s.name == "HTTP POST"]
    in_space = [s for s in spans if s.name.startswith("SQL ")
                and s.context.trace_id == http.context.trace_id
                and s.attributes.get("yorisoi.tenant") != "platform"]
    assert [s.name for s in in_space] == ["SQL SELECT"], [
        (s.name, dict(s.attributes)) for s in in_space]


@pytest.mark.parametrize("activity, case_id", [
    ("2026-11-26", "0b9e6c9e-1a2b-4c3d-8e9f-000000000001"),
    ('quote " and \\ backslash', "日本語\u2028\x00"),
    ("", "\U0001f600"),
])
def test_a_cursor_is_the_json_of_activity_and_case_id(activity, case_id):
    import base64
    import json
    from dataclasses import replace

    from yorisoi.projections.case_queries import CaseRecord, decode_cursor, encode_cursor

    record = CaseRecord(case_id=case_id, household_id="h", municipality_code="131016",
                        site_id="s", contract_id=None, status="open", opened_on=activity,
                        last_activity_on=activity, consultation_count=1, themes=[])
    expected = base64.urlsafe_b64encode(json.dumps([activity, case_id]).encode()).decode()
    assert encode_cursor(record) == expected
    assert decode_cursor(encode_cursor(record)) == (activity, case_id)
    assert encode_cursor(replace(record, case_id=case_id + "x")) != expected


def test_graphql_posts_skip_fastapis_dependency_resolution(client, world, monkeypatch):
    """graphql/persisted.py serves POST /graphql itself (the context from get_context)."""
    import fastapi.routing

    resolved: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        resolved.append(kwargs["request"].url.path)
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    seed(client, world, 1)
    resolved.clear()
    assert cases(client, world, 1)["totalCount"] == 1
    refused = client.post("/graphql", json={"query": LIST, "variables": {"first": 1}},
                          headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401
    assert "invalid_token" in refused.headers["www-authenticate"]
    assert resolved == []
