"""個人情報ファイル簿: generated from the schema, so it cannot drift from what is stored."""

from __future__ import annotations

import json
import sys
import types
from datetime import date
from typing import ClassVar
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from typer.testing import CliRunner
from world import CITY_A, gql, supervisor

from yorisoi.domain.support_notes import SupportNote
from yorisoi.infra import cli
from yorisoi.infra.clock import japan_today
from yorisoi.infra.settings import get_settings
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.file_register import (
    _KIND_OF,
    BY_RULE,
    aggregates_in,
    build_file_register,
    domain_modules,
    event_classes,
    render_markdown,
)

TODAY = date(2026, 5, 20)
RECORDS_OFFICER = ActingContext(user_id="a-records", role="municipal_supervisor",
                                organisation_kind="municipality", organisation_id=CITY_A)


def _register(world, **kwargs):
    with world.services.runtimes.lease(CITY_A) as rt:
        return build_file_register(rt.casework, municipality_name="千代田区",
                                   today=kwargs.pop("today", TODAY), **kwargs)


def _items(register: dict, kind: str) -> dict[str, bool]:
    return {i["field"]: i["personal"] for f in register["files"] for r in f["records"]
            if r["kind"] == kind for i in r["items"]}


@pytest.fixture
def world(sqlite_settings):
    from world import build_world

    built = build_world(sqlite_settings)
    yield built
    built.services.close()


def test_the_casework_file_lists_what_consultations_and_households_hold(world):
    register = _register(world)
    assert register["law"] == "個人情報の保護に関する法律第75条" and not register["warnings"]
    names = [f["name"] for f in register["files"]]
    assert names == ["利用者支援事業 相談・支援記録ファイル", "利用者支援事業 苦情・要望記録ファイル"]
    consultation = _items(register, "consultation")
    assert consultation["asked"] and consultation["inner_situation"]
    assert consultation["occurred_on"] is False and consultation["themes"] is False
    assert _items(register, "household")["guardians"] is True
    assert _items(register, "complaint")["complainant_name"] is True
    casework = register["files"][0]
    assert any("児童相談所" in r for r in casework["recipients"])
    assert any("ガイドライン" in p for p in casework["purposes"])
    assert {r["retention"] for r in casework["records"]} == {BY_RULE}
    assert {"household_view", "consultation_view"} <= {
        m["table"] for m in register["sealedReadModels"]}


def test_every_personal_field_of_every_event_appears_marked_personal(world):
    register = _register(world)
    listed = {(r["kind"], i["field"]) for f in register["files"] for r in f["records"]
              for i in r["items"] if i["personal"]}
    fields = {(_KIND_OF.get(name, name), field)
              for name, aggregate in aggregates_in(domain_modules()).items()
              for cls in event_classes(aggregate) for field in getattr(cls, "personal_fields", ())}
    assert fields and fields == listed


def test_a_personal_field_added_to_an_event_appears_in_the_register(world, monkeypatch):
    assert "mood" not in _items(_register(world), "support_note")
    monkeypatch.setattr(SupportNote.Written, "personal_fields", ("body", "mood"))
    assert _items(_register(world), "support_note")["mood"] is True


def test_a_new_aggregate_with_personal_fields_is_listed_as_unclassified(world):
    module = types.ModuleType("yorisoi.domain.home_visits")

    class HomeVisit(Aggregate):
        class Made(Aggregate.Created):
            personal_fields: ClassVar[tuple[str, ...]] = ("observations",)
            household_id: UUID
            observations: str | None

    HomeVisit.__module__ = module.__name__
    module.HomeVisit = HomeVisit  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        register = _register(world, modules=[*domain_modules(), module])
    finally:
        del sys.modules[module.__name__]
    assert register["warnings"] == ["unclassified aggregate with personal fields: HomeVisit"]
    stray = register["files"][-1]
    assert stray["code"] == "unclassified"
    assert stray["records"][0]["items"] == [
        {"field": "observations", "label": "observations", "personal": True}]


def test_retention_comes_from_the_municipalitys_schedule_once_set(world):
    with world.services.runtimes.lease(CITY_A) as rt:
        from yorisoi.domain.retention import RECORD_CLASSES

        years = {name: 5 for name in RECORD_CLASSES} | {"complaint": 3, "referral": None}
        with acting_as(RECORDS_OFFICER):
            rt.casework.set_retention_schedule(effective_from=japan_today(), years=years,
                                               two_person_approval=True)
    register = _register(world, today=japan_today())
    retention = {r["kind"]: r["retention"] for f in register["files"] for r in f["records"]}
    assert retention["consultation"].startswith("5年") and "第1版" in retention["consultation"]
    assert retention["referral"] == "永年" and retention["complaint"].startswith("3年")
    assert retention["data_subject_request"] == BY_RULE  # not a class of the schedule


def test_the_markdown_carries_the_statutory_items_in_japanese(world):
    text = render_markdown(_register(world))
    for heading in ("# 個人情報ファイル簿（千代田区）", "| 利用目的 |", "| 記録情報の収集方法 |",
                    "| 要配慮個人情報 |", "| 記録情報の経常的提供先 |", "### 記録項目",
                    "相談内容（主訴）（※）"):
        assert heading in text, heading


def test_the_search_index_is_declared_as_keyed_hashes_without_plaintext(world):
    register = _register(world)
    (index,) = register["searchIndexes"]
    assert "household_index_token" in index["tables"]
    assert "平文は保持しない" in index["note"]
    assert "検索用索引（ブラインドインデックス）" in render_markdown(register)


def test_the_register_is_served_over_graphql_to_records_officers(client, world):
    query = """query($code: String!) { personalInformationFileRegister(municipalityCode: $code)
      { municipalityName files { name records { kind retention items { field personal } } }
        markdown warnings } }"""
    body = gql(client, query, {"code": CITY_A}, supervisor(world))
    assert "errors" not in body, body
    register = body["data"]["personalInformationFileRegister"]
    assert register["municipalityName"] == "千代田区" and "個人情報ファイル簿" in register["markdown"]
    npo = world.headers("contractor", "npo-hidamari", subject="x", roles=("specialist",))
    refused = gql(client, query, {"code": CITY_A}, npo)
    assert refused["errors"][0]["extensions"]["code"] == "role_not_permitted"


@pytest.fixture
def client(world):
    from fastapi.testclient import TestClient

    from yorisoi.infra.http.app import create_app

    with TestClient(create_app(world.services.settings, world.services)) as test_client:
        yield test_client


def test_the_cli_prints_the_register_and_lists_requests(tmp_path, monkeypatch):
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(cli.app, ["platform", "init"]).exit_code == 0
        assert runner.invoke(cli.app, ["demo"]).exit_code == 0
        out = runner.invoke(cli.app, ["records", "file-register", "--municipality", "131016",
                                      "--format", "json"], catch_exceptions=False)
        assert out.exit_code == 0, out.output
        register = json.loads(out.output)
        assert register["municipalityCode"] == "131016" and register["files"]
        markdown = runner.invoke(cli.app, ["records", "file-register", "--municipality", "131016"])
        assert "# 個人情報ファイル簿" in markdown.output
        listed = runner.invoke(cli.app, ["records", "requests", "--municipality", "131016",
                                         "--overdue"])
        assert listed.exit_code == 0, listed.output
        unknown = runner.invoke(cli.app, ["records", "file-register", "--municipality", "999999"])
        assert unknown.exit_code == 2 and "自治体" in unknown.output
    finally:
        get_settings.cache_clear()
