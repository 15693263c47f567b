"""Forms that respect the person typing (issue 16, item 3): every error at once, each by its
field; dates as people in Japan type them; any number of guardians and children; a long
paste answered with the text kept; 「保存しました」 after a save; styled error pages."""

from __future__ import annotations

import re
import uuid
from typing import Any

from console_steps import csrf_of, sign_in
from world import CITY_A, NPO, open_case

URL = f"/console/m/{CITY_A}/cases/new"


def _specialist(client: Any) -> None:
    sign_in(client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))


def _once(page: str) -> str:
    found = re.search(r'name="once" value="([^"]+)"', page)
    assert found
    return found.group(1)


def _post(client: Any, url: str, page: str, data: dict[str, Any]) -> Any:
    """As the browser sends the consultation form: multipart."""
    fields = {"csrf": csrf_of(page), "once": _once(page), **data}
    parts = [(k, (None, v)) for k, value in fields.items()
             for v in (value if isinstance(value, list) else [value])]
    return client.post(url, files=parts)


def _summary(page: str) -> list[str]:
    found = re.search(r'<div class="error-summary".*?</div>', page, re.DOTALL)
    assert found, page[:2000]
    return [re.sub(r"<[^>]+>", "", item) for item in re.findall(r"<li>(.*?)</li>", found.group(0))]


def test_an_empty_new_case_form_names_every_missing_field_at_once(browser_client) -> None:
    _specialist(browser_client)
    page = browser_client.get(URL).text
    # Required fields are marked, 相談内容の分類 too.
    assert re.search(r"<legend>相談内容の分類<span class=\"req\">必須</span></legend>", page)
    answered = _post(browser_client, URL, page, {"consentBasis": "consent", "occurredOn": ""})
    assert answered.status_code == 400
    items = _summary(answered.text)
    for expected in ("実施場所：必須項目です。", "相談日：必須項目です。", "相談の方法：必須項目です。",
                     "相談内容の分類：一つ以上選んでください。", "相談内容（主訴）：必須項目です。",
                     "世帯：保護者、子ども、出産予定日のいずれかを入力してください。",
                     "同意した人：必須項目です。", "続柄：必須項目です。"):
        assert any(expected in item for item in items), (expected, items)


def _filled(**more: Any) -> dict[str, Any]:
    return {"siteId": "a-hiroba", "occurredOn": "令和8年4月1日", "channel": "visit",
            "themes": ["development"], "asked": "ことばが遅い",
            "household.guardians.0.name": "架空 花子", "household.guardians.0.relationship": "母",
            "household.children.0.name": "架空 太郎",
            "household.children.0.birthDate": "Ｒ６．７．１",
            "consentBasis": "consent", "consent.givenBy": "架空 花子",
            "consent.relationship": "母", "consent.givenOn": "2026/4/1", **more}


def test_dates_are_read_as_typed_and_an_unreadable_one_says_how_to_type_it(
        console_world, browser_client) -> None:
    _specialist(browser_client)
    page = browser_client.get(URL).text
    refused = _post(browser_client, URL, page, _filled(**{
        "household.children.0.birthDate": "七月一日", "occurredOn": "2026-04-01"}))
    assert refused.status_code == 400
    assert any("子ども1の生年月日：日付として読み取れません。例：令和6年4月1日" in item
               for item in _summary(refused.text))
    assert 'value="七月一日"' in refused.text  # kept as typed
    saved = _post(browser_client, URL, refused.text, _filled())
    assert saved.status_code == 303, _summary(saved.text)
    case_id = saved.headers["location"].split("/cases/")[1].split("#")[0]
    with console_world.services.runtimes.lease(CITY_A) as rt:
        case = rt.casework.repository.get(uuid.UUID(case_id))
        household = rt.casework.repository.get(case.household_id)
    assert case.opened_on.isoformat() == "2026-04-01"
    assert [c.birth_date.isoformat() for c in household.children] == ["2024-07-01"]
    shown = browser_client.get(saved.headers["location"])
    assert "保存しました。" in shown.text
    assert "保存しました。" not in browser_client.get(saved.headers["location"]).text  # said once


def test_any_number_of_guardians_and_children(console_world, browser_client) -> None:
    _specialist(browser_client)
    page = browser_client.get(URL).text
    assert 'name="household.guardians.1.name"' not in page
    more = _post(browser_client, URL, page, {**_filled(), "action": "add:guardians"})
    assert more.status_code == 200
    assert 'name="household.guardians.1.name"' in more.text
    assert 'name="household.guardians.2.name"' not in more.text
    people = {f"household.guardians.{i}.name": f"架空 保護者{i}" for i in range(4)}
    people |= {f"household.guardians.{i}.relationship": "祖母" for i in range(1, 4)}
    people |= {f"household.children.{i}.name": f"架空 子{i}" for i in range(3)}
    people |= {f"household.children.{i}.birthDate": f"2024-0{i + 1}-01" for i in range(3)}
    # A gap (row 5 empty, row 6 filled) is closed up: errors name the rows as shown.
    people |= {"household.children.6.name": "架空 末子", "household.children.6.birthDate": "R7.1.1"}
    saved = _post(browser_client, URL, more.text, _filled(**people))
    assert saved.status_code == 303, _summary(saved.text)
    case_id = saved.headers["location"].split("/cases/")[1].split("#")[0]
    with console_world.services.runtimes.lease(CITY_A) as rt:
        case = rt.casework.repository.get(uuid.UUID(case_id))
        household = rt.casework.repository.get(case.household_id)
    assert len(household.guardians) == 4 and len(household.children) == 4


