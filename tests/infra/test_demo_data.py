"""The embedded default's demo data shows every part of the product through the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from yorisoi.infra.clock import japan_today
from yorisoi.infra.demo import (
    CITY_SPECIALIST,
    CONTRACT_SITE,
    DIRECT_SITE,
    MUNICIPALITY,
    RESOLVER,
    SPECIALIST,
    SUPERVISOR,
    DemoUser,
    demo_token,
    has_demo,
    load_demo,
)
from yorisoi.infra.http.app import create_app
from yorisoi.infra.settings import get_settings
from yorisoi.infra.wiring.bootstrap import Services, init_platform

CODE = MUNICIPALITY


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[tuple[TestClient, Services]]:
    """A fresh SQLite data directory with the demo loaded, as `yorisoi serve` does."""
    patch = pytest.MonkeyPatch()
    patch.setenv("YORISOI_DATA_DIR", str(tmp_path_factory.mktemp("demo")))
    patch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    settings = get_settings()
    init_platform(settings)
    services = Services(settings)
    try:
        assert not has_demo(services)
        load_demo(services)
        assert has_demo(services)
        with TestClient(create_app(settings, services)) as client:
            yield client, services
    finally:
        services.close()
        patch.undo()
        get_settings.cache_clear()


def ask(demo: tuple[TestClient, Services], query: str, user: DemoUser | None = None,
        **variables: Any) -> dict[str, Any]:
    client, services = demo
    headers = {"Authorization": f"Bearer {demo_token(services, user)}"} if user else {}
    response = client.post("/graphql", json={"query": query, "variables": variables},
                           headers=headers)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def test_the_specialist_sees_cases_an_overdue_task_and_a_referral(demo):
    data = ask(demo, """query($code: String) {
      cases(municipalityCode: $code) { totalCount }
      myTasks(municipalityCode: $code) { totalCount edges { node { overdue title } } }
      referralBoard(municipalityCode: $code) { totalCount }
    }""", SPECIALIST, code=CODE)
    assert data["cases"]["totalCount"] >= 2
    tasks = [e["node"] for e in data["myTasks"]["edges"]]
    assert data["myTasks"]["totalCount"] >= 1
    assert sum(t["overdue"] for t in tasks) == 1
    assert data["referralBoard"]["totalCount"] >= 1


def test_the_public_directory_lists_only_published_entries_without_a_login(demo):
    data = ask(demo, """query($code: String!) {
      publicResources(municipalityCode: $code, first: 50) {
        totalCount edges { node { name kind subkind content } } }
    }""", code=CODE)["publicResources"]
    names = {e["node"]["name"] for e in data["edges"]}
    assert data["totalCount"] == len(names) == 5
    assert {e["node"]["kind"] for e in data["edges"]} >= {
        "education_childcare", "local_support", "informal", "health_welfare"}
    assert not any("準備中" in name for name in names)
    # Japanese partial matches find an entry by part of its name.
    found = ask(demo, """query($code: String!, $q: String) {
      publicResources(municipalityCode: $code, q: $q) { edges { node { name } } }
    }""", code=CODE, q="ひだまり")["publicResources"]["edges"]
    assert [e["node"]["name"] for e in found] == ["一時預かり ひだまりルーム"]


def test_staff_see_the_draft_entry_too(demo):
    data = ask(demo, """query($code: String) {
      resources(municipalityCode: $code, first: 50) { totalCount }
    }""", SUPERVISOR, code=CODE)
    assert data["resources"]["totalCount"] == 6


def test_site_profiles_show_both_sites_with_hours_and_an_exception(demo):
    data = ask(demo, """query($code: String) {
      siteProfiles(municipalityCode: $code) {
        nodes { siteId siteType openDays exceptions { on kind } findings { code } } }
    }""", SUPERVISOR, code=CODE)["siteProfiles"]["nodes"]
    sites = {s["siteId"]: s for s in data}
    assert (sites[CONTRACT_SITE]["siteType"], sites[CONTRACT_SITE]["openDays"]) == ("kihon", 5)
    assert (sites[DIRECT_SITE]["siteType"], sites[DIRECT_SITE]["openDays"]) == ("tokutei", 5)
    assert [e["kind"] for e in sites[CONTRACT_SITE]["exceptions"]] == ["closed"]
    # Both sites have a dedicated specialist and open on more than half the week.
    assert all(s["findings"] == [] for s in data)


def test_oversight_shows_the_missing_pledge_and_the_lapsed_training(demo):
    today = japan_today()
    fiscal_year = today.year if today.month >= 4 else today.year - 1
    data = ask(demo, """query($code: String!, $fy: Int!) {
      oversight(municipalityCode: $code, fiscalYear: $fy) {
        contractors { contractorId operation
          staffFindings { code trainingKind count }
          sites { siteId dedicatedSpecialists consultations
                  openComplaints { step open } } } }
    }""", SUPERVISOR, code=CODE, fy=fiscal_year)["oversight"]
    by_operation = {c["operation"]: c for c in data["contractors"]}
    contracted, direct = by_operation["contracted"], by_operation["direct"]
    assert {(f["code"], f["trainingKind"]) for f in contracted["staffFindings"]} == {
        ("pledge_missing", None)}
    assert {(f["code"], f["trainingKind"]) for f in direct["staffFindings"]} == {
        ("training_lapsed", "privacy_confidentiality")}
    hub = next(s for s in contracted["sites"] if s["siteId"] == CONTRACT_SITE)
    assert hub["dedicatedSpecialists"] == 1
    assert {(c["step"], c["open"]) for c in hub["openComplaints"]} == {("reported", 1)}


def test_complaints_one_in_progress_and_one_published_summary(demo):
    board = ask(demo, """query($code: String) {
      complaintsBoard(municipalityCode: $code) { totalCount edges { node { step kind siteId } } }
    }""", RESOLVER, code=CODE)["complaintsBoard"]
    steps = sorted((e["node"]["step"], e["node"]["kind"]) for e in board["edges"])
    assert steps == [("closed", "complaint"), ("reported", "request")]
    assert all(e["node"]["siteId"] == CONTRACT_SITE for e in board["edges"])
    summaries = ask(demo, """query($code: String!) {
      publishedComplaintSummaries(municipalityCode: $code) {
        totalCount edges { node { summary outcome } } }
    }""", code=CODE)["publishedComplaintSummaries"]
    assert summaries["totalCount"] == 1
    summary = summaries["edges"][0]["node"]
    assert summary["outcome"] == "resolved"
    assert "架空" not in summary["summary"] and "090" not in summary["summary"]


def test_the_city_specialist_does_not_see_the_contractors_complaints(demo):
    client, services = demo
    response = client.post("/graphql", headers={
        "Authorization": f"Bearer {demo_token(services, CITY_SPECIALIST)}"}, json={
        "query": "query($code: String) { complaintsBoard(municipalityCode: $code) { totalCount } }",
        "variables": {"code": CODE}})
    assert response.json()["errors"][0]["extensions"]["code"] == "role_not_permitted"


def test_the_readme_search_example_finds_the_demo_family_as_written(demo):
    """The README's search example, run verbatim with the supervisor's token."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```graphql\n(.*?)```", readme, flags=re.S)
    (example,) = [b for b in blocks if "cases(filter:" in b]
    data = ask(demo, example, SUPERVISOR)
    assert data["cases"]["totalCount"] >= 1
    names = [g["name"] for e in data["cases"]["edges"]
             for g in e["node"]["household"]["guardians"]]
    assert "試験 花子" in names
    assert all(re.fullmatch(r"R\d+-\d{6}", e["node"]["receptionNumber"])
               for e in data["cases"]["edges"])


def test_the_demos_files_are_sealed_at_rest(demo) -> None:
    """Even the demo's placeholder pledge is stored sealed, and opens through the keyring."""
    from yorisoi.infra.sealed_objects import SealedObjects, is_sealed

    _, services = demo
    with services.runtimes.lease(CODE) as runtime:
        keys = [key for key in services.objects.keys(f"{runtime.space}/staff/")
                if "/pledge/" in key]
        assert keys, "the demo files one pledge"
        for key in keys:
            stored, _ = services.objects.get(key)
            assert is_sealed(stored[:16]) and b"%PDF" not in stored
            staff_id = key.split("/")[-3]
            opened = SealedObjects(services.objects, runtime.casework.keyring).open(
                key, UUID(staff_id))
            assert b"".join(opened.chunks).startswith(b"%PDF")
