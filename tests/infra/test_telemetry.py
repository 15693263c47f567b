"""Traces of a real request: every layer has its span, the tenant is on each, personal data on none.

One scenario drives the app end to end (FastAPI → strawberry → casework service →
event store → projection) on SQLite and on the throwaway PostgreSQL cluster: the NPO's
specialist records a consultation for a new household and lists the cases, then asks
for an attachment link over REST (a route with path parameters).  The spans are taken
from an in-memory exporter on the process's tracer provider.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from world import CASES, CITY_A, NPO, RECORD, consultation_input

from yorisoi.infra.telemetry import in_memory_exporter

SPACE = f"t_{CITY_A}"

# What the request sends about the family: none of it may reach a span.
GUARDIAN = "架空 花子"
CHILD = "架空 たろう"
BIRTH_DATE = "2024-05-01"
ASKED = "夜泣きが続いて眠れない、誰かに話を聞いてほしい"
WISHES = "近くのひろばの時間を知りたい"
DIRECTION = "ひろばの利用案内と保健師への連絡"
PERSONAL = [GUARDIAN, CHILD, BIRTH_DATE, ASKED, WISHES, DIRECTION,
            # Parts of them too, in case a value is split or trimmed on the way.
            "花子", "たろう", "夜泣き", "ひろばの時間", "保健師への連絡"]

# The attribute names our spans may carry (the design's "short list of names").
ALLOWED_ATTRIBUTE_PREFIXES = ("yorisoi.", "db.system", "db.operation", "http.request.method",
                              "http.route", "http.response.status_code",
                              "graphql.operation.name", "graphql.operation.type")


@pytest.fixture(scope="module")
def exporter() -> Any:
    # One exporter per worker process: each call attaches another processor.
    return in_memory_exporter()


@pytest.fixture
def spans(exporter: Any, client: Any, world: Any) -> Iterator[dict[str, Any]]:
    """Run the scenario once; yield its finished spans and what was sent and returned."""
    headers = world.headers("contractor", NPO, sites=("a-hiroba",))
    exporter.clear()
    data = consultation_input(
        asked=ASKED, wishes=WISHES, direction=DIRECTION,
        household={"guardians": [{"name": GUARDIAN, "relationship": "母"}],
                   "children": [{"name": CHILD, "birthDate": BIRTH_DATE}]})
    recorded = client.post("/graphql", json={"query": RECORD, "variables": {"input": data}},
                           headers={**headers, "x-request-id": "req-telemetry-1"})
    assert recorded.status_code == 200, recorded.text
    result = recorded.json()["data"]["recordConsultation"]
    assert result["__typename"] == "ConsultationRecorded", result
    case_id = result["case"]["id"]
    listed = client.post("/graphql", json={"query": CASES, "variables": {
        "code": CITY_A, "first": 10}}, headers=headers)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert "errors" not in body, body
    edges = body["data"]["cases"]["edges"]
    assert [e["node"]["id"] for e in edges] == [case_id]
    # The read path really returned the personal values (so spans had the chance to see them).
    assert edges[0]["node"]["household"]["guardians"][0]["name"] == GUARDIAN
    attachment_id = str(uuid.uuid4())
    link = client.get(f"/api/municipalities/{CITY_A}/cases/{case_id}/attachments/{attachment_id}",
                      headers=headers)
    assert link.status_code == 404, link.text
    yield {"spans": list(exporter.get_finished_spans()), "case_id": case_id,
           "attachment_id": attachment_id,
           "consultation_id": result["consultation"]["id"]}
    exporter.clear()


def _named(spans: list[Any], prefix: str) -> list[Any]:
    return [s for s in spans if s.name.startswith(prefix)]


def _by_id(spans: list[Any]) -> dict[int, Any]:
    return {s.context.span_id: s for s in spans}


def _ancestors(span: Any, index: dict[int, Any]) -> list[Any]:
    chain = []
    while span.parent is not None and span.parent.span_id in index:
        span = index[span.parent.span_id]
        chain.append(span)
    return chain


def _encodings(value: str) -> set[str]:
    """A value as it may travel: raw, JSON-escaped, URL-encoded (path or form)."""
    return {value, json.dumps(value)[1:-1], urllib.parse.quote(value),
            urllib.parse.quote_plus(value)}


def _texts(span: Any) -> Iterator[tuple[str, str]]:
    """Every piece of text a span exports: name, attributes, events, links, status."""
    yield "name", span.name
    for key, value in (span.attributes or {}).items():
        yield f"attribute {key}", key
        yield f"attribute {key}", str(value)
    for event in span.events:
        yield f"event {event.name}", event.name
        for key, value in (event.attributes or {}).items():
            yield f"event {event.name}.{key}", str(value)
    for link in span.links:
        for key, value in (link.attributes or {}).items():
            yield f"link {key}", str(value)
    if span.status.description:
        yield "status", span.status.description


# --------------------------------------------------------------------------- coverage


def test_every_layer_has_its_span(spans: dict[str, Any]) -> None:
    names = [s.name for s in spans["spans"]]
    assert _named(spans["spans"], "HTTP "), names
    assert "graphql.operation" in names
    assert _named(spans["spans"], "SQL "), names
    assert "command.record_consultation" in names
    assert "projection.batch" in names
    # Two GraphQL operations and the REST call, each its own HTTP span.
    assert len(_named(spans["spans"], "HTTP ")) == 3
    assert names.count("graphql.operation") == 2


def test_spans_of_a_request_form_one_trace(spans: dict[str, Any]) -> None:
    """The command, its SQL and the projection run in worker threads, yet stay in the request's trace."""
    index = _by_id(spans["spans"])
    command = next(s for s in spans["spans"] if s.name == "command.record_consultation")
    chain = [s.name for s in _ancestors(command, index)]
    assert chain[:1] == ["graphql.operation"], chain
    assert "HTTP POST" in chain, chain
    insert = [s for s in _named(spans["spans"], "SQL INSERT")
              if command in _ancestors(s, index)]
    assert insert, "the event insert is not inside the command span"
    batch = next(s for s in spans["spans"] if s.name == "projection.batch")
    assert batch.context.trace_id == command.context.trace_id


