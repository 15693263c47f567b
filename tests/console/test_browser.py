"""The console end to end in headless Chromium (Debian's package, driven by Playwright).

A specialist of a contractor records a consultation with the family's consent,
records a consent to share, drafts and sends a referral with chosen fields and
plans a follow-up that becomes a task; a user of another municipality cannot
reach the case; a compliance auditor reads its history without its personal values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from world import CITY_A, CITY_B, NPO

from yorisoi.infra.clock import japan_today

GUARDIAN, CHILD = "架空 花子", "架空 たろう"
ASKED = "二歳の子のことばが遅いのが心配"
PERSONAL_VALUES = (GUARDIAN, CHILD, ASKED, "ことばが遅い")


def sign_in(browser: Any, base: str, kind_label: str, org: str, subject: str, role: str,
            sites: str = "") -> Any:
    """A fresh browser context, signed in through the development issuer's page."""
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.goto(f"{base}/console/")
    assert page.url.startswith(f"{base}/console/login")
    page.get_by_label(kind_label).check()
    page.get_by_label("組織のコード").fill(org)
    page.get_by_role("button", name="認証画面へ進む").click()
    assert "/dev-idp/" in page.url
    page.get_by_label("利用者ID").fill(subject)
    page.get_by_label("役割", exact=True).select_option(role)
    page.get_by_label("担当する実施場所").fill(sites)
    page.get_by_role("button", name="この利用者でサインイン").click()
    assert page.url.startswith(f"{base}/console/m/"), page.url
    return page


@dataclass
class Story:
    case_url: str
    case_id: str


