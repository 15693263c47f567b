"""No page a user can reach shows an internal identifier (issue 16, item 2).

Every demo role signs in and the console is crawled through a TestClient from its first
page, following the links it shows (GET only: nothing is written).  The visible text of
each page — tags stripped, attribute values (ids in links and form values) left out — must
hold no UUID, no ``Module.Event`` name, no snake_case word and none of the demo's ASCII ids
(sites, the contractor, the contract, sign-in subjects) where a name exists.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from console_steps import csrf_of
from fastapi.testclient import TestClient

from yorisoi.infra.demo import (
    CONTRACT,
    CONTRACT_SITE,
    CONTRACTOR,
    DEMO_USERS,
    DIRECT_SITE,
    MUNICIPALITY,
    load_demo,
)
from yorisoi.infra.http.app import create_app
from yorisoi.infra.settings import get_settings
from yorisoi.infra.wiring.bootstrap import Services, init_platform

PAGES_PER_ROLE = 120  # enough for every page kind the demo links to; keeps the test short
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
EVENT = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*\.[A-Z][a-z]+(?:[A-Z][a-z]+)*\b")
SNAKE = re.compile(r"(?<![\w@./-])[a-z]+(?:_[a-z0-9]+)+(?![\w@.-])")
SLUGS = (CONTRACT_SITE, DIRECT_SITE, CONTRACTOR, CONTRACT,
         *(u.subject for u in DEMO_USERS))
# Pages outside this slice still showing ids, each with what it shows (a known debt, kept
# visible); any other page showing an id fails the test.
KNOWN: dict[str, list[str]] = {}  # none left: the oversight page names sites now
LINK = re.compile(r'href="(/console/[^"#]*)')
# Not pages: leaving, switching language, downloads (a file, not a page).
SKIP = re.compile(r"^/console/(logout|lang|login|static/)|/attachments/[0-9a-f-]{36}$"
                  r"|/pledge$|\.pdf$|/export$|/download")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    patch = pytest.MonkeyPatch()
    patch.setenv("YORISOI_DATA_DIR", str(tmp_path_factory.mktemp("no-ids-demo")))
    patch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    settings = get_settings().model_copy(update={"dev_issuer": True})
    init_platform(settings)
    services = Services(settings)
    try:
        load_demo(services)
        yield services
    finally:
        services.close()
        patch.undo()
        get_settings.cache_clear()


def visible_text(page: str) -> str:
    """What a person reads: the body's text, without scripts, tags or attribute values."""
    body = re.search(r"<body[^>]*>(.*)</body>", page, flags=re.DOTALL)
    text = body.group(1) if body else page
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.DOTALL)
    text = re.sub(r"<textarea\b[^>]*>.*?</textarea>", " ", text, flags=re.DOTALL)  # typed text
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def identifiers(text: str) -> list[str]:
    found = UUID.findall(text) + EVENT.findall(text) + SNAKE.findall(text)
    found += [slug for slug in SLUGS if re.search(rf"(?<![\w-]){re.escape(slug)}(?![\w-])",
                                                  text)]
    return found


def starts(services: Services, user: Any) -> list[str]:
    """Where a person starts: the first page; an auditor also opens each demo case's history
    and each demo user's activity (reached through a search form or a picker, not a link)."""
    urls = ["/console/"]
    if "compliance_auditor" in user.roles:
        with services.runtimes.lease(MUNICIPALITY) as rt, \
                rt.casework.database.transaction(write=False) as cur:
            cases = [r["case_id"] for r in cur.execute(
                "SELECT DISTINCT case_id FROM {s}timeline_view ORDER BY case_id").fetchall()]
        audit = f"/console/m/{MUNICIPALITY}/audit"
        urls += [f"{audit}/records?id={case_id}" for case_id in cases]
        urls += [f"{audit}/people?actor={u.subject}" for u in DEMO_USERS]
    return urls


def crawl(client: Any, first: list[str]) -> dict[str, list[str]]:
    """url → the identifiers its page shows, for every page reached from ``first``."""
    seen, queue, found = set(first), list(first), {}
    while queue and len(seen) <= PAGES_PER_ROLE:
        url = queue.pop(0)
        answer = client.get(url)
        if answer.status_code in (301, 302, 303, 307):
            target = answer.headers["location"]
            if target.startswith("/console/") and target not in seen and not SKIP.search(target):
                seen.add(target)
                queue.append(target)
            continue
        if not answer.headers.get("content-type", "").startswith("text/html"):
            continue
        shown = identifiers(visible_text(answer.text))
        if shown:
            found[url] = sorted(set(shown))
        for link in LINK.findall(answer.text):
            link = html.unescape(link)
            if link not in seen and not SKIP.search(link):
                seen.add(link)
                queue.append(link)
    return found


def sign_in_as(client: Any, user: Any) -> None:
    """As a person does on the development issuer's page: choosing a demo user by name."""
    start = client.get(f"/console/login/start?kind={user.tenant_kind}&org={user.tenant_id}")
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    page = client.get(authorize)
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    chosen = client.post(urlsplit(authorize).path, data={
        **params, "csrf": csrf_of(page.text), "user": user.subject})
    assert chosen.status_code == 303, chosen.text
    assert client.get(chosen.headers["location"]).status_code == 303


def test_the_detector_finds_each_kind_of_identifier() -> None:
    page = ("<main><p>CaseMeeting.ActionCompleted consent_index 3634504c-aaaa-bbbb-cccc-"
            "0123456789ab kanda-hiroba</p><a href='/console/m/1/cases/3634504c'>ケース</a>"
            "<p>ケース会議の設定 a.b@example.jp 令和8年度</p></main>")
    assert sorted(identifiers(visible_text(page))) == sorted([
        "CaseMeeting.ActionCompleted", "consent_index", "3634504c-aaaa-bbbb-cccc-0123456789ab",
        "kanda-hiroba"])


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("user", [u for u in DEMO_USERS if u.tenant_kind != "platform"],
                         ids=lambda u: u.subject)
def test_no_reachable_page_shows_an_internal_identifier(demo: Services, user: Any,
                                                        lang: str) -> None:
    settings = demo.settings
    with TestClient(create_app(settings, demo), base_url="http://127.0.0.1",
                    follow_redirects=False) as client:
        sign_in_as(client, user)
        assert client.get(f"/console/lang?to={lang}&next=/console/").status_code == 303
        found = crawl(client, starts(demo, user))
    for url, shown in KNOWN.items():
        assert found.pop(url, []) == shown, f"{url} changed: update KNOWN"
    assert not found, "\n".join(f"{url}: {ids}" for url, ids in sorted(found.items()))
