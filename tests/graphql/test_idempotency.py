"""Exactly-once mutations: a repeated request with the same Idempotency-Key writes nothing new.

Both backends (the ``client``/``world`` fixtures run on SQLite and PostgreSQL).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from world import CITY_A, RECORD, consultation_input, head, npo

NOTE = """
mutation Note($input: WriteSupportNoteInput!) {
  writeSupportNote(input: $input) {
    __typename
    ... on SupportNoteSaved { note { id text } }
    ... on UserError { code }
  }
}
"""


def family(n: int) -> dict[str, Any]:
    """A household nobody else in the test has (no likely-duplicate answer)."""
    return {"guardians": [{"name": f"架空 保護者{n}", "relationship": "母"}],
            "children": [{"name": f"架空 子{n}", "birthDate": f"2023-0{1 + n % 9}-1{n % 9}"}]}


def post(client: Any, headers: dict[str, str], key: str | None, document: str,
         variables: dict[str, Any]) -> Any:
    extra = {} if key is None else {"Idempotency-Key": key}
    return client.post("/graphql", json={"query": document, "variables": variables},
                       headers={**headers, **extra})


def recorded(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result = body["data"]["recordConsultation"]
    assert result["__typename"] == "ConsultationRecorded", result.get("fieldErrors")
    return result


def test_a_repeated_mutation_writes_once_and_answers_the_same(world, client):
    headers = npo(world)
    variables = {"input": consultation_input(household=family(1))}
    first = recorded(post(client, headers, "retry-1", RECORD, variables))
    after_first = head(world)
    again = recorded(post(client, headers, "retry-1", RECORD, variables))
    assert head(world) == after_first  # nothing new in the log
    assert again == first  # the same case, the same consultation, the same fields
    # Without a key the same request is a new one.
    other = recorded(post(client, headers, None, RECORD, variables))
    assert other["case"]["id"] != first["case"]["id"]


def test_the_same_key_for_a_different_request_is_refused(world, client):
    headers = npo(world)
    recorded(post(client, headers, "reused", RECORD,
                  {"input": consultation_input(household=family(2))}))
    before = head(world)
    response = post(client, headers, "reused", RECORD,
                    {"input": consultation_input(household=family(3))})
    result = response.json()["data"]["recordConsultation"]
    assert result["__typename"] == "ValidationError"
    assert result["fieldErrors"][0]["code"] == "idempotency_key_reused"
    assert head(world) == before


def test_a_key_belongs_to_its_caller(world, client):
    variables = {"input": consultation_input(household=family(4))}
    first = recorded(post(client, npo(world), "shared-key", RECORD, variables))
    colleague = world.headers("contractor", "npo-hidamari", subject="npo-staff-2",
                              roles=("specialist",), sites=("a-hiroba",))
    second = recorded(post(client, colleague, "shared-key", RECORD, variables))
    assert second["case"]["id"] != first["case"]["id"]


def test_a_refused_request_keeps_nothing_and_its_retry_runs(world, client):
    headers = npo(world)
    bad = consultation_input(household=family(5), themes=["no_such_theme"])
    response = post(client, headers, "fix-and-retry", RECORD, {"input": bad})
    assert response.json()["data"]["recordConsultation"]["__typename"] == "ValidationError"
    good = {"input": consultation_input(household=family(5))}
    # The corrected request is a different request: a refused one kept no claim on the key.
    recorded(post(client, headers, "fix-and-retry", RECORD, good))


def test_an_invalid_key_is_a_typed_400(world, client):
    response = post(client, npo(world), "x" * 256, RECORD,
                    {"input": consultation_input(household=family(6))})
    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "idempotency_key_invalid"


def test_concurrent_duplicates_run_once(world, client):
    headers = npo(world)
    variables = {"input": consultation_input(household=family(7))}
    before = head(world)
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            answers.append(recorded(post(client, headers, "at-once", RECORD, variables)))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(answers) == 3
    assert len({a["case"]["id"] for a in answers}) == 1
    # One household, one case, one consultation, one consent (and their indexes): one save.
    with world.services.runtimes.lease(CITY_A) as rt:
        new = list(rt.casework.recorder.select_notifications(start=before + 1, limit=100))
    cases = {n.originator_id for n in new if n.topic.endswith("Case.Opened")
             or ".cases:Case" in n.topic}
    assert len(cases) <= 1
    assert len(new) == len({(n.originator_id, n.originator_version) for n in new})


def test_the_kept_answer_is_sealed(world, client):
    headers = npo(world)
    name = f"架空 封印{uuid.uuid4().hex[:6]}"
    variables = {"input": consultation_input(household={
        "guardians": [{"name": name, "relationship": "母"}],
        "children": [{"name": "架空 こ", "birthDate": "2023-02-03"}]})}
    recorded(post(client, headers, "sealed", RECORD, variables))
    with world.services.runtimes.lease(CITY_A) as rt, rt.casework.database.transaction() as cur:
        rows = cur.execute("SELECT * FROM {s}idempotency_keys").fetchall()
    assert rows
    for row in rows:
        for value in row.values():
            raw = bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
            assert name.encode() not in raw
            assert "sealed".encode() not in raw  # the key itself is stored as a digest


def test_a_repeated_upload_stores_once(world, client):
    headers = npo(world)
    case_id = recorded(post(client, headers, None, RECORD,
                            {"input": consultation_input(household=family(8))}))["case"]["id"]
    url = f"/api/municipalities/{CITY_A}/cases/{case_id}/attachments"
    pdf = b"%PDF-1.4\n% consent\n%%EOF\n"

    def send(key: str, data: bytes = pdf) -> Any:
        return client.post(url, headers={**headers, "Idempotency-Key": key},
                           files={"file": ("consent.pdf", data, "application/pdf")},
                           data={"kind": "consent_form"})

    first = send("upload-1")
    assert first.status_code == 201, first.text
    before = head(world)
    again = send("upload-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert head(world) == before
    other = send("upload-1", pdf + b" ")
    assert other.status_code == 422
    assert other.json()["detail"]["code"] == "idempotency_key_reused"
    assert send("x" * 300).status_code == 400
