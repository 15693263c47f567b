"""Readings (フリガナ) and phones: captured, validated, sealed at rest, absent from older events."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from world import CITY_A, gql, npo, record, supervisor

from yorisoi.domain.households import Child, Guardian, Household
from yorisoi.domain.name_readings import (
    PhoneInvalidError,
    ReadingNotKanaError,
    phone_of,
    reading_of,
)
from yorisoi.infra.clock import japan_today
from yorisoi.services.context import ActingContext, acting_as

READING, CHILD_READING, PHONE = "カクウ ハナコ", "かくう たろう", "090-4321-8765"
PEOPLE = {"guardians": [{"name": "架空 花子", "relationship": "母", "reading": READING,
                         "phone": PHONE}],
          "children": [{"name": "架空 たろう", "birthDate": "2024-05-01",
                        "reading": CHILD_READING}]}
HOUSEHOLD = """query($id: ID!) { case(id: $id) { household {
  guardians { name reading phone } children { name reading } } } }"""


def test_readings_are_kana_kept_as_typed_and_phones_are_japanese_numbers():
    assert reading_of("ｶｸｳ ﾊﾅｺ", field="r") == "カクウ ハナコ"  # half-width: NFKC
    assert reading_of("かくう　はなこ", field="r") == "かくう はなこ"  # hiragana stays
    assert reading_of("  ", field="r") is None
    for bad in ("架空", "kakuu", "カクウ1"):
        with pytest.raises(ReadingNotKanaError):
            reading_of(bad, field="r")
    assert phone_of("０９０－４３２１－８７６５", field="p") == "090-4321-8765"
    assert phone_of("03(1234)5678", field="p") == "03(1234)5678"
    assert phone_of("+81 90 4321 8765", field="p") == "+81 90 4321 8765"
    for bad in ("090-4321-87", "0120-12-3456-78", "9012345678", "090-4321-8765 内線",
                "+8190+43218765", "tel"):
        with pytest.raises(PhoneInvalidError):
            phone_of(bad, field="p")


def test_readings_and_phones_round_trip_and_are_sealed(client, world, pg_cluster):
    result = record(client, npo(world), household=PEOPLE)
    assert result["__typename"] == "ConsultationRecorded", result
    shown = gql(client, HOUSEHOLD, {"id": result["case"]["id"]}, supervisor(world))
    assert shown["data"]["case"]["household"] == {
        "guardians": [{"name": "架空 花子", "reading": READING, "phone": PHONE}],
        "children": [{"name": "架空 たろう", "reading": CHILD_READING}]}
    # Nowhere at rest in clear: not in the log, not in any read model.
    assert _scan(world, pg_cluster, (READING, CHILD_READING, PHONE, "43218765")) == {}


def test_a_bad_reading_or_phone_is_a_typed_bilingual_error(client, world):
    people = {"guardians": [{"name": "架空 花子", "relationship": "母", "reading": "花子",
                             "phone": "12345"}],
              "children": [{"name": "架空 たろう", "birthDate": "2024-05-01",
                            "reading": "taro"}]}
    result = record(client, npo(world), household=people)
    assert result["__typename"] == "ValidationError", result
    errors = {e["field"]: e for e in result["fieldErrors"]}
    assert errors["household.guardians.0.reading"]["code"] == "reading_not_kana"
    assert errors["household.guardians.0.phone"]["code"] == "phone_invalid"
    assert errors["household.children.0.reading"]["code"] == "reading_not_kana"
    assert all(e["messageJa"] and e["message"] for e in errors.values())
    # The value typed is never echoed back.
    assert "12345" not in str(result) and "taro" not in str(result)


def test_existing_clients_without_the_new_fields_keep_working(client, world):
    result = record(client, npo(world))
    assert result["__typename"] == "ConsultationRecorded", result
    shown = gql(client, HOUSEHOLD, {"id": result["case"]["id"]}, supervisor(world))
    assert shown["data"]["case"]["household"]["guardians"] == [
        {"name": "架空 花子", "reading": None, "phone": None}]


def test_a_correction_can_add_a_reading_and_a_phone(client, world):
    case_id = record(client, npo(world))["case"]["id"]
    body = gql(client, """mutation C($input: CorrectHouseholdInput!) { correctHousehold(input: $input) {
        __typename ... on HouseholdCorrected { changedFields household { guardians { reading phone } } } } }""",
               {"input": {"municipalityCode": CITY_A, "caseId": case_id, "household": PEOPLE,
                          "reason": "フリガナと電話番号の追加"}}, npo(world))
    corrected = body["data"]["correctHousehold"]
    assert corrected["__typename"] == "HouseholdCorrected", body
    assert corrected["changedFields"] == ["guardians", "children"]
    assert corrected["household"]["guardians"] == [{"reading": READING, "phone": PHONE}]


def test_events_stored_before_readings_still_load(world, monkeypatch):
    """A v1 registration (no reading, no phone, no reason) is upcast when read."""
    staff = ActingContext(user_id="seed", role="specialist", organisation_kind="municipality",
                          organisation_id=CITY_A, contract_id=None, site_id="a-hiroba")
    household = Household.register(guardians=[Guardian("架空 花子", "母")],
                                   children=[Child("架空 たろう", date(2024, 5, 1))],
                                   pregnancy=None, today=japan_today())
    (event,) = household._pending_events
    for person in [*event.guardians, *event.children]:
        person.pop("reading", None)
        person.pop("phone", None)
    del event.__dict__["new_household_reason"]
    # Stored as version 1 was: its class version and personal fields.
    monkeypatch.setattr(Household.Registered, "class_version", 1)
    monkeypatch.setattr(Household.Registered, "personal_fields", (
        "guardians", "children", "pregnancy_due_date", "outside_target_reason"))
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        stored = rt.casework.mapper.to_stored_event(event)
        assert b"class_version" not in stored.state
        rt.casework.save(household)
        monkeypatch.undo()
        rt.casework.mapper._classes = None  # the mapper looks class versions up once per topic
        loaded = rt.casework.repository.get(household.id)
        assert loaded.guardians == [Guardian("架空 花子", "母", reading=None, phone=None)]
        assert loaded.children == [Child("架空 たろう", date(2024, 5, 1), reading=None)]
        assert loaded.new_household_reason is None
        rt.catch_up()
        (seen,) = rt.cases.households([str(household.id)]).values()
        assert seen.guardians == [{"name": "架空 花子", "relationship": "母", "reading": None,
                                   "phone": None}]


def _scan(world: Any, cluster: Any, secrets: tuple[str, ...]) -> dict[str, set[str]]:
    """Every column of every table (PostgreSQL as superuser; every SQLite file) for the values."""
    hits: dict[str, set[str]] = {}
    needles = [s.encode() for s in secrets]
    settings = world.services.settings

    def look(where: str, blob: bytes) -> None:
        found = {s for s, n in zip(secrets, needles, strict=True) if n in blob}
        if found:
            hits.setdefault(where, set()).update(found)

    if settings.backend == "postgres":
        with cluster.connect(settings.pg_dbname, "superuser") as conn:
            columns = conn.execute(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                " AND table_schema NOT LIKE 'pg_toast%%'").fetchall()
            for schema, table, column in columns:
                for (value,) in conn.execute(
                        f'SELECT "{column}"::text FROM "{schema}"."{table}"').fetchall():
                    look(f"{schema}.{table}.{column}", (value or "").encode())
        return hits
    for path in sorted(Path(settings.sqlite_dir).glob("*.sqlite")):
        with sqlite3.connect(path) as conn:
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    look(f"{path.name}:{table}", b"\0".join(
                        v if isinstance(v, bytes) else str(v).encode() for v in row))
    return hits

