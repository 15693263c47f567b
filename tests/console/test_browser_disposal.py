"""Two-person disposal in headless Chromium: one officer proposes, another approves and runs
it, and the signed certificate is shown and downloaded (Debian's Chromium, Playwright).

The household is chosen from the due list by its reception number and site — never an id;
the proposer is told a second officer must approve and is offered no approve button.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

from records_steps import old_family, schedule
from test_browser import sign_in

from yorisoi.infra.certificates import verify_certificate
from yorisoi.infra.clock import japan_today


def test_two_officers_dispose_of_a_household_to_its_certificate(
        live_console, chromium) -> None:  # noqa: ANN001
    world = live_console.world
    family = old_family(world, guardian="廃棄 試子")
    schedule(world, years=1, two_person=True)
    base = live_console.url

    proposer = sign_in(chromium, base, "市町村", "131016", "a-proposer", "municipal_supervisor")
    proposer.get_by_role("link", name="記録管理").click()
    proposer.get_by_role("link", name="廃棄", exact=True).click()
    assert "二人制" in proposer.content()
    row = proposer.get_by_label(f"{family.number}", exact=False)
    assert row.is_checked()
    proposer.get_by_role("button", name="選んだ世帯の廃棄を起案する").click()
    assert proposer.get_by_role("status").first.inner_text().startswith("廃棄を起案しました")
    assert "承認は別の職員" in proposer.locator("#second-needed").inner_text()
    assert proposer.get_by_role("button", name="承認する").count() == 0
    batch_url = proposer.url.split("?")[0]

    approver = sign_in(chromium, base, "市町村", "131016", "a-approver", "municipal_supervisor")
    approver.goto(batch_url)
    assert "起案者" in approver.content() and "別の職員" in approver.content()
    approver.get_by_role("button", name="承認する").click()
    assert approver.get_by_role("status").first.inner_text() == "承認しました。"
    approver.get_by_role("button", name="廃棄を実行する").click()
    approver.wait_for_url("**/certificate?saved=completed", timeout=60_000)
    assert approver.get_by_role("heading", name="廃棄証明", exact=True).is_visible()
    assert "署名を確認しました" in approver.content()
    assert "廃棄 試子" not in approver.content()
    with approver.expect_download() as download_info:
        approver.get_by_role("link", name="署名付き証明書をダウンロード（JSON）").click()
    data = open(download_info.value.path(), "rb").read()  # noqa: SIM115 - read once
    verify_certificate(data, world.services.signer.public_pem)
    assert json.loads(data)
    assert "廃棄 試子".encode() not in data

    # The proposer sees the batch completed, by the other officer.
    proposer.goto(batch_url)
    assert "完了" in proposer.content()
    proposer.context.close()
    approver.context.close()


def test_an_officer_keeps_records_by_keyboard_and_mouse(
        live_console, chromium) -> None:  # noqa: ANN001
    """Holds, a disclosure request to its export, the schedule and the file register: every
    page is checked by axe-core (conftest) and shows numbers and names, never ids."""
    world = live_console.world
    family = old_family(world, guardian="記録 試子", closed_on=None,
                        opened_on=japan_today() - timedelta(days=30))
    page = sign_in(chromium, live_console.url, "市町村", "131016", "a-officer",
                   "municipal_supervisor")
    page.get_by_role("link", name="記録管理").click()

    page.get_by_role("link", name="保存の継続（ホールド）").click()
    page.get_by_label("受付番号または検索語").fill(family.number)
    page.get_by_role("button", name="探す").click()
    assert page.get_by_label(re.compile(re.escape(family.number))).is_checked()
    page.get_by_label("理由").select_option(label="訴訟・不服申立て")
    page.get_by_role("button", name="ホールドを設定").click()
    assert page.get_by_role("status").first.inner_text() == "ホールドを設定しました。"
    assert family.household_id not in page.locator("main").inner_text()

    page.get_by_role("link", name="記録管理に戻る").click()
    page.get_by_role("link", name="開示・訂正・利用停止の請求").click()
    page.get_by_role("link", name="請求を受け付ける").click()
    page.get_by_label("受付番号または検索語").fill(family.number)
    page.get_by_role("button", name="探す").click()
    page.get_by_label("請求の種類").select_option("disclosure")
    page.get_by_label("請求者").select_option("self")
    page.get_by_label("本人確認の方法").select_option("counter_photo_id")
    page.get_by_role("button", name="受け付ける").click()
    assert page.get_by_role("status").first.inner_text() == "請求を受け付けました。"
    assert "あと30日" in page.locator("main").inner_text()
    page.get_by_role("button", name="対応を開始する").click()
    page.get_by_role("button", name="開示用に出力する").click()
    assert page.get_by_role("heading", name="開示用の出力を作成しました").is_visible()
    link = page.get_by_role("link", name="開示文書を開く").get_attribute("href")
    document = page.request.get(live_console.url + link)
    assert document.ok
    assert "記録 試子" in document.text()  # the family's own records, for the family

    page.get_by_role("link", name="請求の一覧に戻る").click()
    assert family.number in page.locator("main").inner_text()
    page.get_by_role("link", name="記録管理に戻る").click()
    page.get_by_role("link", name="保存年限表").click()
    page.get_by_label("相談記録（ケースファイル）").select_option("10")
    page.get_by_role("button", name="この版を定める").click()
    assert page.get_by_role("status").first.inner_text() == "保存しました。"
    page.get_by_role("link", name="記録管理に戻る").click()
    page.get_by_role("link", name="個人情報ファイル簿").click()
    text = page.locator("main").inner_text()
    assert "受付番号" in text and "10年（ケースの終結" in text
    page.context.close()
