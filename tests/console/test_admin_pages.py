"""The municipal administrator's pages (TestClient): staff, sites, access grants, agencies,
the resource directory and themes — every form's success and its typed errors (all at
once), the role refusals, and names (never ids) on every page.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from console_steps import csrf_of, sign_in
from world import CITY_A, CITY_B

from yorisoi.infra.clock import japan_today

A = f"/console/m/{CITY_A}/admin"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SLUGS = ("a-hiroba", "a-counter", "npo-hidamari", "contract-a-npo", "admin-1", "new-person-1",
         "municipal_admin", "specialist", "dedicated")
PAGES = ("", "/staff", "/staff/new", "/sites", "/sites/a-hiroba", "/grants", "/agencies",
         "/resources", "/resources/new", "/themes")
TODAY = japan_today()


def _visible(html: str) -> str:
    """What a person reads in the page's main part (tags, attributes and hidden fields gone)."""
    main = re.search(r"<main[^>]*>(.*)</main>", html, flags=re.S)
    body = main.group(1) if main else html
    return re.sub(r"<[^>]+>", " ", body)


def _no_ids(html: str) -> None:
    text = _visible(html)
    assert not UUID.search(text), UUID.search(text)
    for slug in SLUGS:
        assert slug not in text, slug


def admin(client) -> None:  # noqa: ANN001
    sign_in(client, "municipality", CITY_A, "admin-1", "municipal_admin")


def post(client, page_url: str, action: str, data=None, files=None):  # noqa: ANN001, ANN201
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={"csrf": csrf_of(page.text), "once": "", **(data or {})},
                       files=files)


def register(client, name: str = "架空 一郎", subject: str = "new-person-1",  # noqa: ANN001
             organisation: str = CITY_A, roles: tuple[str, ...] = ("specialist",)) -> str:
    saved = post(client, A + "/staff/new", A + "/staff/new", {
        "displayName": name, "subject": subject, "organisationId": organisation,
        "roles": list(roles), "qualifications": ["hoikushi"]})
    assert saved.status_code == 303, saved.text
    location = saved.headers["location"]
    assert "saved=registered" in location
    return location.split("?")[0]


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("who", [
    ("contractor", "npo-hidamari", "npo-staff-1", "specialist", ("a-hiroba",)),
    ("municipality", CITY_A, "city-specialist", "specialist", ("a-hiroba",)),
    ("municipality", CITY_A, "auditor-1", "compliance_auditor", ()),
])
def test_no_admin_page_for_other_roles(console_world, browser_client, who) -> None:  # noqa: ANN001
    sign_in(browser_client, *who)
    tasks = browser_client.get(f"/console/m/{CITY_A}/cases")
    assert f'href="{A}"' not in tasks.text  # no 「管理」 entry
    for rest in PAGES:
        refused = browser_client.get(A + rest)
        assert refused.status_code == 403, rest
        assert "市町村の管理者のみ" in refused.text
    # a form posted anyway writes nothing
    page = browser_client.get(f"/console/m/{CITY_A}/cases")
    refused = browser_client.post(A + "/staff/new", data={
        "csrf": csrf_of(page.text), "displayName": "x", "subject": "y"})
    assert refused.status_code == 403


def test_admin_sees_the_menu_and_no_other_municipality(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    home = browser_client.get(A)
    assert home.status_code == 200, home.text
    assert f'href="{A}"' in home.text and "管理" in home.text
    for rest in PAGES:
        shown = browser_client.get(A + rest)
        assert shown.status_code == 200, (rest, shown.text[:2000])
        _no_ids(shown.text)
    assert browser_client.get(f"/console/m/{CITY_B}/admin/staff").status_code == 403
