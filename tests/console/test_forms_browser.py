"""The consultation form in Chromium, as a person types (issue 16, item 3): a live counter
under each text, a row more for a second guardian, a date typed in 和暦, every error at
once on an empty submit, and 「保存しました」 once saved."""

from __future__ import annotations

import re
from typing import Any

from test_browser import sign_in
from world import CITY_A, NPO


def test_the_consultation_form_in_the_browser(live_console: Any, chromium: Any) -> None:
    page = sign_in(chromium, live_console.url, "委託事業者", NPO, "npo-staff-1", "specialist",
                   "a-hiroba")
    page.goto(f"{live_console.url}/console/m/{CITY_A}/cases/new")

    # An empty submit names every missing field at once.
    page.get_by_label("相談日").fill("")
    page.get_by_role("button", name="保存する").click()
    summary = page.locator("#error-summary").inner_text()
    for named in ("相談日：", "相談内容の分類：", "相談内容（主訴）：", "世帯："):
        assert named in summary, summary

    # The counter follows the typing.
    asked = page.get_by_label("相談内容（主訴）")
    asked.fill("ことばが遅い")
    assert page.locator("#f-asked-count").inner_text() == "6 / 4,000文字"

    page.get_by_label("実施場所").select_option("a-hiroba")
    page.get_by_label("相談日").fill("令和8年4月1日")
    page.get_by_label("発達").check()
    page.get_by_label("保護者1の氏名").fill("架空 花子")
    page.get_by_label("保護者1の続柄").fill("母")
    page.get_by_role("button", name="保護者を追加").click()
    page.get_by_label("保護者2の氏名").fill("架空 一郎")
    page.get_by_label("保護者2の続柄").fill("父")
    page.get_by_label("子ども1の氏名").fill("架空 たろう")
    page.get_by_label("子ども1の生年月日").fill("R6.5.1")
    page.get_by_label("同意した人").fill("架空 花子")
    page.get_by_label("続柄", exact=True).fill("母")
    page.get_by_label("同意日").fill("２０２６/４/１")
    page.get_by_role("button", name="保存する").click()

    assert re.search(r"/console/m/131016/cases/[0-9a-f-]{36}", page.url), page.url
    main = page.locator("main").inner_text()
    assert "保存しました。" in main
    assert "架空 一郎" in main and "令和6年5月1日" in main
    page.reload()
    assert "保存しました。" not in page.locator("main").inner_text()
    page.context.close()
