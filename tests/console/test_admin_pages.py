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
    # the administrator's console is the municipality's administrators' only
    ("contractor", "npo-hidamari", "npo-admin", "contractor_admin", ()),
    ("municipality", CITY_A, "supervisor-1", "municipal_supervisor", ()),
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
    assert "0人（指摘事項のある職員 0人）" in home.text
    assert "2か所（基本情報が未登録 2か所" in home.text and "有効な付与 0件" in home.text
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
    # the summary names each field
    summary = re.search(r'id="error-summary">(.*?)</div>', refused.text, flags=re.S).group(1)
    assert "氏名（表示名）：必須項目です。" in summary and "サインインID：必須項目です。" in summary
    assert "職種：" in summary
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
    at_site = browser_client.get(A + "/staff?site=a-hiroba").text
    assert "架空 一郎" in at_site and "1人" in at_site
    assert "架空 一郎" not in browser_client.get(A + "/staff?site=a-counter").text
    assert "架空 一郎" not in browser_client.get(A + "/staff?organisation=npo-hidamari").text

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
    # only a tampered form names a site not on the list: the API's own refusal, as a page
    assert unknown.status_code == 403 and "登録されていません" in unknown.text

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


# --------------------------------------------------------------------------- access grants


def test_grant_access_to_a_person_picked_by_name_and_revoke(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    url = register(browser_client)
    staff_id = url.rsplit("/", 1)[1]
    page = browser_client.get(A + "/grants")
    assert "架空 一郎（千代田区）" in page.text  # the picker shows names
    granted = post(browser_client, A + "/grants", A + "/grants", {
        "staffId": staff_id, "role": "specialist", "siteIds": ["a-hiroba"],
        "startsOn": TODAY.isoformat(), "reason": "４月からの配置"})
    assert granted.status_code == 303, granted.text
    page = browser_client.get(A + "/grants?saved=granted")
    assert "権限を付与しました" in page.text
    assert "架空 一郎" in page.text and "ひろば" in page.text and "有効" in page.text
    assert "あなた" in page.text  # granted by the signed-in administrator
    _no_ids(page.text)
    grant = console_world.services.directory.registry.access_grants(CITY_A)
    assert [(g.subject, g.subject_tenant, g.role) for g in grant] == [
        ("new-person-1", CITY_A, "specialist")]
    revoked = post(browser_client, A + "/grants", f"{A}/grants/{grant[0].grant_id}/revoke",
                   {"reason": "異動"})
    assert revoked.status_code == 303, revoked.text
    page = browser_client.get(A + "/grants?saved=revoked")
    assert "権限を取り消しました" in page.text and "取消し" in page.text


def test_grant_form_shows_every_error_at_once(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    url = register(browser_client)
    staff_id = url.rsplit("/", 1)[1]
    refused = post(browser_client, A + "/grants", A + "/grants", {
        "staffId": "", "role": "", "startsOn": "nope", "reason": "x" * 401})
    assert refused.status_code == 400
    for field in ("staffId", "role", "startsOn", "reason"):
        assert f'id="f-{field}-error"' in refused.text, field
    assert "x" * 401 in refused.text  # kept
    no_sites = post(browser_client, A + "/grants", A + "/grants", {
        "staffId": staff_id, "role": "site_manager", "startsOn": TODAY.isoformat(),
        "endsOn": (TODAY - timedelta(days=2)).isoformat()})
    assert no_sites.status_code == 400
    assert 'id="f-siteIds-error"' in no_sites.text and 'id="f-endsOn-error"' in no_sites.text
    # the role catalogue's own refusal: a contractor's person cannot be a municipal supervisor
    npo = register(browser_client, "架空 三郎", "npo-person-3", "npo-hidamari").rsplit("/", 1)[1]
    wrong = post(browser_client, A + "/grants", A + "/grants", {
        "staffId": npo, "role": "municipal_supervisor", "startsOn": TODAY.isoformat()})
    assert wrong.status_code == 400 and "この種類の組織の職員には" in wrong.text
    assert console_world.services.directory.registry.access_grants(CITY_A) == []


# --------------------------------------------------------------------------- sites


def test_site_profile_hours_and_exceptions(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    site = A + "/sites/a-hiroba"
    page = browser_client.get(site)
    assert "ひろば" in page.text and "NPO法人 ひだまり（令和" in page.text  # the contract by name
    assert "NPO法人 かぜ" not in page.text  # its contract has ended
    saved = post(browser_client, site, site + "/profile", {
        "siteType": "kihon", "address": "千代田区九段南1-2-1", "contractId": "contract-a-npo"})
    assert saved.status_code == 303, saved.text
    page = browser_client.get(site + "?saved=profile")
    assert "保存しました" in page.text and "委託（NPO法人 ひだまり）" in page.text
    assert "指摘事項" in page.text
    _no_ids(page.text)
    hours = post(browser_client, site, site + "/hours", {
        "opens.mon": "09:00", "closes.mon": "17:00", "opens.wed": "10:00",
        "closes.wed": "16:00", "holidays": "on"})
    assert hours.status_code == 303, hours.text
    day = (TODAY + timedelta(days=7)).isoformat()
    closed = post(browser_client, site, site + "/exceptions", {"on": day, "exceptionKind": "closed"})
    assert closed.status_code == 303, closed.text
    page = browser_client.get(site)
    assert 'value="09:00"' in page.text and "休所" in page.text
    listing = browser_client.get(A + "/sites")
    assert "基本型" in listing.text and "委託（NPO法人 ひだまり）" in listing.text
    _no_ids(listing.text)
    removed = post(browser_client, site, site + "/exceptions/remove", {"on": day})
    assert removed.status_code == 303, removed.text
    assert "休所日・臨時開所日はありません" in browser_client.get(site).text
    # run directly: the counter has no contract
    direct = post(browser_client, A + "/sites/a-counter", A + "/sites/a-counter/profile", {
        "siteType": "tokutei", "address": "千代田区九段南1-2-1", "contractId": ""})
    assert direct.status_code == 303, direct.text
    assert "直営" in browser_client.get(A + "/sites/a-counter").text


def test_site_forms_show_every_error_at_once(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    site = A + "/sites/a-hiroba"
    refused = post(browser_client, site, site + "/profile", {"siteType": "", "address": " "})
    assert refused.status_code == 400
    assert 'id="f-siteType-error"' in refused.text and 'id="f-address-error"' in refused.text
    # a contract that does not cover the site is the domain's typed refusal
    counter = A + "/sites/a-counter"
    wrong = post(browser_client, counter, counter + "/profile", {
        "siteType": "tokutei", "address": "どこか", "contractId": "contract-a-npo"})
    assert wrong.status_code == 400 and "委託の場合は" in wrong.text
    post(browser_client, site, site + "/profile", {"siteType": "kihon", "address": "千代田区"})
    hours = post(browser_client, site, site + "/hours", {
        "opens.mon": "9時", "closes.mon": "17:00", "opens.tue": "12:00",
        "closes.tue": "11:00", "opens.fri": "09:00"})
    assert hours.status_code == 400
    for field in ("f-opens-mon", "f-closes-tue", "f-closes-fri"):
        assert f'id="{field}-error"' in hours.text, field
    assert "月曜日 開所：" in hours.text and "火曜日 閉所：" in hours.text
    assert 'value="9時"' in hours.text  # kept
    special = post(browser_client, site, site + "/exceptions", {
        "on": "", "exceptionKind": "special_opening"})
    assert special.status_code == 400
    for field in ("on", "exceptionOpens", "exceptionCloses"):
        assert f'id="f-{field}-error"' in special.text, field
    assert browser_client.get(A + "/sites/nowhere").status_code in (403, 404)  # the API's own


# --------------------------------------------------------------------------- agencies, directory, themes


def test_agencies_are_listed_and_registering_one_is_the_supervisors(console_world, browser_client) -> None:  # noqa: ANN001
    from yorisoi.services.context import ActingContext, acting_as

    seed = ActingContext(user_id="seed", role="municipal_supervisor",
                         organisation_kind="municipality", organisation_id=CITY_A)
    with console_world.services.runtimes.lease(CITY_A) as rt, acting_as(seed):
        rt.casework.register_agency(municipality_code=CITY_A, name="千代田区 保健センター",
                                    kind="health_center", on_system=False,
                                    contact_email="hoken@example.jp",
                                    confidentiality_basis="public_servant")
        rt.catch_up()
    admin(browser_client)
    page = browser_client.get(A + "/agencies")
    assert "千代田区 保健センター" in page.text and "リンクで受け取る" in page.text
    _no_ids(page.text)
    # the API lets only case managers register agencies ("case.manage"): the page says so
    assert "市町村の監督職員が行います" in page.text
    refused = post(browser_client, A + "/agencies", A + "/agencies", {
        "name": "子ども発達センター", "kind": "child_development_center", "onSystem": "on"})
    assert refused.status_code == 403


def test_directory_entry_register_edit_verify_publish(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    saved = post(browser_client, A + "/resources/new", A + "/resources/new", {
        "name": "みどり保育園", "reading": "みどりほいくえん", "kind": "education_childcare",
        "subkind": "education_childcare:nursery", "address": "千代田区1-1", "area": "九段",
        "operatorKind": "private", "form": "facility", "fee": "paid",
        "content": "一時預かりあり"})
    assert saved.status_code == 303, saved.text
    url = saved.headers["location"].split("?")[0]
    page = browser_client.get(url)
    assert "みどり保育園" in page.text and "保育所" in page.text and "非公開" in page.text
    _no_ids(page.text)
    published = post(browser_client, url, url + "/publication", {"publish": "1"})
    assert published.status_code == 303, published.text
    assert "公開中" in browser_client.get(url).text
    verified = post(browser_client, url, url + "/verify", {"verifiedOn": TODAY.isoformat()})
    assert verified.status_code == 303, verified.text
    page = browser_client.get(url)
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    edited = post(browser_client, url, url + "/edit", {
        "version": version, "name": "みどり保育園 分園", "reading": "ミドリホイクエン",
        "kind": "education_childcare", "subkind": "", "operatorKind": "private",
        "form": "facility", "fee": "paid"})
    assert edited.status_code == 303, edited.text
    listing = browser_client.get(A + "/resources")
    assert "みどり保育園 分園" in listing.text and "公開中" in listing.text
    _no_ids(listing.text)
    hidden = post(browser_client, url, url + "/publication", {"publish": "0"})
    assert hidden.status_code == 303
    assert "非公開" in browser_client.get(url).text


def test_directory_forms_show_every_error_at_once(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    refused = post(browser_client, A + "/resources/new", A + "/resources/new", {
        "name": "", "reading": "midori", "kind": "", "subkind": "medical:clinic",
        "operatorKind": "public", "form": "facility", "fee": "free", "content": "あ" * 5000})
    assert refused.status_code == 400
    for field in ("name", "reading", "kind", "subkind", "content"):
        assert f'id="f-{field}-error"' in refused.text, field
    saved = post(browser_client, A + "/resources/new", A + "/resources/new", {
        "name": "ひだまり広場", "kind": "local_support", "operatorKind": "npo",
        "form": "facility", "fee": "free"})
    url = saved.headers["location"].split("?")[0]
    verify = post(browser_client, url, url + "/verify", {"verifiedOn": "昨日"})
    assert verify.status_code == 400 and 'id="f-verifiedOn-error"' in verify.text
    stale = post(browser_client, url, url + "/edit", {
        "version": "99", "name": "ひだまり広場", "kind": "local_support",
        "operatorKind": "npo", "form": "facility", "fee": "free"})
    assert stale.status_code == 400 and 'class="error-summary"' in stale.text


def test_themes_add_and_retire(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    page = browser_client.get(A + "/themes")
    assert "国の分類" in page.text
    added = post(browser_client, A + "/themes", A + "/themes", {
        "code": "foreign_families", "labelJa": "外国につながる家庭", "labelEn": "Families abroad"})
    assert added.status_code == 303, added.text
    page = browser_client.get(A + "/themes?saved=added")
    assert "外国につながる家庭" in page.text and "本自治体の分類" in page.text
    _no_ids(page.text)
    assert "foreign_families" not in _visible(page.text)
    retired = post(browser_client, A + "/themes", A + "/themes/retire", {"code": "foreign_families"})
    assert retired.status_code == 303, retired.text
    assert "廃止" in browser_client.get(A + "/themes").text
    refused = post(browser_client, A + "/themes", A + "/themes", {
        "code": "Bad Code", "labelJa": "", "labelEn": "x" * 51})
    assert refused.status_code == 400
    for field in ("code", "labelJa", "labelEn"):
        assert f'id="f-{field}-error"' in refused.text, field
    twice = post(browser_client, A + "/themes", A + "/themes", {
        "code": "foreign_families", "labelJa": "もう一度"})
    assert twice.status_code == 400 and "同じコードの分類" in twice.text


def test_a_directory_entry_becomes_a_referral_recipient(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    saved = post(browser_client, A + "/resources/new", A + "/resources/new", {
        "name": "子ども発達相談室", "kind": "health_welfare", "operatorKind": "public",
        "form": "facility", "fee": "free"})
    url = saved.headers["location"].split("?")[0]
    refused = post(browser_client, url, url + "/referrals", {
        "agencyKind": "", "contactEmail": "", "confidentialityBasis": "nope"})
    assert refused.status_code == 400
    for field in ("agencyKind", "contactEmail", "confidentialityBasis"):
        assert f'id="f-{field}-error"' in refused.text, field
    accepted = post(browser_client, url, url + "/referrals", {
        "agencyKind": "child_development_center", "contactEmail": "hattatsu@example.jp",
        "confidentialityBasis": "public_servant"})
    assert accepted.status_code == 303, accepted.text
    page = browser_client.get(url)
    assert "児童発達支援センター" in page.text or "リンクで受け取る" in page.text
    agencies = browser_client.get(A + "/agencies")
    assert "子ども発達相談室" in agencies.text  # an agency standing for the entry
    _no_ids(agencies.text)


def test_a_form_saved_twice_answers_the_first_save(console_world, browser_client) -> None:  # noqa: ANN001
    admin(browser_client)
    page = browser_client.get(A + "/staff/new")
    once = re.search(r'name="once" value="([^"]+)"', page.text).group(1)
    data = {"csrf": csrf_of(page.text), "once": once, "displayName": "架空 四郎",
            "subject": "person-4", "organisationId": CITY_A, "roles": ["specialist"]}
    first = browser_client.post(A + "/staff/new", data=data)
    again = browser_client.post(A + "/staff/new", data=data)
    assert first.status_code == again.status_code == 303, again.text
    assert first.headers["location"] == again.headers["location"]
    page = browser_client.get(A + "/resources/new")
    once = re.search(r'name="once" value="([^"]+)"', page.text).group(1)
    data = {"csrf": csrf_of(page.text), "once": once, "name": "ひろば", "kind": "local_support",
            "operatorKind": "npo", "form": "facility", "fee": "free"}
    first = browser_client.post(A + "/resources/new", data=data)
    again = browser_client.post(A + "/resources/new", data=data)
    assert first.status_code == again.status_code == 303, again.text
    assert first.headers["location"] == again.headers["location"]
    assert browser_client.get(A + "/resources").text.count(">ひろば</a>") == 1
