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


# --------------------------------------------------------------------------- staff


def test_register_a_staff_member_and_see_them_by_name(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    url = register(browser_client)
    page = browser_client.get(url + "?saved=registered")
    assert page.status_code == 200
    assert "保存しました" in page.text and "架空 一郎" in page.text
    assert "千代田区" in page.text and "利用者支援専門員" in page.text and "保育士" in page.text
    assert "未提出" in page.text  # no pledge yet
    _no_ids(page.text)
    listing = browser_client.get(A + "/staff")
    assert "架空 一郎" in listing.text and "千代田区" in listing.text
    _no_ids(listing.text)
    # a contractor's staff member, registered by the municipality
    other = register(browser_client, "架空 二郎", "npo-person-2", "npo-hidamari")
    assert "NPO法人 ひだまり" in browser_client.get(other).text


def test_register_shows_every_error_at_once_and_keeps_the_text(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    refused = post(browser_client, A + "/staff/new", A + "/staff/new", {
        "displayName": "", "subject": "", "organisationId": CITY_A, "roles": ["boss"]})
    assert refused.status_code == 400
    assert refused.text.count('class="error"') >= 3  # name, sign-in ID, roles
    assert 'id="f-displayName-error"' in refused.text
    assert 'id="f-subject-error"' in refused.text
    assert 'id="f-roles-error"' in refused.text
    assert "必須項目です" in refused.text
    long = post(browser_client, A + "/staff/new", A + "/staff/new", {
        "displayName": "長" * 101, "subject": "someone"})
    assert long.status_code == 400 and "100文字以内" in long.text
    assert "長" * 101 in long.text  # kept
    # the same person twice is refused, typed
    register(browser_client)
    twice = post(browser_client, A + "/staff/new", A + "/staff/new", {
        "displayName": "架空 一郎", "subject": "new-person-1", "organisationId": CITY_A})
    assert twice.status_code == 400 and 'class="error-summary"' in twice.text


def test_assign_train_pledge_and_edit(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    url = register(browser_client)
    assigned = post(browser_client, url, url + "/assign", {
        "siteId": "a-hiroba", "kind": "dedicated", "startsOn": TODAY.isoformat()})
    assert assigned.status_code == 303, assigned.text
    page = browser_client.get(url)
    assert "ひろば" in page.text and "専任" in page.text and "配置中" in page.text
    _no_ids(page.text)
    listing = browser_client.get(A + "/staff")
    assert "ひろば（専任）" in listing.text

    trained = post(browser_client, url, url + "/training", {
        "trainingKind": "privacy_confidentiality", "completedOn": TODAY.isoformat()})
    assert trained.status_code == 303, trained.text
    page = browser_client.get(url)
    assert "個人情報保護・守秘義務研修" in page.text and "令和" in page.text

    pledged = post(browser_client, url, url + "/pledge", {"signedOn": TODAY.isoformat()},
                   files={"file": ("誓約書.pdf", b"%PDF-1.4 pledge", "application/pdf")})
    assert pledged.status_code == 303, pledged.text
    page = browser_client.get(url)
    assert "提出済み" in page.text and "誓約書を開く" in page.text
    link = browser_client.get(url + "/pledge")
    assert link.status_code == 303 and "/files/" in link.headers["location"]

    edited = post(browser_client, url, url + "/edit", {
        "displayName": "架空 一郎（改）", "roles": ["specialist", "site_manager"],
        "qualifications": ["shakai_fukushishi"]})
    assert edited.status_code == 303, edited.text
    page = browser_client.get(url)
    assert "架空 一郎（改）" in page.text and "社会福祉士" in page.text

    # ending the assignment
    aid = re.search(r'/assignments/([0-9a-f-]+)/end', page.text).group(1)
    ended = post(browser_client, url, f"{url}/assignments/{aid}/end",
                 {"endsOn": (TODAY + timedelta(days=10)).isoformat()})
    assert ended.status_code == 303, ended.text


def test_staff_forms_show_every_error_at_once(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    url = register(browser_client)
    refused = post(browser_client, url, url + "/assign", {
        "siteId": "", "kind": "", "startsOn": "someday", "endsOn": ""})
    assert refused.status_code == 400
    for field in ("siteId", "kind", "startsOn"):
        assert f'id="f-{field}-error"' in refused.text, field
    backwards = post(browser_client, url, url + "/assign", {
        "siteId": "a-hiroba", "kind": "assisting",
        "startsOn": TODAY.isoformat(), "endsOn": (TODAY - timedelta(days=1)).isoformat()})
    assert backwards.status_code == 400 and 'id="f-endsOn-error"' in backwards.text
    unknown = post(browser_client, url, url + "/assign", {
        "siteId": "nowhere", "kind": "assisting", "startsOn": TODAY.isoformat()})
    assert unknown.status_code == 400 and "登録されていません" in unknown.text

    training = post(browser_client, url, url + "/training", {
        "trainingKind": "", "completedOn": (TODAY + timedelta(days=3)).isoformat()})
    assert training.status_code == 400
    assert 'id="f-trainingKind-error"' in training.text
    assert 'id="f-completedOn-error"' in training.text

    pledge = post(browser_client, url, url + "/pledge", {"signedOn": "x"})
    assert pledge.status_code == 400
    assert 'id="f-signedOn-error"' in pledge.text and 'id="f-file-error"' in pledge.text
    wrong_type = post(browser_client, url, url + "/pledge", {"signedOn": TODAY.isoformat()},
                      files={"file": ("a.txt", b"hello", "text/plain")})
    assert wrong_type.status_code == 400 and 'id="f-file-error"' in wrong_type.text

    edit = post(browser_client, url, url + "/edit", {"displayName": " ", "roles": ["x"]})
    assert edit.status_code == 400
    assert 'id="f-displayName-error"' in edit.text and 'id="f-roles-error"' in edit.text
    assert browser_client.get(A + "/staff/not-a-uuid").status_code == 404
