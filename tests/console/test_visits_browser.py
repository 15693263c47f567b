"""An outreach visit in headless Chromium: planned from the case page, recorded as done with
the consultation held on it, the follow-up in my tasks (every page checked by axe-core)."""

from __future__ import annotations

from datetime import timedelta

from test_browser import sign_in
from world import CITY_A, NPO, consultation_command

from yorisoi.infra.clock import japan_today
from yorisoi.services.context import ActingContext, acting_as

PURPOSE = "産後の様子を伺う（架空）"
SUMMARY = "授乳の悩みを伺った（架空）"


def _family(world) -> str:
    staff = ActingContext(user_id="npo-staff-1", role="specialist", organisation_kind="contractor",
                          organisation_id=NPO, contract_id="contract-a-npo", site_id="a-hiroba")
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        recorded = rt.casework.record_consultation(consultation_command())
        rt.catch_up()
    return str(recorded.case_id)


def test_plan_a_home_visit_and_record_it_done(live_console, chromium) -> None:
    base = live_console.url
    case_id = _family(live_console.world)
    page = sign_in(chromium, base, "委託事業者", NPO, "npo-staff-1", "specialist", "a-hiroba")
    page.goto(f"{base}/console/m/{CITY_A}/cases/{case_id}")
    page.get_by_role("link", name="訪問を予定", exact=True).click()

    today = japan_today()
    page.get_by_label("訪問の種類").select_option("home_visit")
    page.get_by_label("訪問予定日").fill(f"令和{today.year - 2018}年{today.month}月{today.day}日")
    page.get_by_label("開始時刻").fill("10:00")
    page.get_by_label("終了時刻").fill("09:00")  # before the start: refused, the text kept
    page.locator("#f-place").select_option("home")
    page.get_by_label("訪問の目的").fill(PURPOSE)
    page.get_by_role("button", name="予定を登録する").click()
    assert page.locator("#f-endsAt-error").is_visible()
    assert page.get_by_label("訪問の目的").input_value() == PURPOSE
    page.get_by_label("終了時刻").fill("11:00")
    page.get_by_role("button", name="予定を登録する").click()
    assert "保存しました" in page.content()
    assert PURPOSE in page.content()
    visit_url = page.url

    page.get_by_role("link", name="わたしのタスク").click()
    assert PURPOSE in page.content()

    page.goto(visit_url)
    page.get_by_role("link", name="訪問の結果を記録する").click()
    page.locator("#f-outcome").select_option("consulted")
    page.get_by_label("訪問の記録（概要）").fill(SUMMARY)
    page.locator("#f-nextStep").select_option("revisit")
    page.get_by_label("次回対応日").fill((today + timedelta(days=14)).isoformat())
    page.get_by_label("日常の育児の悩み").check()
    page.get_by_label("相談内容（主訴）").fill("授乳がうまくいかない（架空）")
    page.get_by_role("button", name="保存する").click()
    assert "保存しました" in page.content()
    assert "実施済み" in page.content() and SUMMARY in page.content()

    page.get_by_role("link", name="わたしのタスク").click()
    assert "訪問後の次回対応" in page.content()
    page.goto(f"{base}/console/m/{CITY_A}/cases/{case_id}")
    assert "訪問・アウトリーチ" in page.content()
    page.context.close()