def test_a_long_paste_comes_back_with_the_text_kept_and_a_clear_word(browser_client) -> None:
    _specialist(browser_client)
    page = browser_client.get(URL).text
    pasted = "あ" * 200_000
    answered = _post(browser_client, URL, page, _filled(asked=pasted))
    assert answered.status_code == 400
    assert answered.headers["content-type"].startswith("text/html")
    assert any("相談内容（主訴）が長すぎます（200,000文字）。4,000文字以内にしてください。" in item
               for item in _summary(answered.text))
    assert pasted in answered.text
    assert 'data-limit="4000"' in answered.text


def test_unknown_console_addresses_and_refusals_keep_the_navigation(
        console_world, browser_client) -> None:
    _specialist(browser_client)
    for url in ("/console/nowhere", f"/console/m/{CITY_A}/no-such-page",
                f"/console/m/{CITY_A}/cases/{uuid.uuid4()}"):
        answered = browser_client.get(url)
        assert answered.status_code == 404, url
        assert answered.headers["content-type"].startswith("text/html")
        assert "<h1>見つかりません</h1>" in answered.text
        assert f'href="/console/m/{CITY_A}/cases"' in answered.text, url  # the menu
    refused = browser_client.get(f"/console/m/{CITY_A}/oversight")
    assert refused.status_code == 403
    assert f'href="/console/m/{CITY_A}/tasks"' in refused.text


def test_a_note_says_saved_and_takes_a_reiwa_date(console_world, browser_client) -> None:
    case_id = open_case(console_world)
    _specialist(browser_client)
    url = f"/console/m/{CITY_A}/cases/{case_id}/notes/new"
    page = browser_client.get(url).text
    saved = browser_client.post(url, data={"csrf": csrf_of(page), "once": _once(page),
                                           "writtenOn": "令和8年4月2日", "kind": "progress",
                                           "body": "電話で様子を聞いた"})
    assert saved.status_code == 303, saved.text[:3000]
    shown = browser_client.get(saved.headers["location"]).text
    assert "保存しました。" in shown and "令和8年4月2日" in shown


def test_the_one_parser_reads_every_form_people_type_and_years_are_reiwa() -> None:
    from starlette.datastructures import FormData

    from yorisoi.infra.console.dates import fiscal_year_label, typed_dates

    typed = FormData([("a", "令和6年4月1日"), ("b", "R6.4.1"), ("c", "２０２４/４/１"),
                      ("d", "2024-04-01"), ("e", "2024/4/1"), ("f", "四月一日"), ("g", "R6")])
    read, unreadable = typed_dates(typed, lambda name: name != "g")
    assert [read[k] for k in "abcde"] == ["2024-04-01"] * 5
    assert unreadable == ["f"] and read["f"] == "四月一日" and read["g"] == "R6"
    assert fiscal_year_label(2026, "ja") == "令和8年度"
    assert fiscal_year_label(2026, "en") == "FY2026"


def test_every_form_summary_names_its_fields(console_world, browser_client) -> None:
    case_id = open_case(console_world)
    _specialist(browser_client)
    url = f"/console/m/{CITY_A}/cases/{case_id}/referrals/new"
    page = browser_client.get(url).text
    refused = _post(browser_client, url, page, {"agencyId": "", "reason": ""})
    assert refused.status_code == 400
    items = _summary(refused.text)
    assert any(item.startswith("つなぎ先の機関：") for item in items), items
    assert "つなぐ理由：必須項目です。" in items, items
    note = f"/console/m/{CITY_A}/cases/{case_id}/notes/new"
    page = browser_client.get(note).text
    refused = _post(browser_client, note, page, {"writtenOn": "きのう", "kind": "progress",
                                                 "body": ""})
    items = _summary(refused.text)
    assert any(item.startswith("記録日：日付として読み取れません。") for item in items), items
    assert "内容：必須項目です。" in items, items


def test_a_consultation_on_an_existing_case_takes_a_reiwa_date(
        console_world, browser_client) -> None:
    from yorisoi.domain.japanese_dates import wareki
    from yorisoi.infra.clock import japan_today

    case_id = open_case(console_world)
    today = wareki(japan_today())  # e.g. 令和8年12月7日
    _specialist(browser_client)
    url = f"/console/m/{CITY_A}/cases/{case_id}/consultations/new"
    page = browser_client.get(url).text
    assert 'name="household.guardians.0.name"' not in page  # the case's household is known
    saved = _post(browser_client, url, page, {
        "occurredOn": today, "channel": "phone", "themes": ["development"],
        "asked": "その後の様子", "consentBasis": "consent", "consent.givenBy": "架空 花子",
        "consent.relationship": "母", "consent.givenOn": today})
    assert saved.status_code == 303, _summary(saved.text)
    shown = browser_client.get(saved.headers["location"]).text
    assert "保存しました。" in shown and today in shown
