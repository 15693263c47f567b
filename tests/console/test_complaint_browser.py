"""A complaint end to end in headless Chromium, by the two complaint officers.

The NPO's complaint intake officer receives a complaint at its contracted site and
reports it to the resolution officer (§6(2)); the resolution officer opens it from
the board, records the discussion, the outcome and its report to the complainant,
has a summary naming the complainant refused, publishes an anonymised one and
closes the complaint; every step is on the complaint's own timeline.  A municipal
supervisor records a representative meeting (organisations, issues, counts by theme).
"""

from __future__ import annotations

import re

from test_browser import sign_in
from world import CITY_A, NPO

from yorisoi.infra.clock import japan_today

NAME, CONTACT = "架空 一郎", "090-1111-2222"
CONTENT = "面談の予約が三回続けて取り消された"
SUMMARY = "面談予約の取消しが続いたことへのご意見。予約の確認連絡を始めました。"


def test_intake_then_resolution_then_publication(live_console, chromium) -> None:  # noqa: ANN001
    base = live_console.url

    # The intake officer lands on the board and receives a complaint.
    page = sign_in(chromium, base, "委託事業者", NPO, "npo-intake", "complaint_intake_officer")
    page.set_default_timeout(60_000)
    assert page.url.endswith("/complaints")
    page.get_by_role("link", name="新しい苦情・要望を受け付ける").click()
    page.get_by_role("button", name="受け付ける").click()  # empty: every error at once
    summary = page.locator("#error-summary").inner_text()
    assert "苦情・要望の内容を記録してください。" in summary
    assert "申出人の氏名を記録するか、匿名として受け付けてください。" in summary
    page.get_by_label("実施場所").select_option(label="ひろば")
    page.get_by_label("受付方法").select_option("phone")
    page.get_by_label("申出人の氏名").fill(NAME)
    page.get_by_label("申出人の連絡先").fill(CONTACT)
    page.get_by_label("苦情・要望の内容").fill(CONTENT)
    page.get_by_role("button", name="受け付ける").click()
    assert re.search(r"/complaints/[0-9a-f-]{36}", page.url), page.url
    main = page.locator("main")
    assert "受け付けました。苦情解決責任者に報告してください。" in main.inner_text()
    assert re.search(r"令和\d+年\d+月\d+日（.）まで（あと7日）", main.inner_text())
    complaint_url = page.url.split("?")[0]

    page.get_by_role("button", name="苦情解決責任者に報告する").click()
    text = page.locator("main").inner_text()
    assert "苦情解決責任者への報告を記録しました。" in text
    assert "この段階の手続は担当の職員が行います。" in text
    assert page.get_by_role("button", name="話し合いを記録する").count() == 0
    page.context.close()

    # The resolution officer opens it from the board and takes the following steps.
    page = sign_in(chromium, base, "委託事業者", NPO, "npo-resolver",
                   "complaint_resolution_officer")
    page.set_default_timeout(60_000)
    column = page.get_by_role("region", name=re.compile("報告済み"))
    column.get_by_role("link", name=re.compile("苦情")).first.click()
    assert page.url.split("?")[0] == complaint_url
    assert page.get_by_role("button", name="苦情解決責任者に報告する").count() == 0

    page.get_by_label("話し合いの内容").fill("予約の仕組みを説明し、確認の連絡を約束した")
    page.get_by_role("button", name="話し合いを記録する").click()
    assert "話し合いを記録しました。" in page.locator("main").inner_text()

    page.locator("#f-outcome").select_option("resolved")
    page.get_by_label("結果の内容").fill("予約の前日に確認の電話を入れることにした")
    page.get_by_role("button", name="結果を記録する").click()
    assert "結果を記録しました。" in page.locator("main").inner_text()

    page.get_by_label("報告方法").select_option("phone")
    page.get_by_role("button", name="結果を申出人に報告する").click()
    assert "結果の報告を記録しました。" in page.locator("main").inner_text()

    # A summary naming the complainant is refused, next to the field, the text kept.
    page.get_by_label("公表する要旨").fill(f"{NAME}様からの予約に関するご意見")
    page.get_by_role("button", name="要旨を公表する").click()
    field = page.get_by_label("公表する要旨")
    assert field.get_attribute("aria-invalid") == "true"
    error_id = next(i for i in (field.get_attribute("aria-describedby") or "").split()
                    if i.endswith("-error"))
    assert page.locator(f"#{error_id}").inner_text() == (
        "公表する要旨に申出人・家族の氏名または連絡先が含まれています。")
    assert field.input_value() == f"{NAME}様からの予約に関するご意見"
    field.fill(SUMMARY)
    page.get_by_role("button", name="要旨を公表する").click()
    assert "要旨を公表しました。" in page.locator("main").inner_text()

    page.get_by_role("button", name="完結する").click()
    text = page.locator("main").inner_text()
    assert "完結しました。" in text

    timeline = page.get_by_role("region", name="経過").inner_text()
    steps = ["受付", "苦情解決責任者への報告", "話し合い", "結果の記録", "申出人への結果報告",
             "要旨の公表", "完結"]
    found = [timeline.index(step) for step in steps]
    assert found == sorted(found), timeline
    assert "苦情受付担当者" in timeline and "苦情解決責任者" in timeline
    assert SUMMARY in timeline and NAME not in timeline and CONTACT not in timeline
    page.get_by_role("link", name="苦情・要望の一覧に戻る").click()
    assert page.get_by_role("region", name=re.compile("完結")).get_by_role("link").count() == 1
    page.context.close()


def test_a_supervisor_records_a_representative_meeting(
        live_console, chromium) -> None:  # noqa: ANN001
    page = sign_in(chromium, live_console.url, "市町村", CITY_A, "a-supervisor",
                   "municipal_supervisor")
    page.set_default_timeout(60_000)
    page.get_by_role("link", name="代表者会議").click()
    assert "記録された代表者会議はありません。" in page.locator("main").inner_text()
    form = page.get_by_role("region", name="代表者会議を記録する")
    form.get_by_label("出席機関1の名称").fill("千代田区 保健センター")
    form.get_by_role("button", name="記録する").click()  # the kind is missing
    kind = page.get_by_label("出席機関1の種別")
    assert kind.get_attribute("aria-invalid") == "true"
    assert page.get_by_label("出席機関1の名称").input_value() == "千代田区 保健センター"
    kind.select_option("health_center")
    page.get_by_label("出席機関2の名称").fill("NPO法人 ひだまり")
    page.get_by_label("出席機関2の種別").select_option("npo")
    page.get_by_label("地域の課題").fill("夜間の相談先が少ない\n転入世帯の孤立")
    page.get_by_label("開発が必要な社会資源").fill("夜間の電話相談")
    page.get_by_label("件数の集計期間（開始）").fill("2020-04-01")
    page.get_by_label("件数の集計期間（終了）").fill(japan_today().isoformat())
    page.get_by_role("button", name="記録する").click()
    text = page.locator("main").inner_text()
    assert "代表者会議を記録しました。" in text
    assert "千代田区 保健センター（保健センター）" in text and "転入世帯の孤立" in text
    assert "相談テーマ別の件数（令和2年4月1日" in text
    page.context.close()
