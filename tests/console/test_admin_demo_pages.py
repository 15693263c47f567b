"""The administrator's pages on the demo data (as `yorisoi serve` loads it): every page and
every staff member's, site's and directory entry's page answers, in Japanese and in
English, with names and never an internal identifier (a UUID, a slug, a subject).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from console_steps import main_text, sign_in
from fastapi.testclient import TestClient

from yorisoi.infra.demo import CONTRACT_SITE, CONTRACTOR, DEMO_USERS, DIRECT_SITE, MUNICIPALITY
from yorisoi.infra.demo import load_demo
from yorisoi.infra.http.app import create_app
from yorisoi.infra.settings import get_settings
from yorisoi.infra.wiring.bootstrap import Services, init_platform

A = f"/console/m/{MUNICIPALITY}/admin"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
IDS = (CONTRACT_SITE, DIRECT_SITE, CONTRACTOR, *(u.subject for u in DEMO_USERS))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Services]]:
    patch = pytest.MonkeyPatch()
    patch.setenv("YORISOI_DATA_DIR", str(tmp_path_factory.mktemp("admin-demo")))
    patch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    settings = get_settings().model_copy(update={"dev_issuer": True})
    init_platform(settings)
    services = Services(settings)
    try:
        load_demo(services)
        with TestClient(create_app(settings, services), base_url="http://127.0.0.1",
                        follow_redirects=False) as client:
            sign_in(client, "municipality", MUNICIPALITY, "demo-admin", "municipal_admin")
            yield client, services
    finally:
        services.close()
        patch.undo()
        get_settings.cache_clear()


def _pages(client: Any) -> list[str]:
    urls = [A, A + "/staff", A + "/staff/new", A + "/sites", A + "/grants", A + "/agencies",
            A + "/resources", A + "/resources/new", A + "/themes"]
    for listing, pattern in ((A + "/staff", r'href="(/console/m/\d+/admin/staff/[0-9a-f-]{36})"'),
                             (A + "/sites", r'href="(/console/m/\d+/admin/sites/[^"/]+)"'),
                             (A + "/resources",
                              r'href="(/console/m/\d+/admin/resources/[0-9a-f-]{36})"')):
        found = sorted(set(re.findall(pattern, client.get(listing).text)))
        assert found, listing
        urls += found
    return urls


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_admin_page_of_the_demo_shows_names_only(demo, lang: str) -> None:  # noqa: ANN001
    client, _ = demo
    assert client.get(f"/console/lang?to={lang}&next={A}").status_code == 303
    for url in _pages(client):
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.text[:500])
        text = main_text(answer.text)
        assert not UUID.search(text), (url, UUID.search(text))
        for ident in IDS:
            assert ident not in text, (url, ident)
        snake = [s for s in SNAKE.findall(text) if "@" not in s]
        assert not snake, (url, snake)
    client.get(f"/console/lang?to=ja&next={A}")


def test_the_demo_staff_and_sites_read_by_name(demo) -> None:  # noqa: ANN001
    client, _ = demo
    staff = main_text(client.get(A + "/staff").text)
    assert "NPO法人 ひだまり" in staff and "千代田区" in staff
    sites = main_text(client.get(A + "/sites").text)
    assert "委託（NPO法人 ひだまり）" in sites and "直営" in sites
