"""No request text escapes: distinctive values sent through every entry point reach no span,
no log record and no access-log row, in any encoding.

The values go through GraphQL (a valid mutation and query, then a syntax error with a
name typed inline, a wrong type, an unknown field, a variable the input type does not
know, a lone surrogate beside a name), REST (the public directory's search, an
attachment upload with a named file), the console (sign-in, the case list's search,
the new-case form) and the CLI (``dev-token``, the one command that takes free text from
a person; the others take ids and codes).  Spans come from an in-memory exporter on
the process's provider (what ``OTEL_TRACES_EXPORTER=console`` prints is their
``to_json()``, scanned too); log records from a handler on the root logger and on
uvicorn's access logger (which does not propagate once uvicorn has configured it);
access-log rows from the tenant's ``access_log`` table.  Each is scanned for every
value raw, JSON-escaped, URL-encoded and base64-encoded (at every byte alignment).

On SQLite and on the throwaway PostgreSQL cluster.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from world import CASES, CITY_A, RECORD, consultation_input

from yorisoi.infra.http.app import create_app
from yorisoi.infra.telemetry import in_memory_exporter

sys.path.insert(0, str(Path(__file__).parents[1] / "console"))
from console_steps import csrf_of, sign_in  # noqa: E402

# Distinctive values: rare enough that a hit can only be a leak.
GUARDIAN = "鷺宮 縹子"
CHILD = "鷺宮 琥珀丸"
ASKED = "縹色の夜泣きが三晩続く"
INLINE = "鷺宮縹子インライン"
WRONG_TYPE = "琥珀丸は数ではない"
UNKNOWN_FIELD = "zqxSagimiyaHanada"
UNKNOWN_KEY = "zqxKeyHanadaRuri"
BESIDE_SURROGATE = "鷺宮サロゲート"
SEARCH = "鷺宮検索ことば"
CONSOLE_SEARCH = "縹野瑠璃けんさく"
CONSOLE_GUARDIAN = "縹野 瑠璃"
FILENAME = "鷺宮同意書"
CLI_SUBJECT = "zqxCliHanadaSubject"
VALUES = [GUARDIAN, CHILD, ASKED, INLINE, WRONG_TYPE, UNKNOWN_FIELD, UNKNOWN_KEY,
          BESIDE_SURROGATE, SEARCH, CONSOLE_SEARCH, CONSOLE_GUARDIAN, FILENAME,
          # Parts too, in case a value is split or trimmed on the way.
          "縹子", "琥珀丸", "鷺宮", "瑠璃", "夜泣き"]


def encodings(value: str) -> set[str]:
    """The value as it may travel: raw, JSON-escaped (either case), URL-encoded (path,
    form, lower-case hex) and base64 (standard and URL-safe, at each byte alignment:
    the middle of an encoding does not depend on what precedes it only modulo 3)."""
    found = {value, json.dumps(value)[1:-1], json.dumps(value)[1:-1].upper(),
             urllib.parse.quote(value), urllib.parse.quote_plus(value),
             urllib.parse.quote(value).lower()}
    raw = value.encode("utf-8")
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * shift + raw).decode().rstrip("=")
            # Drop the characters that mix in the padding bytes or the end.
            start = (shift * 8 + 5) // 6
            middle = text[start:len(text) - 3]
            if len(middle) >= 8:
                found.add(middle)
    return {f for f in found if f}


NEEDLES = {needle: value for value in VALUES for needle in encodings(value)}


def leaks(texts: Iterator[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(where, NEEDLES[needle]) for where, text in texts
            for needle in NEEDLES if needle in text]


def span_texts(span: Any) -> Iterator[tuple[str, str]]:
    where = f"span {span.name}"
    yield where, span.name
    for key, value in (span.attributes or {}).items():
        yield f"{where} attribute {key}", f"{key}={value}"
    for event in span.events:
        yield f"{where} event {event.name}", event.name
        for key, value in (event.attributes or {}).items():
            yield f"{where} event {event.name}.{key}", str(value)
    for link in span.links:
        for key, value in (link.attributes or {}).items():
            yield f"{where} link {key}", str(value)
    if span.status.description:
        yield f"{where} status", span.status.description
    yield f"{where} as the console exporter prints it", span.to_json()


def record_texts(record: logging.LogRecord) -> Iterator[tuple[str, str]]:
    where = f"log {record.name}"
    yield where, record.getMessage()
    yield f"{where} args", repr(record.args)
    if record.exc_info:
        yield f"{where} exception", logging.Formatter().formatException(record.exc_info)
    if record.stack_info:
        yield f"{where} stack", record.stack_info


class Records(logging.Handler):
    """Every record, once (it may reach both loggers this handler sits on)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: dict[int, logging.LogRecord] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.records[id(record)] = record


@pytest.fixture(scope="module")
def exporter() -> Any:
    return in_memory_exporter()


