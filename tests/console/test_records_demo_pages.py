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
from console_steps import csrf_of, sign_in
from fastapi.testclient import TestClient

from yorisoi.infra.app import create_app
from yorisoi.infra.bootstrap import Services, init_platform
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
from yorisoi.infra.settings import get_settings

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


def _visible(html: str) -> str:
    main = re.search(r"<main[^>]*>(.*)</main>", html, flags=re.S)
    body = main.group(1) if main else html
    return re.sub(r"<[^>]+>", " ", body)


def test_the_demo_family_of_years_ago_is_disposed_of_by_two_officers(demo) -> None:  # noqa: ANN001
    (admin, chief), _ = demo
    due = admin.get(R + "/disposal")
    assert due.status_code == 200
    assert "第1版による" in due.text and "区役所 子育て相談窓口" in due.text
    chosen = re.findall(r'name="households" value="([^"]+)"', due.text)
    assert len(chosen) == 1  # the family served years ago; today's families are open
    proposed = admin.post(R + "/disposal", data={"csrf": csrf_of(due.text),
                                                 "households": chosen[0]})
    assert proposed.status_code == 303, proposed.text
    batch = proposed.headers["location"].split("?")[0]
    assert "承認は別の職員" in admin.get(batch).text
    page = chief.get(batch)
    approved = chief.post(batch + "/approve", data={"csrf": csrf_of(page.text)})
    assert approved.status_code == 303
    ran = chief.post(batch + "/run", data={"csrf": csrf_of(chief.get(batch).text)})
    assert ran.status_code == 303, ran.text
    assert "署名を確認しました" in chief.get(ran.headers["location"]).text


def test_a_request_is_registered_for_a_demo_family(demo) -> None:  # noqa: ANN001
    (admin, _), _ = demo
    form = admin.get(D + "/new")
    found = admin.post(D + "/find", data={"csrf": csrf_of(form.text), "q": "R8-000001"})
    assert found.status_code == 200, found.text
    household = re.search(r'name="household" value="([^"]+)"', found.text)
    assert household
    created = admin.post(D, data={
        "csrf": csrf_of(found.text), "q": "R8-000001", "household": household.group(1),
        "kind": "disclosure", "requester_relationship": "self",
        "identification_method": "counter_photo_id", "received_on": japan_today().isoformat()})
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
def test_every_records_page_of_the_demo_shows_names_only(demo, lang: str) -> None:  # noqa: ANN001
    (admin, _), _ = demo
    assert admin.get(f"/console/lang?to={lang}&next={R}").status_code == 303
    try:
        for url in _pages(admin):
            answer = admin.get(url)
            assert answer.status_code == 200, (url, answer.text[:500])
            text = _visible(answer.text)
            assert not UUID.search(text), (url, UUID.search(text))
            for ident in IDS:
                assert ident not in text, (url, ident)
            snake = SNAKE.findall(text)
            assert not snake, (url, snake)
    finally:
        admin.get(f"/console/lang?to=ja&next={R}")
