"""Records management on the demo data (as `yorisoi serve` loads it): the demo's retention
schedule makes its family served years ago due, so disposal is tried end to end — the
administrator proposes, the supervisor approves and runs it — and a data-subject request
is registered; every records page then answers in Japanese and in English with names and
never an internal identifier (a UUID, a slug, a subject, a snake_case code).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from console_steps import csrf_of, main_text, sign_in
from fastapi.testclient import TestClient

from yorisoi.infra.clock import japan_today
from yorisoi.infra.demo import (
    ADMIN,
    CONTRACT_SITE,
    CONTRACTOR,
    DEMO_USERS,
    DIRECT_SITE,
    MUNICIPALITY,
    SUPERVISOR,
    load_demo,
)
from yorisoi.infra.http.app import create_app
from yorisoi.infra.settings import get_settings
from yorisoi.infra.wiring.bootstrap import Services, init_platform

R = f"/console/m/{MUNICIPALITY}/records"
D = f"/console/m/{MUNICIPALITY}/dsr"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
IDS = (CONTRACT_SITE, DIRECT_SITE, CONTRACTOR, *(u.subject for u in DEMO_USERS))




@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Services]]:
    patch = pytest.MonkeyPatch()
    patch.setenv("YORISOI_DATA_DIR", str(tmp_path_factory.mktemp("records-demo")))
    patch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    settings = get_settings().model_copy(update={"dev_issuer": True})
    init_platform(settings)
    services = Services(settings)
    try:
        load_demo(services)
        app = create_app(settings, services)
        with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as admin, \
                TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as chief:
            sign_in(admin, "municipality", MUNICIPALITY, ADMIN.subject, "municipal_admin")
            sign_in(chief, "municipality", MUNICIPALITY, SUPERVISOR.subject,
                    "municipal_supervisor")
            yield (admin, chief), services
    finally:
        services.close()
        patch.undo()
        get_settings.cache_clear()


@pytest.fixture(scope="module")
def disposal(demo) -> dict[str, Any]:  # noqa: ANN001
    """The demo family of years ago disposed of by two officers, once per module.

    A fixture, not a test's side effect: the page crawl below lists the batch
    whichever of the two tests a worker runs first (under xdist they may not share one).
    """
    (admin, chief), _ = demo
    due = admin.get(R + "/disposal")
    chosen = re.findall(r'name="households" value="([^"]+)"', due.text)
    proposed = admin.post(R + "/disposal", data={"csrf": csrf_of(due.text),
                                                 "households": chosen[0]}) if chosen else None
    batch = proposed.headers["location"].split("?")[0] if proposed is not None \
        and proposed.status_code == 303 else None
    seen_by_proposer = admin.get(batch).text if batch else ""
    approved = chief.post(batch + "/approve", data={"csrf": csrf_of(chief.get(batch).text)}) \
        if batch else None
    ran = chief.post(batch + "/run", data={"csrf": csrf_of(chief.get(batch).text)}) \
        if batch else None
    return {"due": due, "chosen": chosen, "proposed": proposed,
            "seen_by_proposer": seen_by_proposer, "approved": approved, "ran": ran,
            "certificate": chief.get(ran.headers["location"]).text
            if ran is not None and ran.status_code == 303 else ""}


def test_the_demo_family_of_years_ago_is_disposed_of_by_two_officers(disposal) -> None:  # noqa: ANN001
    due = disposal["due"]
    assert due.status_code == 200
    assert "第1版による" in due.text and "区役所 子育て相談窓口" in due.text
    assert len(disposal["chosen"]) == 1  # the family served years ago; today's families are open
    assert disposal["proposed"].status_code == 303, disposal["proposed"].text
    assert "承認は別の職員" in disposal["seen_by_proposer"]
    assert disposal["approved"].status_code == 303
    assert disposal["ran"].status_code == 303, disposal["ran"].text
    assert "署名を確認しました" in disposal["certificate"]


@pytest.fixture(scope="module")
def registered_request(demo) -> dict[str, Any]:  # noqa: ANN001
    """A data-subject request registered for a demo family, once per module (as ``disposal``)."""
    (admin, _), _ = demo
    form = admin.get(D + "/new")
    found = admin.post(D + "/find", data={"csrf": csrf_of(form.text), "q": "R8-000001"})
    household = re.search(r'name="household" value="([^"]+)"', found.text)
    created = admin.post(D, data={
        "csrf": csrf_of(found.text), "q": "R8-000001", "household": household.group(1),
        "kind": "disclosure", "requester_relationship": "self",
        "identification_method": "counter_photo_id",
        "received_on": japan_today().isoformat()}) if household else None
    return {"found": found, "household": household, "created": created}


def test_a_request_is_registered_for_a_demo_family(registered_request) -> None:  # noqa: ANN001
    found = registered_request["found"]
    assert found.status_code == 200, found.text
    assert registered_request["household"]
    created = registered_request["created"]
    assert created.status_code == 303, created.text


def _pages(client: Any) -> list[str]:
    urls = [R, R + "/retention", R + "/holds", R + "/disposal", R + "/file-register",
            D, D + "/new", D + "?overdue=1", D + "/deadlines"]
    for listing, pattern in ((R + "/disposal", r'href="(/console/m/\d+/records/disposal/[^"]+)"'),
                             (D, r'href="(/console/m/\d+/dsr/[0-9a-f-]{36})"')):
        found = sorted(set(re.findall(pattern, client.get(listing).text)))
        assert found, listing
        urls += found
    urls += [u + "/certificate" for u in urls if re.search(r"/disposal/[0-9a-f-]{36}$", u)]
    return urls


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_records_page_of_the_demo_shows_names_only(  # noqa: ANN001
        demo, disposal, registered_request, lang: str) -> None:
    (admin, _), _ = demo
    assert admin.get(f"/console/lang?to={lang}&next={R}").status_code == 303
    try:
        for url in _pages(admin):
            answer = admin.get(url)
            assert answer.status_code == 200, (url, answer.text[:500])
            text = main_text(answer.text)
            assert not UUID.search(text), (url, UUID.search(text))
            for ident in IDS:
                assert ident not in text, (url, ident)
            snake = SNAKE.findall(text)
            assert not snake, (url, snake)
    finally:
        admin.get(f"/console/lang?to=ja&next={R}")
