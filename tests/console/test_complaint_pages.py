"""Complaints (苦情・要望) and representative meetings (代表者会議) in the console (TestClient).

Intake by the complaint intake officer, the report to the resolution officer (§6(2)),
then discussion, outcome, outcome report, the anonymised summary, publication and
closure by the resolution officer; each step offered only to the officer who may take
it, each refusal typed and shown next to its field; the complaint's own timeline.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from console_steps import csrf_of, sign_in
from world import CITY_A, CITY_B, NPO

from yorisoi.infra.clock import japan_today

NAME, CONTACT = "架空 一郎", "090-1111-2222"
CONTENT = "面談の予約が三回続けて取り消された"
BASE = f"/console/m/{CITY_A}/complaints"


def _intake(client: Any) -> None:
    sign_in(client, "contractor", NPO, "npo-intake", "complaint_intake_officer")


def _resolver(client: Any) -> None:
    client.cookies.clear()
    sign_in(client, "contractor", NPO, "npo-resolver", "complaint_resolution_officer")


def _post(client: Any, url: str, page_url: str, **data: str) -> Any:
    return client.post(url, data={"csrf": csrf_of(client.get(page_url).text), **data})


def _receive(client: Any, **overrides: str) -> str:
    today = japan_today().isoformat()
    form = {"siteId": "a-hiroba", "kind": "complaint", "channel": "phone",
            "receivedOn": today, "complainantName": NAME, "complainantContact": CONTACT,
            "content": CONTENT, **overrides}
    answer = _post(client, f"{BASE}/new", f"{BASE}/new", **form)
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(rf"{BASE}/([0-9a-f-]{{36}})\?saved=received",
                         answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def _error(html: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="f-{field}-error">([^<]+)</p>', html)
    assert found, f"no error for {field}"
    return found.group(1)


def _step(client: Any, cid: str, path: str, **data: str) -> Any:
    return _post(client, f"{BASE}/{cid}/{path}", f"{BASE}/{cid}", **data)


def test_the_intake_form_answers_and_shows_every_error_at_once(
        browser_client) -> None:  # noqa: ANN001
    _intake(browser_client)
    board = browser_client.get(BASE)
    assert board.status_code == 200
    assert f'href="{BASE}/new"' in board.text
    form = browser_client.get(f"{BASE}/new")
    assert form.status_code == 200 and "text/html" in form.headers["content-type"]
    assert ">ひろば</option>" in form.text  # the site by its name
    refused = _post(browser_client, f"{BASE}/new", f"{BASE}/new", kind="complaint",
                    receivedOn="")
    assert refused.status_code == 400
    for field in ("siteId", "channel", "receivedOn", "complainantName", "content"):
        _error(refused.text, field)
    assert _error(refused.text, "content") == "苦情・要望の内容を記録してください。"
    assert _error(refused.text, "complainantName") == (
        "申出人の氏名を記録するか、匿名として受け付けてください。")
    anonymous = _post(browser_client, f"{BASE}/new", f"{BASE}/new", siteId="a-hiroba",
                      kind="request", channel="letter", anonymous="on",
                      receivedOn=japan_today().isoformat(), complainantName=NAME,
                      content=CONTENT)
    assert anonymous.status_code == 400
    assert _error(anonymous.text, "complainantName") == (
        "匿名の申出には申出人の氏名・連絡先を記録できません。")
    assert CONTENT in anonymous.text  # nothing retyped


def test_the_procedure_by_the_two_officers_each_step_on_the_timeline(
        browser_client) -> None:  # noqa: ANN001
    _intake(browser_client)
    cid = _receive(browser_client)
    page = browser_client.get(f"{BASE}/{cid}?saved=received").text
    assert "受け付けました。苦情解決責任者に報告してください。" in page
    assert NAME in page and CONTENT in page
    assert "苦情解決責任者に報告する" in page
    assert "話し合いを記録する" not in page and "要旨を公表する" not in page
    assert re.search(r"期限</dt><dd>令和\d+年\d+月\d+日（.）まで（あと7日）", page), page
    board = browser_client.get(BASE).text
    assert f'href="{BASE}/{cid}"' in board  # the card opens the complaint
    assert "a-hiroba" not in board and NPO not in board  # names, not ids

    # The intake officer reports (§6(2)) and is then offered nothing more.
    assert _step(browser_client, cid, "report", reportedOn=japan_today().isoformat()
                 ).status_code == 303
    page = browser_client.get(f"{BASE}/{cid}").text
    assert "苦情解決責任者に報告する" not in page
    assert "この段階の手続は担当の職員が行います。" in page
    # ... and may not take the resolution officer's steps.
    refused = _step(browser_client, cid, "discussions", heldOn=japan_today().isoformat(),
                    note="面談")
    assert refused.status_code == 403
    assert "この操作を行う権限がありません" in refused.text

    _resolver(browser_client)
    today = japan_today().isoformat()
    page = browser_client.get(f"{BASE}/{cid}").text
    assert "話し合いを記録する" in page and "結果を記録する" not in page
    assert _step(browser_client, cid, "discussions", heldOn=today,
                 note="予約の仕組みを説明し、改善を約束した").status_code == 303
    assert _step(browser_client, cid, "outcome", decidedOn=today, outcome="resolved",
                 detail="予約の確認電話を入れることにした").status_code == 303
    assert _step(browser_client, cid, "outcome-report", reportedOn=today,
                 method="phone").status_code == 303
    named = _step(browser_client, cid, "summary", publishedOn=today,
                  summary=f"{NAME}様からの予約に関するご意見")
    assert named.status_code == 400
    assert _error(named.text, "summary") == (
        "公表する要旨に申出人・家族の氏名または連絡先が含まれています。")
    assert f"{NAME}様からの" in named.text  # the text is kept to be corrected
    assert _step(browser_client, cid, "summary", publishedOn=today,
                 summary="面談予約の取消しが続いたことへのご意見。確認の連絡を始めました。"
                 ).status_code == 303
    closed = _step(browser_client, cid, "close", closedOn=today)
    assert closed.status_code == 303 and closed.headers["location"].endswith("?saved=close")
    page = browser_client.get(closed.headers["location"]).text
    assert "完結しました。" in page
    timeline = page[page.index('id="timeline-h"'):]
    order = ["受付", "苦情解決責任者への報告", "話し合い", "結果の記録", "申出人への結果報告",
             "要旨の公表", "完結"]
    positions = [timeline.index(f"<strong>{word}</strong>") for word in order]
    assert positions == sorted(positions)
    assert "（苦情受付担当者）" in timeline and "（苦情解決責任者）" in timeline
    assert "結果：解決" in timeline and "報告方法：電話" in timeline
    assert "確認の連絡を始めました" in timeline  # the published (public) summary
    assert NAME not in timeline and CONTENT not in timeline  # nothing personal
    assert "<form" not in page[page.index("<main"):].replace('action="/console/logout"', "")
    public = browser_client.get(f"{BASE}/published").text  # as the public reads it
    assert "確認の連絡を始めました" in public and NAME not in public
    assert re.search(r"<td>令和\d+年\d+月</td><td>苦情</td><td>電話</td><td>解決</td>", public)


def test_refusals_are_typed_and_next_to_their_fields(
        browser_client) -> None:  # noqa: ANN001
    _intake(browser_client)
    cid = _receive(browser_client, involveThirdParty="on")
    anonymous = _receive(browser_client, complainantName="", complainantContact="",
                         anonymous="on")
    page = browser_client.get(f"{BASE}/{cid}").text
    tomorrow = japan_today() + timedelta(days=1)
    future = _step(browser_client, cid, "report", reportedOn=tomorrow.isoformat(),
                   thirdPartyInformed="on")
    assert future.status_code == 400
    assert _error(future.text, "reportedOn") == "日付は前の手続の日から今日までの間で指定してください。"
    uninformed = _step(browser_client, cid, "report", reportedOn=japan_today().isoformat())
    assert uninformed.status_code == 400
    assert "第三者委員にも報告してください" in _error(uninformed.text, "thirdPartyInformed")
    assert 'aria-invalid="true"' in uninformed.text
    assert "第三者委員にも報告した" in page

    _resolver(browser_client)
    today = japan_today().isoformat()
    early = _step(browser_client, cid, "close", closedOn=today)
    assert early.status_code == 400
    assert "手続は順番に行ってください" in early.text
    empty = _step(browser_client, cid, "escalate", escalatedOn="", reason="")
    assert empty.status_code == 400
    _error(empty.text, "escalatedOn")
    _error(empty.text, "reason")
    assert _step(browser_client, cid, "escalate", escalatedOn=today,
                 reason="事業者段階での解決が難しいため").status_code == 303
    page = browser_client.get(f"{BASE}/{cid}").text
    assert "運営適正化委員会へ" in page and "運営適正化委員会への申立て</strong>" in page
    assert "運営適正化委員会に申し立てる</h2>" not in page  # once only

    # An anonymous complainant is informed by public notice only.
    for path, data in (("report", {"reportedOn": today}),
                       ("discussions", {"heldOn": today, "note": "話し合い"}),
                       ("outcome", {"decidedOn": today, "outcome": "resolved",
                                    "detail": "改善した"})):
        assert _step(browser_client, anonymous, path, **data).status_code == 303
    page = browser_client.get(f"{BASE}/{anonymous}").text
    assert "匿名の申出のため、報告は掲示等に限られます。" in page
    by_phone = _step(browser_client, anonymous, "outcome-report", reportedOn=today,
                     method="phone")
    assert by_phone.status_code == 400
    assert _error(by_phone.text, "method") == (
        "匿名の申出人には直接報告できません。掲示等で報告してください。")


def test_a_complaint_out_of_reach_is_not_found(
        browser_client) -> None:  # noqa: ANN001
    _intake(browser_client)
    cid = _receive(browser_client)
    assert browser_client.get(f"{BASE}/not-a-uuid").status_code == 404
    assert browser_client.get(f"{BASE}/00000000-0000-4000-8000-000000000000").status_code == 404
    browser_client.cookies.clear()
    sign_in(browser_client, "municipality", CITY_B, "b-supervisor", "municipal_supervisor")
    other = browser_client.get(f"{BASE}/{cid}")
    assert other.status_code == 403 and CONTENT not in other.text
    browser_client.cookies.clear()
    sign_in(browser_client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
    refused = browser_client.get(f"{BASE}/{cid}")
    assert refused.status_code == 403 and CONTENT not in refused.text


def test_representative_meetings_list_and_record_counts_by_theme_only(
        browser_client) -> None:  # noqa: ANN001
    url = f"/console/m/{CITY_A}/representative-meetings"
    sign_in(browser_client, "municipality", CITY_A, "a-supervisor", "municipal_supervisor")
    page = browser_client.get(url)
    assert page.status_code == 200 and "記録された代表者会議はありません。" in page.text
    assert 'href="/console/m/131016/representative-meetings"' in page.text  # navigation
    refused = _post(browser_client, url, url, heldOn="", themesFrom="2026-04-01",
                    themesTo="2025-04-01", **{"attendees.1.organisation": "保健センター"})
    assert refused.status_code == 400
    _error(refused.text, "heldOn")
    _error(refused.text, "attendees-1-kind")
    _error(refused.text, "themesTo")
    assert "保健センター" in refused.text
    today = japan_today().isoformat()
    saved = _post(browser_client, url, url, heldOn=today, themesFrom="2020-04-01",
                  themesTo=today, regionalIssues="夜間の相談先が少ない\n\n転入世帯の孤立",
                  resourcesToDevelop="夜間の電話相談",
                  **{"attendees.0.organisation": "千代田区 保健センター",
                     "attendees.0.kind": "health_center",
                     "attendees.1.organisation": "NPO ひだまり", "attendees.1.kind": "npo"})
    assert saved.status_code == 303, saved.text
    listed = browser_client.get(saved.headers["location"]).text
    assert "代表者会議を記録しました。" in listed
    assert "千代田区 保健センター（保健センター）" in listed or "千代田区 保健センター（" in listed
    assert "転入世帯の孤立" in listed and "夜間の電話相談" in listed
    assert re.search(r"相談テーマ別の件数（令和2年4月1日（.）〜令和\d+年", listed), listed
    browser_client.cookies.clear()
    sign_in(browser_client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
    contractor = _post(browser_client, url, f"/console/m/{CITY_A}/cases", heldOn=today,
                       themesFrom=today, themesTo=today,
                       **{"attendees.0.organisation": "A", "attendees.0.kind": "npo"})
    assert contractor.status_code == 403


_IDENTIFIER = re.compile(r"\b[a-z]+_[a-z_]+\b|\b[A-Z][a-z]+\.[A-Z][A-Za-z]+\b"
                         r"|[0-9a-f]{8}-[0-9a-f]{4}-|\ba-hiroba\b|\bnpo-hidamari\b"
                         r"|\bcomplaints?\.[a-z_.]+|\brep\.[a-z_.]+")


def _visible(html: str) -> str:
    main = html[html.index("<main"):html.index("</main>")]
    main = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", main, flags=re.S)
    return re.sub(r"<[^>]+>", " ", main)


def test_the_pages_show_names_and_words_never_identifiers_in_both_languages(
        browser_client) -> None:  # noqa: ANN001
    _intake(browser_client)
    cid = _receive(browser_client, involveThirdParty="on")
    today = japan_today().isoformat()
    _step(browser_client, cid, "report", reportedOn=today, thirdPartyInformed="on")
    _resolver(browser_client)
    _step(browser_client, cid, "discussions", heldOn=today, note="話し合った")
    _step(browser_client, cid, "outcome", decidedOn=today, outcome="partially_resolved",
          detail="一部を改善")
    _step(browser_client, cid, "escalate", escalatedOn=today, reason="解決が難しいため")
    browser_client.cookies.clear()
    sign_in(browser_client, "municipality", CITY_A, "a-supervisor", "municipal_supervisor")
    pages = [BASE, f"{BASE}/new", f"{BASE}/{cid}", f"{BASE}/{cid}?saved=record_outcome",
             f"{BASE}/deadlines", f"{BASE}/published",
             f"/console/m/{CITY_A}/representative-meetings"]
    for lang in ("ja", "en"):
        browser_client.get(f"/console/lang?to={lang}&next=/console/")
        for url in pages:
            answer = browser_client.get(url)
            assert answer.status_code == 200, (url, answer.status_code)
            found = _IDENTIFIER.findall(_visible(answer.text))
            assert not found, (lang, url, found)
        english = browser_client.get(f"{BASE}/{cid}").text
        if lang == "en":
            assert "Outcome recorded" in english and "partially resolved" in english
            assert "Escalated to the 運営適正化委員会" in english
        else:
            assert "一部解決" in english and "第三者委員にも報告した：あり" in english


def test_the_administrator_reads_the_procedure_without_personal_values(
        browser_client) -> None:  # noqa: ANN001
    _intake(browser_client)
    cid = _receive(browser_client)
    browser_client.cookies.clear()
    sign_in(browser_client, "municipality", CITY_A, "a-admin", "municipal_admin")
    page = browser_client.get(f"{BASE}/{cid}")
    assert page.status_code == 200
    assert "（閲覧権限がないため表示しません）" in page.text
    assert NAME not in page.text and CONTACT not in page.text and CONTENT not in page.text
    assert "<strong>受付</strong>" in page.text  # the timeline: steps and dates only
    assert "苦情解決責任者に報告する" not in page.text  # no step for this role
    assert 'href="/console/m/131016/representative-meetings"' in page.text


def _complaints(world: Any) -> int:
    with world.services.runtimes.lease(CITY_A) as rt:
        return sum(1 for n in rt.casework.recorder.select_notifications(start=1, limit=1000)
                   if n.topic.endswith("Complaint.Received"))


def test_a_replayed_intake_or_step_saves_once(
        console_world, browser_client) -> None:  # noqa: ANN001
    _intake(browser_client)
    page = browser_client.get(f"{BASE}/new").text
    once = re.search(r'name="once" value="([^"]+)"', page)
    assert once
    form = {"csrf": csrf_of(page), "once": once.group(1), "siteId": "a-hiroba",
            "kind": "complaint", "channel": "visit", "receivedOn": japan_today().isoformat(),
            "complainantName": NAME, "content": CONTENT}
    first = browser_client.post(f"{BASE}/new", data=form)
    assert first.status_code == 303, first.text
    again = browser_client.post(f"{BASE}/new", data=form)  # Back, then save again
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert _complaints(console_world) == 1
    cid = first.headers["location"].split("/")[-1].split("?")[0]
    page = browser_client.get(f"{BASE}/{cid}").text
    once = re.search(r'name="once" value="([^"]+)"', page)
    assert once
    report = {"csrf": csrf_of(page), "once": once.group(1),
              "reportedOn": japan_today().isoformat()}
    assert browser_client.post(f"{BASE}/{cid}/report", data=report).status_code == 303
    replay = browser_client.post(f"{BASE}/{cid}/report", data=report)
    assert replay.status_code == 303  # the first save's answer, not "out of order"


def test_odd_submissions_answer_a_page_never_a_server_error(browser_client) -> None:  # noqa: ANN001
    _intake(browser_client)
    cid = _receive(browser_client)
    huge = "あ" * 12_000  # over the text limit, under the request size limit
    odd = _post(browser_client, f"{BASE}/new", f"{BASE}/new", siteId="no-such-site",
                kind="other", channel="carrier-pigeon", receivedOn="昨日",
                complainantName=huge, content=huge)
    assert odd.status_code == 400, odd.status_code
    for field in ("siteId", "kind", "channel", "receivedOn", "complainantName", "content"):
        _error(odd.text, field)
    assert _error(odd.text, "siteId") == "実施場所を一覧から選んでください。"
    unknown_site = _post(browser_client, f"{BASE}/new", f"{BASE}/new", siteId="no-such-site",
                         kind="complaint", channel="phone",
                         receivedOn=japan_today().isoformat(), complainantName=NAME,
                         content=CONTENT)
    assert unknown_site.status_code == 400, unknown_site.status_code
    assert CONTENT in unknown_site.text  # nothing lost
    _resolver(browser_client)
    for path in ("report", "discussions", "outcome", "outcome-report", "summary", "escalate",
                 "close"):
        empty = _step(browser_client, cid, path)
        assert empty.status_code == 400, (path, empty.status_code)
        absent = _post(browser_client, f"{BASE}/00000000-0000-4000-8000-000000000000/{path}",
                       BASE)
        assert absent.status_code in (400, 404), (path, absent.status_code)
        bad = _post(browser_client, f"{BASE}/not-a-uuid/{path}", BASE)
        assert bad.status_code == 404, (path, bad.status_code)
    assert browser_client.get(f"{BASE}?overdue=maybe&step=closed").status_code == 200
    for url in (f"{BASE}?step=nonsense&after=garbage", f"{BASE}/published?after=garbage"):
        board = browser_client.get(url)
        assert board.status_code == 400 and "最初のページから" in board.text
    browser_client.cookies.clear()
    sign_in(browser_client, "municipality", CITY_A, "a-supervisor", "municipal_supervisor")
    meetings = browser_client.get(f"/console/m/{CITY_A}/representative-meetings?after=garbage")
    assert meetings.status_code == 400 and "最初のページから" in meetings.text


def test_the_supervisor_sets_the_days_allowed_and_the_deadlines_follow(
        browser_client) -> None:  # noqa: ANN001
    _intake(browser_client)
    cid = _receive(browser_client)
    assert "deadlines" not in browser_client.get(BASE).text  # not the intake officer's
    assert browser_client.get(f"{BASE}/deadlines").status_code == 403
    browser_client.cookies.clear()
    sign_in(browser_client, "municipality", CITY_A, "a-supervisor", "municipal_supervisor")
    url = f"{BASE}/deadlines"
    assert f'href="{url}"' in browser_client.get(BASE).text
    page = browser_client.get(url).text
    assert 'value="7"' in page and "「受付」から次の手続までの日数" in page
    refused = _post(browser_client, url, url, **{"days.received": "0", "days.reported": "x",
                                                 "days.in_discussion": "30",
                                                 "days.outcome_recorded": "7",
                                                 "days.outcome_reported": "400"})
    assert refused.status_code == 400
    for step in ("received", "reported", "outcome_reported"):
        assert _error(refused.text, f"days-{step}") == "1〜365の日数を入力してください。"
    saved = _post(browser_client, url, url, **{"days.received": "3", "days.reported": "14",
                                               "days.in_discussion": "30",
                                               "days.outcome_recorded": "7",
                                               "days.outcome_reported": "30"})
    assert saved.status_code == 303
    assert "期限を保存しました" in browser_client.get(saved.headers["location"]).text
    page = browser_client.get(f"{BASE}/{cid}").text
    assert re.search(r"期限</dt><dd>令和\d+年\d+月\d+日（.）まで（あと3日）", page), page


def test_a_third_party_member_reads_and_is_offered_no_step(browser_client) -> None:  # noqa: ANN001
    _intake(browser_client)
    cid = _receive(browser_client, involveThirdParty="on")
    browser_client.cookies.clear()
    sign_in(browser_client, "contractor", NPO, "npo-member", "complaint_third_party_member")
    page = browser_client.get(f"{BASE}/{cid}")
    assert page.status_code == 200 and CONTENT in page.text
    assert "この段階の手続は担当の職員が行います。" in page.text
    assert f'href="{BASE}/new"' not in browser_client.get(BASE).text
    assert browser_client.get(f"{BASE}/new").status_code == 403
    refused = _step(browser_client, cid, "report", reportedOn=japan_today().isoformat(),
                    thirdPartyInformed="on")
    assert refused.status_code == 403
