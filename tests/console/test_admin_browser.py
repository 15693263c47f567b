"""The municipal administrator in headless Chromium (Debian's package, driven by Playwright):
registers a staff member, assigns them to a site and grants them access — by names
throughout, keyboard-reachable forms, no id on any page on the way.
"""

from __future__ import annotations

import re
from typing import Any

from world import CITY_A

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NAME = "架空 さくら"


def _sign_in(browser: Any, base: str) -> Any:
    """A fresh browser context, signed in through the development issuer's page."""
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.goto(f"{base}/console/")
    assert page.url.startswith(f"{base}/console/login")
    page.get_by_label("市町村").check()
    page.get_by_label("組織のコード").fill(CITY_A)
    page.get_by_role("button", name="認証画面へ進む").click()
    assert "/dev-idp/" in page.url
    page.get_by_label("利用者ID").fill("a-admin")
    page.get_by_label("役割", exact=True).select_option("municipal_admin")
    page.get_by_role("button", name="この利用者でサインイン").click()
    assert page.url.startswith(f"{base}/console/m/"), page.url
    return page


def _main(page: Any) -> str:
    text = page.locator("main").inner_text()
    assert not UUID.search(text), UUID.search(text)
    for slug in ("a-hiroba", "npo-hidamari", "specialist", "dedicated", "new-staff-1"):
        assert slug not in text, slug
    return text


def test_an_administrator_registers_staff_assigns_a_site_and_grants_access(  # noqa: ANN201
        live_console, chromium) -> None:  # noqa: ANN001
    page = _sign_in(chromium, live_console.url)
    page.get_by_role("navigation").get_by_role("link", name="管理", exact=True).click()
    assert page.get_by_role("heading", level=1).inner_text() == "管理"

    # Register: a first submit with nothing typed shows every error at once.
    page.get_by_role("link", name="職員", exact=True).click()
    page.get_by_role("link", name="職員を登録する").click()
    page.get_by_role("button", name="職員を登録する").click()
    summary = page.locator("#error-summary")
    assert summary.locator("li").count() >= 2
    name = page.get_by_label("氏名（表示名）")
    assert name.get_attribute("aria-invalid") == "true"
    assert page.get_by_label("サインインID").get_attribute("aria-invalid") == "true"
    name.fill(NAME)
    page.get_by_label("サインインID").fill("new-staff-1")
    page.get_by_label("所属").select_option(label="千代田区")
    page.get_by_role("group", name="職種").get_by_label("利用者支援専門員").check()
    page.get_by_role("group", name="資格").get_by_label("保育士").check()
    page.get_by_role("button", name="職員を登録する").click()
    assert page.get_by_role("heading", level=1).inner_text() == NAME
    text = _main(page)
    assert "保存しました" in text and "千代田区" in text and "未提出" in text

    # Assign to a site by its name, 専任.
    assign = page.get_by_role("region", name="実施場所に配置する")
    assign.get_by_label("実施場所").select_option(label="ひろば")
    assign.get_by_label("専任・兼任").select_option(label="専任")
    assign.get_by_role("button", name="実施場所に配置する").click()
    assignments = page.get_by_role("region", name="配置", exact=True).inner_text()
    assert "ひろば" in assignments and "専任" in assignments and "配置中" in assignments
    _main(page)

    # The signed pledge (誓約書), uploaded from the page.
    pledge = page.get_by_role("region", name="誓約書を登録する")
    pledge.get_by_label("誓約書のファイル").set_input_files(
        files=[{"name": "誓約書.pdf", "mimeType": "application/pdf",
                "buffer": b"%PDF-1.4 signed pledge"}])
    pledge.get_by_role("button", name="誓約書を登録する").click()
    assert "提出済み" in _main(page)

    # Grant access: the person is picked by name, the site by name.
    page.get_by_role("navigation").get_by_role("link", name="管理", exact=True).click()
    page.get_by_role("link", name="アクセス権限").click()
    grant = page.get_by_role("region", name="権限を付与する")
    grant.get_by_label("職員").select_option(label=f"{NAME}（千代田区）")
    grant.get_by_label("役割").select_option(label="利用者支援専門員")
    grant.get_by_role("group", name="実施場所").get_by_label("ひろば").check()
    grant.get_by_label("理由").fill("４月からの配置")
    grant.get_by_role("button", name="権限を付与する").click()
    text = _main(page)
    assert "権限を付与しました" in text
    row = page.get_by_role("row").filter(has_text=NAME).inner_text()
    assert "利用者支援専門員" in row and "ひろば" in row and "有効" in row

    registry = live_console.world.services.directory.registry
    grants = [g for g in registry.access_grants(CITY_A) if g.subject == "new-staff-1"]
    assert [(g.role, g.site_ids, g.subject_tenant) for g in grants] == [
        ("specialist", ["a-hiroba"], CITY_A)]
    page.context.close()


def test_every_admin_page_and_a_refused_form_on_each_area(live_console, chromium) -> None:  # noqa: ANN001, ANN201
    """Each area's pages (checked by axe-core in conftest), and a form refused on each."""
    base = live_console.url
    page = _sign_in(chromium, base)
    admin = f"{base}/console/m/{CITY_A}/admin"
    for rest in ("/sites", "/agencies", "/resources", "/themes", "/grants", "/staff"):
        page.goto(admin + rest)
        _main(page)

    page.goto(admin + "/sites")
    page.get_by_role("link", name="窓口").click()
    profile = page.get_by_role("region", name="基本情報")
    profile.get_by_role("button", name="保存する").click()
    assert page.locator("#error-summary li").count() == 2  # type and address together
    page.get_by_label("事業類型").select_option(label="特定型")
    page.get_by_label("所在地").fill("千代田区九段南1-2-1")
    page.get_by_role("region", name="基本情報").get_by_role("button", name="保存する").click()
    assert "保存しました" in _main(page)
    hours = page.get_by_role("region", name="開所時間（毎週）")
    hours.get_by_label("月曜日 開所").fill("10:00")
    hours.get_by_label("月曜日 閉所").fill("09:00")
    hours.get_by_role("button", name="保存する").click()
    assert page.get_by_label("月曜日 閉所").get_attribute("aria-invalid") == "true"

    page.goto(admin + "/resources/new")
    page.get_by_role("button", name="社会資源を登録する").click()
    assert page.locator("#error-summary li").count() >= 2  # name and kind
    page.get_by_label("名称").fill("みどり保育園")
    page.get_by_label("よみがな").fill("みどりほいくえん")
    page.get_by_label("種別", exact=False).first.select_option(label="教育・保育施設")
    page.get_by_role("button", name="社会資源を登録する").click()
    assert page.get_by_role("heading", level=1).inner_text() == "みどり保育園"
    page.get_by_role("button", name="公開する").click()
    assert "公開中" in _main(page)

    page.goto(admin + "/themes")
    page.get_by_role("button", name="分類を追加する").click()
    assert page.get_by_label("名称（日本語）").get_attribute("aria-invalid") == "true"
    page.context.close()
