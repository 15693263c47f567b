"""Two-person disposal in headless Chromium: one officer proposes, another approves and runs
it, and the signed certificate is shown and downloaded (Debian's Chromium, Playwright).

The household is chosen from the due list by its reception number and site — never an id;
the proposer is told a second officer must approve and is offered no approve button.
"""

from __future__ import annotations

import json

from records_steps import old_family, schedule
from test_browser import sign_in

from yorisoi.infra.certificates import verify_certificate


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