@pytest.fixture
def captured(exporter: Any) -> Iterator[Records]:
    handler = Records()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.access")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    exporter.clear()
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def send_everything(client: TestClient, world: Any) -> None:
    """Every entry point, with the distinctive values (each answer checked: they arrived)."""
    headers = world.headers("contractor", "npo-hidamari", sites=("a-hiroba",))
    supervisor = world.headers("municipality", CITY_A, subject="scan-supervisor",
                               roles=("municipal_supervisor",))

    def graphql(body: dict[str, Any], who: dict[str, str] = headers) -> dict[str, Any]:
        response = client.post("/graphql", json=body, headers=who)
        assert response.status_code in (200, 400), response.text
        return response.json()

    # GraphQL, valid: a new household, then the case list that reads it back.
    data = consultation_input(asked=ASKED, household={
        "guardians": [{"name": GUARDIAN, "relationship": "母"}],
        "children": [{"name": CHILD, "birthDate": "2024-05-01"}]})
    recorded = graphql({"query": RECORD, "variables": {"input": data}})
    assert recorded["data"]["recordConsultation"]["__typename"] == "ConsultationRecorded"
    listed = graphql({"query": CASES, "variables": {"code": CITY_A, "first": 10}}, supervisor)
    names = [g["name"] for e in listed["data"]["cases"]["edges"]
             for g in e["node"]["household"]["guardians"]]
    assert GUARDIAN in names  # the read path really returned the value

    # GraphQL, invalid.
    syntax = graphql({"query": f'{{ cases(municipalityCode: "{CITY_A}") {{ "{INLINE}" }} }}'})
    assert syntax["errors"][0]["message"].startswith("Syntax Error")
    assert INLINE not in json.dumps(syntax, ensure_ascii=False)  # nor echoed in the answer
    wrong = graphql({"query": "query($n: Int!) { cases(first: $n) { totalCount } }",
                     "variables": {"n": WRONG_TYPE}})
    assert wrong["errors"]
    assert WRONG_TYPE not in json.dumps(wrong, ensure_ascii=False)
    unknown = graphql({"query": f"{{ {UNKNOWN_FIELD} }}"})
    assert unknown["errors"]
    extra = consultation_input(household={
        "guardians": [{"name": GUARDIAN, "relationship": "母", UNKNOWN_KEY: GUARDIAN}],
        "children": []})
    bad_variables = graphql({"query": RECORD, "variables": {"input": extra}})
    assert bad_variables["errors"]
    assert GUARDIAN not in json.dumps(bad_variables, ensure_ascii=False)
    surrogate = client.post("/graphql", headers={**headers, "content-type": "application/json"},
                            content=json.dumps({"query": RECORD, "variables": {"input": {
                                "asked": BESIDE_SURROGATE + "\\ud800"}}}).replace(
                                    "\\\\ud800", "\\ud800").encode())
    assert surrogate.status_code == 400, surrogate.text

    # REST: the public directory's search, an attachment with a named file.
    found = client.get(f"/public/municipalities/{CITY_A}/resources", params={"q": SEARCH})
    assert found.status_code == 200, found.text
    case_id = recorded["data"]["recordConsultation"]["case"]["id"]
    uploaded = client.post(f"/api/municipalities/{CITY_A}/cases/{case_id}/attachments",
                           headers=headers, data={"kind": "consent_form"},
                           files={"file": (f"{FILENAME}.pdf", b"%PDF-1.4 " + GUARDIAN.encode(),
                                           "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text

    # The console: sign in, search, and the new-case form.
    sign_in(client, "municipality", CITY_A, "scan-specialist", "specialist",
            ("a-hiroba", "a-counter"))
    searched = client.get(f"/console/m/{CITY_A}/cases", params={"q": CONSOLE_SEARCH})
    assert searched.status_code == 200, searched.text
    form = client.get(f"/console/m/{CITY_A}/cases/new")
    assert form.status_code == 200, form.text
    posted = client.post(f"/console/m/{CITY_A}/cases/new", data={
        "csrf": csrf_of(form.text), "siteId": "a-hiroba", "occurredOn": "令和６年５月１日",
        "channel": "visit", "themes": "development", "asked": ASKED, "wishes": ASKED,
        "direction": ASKED, "household.guardians.0.name": CONSOLE_GUARDIAN,
        "household.guardians.0.relationship": "母", "household.children.0.name": CHILD,
        "household.children.0.birthDate": "令和６年５月１日", "consentBasis": "consent",
        "consent.givenBy": CONSOLE_GUARDIAN, "consent.relationship": "母",
        "consent.givenOn": "令和６年５月１日", "consent.scope": ASKED})
    assert posted.status_code in (303, 400, 409), posted.text  # 409: the duplicates panel


def run_cli(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``dev-token`` with a subject (the CLI's one piece of free text from a person)."""
    from typer.testing import CliRunner

    from yorisoi.infra import cli
    from yorisoi.infra.settings import get_settings

    settings = world.services.settings
    monkeypatch.setenv("YORISOI_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, [
            "dev-token", CLI_SUBJECT, "--tenant-kind", "municipality", "--tenant-id", CITY_A,
            "--role", "specialist"])
        assert result.exit_code == 0, result.output
    finally:
        get_settings.cache_clear()


def test_no_span_log_or_access_log_row_holds_what_was_sent(
        world: Any, exporter: Any, captured: Records, monkeypatch: pytest.MonkeyPatch) -> None:
    with TestClient(create_app(world.services.settings, world.services),
                    base_url="http://127.0.0.1", follow_redirects=False) as client:
        send_everything(client, world)
    if world.services.settings.backend == "sqlite":
        run_cli(world, monkeypatch)
    spans = list(exporter.get_finished_spans())
    records = [r for r in captured.records.values()
               # The test client's own log of the URLs it requested is not the server's.
               if not r.name.startswith(("httpx", "httpcore"))]
    from yorisoi.infra.access_log_store import AccessLogStore

    with world.services.runtimes.lease(CITY_A) as rt:
        rows = AccessLogStore(rt.casework.database).rows(limit=100_000)

    # Everything was really captured: spans of each layer, the access log, read rows.
    assert {"graphql.operation", "command.record_consultation"} <= {s.name for s in spans}
    access = [r for r in records if r.name == "uvicorn.access.yorisoi"]
    assert len(access) >= 12, [r.getMessage() for r in access]
    assert any("/console/m/{code}/cases?q" in r.getMessage() for r in access)
    assert rows, "no read of personal data was logged"

    found = (leaks(t for s in spans for t in span_texts(s))
             + leaks(t for r in records for t in record_texts(r))
             + leaks((f"access_log row {row.get('entry_id')}", json.dumps(row, default=str))
                     for row in rows)
             + leaks((f"access_log row {row.get('entry_id')}",
                      json.dumps(row, default=str, ensure_ascii=False)) for row in rows))
    assert not found, sorted(set(found))


def test_the_scan_finds_a_value_in_each_encoding() -> None:
    """The scanner can fail: each encoding of a value, inside other text, is a hit."""
    raw = GUARDIAN.encode()
    disguised = {
        "raw": f"name={GUARDIAN}",
        "json": json.dumps({"name": GUARDIAN}),
        "url": "/console?q=" + urllib.parse.quote(GUARDIAN),
        "form": "q=" + urllib.parse.quote_plus(GUARDIAN),
        "base64": base64.b64encode(b"prefix:" + raw + b":suffix").decode(),
        "base64 shifted": base64.b64encode(b"pre:" + raw).decode(),
        "base64url": base64.urlsafe_b64encode(b"xy" + raw + b"z").decode(),
    }
    for kind, text in disguised.items():
        assert leaks(iter([(kind, text)])), kind
    assert not leaks(iter([("clean", "HTTP POST /graphql 200 yorisoi.tenant=t_131016")]))


def test_uvicorns_own_access_line_is_dropped_and_ours_names_no_values() -> None:
    """uvicorn logs the raw path and query string; ``quiet_uvicorn_logs`` drops that line."""
    from yorisoi.infra.http.middleware import logged_target, quiet_uvicorn_logs

    quiet_uvicorn_logs()
    quiet_uvicorn_logs()  # idempotent
    logger = logging.getLogger("uvicorn.access")
    raw = logger.makeRecord("uvicorn.access", logging.INFO, __file__, 1,
                            '%s - "%s %s HTTP/%s" %d',
                            ("127.0.0.1:1", "GET", "/console/m/131016/cases?q=%E9%B7%BA", "1.1",
                             200), None)
    assert not logger.filter(raw)
    ours = logger.makeRecord("uvicorn.access.yorisoi", logging.INFO, __file__, 1, "%s", ("x",),
                             None)
    assert logger.filter(ours)
    query = urllib.parse.urlencode({"q": SEARCH, "status": "open", SEARCH: "1"}).encode()
    assert logged_target("/console/m/{code}/cases", query) == "/console/m/{code}/cases?-&q&status"
    assert logged_target("/graphql", b"") == "/graphql"


def test_uvicorns_error_log_keeps_an_exceptions_type_and_stack_not_its_message() -> None:
    from yorisoi.infra.http.middleware import quiet_uvicorn_logs

    quiet_uvicorn_logs()
    logger = logging.getLogger("uvicorn.error")
    try:
        raise ValueError(f"no such household: {GUARDIAN}")
    except ValueError:
        record = logger.makeRecord("uvicorn.error", logging.ERROR, __file__, 1,
                                   "Exception in ASGI application\n", None, sys.exc_info())
    assert logger.filter(record)
    text = logging.Formatter().format(record)
    assert "ValueError" in text and "raise ValueError" in text, text
    assert not leaks(record_texts(record)), text