# --------------------------------------------------------------------------- tenant


def test_command_sql_and_projection_spans_carry_the_tenant_space(spans: dict[str, Any]) -> None:
    index = _by_id(spans["spans"])
    commands = [s for s in spans["spans"] if s.name.startswith("command.")]
    batches = [s for s in spans["spans"] if s.name == "projection.batch"]
    assert commands and batches
    for span in commands + batches:
        assert span.attributes.get("yorisoi.tenant") == SPACE, (span.name, span.attributes)
    sql = _named(spans["spans"], "SQL ")
    for span in sql:
        # Registry lookups (issuer, contracts) run in the shared platform space.
        assert span.attributes.get("yorisoi.tenant") in (SPACE, "platform"), (
            span.name, dict(span.attributes))
        if any(a in commands + batches for a in _ancestors(span, index)):
            assert span.attributes["yorisoi.tenant"] == SPACE, (span.name, dict(span.attributes))
    in_space = [s.name for s in sql if s.attributes.get("yorisoi.tenant") == SPACE]
    assert any(name.startswith("SQL INSERT") for name in in_space), in_space
    assert any(name.startswith("SQL SELECT") for name in in_space), in_space


def test_http_and_graphql_spans_carry_the_tenant_space(spans: dict[str, Any]) -> None:
    # tag_tenant (infra/telemetry.py) names the tenant by its space on every span.
    for span in _named(spans["spans"], "HTTP ") + [
            s for s in spans["spans"] if s.name == "graphql.operation"]:
        assert span.attributes.get("yorisoi.tenant") == SPACE, (span.name, dict(span.attributes))


# --------------------------------------------------------------------------- no personal data


def test_no_span_carries_any_personal_value(spans: dict[str, Any]) -> None:
    needles = {encoded: value for value in PERSONAL for encoded in _encodings(value)}
    leaks = [(span.name, where, original)
             for span in spans["spans"] for where, text in _texts(span)
             for needle, original in needles.items() if needle in text]
    assert not leaks, leaks


def test_http_spans_record_method_and_status(spans: dict[str, Any]) -> None:
    http = _named(spans["spans"], "HTTP ")
    assert sorted((s.attributes.get("http.request.method"),
                   s.attributes.get("http.response.status_code")) for s in http) == [
        ("GET", 404), ("POST", 200), ("POST", 200)]


def test_http_span_route_is_the_template(spans: dict[str, Any]) -> None:
    http = _named(spans["spans"], "HTTP ")
    routes = sorted(s.attributes.get("http.route") for s in http)
    assert routes == [("/api/municipalities/{municipality_code}/cases/{case_id}"
                       "/attachments/{attachment_id}"), "/graphql", "/graphql"]