@pytest.fixture(scope="module")
def story(live_console, chromium) -> Story:  # noqa: ANN001
    """The specialist's morning, checked step by step."""
    base = live_console.url
    page = sign_in(chromium, base, "委託事業者", NPO, "npo-staff-1", "specialist", "a-hiroba")
    today = japan_today()

    # Keyboard first: the first Tab lands on the skip link.  (After the sign-in
    # redirects a loaded machine may leave the window unfocused: focus it first.)
    page.wait_for_load_state("load")
    page.bring_to_front()
    page.evaluate("window.focus(); document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "本文へ移動"

    page.get_by_role("link", name="ケース一覧").click()
    page.get_by_role("link", name="新しい相談を記録（新規ケース）").click()
    page.get_by_label("実施場所").select_option("a-hiroba")
    page.get_by_label("発達").check()
    page.get_by_label("保護者1の氏名").fill(GUARDIAN)
    page.get_by_label("子ども1の氏名").fill(CHILD)
    page.get_by_label("子ども1の生年月日").fill("2024-05-01")
    page.get_by_label("相談内容（主訴）").fill(ASKED)
    page.get_by_label("同意した人").fill(GUARDIAN)
    page.get_by_label("続柄", exact=True).fill("母")
    page.get_by_label("同意の範囲").fill("相談記録の作成")
    page.get_by_role("button", name="保存する").click()

    # The guardian's relationship was left out: the error sits next to its field.
    relationship = page.get_by_label("保護者1の続柄")
    described = relationship.get_attribute("aria-describedby") or ""
    error_id = next(i for i in described.split() if i.endswith("-error"))
    assert page.locator(f"#{error_id}").inner_text() == "必須項目です。"
    assert relationship.get_attribute("aria-invalid") == "true"
    assert page.get_by_label("保護者1の氏名").input_value() == GUARDIAN  # nothing retyped
    relationship.fill("母")
    page.get_by_role("button", name="保存する").click()

    assert re.search(r"/console/m/131016/cases/[0-9a-f-]{36}", page.url), page.url
    case_url = page.url.split("#")[0]
    main = page.locator("main")
    assert GUARDIAN in main.inner_text() and CHILD in main.inner_text()
    assert "記録の作成について同意あり" in main.inner_text()
    assert "令和6年5月1日" in main.inner_text()  # the child's birth date in 和暦

    # Consent to share with the health centre, then the referral with the chosen fields.
    page.get_by_role("link", name="同意を記録").click()
    page.get_by_label("目的").select_option("share")
    page.get_by_label("情報提供先の機関の種類（情報提供の同意の場合）").select_option("health_center")
    page.get_by_label("同意した人").fill(GUARDIAN)
    page.get_by_label("続柄").fill("母")
    page.get_by_role("button", name="保存する").click()
    assert "関係機関への情報提供（保健センター）" in page.locator("main").inner_text()

    page.get_by_role("link", name="つなぎ（紹介）を作成").click()
    page.get_by_label("つなぎ先の機関").select_option(label="千代田区 保健センター（保健センター）")
    page.get_by_role("textbox", name="つなぐ理由").fill("ことばの発達について保健師の相談を希望")
    page.get_by_label("保護者", exact=True).check()
    page.get_by_label("相談内容（主訴）").check()
    page.get_by_role("button", name="下書きを保存").click()
    assert "下書き" in page.locator("main").inner_text()
    page.get_by_role("button", name="送付する").click()
    text = page.locator("main").inner_text()
    assert "送付済み" in text and "保護者" in text and "相談内容（主訴）" in text

    for step, status in (("acknowledge", "受領確認済み"), ("accept", "受け入れ")):
        responded = page.get_by_role("region", name="機関の対応を記録")
        responded.get_by_label("対応").select_option(step)
        responded.get_by_role("button", name="保存する").click()
        assert page.locator("dl.facts").inner_text().find(status) >= 0
    page.get_by_label("予定日").fill((today + timedelta(days=7)).isoformat())
    page.get_by_role("region", name="見守りの予定を追加").get_by_role(
        "button", name="保存する").click()
    follow_ups = page.locator("main").inner_text()
    assert "保存しました。" in follow_ups
    assert "npo-staff-1" not in follow_ups  # the owner by name, never the sign-in id

    page.get_by_role("link", name="わたしのタスク").click()
    row = page.locator("tr", has_text="つなぎ後の見守り")
    assert row.count() >= 1
    case_id = case_url.rsplit("/", 1)[1]
    assert row.first.get_by_role("link").get_attribute("href").endswith(case_id)

    # English is one click away.
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", level=1).inner_text() == "My tasks"
    page.context.close()
    return Story(case_url=case_url, case_id=case_id)


def test_the_specialist_sees_the_follow_up_task_on_the_case(story, live_console,  # noqa: ANN001
                                                            chromium) -> None:  # noqa: ANN001
    page = sign_in(chromium, live_console.url, "委託事業者", NPO, "npo-staff-1", "specialist",
                   "a-hiroba")
    page.goto(story.case_url)
    timeline = page.locator("#timeline-h + p + table").inner_text()
    assert "相談" in timeline and "つなぎ作成" in timeline
    # The whole story: the consent to share, the referral's steps, the follow-up.
    for step in ("同意", "情報提供書の送付", "つなぎ先の受領確認", "つなぎ先の受入れ",
                 "フォローアップの予定"):
        assert step in timeline, step
    page.context.close()


def test_another_municipalitys_user_cannot_reach_the_case(story, live_console,  # noqa: ANN001
                                                          chromium) -> None:  # noqa: ANN001
    page = sign_in(chromium, live_console.url, "市町村", CITY_B, "b-staff", "specialist",
                   "b-hiroba")
    answer = page.goto(story.case_url)
    assert answer.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "アクセスできません"
    # In its own municipality the case does not exist at all.
    answer = page.goto(story.case_url.replace(f"/m/{CITY_A}/", f"/m/{CITY_B}/"))
    assert answer.status == 404
    for value in PERSONAL_VALUES:
        assert value not in page.content()
    page.context.close()


def test_a_compliance_auditor_sees_the_history_without_personal_values(  # noqa: ANN201
        story, live_console, chromium) -> None:  # noqa: ANN001
    page = sign_in(chromium, live_console.url, "市町村", CITY_A, "a-auditor",
                   "compliance_auditor")
    assert page.url.endswith(f"/console/m/{CITY_A}/audit")
    # The case is found by its reception number (受付番号), never by typing its id.
    import uuid

    with live_console.world.services.runtimes.lease(CITY_A) as rt:
        number = rt.casework.repository.get(uuid.UUID(story.case_id)).reception_number
    page.get_by_label("受付番号または検索語").fill(number)
    page.get_by_role("button", name="探す").click()
    page.get_by_role("link", name=re.compile(re.escape(number))).click()
    text = page.locator("main").inner_text()
    for kind in ("ケース開始", "相談", "つなぎ作成"):
        assert kind in text
    assert "npo-staff-1" not in text  # who changed and who viewed: by name, never the id
    assert "保護者" in text and "guardians" not in text  # fields read: names in Japanese only
    for value in PERSONAL_VALUES:
        assert value not in page.content()
    # The case page itself shows the auditor no personal values either.
    page.goto(story.case_url)
    assert "閲覧権限がないため表示しません" in page.locator("main").inner_text()
    for value in PERSONAL_VALUES:
        assert value not in page.content()
    page.context.close()
