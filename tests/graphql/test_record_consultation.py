"""recordConsultation end to end: the NPO records, the municipality reads.

Every scenario runs on SQLite and on the throwaway PostgreSQL cluster (the
``client``/``world`` fixtures are parametrized over both backends).  Tokens are
real JWTs from the development issuer; nothing here mocks the database.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import date, timedelta
from typing import Any

from world import CASES, CITY_A, NPO, RECORD, consultation_input, gql, head, record

from yorisoi.infra.clock import japan_today

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

CASE_DETAIL = """
query Case($id: ID!, $code: String) {
  case(id: $id, municipalityCode: $code) {
    id municipalityCode status siteId contractId consultationCount themes
    household { id disposed pregnancyDueDate guardians { name relationship }
                children { name birthDate } }
    consultations { id occurredOn channel themes asked wishes direction siteId contractId
                    recordedBy recordedRole }
  }
}
"""


# --------------------------------------------------------------------------- helpers


def npo_specialist(world: Any, subject: str = "npo-staff-1") -> dict[str, str]:
    return world.headers("contractor", NPO, subject=subject, roles=("specialist",),
                         sites=("a-hiroba",))


def city_a_supervisor(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="a-supervisor",
                         roles=("municipal_supervisor",))


def recorded(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    result = record(client, headers, **overrides)
    assert result["__typename"] == "ConsultationRecorded", result
    return result


def stored_notifications(world: Any, municipality: str = CITY_A) -> list[Any]:
    with world.services.runtimes.lease(municipality) as rt:
        return list(rt.casework.recorder.select_notifications(start=1, limit=100))


def shown(response: Any) -> str:
    """What a response shows a reader: its text, and its JSON with escapes decoded."""
    try:
        decoded = json.dumps(response.json(), ensure_ascii=False)
    except ValueError:
        decoded = ""
    return response.text + decoded


def assert_japanese(error: dict[str, Any]) -> None:
    assert error["messageJa"].strip(), error
    assert JAPANESE.search(error["messageJa"]), error
    assert error["message"].strip(), error


# --------------------------------------------------------------------------- happy path


def test_npo_specialist_records_and_municipal_supervisor_reads_it_decrypted(client, world):
    result = recorded(client, npo_specialist(world))
    case_id = result["case"]["id"]
    assert result["case"]["consultationCount"] == 1
    assert result["case"]["themes"] == ["development", "daily_worries"]
    assert result["consultation"]["asked"] == "二歳の子のことばが遅いのが心配"

    body = gql(client, CASES, {"first": 10}, city_a_supervisor(world))
    assert "errors" not in body, body
    cases = body["data"]["cases"]
    assert cases["totalCount"] == 1
    node = cases["edges"][0]["node"]
    assert node["id"] == case_id
    assert node["contractId"] == "contract-a-npo"
    assert node["household"]["guardians"] == [{"name": "架空 花子"}]
    assert node["consultations"] == [{"asked": "二歳の子のことばが遅いのが心配"}]

    detail = gql(client, CASE_DETAIL, {"id": case_id}, city_a_supervisor(world))
    assert "errors" not in detail, detail
    case = detail["data"]["case"]
    assert case["municipalityCode"] == CITY_A
    assert case["status"] == "active"
    assert (case["siteId"], case["contractId"]) == ("a-hiroba", "contract-a-npo")
    assert case["household"]["disposed"] is False
    assert case["household"]["guardians"] == [{"name": "架空 花子", "relationship": "母"}]
    assert case["household"]["children"] == [{"name": "架空 たろう", "birthDate": "2024-05-01"}]
    [consultation] = case["consultations"]
    assert consultation["occurredOn"] == (japan_today() - timedelta(days=1)).isoformat()
    assert consultation["channel"] == "visit"
    assert consultation["wishes"] == "相談できる所を知りたい"
    assert consultation["direction"] == "発達相談の案内"
    assert consultation["recordedBy"] == "npo-staff-1"
    assert consultation["recordedRole"] == "specialist"
    assert consultation["contractId"] == "contract-a-npo"


def test_second_consultation_joins_the_case_and_merges_themes(client, world):
    headers = npo_specialist(world)
    first = recorded(client, headers)
    case_id = first["case"]["id"]

    second = recorded(client, headers, household=None, caseId=case_id,
                      themes=["development", "childcare_place"], channel="phone",
                      asked="保育園の空き状況を知りたい")
    assert second["case"]["id"] == case_id
    assert second["case"]["consultationCount"] == 2
    assert set(second["case"]["themes"]) == {"development", "daily_worries", "childcare_place"}
    assert len(second["case"]["themes"]) == 3  # merged, not repeated
    assert second["consultation"]["id"] != first["consultation"]["id"]

    body = gql(client, CASES, {"first": 10}, city_a_supervisor(world))
    cases = body["data"]["cases"]
    assert cases["totalCount"] == 1
    asked = [c["asked"] for c in cases["edges"][0]["node"]["consultations"]]
    assert sorted(asked) == sorted(["二歳の子のことばが遅いのが心配", "保育園の空き状況を知りたい"])


def test_case_list_is_paged_by_keyset_without_overlap(client, world):
    headers = npo_specialist(world)
    today = japan_today()
    created = set()
    for days_ago in (1, 2, 2, 3, 4):  # two cases share a day: the case id breaks the tie
        occurred_on = (today - timedelta(days=days_ago)).isoformat()
        result = recorded(client, headers, occurredOn=occurred_on)
        created.add(result["case"]["id"])
    assert len(created) == 5

    supervisor = city_a_supervisor(world)
    seen: list[str] = []
    after = None
    pages = []
    while True:
        body = gql(client, CASES, {"first": 2, "after": after}, supervisor)
        assert "errors" not in body, body
        page = body["data"]["cases"]
        pages.append(page)
        assert page["totalCount"] == 5  # the whole list, not the page
        seen.extend(edge["node"]["id"] for edge in page["edges"])
        if page["edges"]:
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert len(pages) < 5, "pagination does not terminate"

    assert [len(p["edges"]) for p in pages] == [2, 2, 1]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
    assert len(seen) == len(set(seen)) == 5  # no overlap, nothing skipped
    assert set(seen) == created

    # Most recent activity first.
    everything = gql(client, CASES, {"first": 10}, supervisor)["data"]["cases"]
    assert [e["node"]["id"] for e in everything["edges"]] == seen
    assert everything["pageInfo"]["hasNextPage"] is False


BAD_CURSORS = [
    "not a cursor!",
    "%%%",
    "",
    base64.urlsafe_b64encode(b"{\"a\": 1}").decode(),
    base64.urlsafe_b64encode(b"[1, 2]").decode(),
    base64.urlsafe_b64encode(b"[\"2026-01-01\"]").decode(),
    base64.urlsafe_b64encode(b"[\"2026-01-01\", \"x\", \"y\"]").decode(),
    base64.urlsafe_b64encode("\xff\xfe".encode("latin-1")).decode(),
]


def test_malformed_cursor_is_a_typed_error_not_a_crash(client, world):
    recorded(client, npo_specialist(world))
    for cursor in BAD_CURSORS:
        response = client.post("/graphql", json={"query": CASES,
                                                 "variables": {"first": 2, "after": cursor}},
                               headers=city_a_supervisor(world))
        assert response.status_code == 200, (cursor, response.text)
        body = response.json()
        assert body["data"] is None, (cursor, body)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "cursor_invalid", (cursor, error)
        assert JAPANESE.search(error["extensions"]["messageJa"])
        if cursor:
            assert cursor not in error["message"]


def test_page_size_outside_1_to_100_is_a_typed_error_not_another_page(client, world):
    recorded(client, npo_specialist(world))
    recorded(client, npo_specialist(world))
    supervisor = city_a_supervisor(world)
    for first in (0, -5, 101, 1_000_000):
        body = gql(client, CASES, {"first": first}, supervisor)
        assert body["data"] is None, (first, body)
        assert body["errors"][0]["extensions"]["code"] == "page_size_invalid"
    for first, expected in ((1, 1), (100, 2)):
        page = gql(client, CASES, {"first": first}, supervisor)["data"]["cases"]
        assert len(page["edges"]) == expected, (first, page)
        assert page["totalCount"] == 2


# --------------------------------------------------------------------------- event metadata


def test_stored_events_say_who_acted_where_and_hide_personal_text(client, world):
    request_id = f"req-{uuid.uuid4()}"
    headers = {**npo_specialist(world, subject="npo-staff-7"), "X-Request-ID": request_id}
    before = head(world)
    result = recorded(client, headers)
    notifications = stored_notifications(world)
    # The consent given with the record is stored with it (and the household's consent index).
    # And the reception number given to the new case (the year's counter starts, then assigns).
    assert head(world) - before == len(notifications) == 9
    topics = sorted(n.topic.rsplit(".", 1)[-1] for n in notifications)
    assert topics == ["Assigned", "ConsentListed", "ConsultationNoted", "Given", "Opened",
                      "Recorded", "Registered", "Started", "Started"], topics

    case_id = uuid.UUID(result["case"]["id"])
    assert {uuid.UUID(str(n.originator_id)) for n in notifications} >= {case_id}

    secrets_in_input = ["架空 花子", "架空 たろう", "二歳の子のことばが遅いのが心配",
                        "相談できる所を知りたい", "発達相談の案内"]
    for notification in notifications:
        raw = bytes(notification.state)
        for text in secrets_in_input:
            for form in (text.encode(), json.dumps(text).encode()):  # raw or \u-escaped
                assert form not in raw, (notification.topic, text)
        state = json.loads(raw)
        meta = state["_meta"]
        assert meta["user_id"] == "npo-staff-7", meta
        assert meta["role"] == "specialist"
        assert meta["organisation_kind"] == "contractor"
        assert meta["organisation_id"] == NPO
        assert meta["contract_id"] == "contract-a-npo"
        assert meta["site_id"] == "a-hiroba"
        assert meta["request_id"] == request_id
        if notification.topic.endswith(("Registered", ".Recorded", ".Given")):
            assert state.get("_personal"), notification.topic
            for field in ("guardians", "children", "asked", "wishes", "direction"):
                assert field not in state, (notification.topic, field)

    # One trace for the whole request, in every event.
    traces = {json.loads(bytes(n.state))["_meta"]["trace_id"] for n in notifications}
    assert len(traces) == 1
    [trace_id] = traces
    assert trace_id and re.fullmatch(r"[0-9a-f]{32}", trace_id), trace_id

    # The read model holds ciphertext too.
    with world.services.runtimes.lease(CITY_A) as rt:
        with rt.casework.database.transaction(write=False) as cur:
            rows = [*cur.execute("SELECT sealed FROM {s}household_view").fetchall(),
                    *cur.execute("SELECT sealed FROM {s}consultation_view").fetchall()]
    assert len(rows) == 2
    for row in rows:
        sealed = bytes(row["sealed"])
        assert sealed
        for text in secrets_in_input:
            assert text.encode() not in sealed

    # The same events through the application's own recorder, per aggregate.
    with world.services.runtimes.lease(CITY_A) as rt:
        case_events = list(rt.casework.recorder.select_events(case_id))
    assert [e.originator_version for e in case_events] == [1, 2]
    assert all(json.loads(bytes(e.state))["_meta"]["request_id"] == request_id
               for e in case_events)


def test_request_without_request_id_still_gets_one(client, world):
    recorded(client, npo_specialist(world))
    ids = {json.loads(bytes(n.state))["_meta"]["request_id"] for n in stored_notifications(world)}
    assert len(ids) == 1
    [generated] = ids
    assert generated  # one id for the whole request, generated by the server


# --------------------------------------------------------------------------- bad input


MISSING_FIELD_INPUTS = {
    "no asked": {k: v for k, v in consultation_input().items() if k != "asked"},
    "no themes": {k: v for k, v in consultation_input().items() if k != "themes"},
    "no site": {k: v for k, v in consultation_input().items() if k != "siteId"},
    "guardian without name": consultation_input(
        household={"guardians": [{"relationship": "母"}], "children": []}),
}


def test_missing_required_field_is_a_graphql_error_not_a_500(client, world):
    for name, submitted in MISSING_FIELD_INPUTS.items():
        before = head(world)
        response = client.post("/graphql", json={"query": RECORD,
                                                 "variables": {"input": submitted}},
                               headers=npo_specialist(world))
        assert response.status_code == 200, (name, response.status_code, response.text)
        body = response.json()
        assert body.get("data") is None, (name, body)
        assert body["errors"], (name, body)
        assert head(world) == before, name


def _too_old_child() -> dict[str, Any]:
    born = japan_today().replace(year=japan_today().year - 20, month=1, day=1)
    return {"guardians": [{"name": "架空 一郎", "relationship": "父"}],
            "children": [{"name": "架空 大人", "birthDate": born.isoformat()}]}


LONG = "長" * 4001


def _tomorrow() -> str:
    return (japan_today() + timedelta(days=1)).isoformat()


# Each row: name -> (overrides, expected typename, expected code, expected field or None).
Row = tuple[dict[str, Any], str, str, "str | None"]


def bad_dates() -> dict[str, Row]:
    # Built when the test runs, so "tomorrow" follows the clock.
    tomorrow = _tomorrow()

    def child_born(born: str) -> dict[str, Any]:
        return {"household": {"guardians": [],
                              "children": [{"name": "架空 たろう", "birthDate": born}]}}

    return {
        "month 13": ({"occurredOn": "2026-13-01"}, "ValidationError", "invalid_input",
                     "occurredOn"),
        "word date": ({"occurredOn": "tomorrow"}, "ValidationError", "invalid_input",
                      "occurredOn"),
        "empty date": ({"occurredOn": ""}, "ValidationError", "invalid_input", "occurredOn"),
        "no such day in an era": ({"occurredOn": "令和6年2月30日"}, "ValidationError",
                                  "invalid_input", "occurredOn"),
        "future date": ({"occurredOn": tomorrow}, "ValidationError",
                        "consultation_date_in_future", "occurredOn"),
        "30 February birth date": (child_born("2024-02-30"), "ValidationError",
                                   "invalid_input", "household.children.0.birthDate"),
        "future birth date": (child_born(tomorrow), "ValidationError", "birth_date_in_future",
                              "household.children.0.birthDate"),
        "malformed due date": ({"household": {"pregnancyDueDate": "next spring"}},
                               "ValidationError", "invalid_input", "household.pregnancyDueDate"),
    }


BAD_VOCABULARY: dict[str, Row] = {
    "unknown channel": ({"channel": "carrier_pigeon"}, "ValidationError",
                        "consultation_channel_unknown", "channel"),
    "unknown theme": ({"themes": ["development", "astrology"]}, "ValidationError",
                      "consultation_theme_unknown", "themes.1"),
    "no themes": ({"themes": []}, "ValidationError", "consultation_themes_missing", "themes"),
    "blank asked": ({"asked": "   "}, "ValidationError", "consultation_request_missing", "asked"),
}

OVERSIZED: dict[str, Row] = {
    "asked": ({"asked": LONG}, "ValidationError", "invalid_input", "asked"),
    "wishes": ({"wishes": LONG}, "ValidationError", "invalid_input", "wishes"),
    "direction": ({"direction": LONG}, "ValidationError", "invalid_input", "direction"),
    "guardian name": ({"household": {"guardians": [{"name": "架" * 101, "relationship": "母"}]}},
                      "ValidationError", "invalid_input", "household.guardians.0.name"),
    "21 themes": ({"themes": ["development"] * 21}, "ValidationError", "invalid_input",
                  "themes"),
}


def bad_households() -> dict[str, Row]:
    return {
        "neither case nor household": ({"household": None}, "ValidationError",
                                       "invalid_input", "household"),
        "malformed case id": ({"household": None, "caseId": "case-123"}, "ValidationError",
                              "invalid_input", "caseId"),
        "outside target without reason": ({"household": _too_old_child()}, "ValidationError",
                                          "household_outside_target",
                                          "household.outsideTargetReason"),
        "empty household": ({"household": {"guardians": [], "children": []}},
                            "ValidationError", "household_empty", "household"),
    }


# Recorded as the NPO: a contractor is told only that it has no contract there,
# so it cannot probe which sites or municipalities exist.
BAD_PLACES: dict[str, Row] = {
    "unknown site": ({"siteId": "z-nowhere"}, "NotAuthorizedError", "contract_not_active", None),
    "unknown municipality": ({"municipalityCode": "999999"}, "NotAuthorizedError",
                             "contract_not_active", None),
    "unknown case": ({"household": None, "caseId": str(uuid.uuid4())}, "NotFoundError",
                     "case_not_found", None),
}

ECHO_PROBES = ("架空", "二歳の子", "相談できる所", "発達相談", "carrier_pigeon", "astrology",
               "z-nowhere", "case-123", "tomorrow", "next spring", "長長長")


def assert_refused_without_trace(client: Any, world: Any, table: dict[str, Row]) -> None:
    """Each row is refused with its typed error, names its field, and writes nothing."""
    headers = npo_specialist(world)
    for name, (overrides, typename, code, field) in table.items():
        before = head(world)
        result = record(client, headers, **overrides)
        assert result["__typename"] == typename, (name, result)
        assert_japanese(result)
        if typename == "ValidationError":
            assert result["code"] == "validation_failed", name
            codes = {(e["field"], e["code"]) for e in result["fieldErrors"]}
            assert (field, code) in codes, (name, codes)
            for error in result["fieldErrors"]:
                assert_japanese(error)
        else:
            assert result["code"] == code, (name, result)
        assert head(world) == before, f"{name}: a refused command wrote events"
        # No error echoes what was typed (it may be personal data).
        text = json.dumps(result, ensure_ascii=False)
        for probe in ECHO_PROBES:
            assert probe not in text, (name, probe, text)


def test_malformed_and_future_dates_are_refused_and_nothing_is_written(client, world):
    assert_refused_without_trace(client, world, bad_dates())


def test_channel_and_themes_outside_the_vocabulary_are_refused(client, world):
    assert_refused_without_trace(client, world, BAD_VOCABULARY)


def test_oversized_text_is_refused_and_nothing_is_written(client, world):
    assert world.services.settings.max_text_length == 4000
    assert_refused_without_trace(client, world, OVERSIZED)


def test_household_outside_the_rules_is_refused_and_nothing_is_written(client, world):
    assert_refused_without_trace(client, world, bad_households())


def test_unknown_site_municipality_or_case_is_refused_and_nothing_is_written(client, world):
    assert_refused_without_trace(client, world, BAD_PLACES)


def test_refusals_leave_the_case_list_empty(client, world):
    for table in (bad_dates(), bad_households()):
        for overrides, *_ in table.values():
            record(client, npo_specialist(world), **overrides)
    assert head(world) == 0
    body = gql(client, CASES, {"first": 10}, city_a_supervisor(world))
    assert body["data"]["cases"]["totalCount"] == 0


def test_every_problem_of_an_input_is_reported_at_once(client, world):
    result = record(client, npo_specialist(world), occurredOn="2026-13-01", asked="長" * 4001,
                    household={"guardians": [{"name": " ", "relationship": "母"}],
                               "children": [{"name": "架空 たろう", "birthDate": "yesterday"}]})
    assert result["__typename"] == "ValidationError"
    fields = {e["field"] for e in result["fieldErrors"]}
    assert fields >= {"occurredOn", "asked", "household.guardians.0.name",
                      "household.children.0.birthDate"}, fields


def test_text_at_the_length_limit_is_accepted(client, world):
    limit = world.services.settings.max_text_length
    assert limit == 4000
    result = recorded(client, npo_specialist(world), asked="あ" * limit)
    assert len(result["consultation"]["asked"]) == limit


def test_household_outside_target_is_recorded_when_a_reason_is_given(client, world):
    household = {**_too_old_child(), "outsideTargetReason": "成人した子の引きこもり相談の入口として"}
    before = head(world)
    result = recorded(client, npo_specialist(world), household=household)
    assert result["case"]["consultationCount"] == 1
    assert head(world) > before


def test_consultation_today_in_japan_is_not_in_the_future(client, world):
    result = recorded(client, npo_specialist(world), occurredOn=japan_today().isoformat())
    assert result["case"]["consultationCount"] == 1


def test_unauthenticated_mutation_is_refused_and_writes_nothing(client, world):
    before = head(world)
    result = record(client, {})
    assert result["__typename"] == "NotAuthorizedError"
    assert result["code"] == "token_missing"
    assert_japanese(result)
    assert head(world) == before


def test_supervisor_may_read_but_not_record(client, world):
    before = head(world)
    result = record(client, city_a_supervisor(world), siteId="a-counter")
    assert result["__typename"] == "NotAuthorizedError"
    assert result["code"] == "role_not_permitted"
    assert head(world) == before


def test_far_past_date_is_accepted_as_a_date(client, world):
    # Shape checks are about the calendar, not about plausibility.
    result = record(client, npo_specialist(world), occurredOn=date(2024, 2, 29).isoformat())
    assert result["__typename"] == "ConsultationRecorded", result


# --------------------------------------------------------------------------- request errors


def test_missing_required_field_error_names_the_field(client, world):
    body = gql(client, RECORD, {"input": MISSING_FIELD_INPUTS["no asked"]}, npo_specialist(world))
    [error] = body["errors"]
    assert "asked" in error["message"], error


def test_request_errors_do_not_echo_submitted_values(client, world):
    for name, submitted in MISSING_FIELD_INPUTS.items():
        response = client.post("/graphql", json={"query": RECORD,
                                                 "variables": {"input": submitted}},
                               headers=npo_specialist(world))
        for probe in ("二歳の子", "相談できる所", "架空", "発達相談"):
            assert probe not in shown(response), (name, probe)
    wrong_type = client.post("/graphql", json={"query": CASES, "variables": {
        "first": "架空 花子"}}, headers=city_a_supervisor(world))
    assert wrong_type.json()["errors"]
    assert "架空" not in shown(wrong_type)


def test_client_request_id_is_bounded_before_it_reaches_the_event_store(client, world):
    # It is stamped, unencrypted, on every event: free text there could carry
    # personal data that crypto-shredding would never reach.
    oversized = "x" * 5000
    personal = "Kaku Hanako 090-0000-0000"
    for request_id in (oversized, personal):
        recorded(client, {**npo_specialist(world), "X-Request-ID": request_id})
    stored = [json.loads(bytes(n.state))["_meta"]["request_id"]
              for n in stored_notifications(world)]
    # 7 events per new household with its consent, and its reception number (the first
    # of the year also starts the counter).
    assert len(stored) == 17
    assert all(value and len(value) <= 128 for value in stored), [len(v) for v in stored]
    assert personal not in stored
    assert len(set(stored)) == 2  # still one id per request


def test_iso_week_date_is_not_accepted_as_yyyy_mm_dd(client, world):
    # date.fromisoformat alone would take "2026-W01-1" as 2025-12-29.
    before = head(world)
    # (A compact 20260101 is a date as people type it: domain/japanese_dates reads it.)
    for value in ("2026-W01-1", "2026-001"):
        result = record(client, npo_specialist(world), occurredOn=value)
        assert result["__typename"] == "ValidationError", (value, result)
        assert {e["field"] for e in result["fieldErrors"]} == {"occurredOn"}, value
    assert head(world) == before


def test_dates_are_read_as_people_write_them(client, world):
    """One parser for the API, the console and the CLI: ISO, 和暦, slashes, full-width digits."""
    yesterday = japan_today() - timedelta(days=1)
    from yorisoi.domain.japanese_dates import wareki

    for typed in (yesterday.isoformat(), f"{yesterday.year}/{yesterday.month}/{yesterday.day}",
                  wareki(yesterday),
                  yesterday.isoformat().translate(str.maketrans("0123456789-",
                                                                "０１２３４５６７８９－"))):
        result = record(client, npo_specialist(world), occurredOn=typed)
        assert result["__typename"] == "ConsultationRecorded", (typed, result)
        assert result["consultation"]["id"]