def test_our_http_spans_carry_no_raw_path(spans: dict[str, Any]) -> None:
    for span in _named(spans["spans"], "HTTP "):
        for where, text in _texts(span):
            assert spans["case_id"] not in text, (span.name, where)
            assert spans["attachment_id"] not in text, (span.name, where)


def test_no_span_carries_the_raw_path(spans: dict[str, Any]) -> None:
    """No span records url.path (FastAPI ≥ 0.16x traces natively unless told not to)."""
    leaks = [(span.name, where) for span in spans["spans"] for where, text in _texts(span)
             if spans["case_id"] in text or spans["attachment_id"] in text]
    assert not leaks, leaks


def test_spans_carry_only_attributes_from_the_short_list(spans: dict[str, Any]) -> None:
    """Only our own spans: FastAPI's native ones would add url.*, server.*, code.* attributes."""
    unexpected = {(s.name, key) for s in spans["spans"] for key in (s.attributes or {})
                  if not key.startswith(ALLOWED_ATTRIBUTE_PREFIXES)}
    assert not unexpected, unexpected


def test_every_server_span_carries_the_tenant(spans: dict[str, Any]) -> None:
    """A framework-made SERVER span (FastAPI's native tracing) would carry no tenant."""
    from opentelemetry.trace import SpanKind

    untagged = [s.name for s in spans["spans"]
                if s.kind == SpanKind.SERVER and s.attributes.get("yorisoi.tenant") != SPACE]
    assert not untagged, untagged


def test_a_refused_get_request_leaves_no_personal_value_in_spans(
        exporter: Any, client: Any, world: Any) -> None:
    """GraphQL over GET is refused, but a span recording url.query would already hold the
    variables (percent-encoded): FastAPI's native tracing did exactly that."""
    headers = world.headers("contractor", NPO, sites=("a-hiroba",))
    exporter.clear()
    variables = json.dumps({"input": consultation_input(
        household={"guardians": [{"name": GUARDIAN, "relationship": "母"}], "children": []})},
        ensure_ascii=False)
    response = client.get("/graphql", params={"query": RECORD, "variables": variables},
                          headers=headers)
    assert response.status_code >= 400
    finished = list(exporter.get_finished_spans())
    assert _named(finished, "HTTP GET")
    needles = _encodings(GUARDIAN) | _encodings("花子")
    leaks = [(span.name, where) for span in finished for where, text in _texts(span)
             for needle in needles if needle in text]
    exporter.clear()
    assert not leaks, leaks


def test_graphql_span_names_the_operation_without_its_variables(spans: dict[str, Any]) -> None:
    operations = [s for s in spans["spans"] if s.name == "graphql.operation"]
    assert sorted((s.attributes.get("graphql.operation.name"),
                   s.attributes.get("graphql.operation.type")) for s in operations) == [
        ("Cases", "query"), ("Record", "mutation")]
    for span in operations:
        assert span.attributes.get("yorisoi.graphql.errors") == 0


# --------------------------------------------------------------------------- events ↔ traces


def test_stored_events_carry_the_request_and_trace_ids(spans: dict[str, Any], world: Any) -> None:
    from yorisoi.services.event_mapper import event_metadata

    command = next(s for s in spans["spans"] if s.name == "command.record_consultation")
    with world.services.runtimes.lease(CITY_A) as rt:
        events = list(rt.casework.repository.event_store.get(
            uuid.UUID(spans["consultation_id"])))
    meta = event_metadata(events[0])
    assert meta["request_id"] == "req-telemetry-1"
    assert meta["trace_id"] == format(command.context.trace_id, "032x")


def test_spans_are_built_only_once_something_receives_them() -> None:
    """No exporter: spans are dropped at their start but keep valid, inherited trace ids
    (stamped on events and access-log entries); with a processor they are recorded."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    from yorisoi.infra.telemetry import RecordingWhenExported

    sampler = RecordingWhenExported(ALWAYS_ON)
    provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("yorisoi.test")
    with tracer.start_as_current_span("HTTP POST") as outer:
        with tracer.start_as_current_span("command.record_consultation") as inner:
            assert not outer.is_recording() and not inner.is_recording()
            outer_id, inner_id = outer.get_span_context(), inner.get_span_context()
    assert outer_id.is_valid and inner_id.trace_id == outer_id.trace_id
    assert exported.get_finished_spans() == ()

    sampler.exported = True  # what configure_telemetry does once a processor is added
    with tracer.start_as_current_span("HTTP POST") as span:
        assert span.is_recording()
    assert [s.name for s in exported.get_finished_spans()] == ["HTTP POST"]
