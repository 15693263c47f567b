"""Records management in the console (TestClient): retention schedules, holds, two-person
disposal to its certificate, data-subject requests, the file register, the auditor's lookup.

Households are found by reception number (受付番号) or search and never typed as ids;
the pages show names and numbers, never a household's UUID.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from console_steps import csrf_of, sign_in
from records_steps import RECORDS_OFFICER, old_family, officer, schedule
from world import CITY_A, CITY_B

from yorisoi.infra.certificates import verify_certificate
from yorisoi.infra.clock import japan_today
from yorisoi.services.context import acting_as

R = f"/console/m/{CITY_A}/records"
D = f"/console/m/{CITY_A}/dsr"
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _visible_text(html: str) -> str:
    """What a person reads: the page without its tags, attributes and hidden fields."""
    main = re.search(r"<main[^>]*>(.*)</main>", html, flags=re.S)
    body = main.group(1) if main else html  # the header's sign-in label is the shell's
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def _post(client, page_url: str, action: str, **data: str):  # noqa: ANN001, ANN202
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={"csrf": csrf_of(page.text), "once": "", **data})


# --------------------------------------------------------------------------- access


def test_records_pages_are_for_records_officers_only(
        console_world, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "contractor", "npo-hidamari", "npo-staff-1", "specialist",
            ("a-hiroba",))
    tasks = browser_client.get(f"/console/m/{CITY_A}/tasks")
    assert "記録管理" not in tasks.text
    for url in (R, R + "/retention", R + "/holds", R + "/disposal", R + "/file-register", D):
        refused = browser_client.get(url)
        assert refused.status_code == 403, url
        assert "記録管理" not in refused.text


def test_another_municipality_is_out_of_reach(
        console_world, browser_client) -> None:  # noqa: ANN001
    officer(browser_client)
    assert browser_client.get(R).status_code == 200
    assert "記録管理" in browser_client.get(R).text  # the navigation entry
    assert browser_client.get(f"/console/m/{CITY_B}/records").status_code == 403
    assert browser_client.get(f"/console/m/{CITY_B}/dsr").status_code == 403


# --------------------------------------------------------------------------- retention


def test_a_retention_schedule_version_is_added_never_retroactively(
        console_world, browser_client) -> None:  # noqa: ANN001
    officer(browser_client)
    page = browser_client.get(R + "/retention")
    assert "保存年限表がまだ定められていません" in page.text
    assert '<label for="f-years-consultation_file">相談記録（ケースファイル）' in page.text
    assert "consultation_file" not in _visible_text(page.text)
    token = csrf_of(page.text)
    yesterday = (japan_today() - timedelta(days=1)).isoformat()
    years = {"years.consultation_file": "5", "years.referral": "5",
             "years.meeting_minutes": "10", "years.consent_form": "5",
             "years.complaint": "permanent", "years.access_log": "3"}
    # Every error at once: a date in words that is no date, and a class left unchosen.
    refused = browser_client.post(R + "/retention", data={
        "csrf": token, "effective_from": "いつか", **{**years, "years.referral": ""},
        "two_person": "1"})
    assert refused.status_code == 400
    assert "日付の形式が正しくありません" in refused.text
    assert "保存年限を選んでください" in refused.text
    assert 'id="f-effective_from-error"' in refused.text
    past = browser_client.post(R + "/retention", data={
        "csrf": token, "effective_from": yesterday, **years, "two_person": "1"})
    assert past.status_code == 400
    assert "保存年限表がまだ" in past.text  # nothing was saved
    # 令和 dates are accepted as typed.
    today = japan_today()
    reiwa = f"令和{today.year - 2018}年{today.month}月{today.day}日"
    saved = browser_client.post(R + "/retention", data={
        "csrf": token, "effective_from": reiwa, **years, "two_person": "1"})
    assert saved.status_code == 303, saved.text
    shown = browser_client.get(saved.headers["location"])
    assert "保存しました" in shown.text
    assert "第1版" in shown.text and "ケース会議録" in shown.text and "10年" in shown.text
    assert "永年" in shown.text and "二人制" in shown.text
    assert "あなた" in shown.text  # who set it, by name, never the id
    assert "a-supervisor" not in _visible_text(shown.text)
    assert "適用中" in shown.text
    # A later version is scheduled, never retroactive: today's stays in effect.
    later = (japan_today() + timedelta(days=30)).isoformat()
    scheduled = browser_client.post(R + "/retention", data={
        "csrf": token, "effective_from": later, **years, "years.access_log": "5"})
    assert scheduled.status_code == 303
    shown = browser_client.get(scheduled.headers["location"])
    assert "第2版" in shown.text and "適用予定" in shown.text
    assert "現在適用中: 第1版" in shown.text


# --------------------------------------------------------------------------- holds


def test_a_hold_is_placed_on_a_household_found_by_reception_number_and_released(
        console_world, browser_client) -> None:  # noqa: ANN001
    family = old_family(console_world)
    officer(browser_client)
    missing = _post(browser_client, R + "/holds", R + "/holds/find", q="R1-999999")
    assert missing.status_code == 400
    assert "該当する世帯が見つかりません" in missing.text
    # Typed as people type it: full-width digits, a 令和 prefix.
    era, sequence = family.number[1:].split("-")
    typed = f"令和{era}年度－" + sequence.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    found = _post(browser_client, R + "/holds", R + "/holds/find", q=typed)
    assert found.status_code == 200, found.text
    assert family.number in found.text and "窓口" in found.text
    assert f'value="{family.household_id}"' in found.text  # chosen, never typed
    token = csrf_of(found.text)
    refused = browser_client.post(R + "/holds", data={
        "csrf": token, "q": typed, "household": family.household_id, "reason": "",
        "starts_on": "2026-13-01"})
    assert refused.status_code == 400
    assert "理由を選んでください" in refused.text and "日付の形式が正しくありません" in refused.text
    placed = browser_client.post(R + "/holds", data={
        "csrf": token, "q": typed, "household": family.household_id,
        "reason": "litigation", "starts_on": japan_today().isoformat()})
    assert placed.status_code == 303, placed.text
    listed = browser_client.get(placed.headers["location"])
    assert "ホールドを設定しました" in listed.text
    assert "訴訟・不服申立て" in listed.text and family.number in listed.text
    assert "有効" in listed.text
    assert family.household_id not in _visible_text(listed.text)
    release = re.search(r'action="(/console/m/131016/records/holds/[^"]+/release)"', listed.text)
    assert release
    released = browser_client.post(release.group(1), data={
        "csrf": csrf_of(listed.text), "released_on": japan_today().isoformat()})
    assert released.status_code == 303
    after = browser_client.get(released.headers["location"]).text
    assert "ホールドを解除しました" in after and "解除（あなた" in after


# --------------------------------------------------------------------------- disposal


def test_disposal_needs_a_second_officer_and_ends_in_a_verified_certificate(
        console_world, app) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    family = old_family(console_world)
    schedule(console_world, years=1, two_person=True)
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as first, \
            TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as second:
        officer(first, "a-proposer")
        due = first.get(R + "/disposal")
        assert due.status_code == 200
        assert family.number in due.text and "二人制" in due.text
        empty = first.post(R + "/disposal", data={"csrf": csrf_of(due.text)})
        assert empty.status_code == 400 and "1件以上選んでください" in empty.text
        proposed = first.post(R + "/disposal", data={"csrf": csrf_of(due.text),
                                                      "households": family.household_id})
        assert proposed.status_code == 303, proposed.text
        batch_url = proposed.headers["location"].split("?")[0]
        mine = first.get(proposed.headers["location"])
        assert "廃棄を起案しました" in mine.text
        assert "承認は別の職員" in mine.text and "/approve" not in mine.text
        # The proposer cannot approve, even by posting the form.
        approve = first.post(batch_url + "/approve", data={"csrf": csrf_of(mine.text)})
        assert approve.status_code == 400
        assert "起案者以外の職員が行う必要があります" in approve.text

        officer(second, "a-approver")
        theirs = second.get(batch_url)
        assert "別の職員" in theirs.text  # the proposer, named without an id
        assert "a-proposer" not in _visible_text(theirs.text)
        approved = second.post(batch_url + "/approve", data={"csrf": csrf_of(theirs.text)})
        assert approved.status_code == 303
        page = second.get(approved.headers["location"])
        assert "承認しました" in page.text and "廃棄を実行する" in page.text
        ran = second.post(batch_url + "/run", data={"csrf": csrf_of(page.text)})
        assert ran.status_code == 303, ran.text
        certificate = second.get(ran.headers["location"])
        assert certificate.status_code == 200
        assert "署名を確認しました" in certificate.text and "廃棄証明" in certificate.text
        text = _visible_text(certificate.text)
        assert "記録の種類別の廃棄件数" in text and "廃棄済みの世帯 1" in text
        assert "二人制" in text and "別の職員" in text and "あなた" in text
        assert not UUID_TEXT.search(text) and "a-proposer" not in text  # names, never ids
        printable = re.search(r'href="([^"]+/certificate/print)"', certificate.text)
        assert printable and second.get(printable.group(1)).status_code == 200
        download = second.get(batch_url + "/certificate.json")
        assert download.status_code == 200
        assert download.headers["content-disposition"].startswith("attachment")
        verify_certificate(download.content, console_world.services.signer.public_pem)
        body = json.loads(download.content)
        assert "旧例" not in download.text  # no personal data in the certificate
        assert body
        done = second.get(batch_url)
        assert "完了" in done.text and "廃棄済みの世帯 1" in done.text
        assert "廃棄の対象となる世帯はありません" in second.get(R + "/disposal").text


def test_a_held_household_is_not_due(console_world, browser_client) -> None:  # noqa: ANN001
    family = old_family(console_world)
    schedule(console_world, years=1)
    from uuid import UUID

    with console_world.services.runtimes.lease(CITY_A) as rt, acting_as(RECORDS_OFFICER):
        rt.casework.place_hold(household_id=UUID(family.household_id), reason="legal_hold",
                               owner=None, starts_on=japan_today(), ends_on=None)
        rt.catch_up()
    officer(browser_client)
    page = browser_client.get(R + "/disposal")
    assert family.number not in page.text
    assert "廃棄の対象となる世帯はありません" in page.text
    home = browser_client.get(R)
    assert "有効なホールド: 1件" in home.text and "廃棄の対象: 0世帯" in home.text


# --------------------------------------------------------------------------- data-subject requests


def _register(client, family, kind: str, received_on: str | None = None):  # noqa: ANN001, ANN202
    found = _post(client, D + "/new", D + "/find", q=family.number)
    assert found.status_code == 200, found.text
    return client.post(D, data={
        "csrf": csrf_of(found.text), "q": family.number, "household": family.household_id,
        "kind": kind, "requester_relationship": "self",
        "identification_method": "counter_photo_id",
        "received_on": received_on or japan_today().isoformat()})


def test_a_disclosure_request_is_registered_decided_and_exported(
        console_world, browser_client) -> None:  # noqa: ANN001
    family = old_family(console_world, closed_on=None,
                        opened_on=japan_today() - timedelta(days=20))
    officer(browser_client)
    form = browser_client.get(D + "/new")
    incomplete = _post(browser_client, D + "/new", D + "/find", q=family.number)
    refused = browser_client.post(D, data={"csrf": csrf_of(incomplete.text),
                                           "q": family.number, "received_on": "R8.13.40"})
    assert refused.status_code == 400
    for message in ("世帯を検索して選んでください", "選んでください", "日付の形式が正しくありません"):
        assert message in refused.text
    assert form.status_code == 200
    created = _register(browser_client, family, "disclosure")
    assert created.status_code == 303, created.text
    page = browser_client.get(created.headers["location"])
    assert "請求を受け付けました" in page.text
    assert "保有個人情報の開示請求" in page.text and family.number in page.text
    assert "あと30日" in page.text  # the statutory 30 days, in words
    assert "窓口で顔写真付き本人確認書類を提示" in page.text
    url = created.headers["location"].split("?")[0]
    started = browser_client.post(url + "/step/start", data={
        "csrf": csrf_of(page.text), "start_on": japan_today().isoformat()})
    assert started.status_code == 303
    page = browser_client.get(started.headers["location"])
    assert "対応中" in page.text
    exported = browser_client.post(url + "/export", data={"csrf": csrf_of(page.text)})
    assert exported.status_code == 200, exported.text
    assert "開示用の出力を作成しました" in exported.text
    link = re.search(r'href="(/disclosures/[^"]+)" id="export-html"', exported.text)
    assert link, exported.text
    document = browser_client.get(link.group(1))
    assert document.status_code == 200
    assert "旧例 洋子" in document.text  # the family's own record, for the family
    refused = browser_client.post(url + "/step/answer", data={
        "csrf": csrf_of(exported.text), "answer_on": japan_today().isoformat()})
    assert refused.status_code == 400 and "決定の内容を選んでください" in refused.text
    answered = browser_client.post(url + "/step/answer", data={
        "csrf": csrf_of(exported.text), "outcome": "disclosed",
        "answer_on": japan_today().isoformat()})
    assert answered.status_code == 303
    page = browser_client.get(answered.headers["location"])
    assert "全部開示" in page.text and "請求を完結する" in page.text
    closed = browser_client.post(url + "/step/close", data={
        "csrf": csrf_of(page.text), "close_on": japan_today().isoformat()})
    assert closed.status_code == 303
    assert "完結" in browser_client.get(closed.headers["location"]).text


def test_an_overdue_request_is_shown_in_japanese(
        console_world, browser_client) -> None:  # noqa: ANN001
    family = old_family(console_world, closed_on=None,
                        opened_on=japan_today() - timedelta(days=90))
    officer(browser_client)
    received = (japan_today() - timedelta(days=40)).isoformat()
    assert _register(browser_client, family, "suspension_of_use", received).status_code == 303
    listed = browser_client.get(D)
    assert "期限超過（" in listed.text and "決定期限を過ぎた請求が1件あります" in listed.text
    assert "保有個人情報の利用停止請求" in listed.text
    only = browser_client.get(D + "?overdue=1")
    assert family.number in only.text
    assert family.household_id not in _visible_text(listed.text)


def test_a_correction_request_corrects_the_household(
        console_world, browser_client) -> None:  # noqa: ANN001
    family = old_family(console_world, closed_on=None,
                        opened_on=japan_today() - timedelta(days=20))
    officer(browser_client)
    created = _register(browser_client, family, "correction")
    url = created.headers["location"].split("?")[0]
    page = browser_client.get(url)
    assert "世帯の構成員を訂正する" not in page.text  # not before handling starts
    started = browser_client.post(url + "/step/start", data={
        "csrf": csrf_of(page.text), "start_on": japan_today().isoformat()})
    assert started.status_code == 303
    assert "世帯の構成員を訂正する" in browser_client.get(url).text
    form = browser_client.get(url + "/correct-household")
    assert form.status_code == 200
    token = csrf_of(form.text)
    refused = browser_client.post(url + "/correct-household", data={
        "csrf": token, "household.guardians.0.name": "旧例 陽子",
        "household.children.0.name": "旧例 陽太", "household.children.0.birthDate": "いつか"})
    assert refused.status_code == 400
    assert "必須項目です" in refused.text and "日付の形式が正しくありません" in refused.text
    assert 'value="旧例 陽子"' in refused.text  # what was typed is kept
    saved = browser_client.post(url + "/correct-household", data={
        "csrf": token, "household.guardians.0.name": "旧例 陽子",
        "household.guardians.0.relationship": "母",
        "household.children.0.name": "旧例 陽太", "household.children.0.birthDate": "H29.9.1",
        "reason": "本人からの訂正請求（氏名の誤記）"})
    assert saved.status_code == 303, saved.text
    page = browser_client.get(saved.headers["location"])
    assert "訂正を保存しました" in page.text and "世帯の構成員" in page.text
    with console_world.services.runtimes.lease(CITY_A) as rt:
        from uuid import UUID

        household = rt.casework.repository.get(UUID(family.household_id))
    assert household.guardians[0].name == "旧例 陽子"

    # A consultation of the household, chosen by its number and date, corrected in one save.
    choices = browser_client.get(url + "/correct-consultation")
    assert choices.status_code == 200 and family.number in choices.text
    link = re.search(r'href="(/console/m/131016/dsr/[^"]+/correct-consultation/[^"]+)"',
                     choices.text)
    assert link
    form = browser_client.get(link.group(1))
    assert "相談内容（主訴）" in form.text and "asked" not in _visible_text(form.text)
    token = csrf_of(form.text)
    fields = dict(re.findall(r'<textarea id="[^"]+" name="([a-z_]+)"[^>]*>([^<]*)</textarea>',
                             form.text))
    refused = browser_client.post(link.group(1), data={
        "csrf": token, "readable": "1", **fields, "asked": "", "reason": ""})
    assert refused.status_code == 400
    assert "必須項目です" in refused.text  # the reason, with the request's own text kept
    corrected = browser_client.post(link.group(1), data={
        "csrf": token, "readable": "1", **fields, "asked": "保育園の入園手続について（訂正）",
        "reason": "本人からの訂正請求"})
    assert corrected.status_code == 303, corrected.text
    page = browser_client.get(corrected.headers["location"]).text
    assert "相談記録：1項目を訂正" in page


def test_a_disclosure_request_has_no_correction_form(
        console_world, browser_client) -> None:  # noqa: ANN001
    family = old_family(console_world, closed_on=None,
                        opened_on=japan_today() - timedelta(days=20))
    officer(browser_client)
    url = _register(browser_client, family, "disclosure").headers["location"].split("?")[0]
    assert browser_client.get(url + "/correct-household").status_code == 404
    assert browser_client.get(D + "/not-a-request").status_code == 404


# --------------------------------------------------------------------------- file register


def test_the_file_register_names_every_item_in_japanese(
        console_world, browser_client) -> None:  # noqa: ANN001
    officer(browser_client)
    page = browser_client.get(R + "/file-register")
    assert page.status_code == 200
    assert "個人情報ファイル簿" in page.text and "利用者支援事業 相談・支援記録ファイル" in page.text
    assert "受付番号" in page.text and "訂正した項目" in page.text
    items = re.findall(r"<td>([^<]*（※）[^<]*|[^<]*、[^<]*)</td>", page.text)
    assert items
    for cell in items:
        assert not re.search(r"[a-z]+_[a-z_]+|\bfields\b", cell), cell


# --------------------------------------------------------------------------- the auditor


def test_the_auditor_finds_a_record_by_reception_number(
        console_world, browser_client) -> None:  # noqa: ANN001
    family = old_family(console_world, closed_on=None,
                        opened_on=japan_today() - timedelta(days=20))
    sign_in(browser_client, "municipality", CITY_A, "a-auditor", "compliance_auditor")
    home = browser_client.get(f"/console/m/{CITY_A}/audit")
    assert 'name="id"' not in home.text  # no id to type
    empty = browser_client.post(f"/console/m/{CITY_A}/audit/find",
                                data={"csrf": csrf_of(home.text), "q": ""})
    assert empty.status_code == 400 and "受付番号または検索語を入力してください" in empty.text
    found = browser_client.post(f"/console/m/{CITY_A}/audit/find",
                                data={"csrf": csrf_of(home.text), "q": family.number})
    assert found.status_code == 200, found.text
    assert "旧例" not in found.text  # masked reading: numbers and sites only
    link = re.search(r'href="(/console/m/131016/audit/records\?id=[^"]+)"', found.text)
    assert link and family.number in found.text
    history = browser_client.get(link.group(1).replace("&amp;", "&"))
    assert history.status_code == 200
    assert family.number in history.text
    assert family.case_id not in _visible_text(history.text)


@pytest.mark.parametrize("lang", ["en"])
def test_the_records_pages_read_in_english(
        console_world, browser_client, lang) -> None:  # noqa: ANN001
    old_family(console_world)
    schedule(console_world, years=None)
    officer(browser_client)
    browser_client.cookies.set("yorisoi_lang", lang)
    for url, words in ((R + "/retention", "permanent"), (R + "/disposal", "Due for disposal"),
                       (D, "Data-subject requests")):
        page = browser_client.get(url)
        assert page.status_code == 200, url
        assert words in page.text, url


def test_the_auditor_reads_disposals_in_japanese(console_world, browser_client) -> None:  # noqa: ANN001
    from uuid import UUID

    from yorisoi.services.disposal import Disposal

    family = old_family(console_world)
    schedule(console_world, years=1, two_person=False)
    with console_world.services.runtimes.lease(CITY_A) as rt, acting_as(RECORDS_OFFICER):
        disposal = Disposal(rt, console_world.services.objects, console_world.services.signer)
        batch = disposal.propose([family.household_id])
        rt.casework.approve_disposal(batch.id, expected_version=None)
        disposal.run(UUID(str(batch.id)))
        rt.catch_up()
    sign_in(browser_client, "municipality", CITY_A, "a-auditor", "compliance_auditor")
    listed = browser_client.get(f"/console/m/{CITY_A}/audit/disposals")
    assert listed.status_code == 200
    text = _visible_text(listed.text)
    assert "完了" in text and "別の職員" in text
    assert "completed" not in text and "a-records-officer" not in text
    certificate = browser_client.get(f"/console/m/{CITY_A}/audit/disposals/{batch.id}")
    assert "署名を確認しました" in certificate.text
    assert not UUID_TEXT.search(_visible_text(certificate.text))


def test_a_form_sent_twice_writes_once(console_world, browser_client) -> None:  # noqa: ANN001
    """Back and save again (or a replayed POST): the form's one-time key answers the first."""
    family = old_family(console_world)
    schedule(console_world, years=1)
    officer(browser_client)
    due = browser_client.get(R + "/disposal")
    once = re.search(r'name="once" value="([^"]+)"', due.text)
    assert once
    form = {"csrf": csrf_of(due.text), "once": once.group(1), "households": family.household_id}
    first = browser_client.post(R + "/disposal", data=form)
    again = browser_client.post(R + "/disposal", data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    listed = browser_client.get(R + "/disposal").text
    assert len(re.findall(r'href="/console/m/131016/records/disposal/[0-9a-f-]{36}"', listed)) == 1
    found = _post(browser_client, D + "/new", D + "/find", q=family.number)
    once = re.search(r'name="once" value="([^"]+)"', found.text)
    request = {"csrf": csrf_of(found.text), "once": once.group(1), "q": family.number,
               "household": family.household_id, "kind": "disclosure",
               "requester_relationship": "self", "identification_method": "counter_photo_id",
               "received_on": japan_today().isoformat()}
    first = browser_client.post(D, data=request)
    again = browser_client.post(D, data=request)
    assert first.headers["location"] == again.headers["location"]
    assert browser_client.get(D).text.count("保有個人情報の開示請求") == 1


def test_the_days_to_decide_are_set_per_kind(console_world, browser_client) -> None:  # noqa: ANN001
    family = old_family(console_world, closed_on=None,
                        opened_on=japan_today() - timedelta(days=20))
    officer(browser_client)
    page = browser_client.get(D + "/deadlines")
    assert page.status_code == 200 and 'value="30"' in page.text
    values = {"days.disclosure": "14", "days.correction": "３１", "days.suspension_of_use": ""}
    refused = browser_client.post(D + "/deadlines", data={"csrf": csrf_of(page.text), **values})
    assert refused.status_code == 400
    assert refused.text.count("1〜30日の範囲で入力してください") >= 2  # all at once
    saved = browser_client.post(D + "/deadlines", data={
        "csrf": csrf_of(page.text), **values, "days.correction": "２０",
        "days.suspension_of_use": "30"})
    assert saved.status_code == 303, saved.text
    assert "保存しました" in browser_client.get(saved.headers["location"]).text
    created = _register(browser_client, family, "disclosure")
    assert "あと14日" in browser_client.get(created.headers["location"]).text
