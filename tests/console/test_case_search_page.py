"""The console's case search: POSTed (never in the address), every kind of value, paged.

What is typed must not appear in any URL the console answers with, in the
access log, or in the server's access-log lines.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from console_steps import csrf_of, sign_in
from world import CITY_A

from yorisoi.domain.cases import Case
from yorisoi.domain.households import Child, Guardian, Household
from yorisoi.infra.access_log_store import AccessLogStore
from yorisoi.infra.clock import japan_today
from yorisoi.services.context import ActingContext, acting_as

STAFF = ActingContext(user_id="seed", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
URL = f"/console/m/{CITY_A}/cases"


def _family(world, surname: str, reading: str, phone: str, born: date,
            opened_days_ago: int = 3) -> str:
    today = japan_today()
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        household = Household.register(
            guardians=[Guardian(f"{surname} 美咲", "母", reading=f"{reading} ミサキ", phone=phone)],
            children=[Child(f"{surname} 陽翔", born, reading=f"{reading} ハルト")],
            pregnancy=None, today=today)
        case = Case(household_id=household.id, municipality_code=CITY_A, site_id="a-counter",
                    contract_id=None, opened_on=today - timedelta(days=opened_days_ago))
        rt.casework.save(household, case)
        rt.catch_up()
    return str(case.id)


def _search(client, q: str, **more: str):  # noqa: ANN001, ANN202
    token = csrf_of(client.get(URL).text)
    return client.post(URL, data={"csrf": token, "q": q, **more})


def test_the_search_box_finds_a_family_by_every_kind_of_value(
        console_world, browser_client, caplog) -> None:  # noqa: ANN001
    takahashi = _family(console_world, "髙橋", "タカハシ", "090-1234-5678", date(2024, 4, 1))
    yoshida = _family(console_world, "𠮷田", "ヨシダ", "03-3333-4444", date(2023, 11, 20))
    sign_in(browser_client, "municipality", CITY_A, "a-supervisor", "municipal_supervisor")
    typed = ["ﾀｶﾊｼ", "たかはし", "タカハシ", "高橋", "090-1234-5678", "09012345678",
             "令和6年4月1日", "R6.4.1", "2024/4/1", "2024-04-01", takahashi[:8]]
    with caplog.at_level(logging.INFO):
        for text in typed:
            page = _search(browser_client, text)
            assert page.status_code == 200, (text, page.text[:300])
            assert takahashi[:8] in page.text and yoshida[:8] not in page.text, text
            assert "1 件" in page.text
            assert "髙橋 美咲" in page.text  # the family as recorded, exact characters
        assert yoshida[:8] in _search(browser_client, "吉田").text
    # The whole id still opens the case.
    jump = _search(browser_client, takahashi)
    assert jump.status_code == 303 and jump.headers["location"].endswith(takahashi)
    # Nothing typed reached a URL, the log lines or the access log.
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    with console_world.services.runtimes.lease(CITY_A) as rt:
        access = repr(AccessLogStore(rt.casework.database).rows())
    for text in typed[:-1]:
        assert text not in log_text and text not in access
    assert "case_search" in access and "results:1" in access


def test_search_pages_are_posted_and_filters_combine(console_world, browser_client) -> None:  # noqa: ANN001
    made = [_family(console_world, "高橋", "タカハシ", f"090-0000-{1000 + i}",
                    date(2024, 4, 1), opened_days_ago=i + 1) for i in range(27)]
    sign_in(browser_client, "municipality", CITY_A, "a-supervisor", "municipal_supervisor")
    first = _search(browser_client, "たかはし")
    assert "27 件" in first.text
    assert 'name="after"' in first.text and "?q=" not in first.text
    listed = {m for m in made if m[:8] in first.text}
    assert len(listed) == 25
    after = first.text.split('name="after" value="', 1)[1].split('"', 1)[0]
    second = browser_client.post(URL, data={"csrf": csrf_of(first.text), "q": "たかはし",
                                            "after": after})
    assert {m for m in made if m[:8] in second.text} == set(made) - listed
    recent = _search(browser_client, "たかはし",
                     opened_from=(japan_today() - timedelta(days=2)).isoformat())
    assert "2 件" in recent.text
    odd = _search(browser_client, "たか\x00はし", site="a-counter\x00")
    assert odd.status_code == 200 and "27 件" in odd.text  # control characters dropped
    bad = _search(browser_client, "たかはし", opened_from="あした")
    assert bad.status_code == 400 and "あした" in bad.text  # the form keeps what was typed


def test_a_masked_role_is_refused_a_personal_search_on_the_page(
        console_world, browser_client) -> None:  # noqa: ANN001
    case_id = _family(console_world, "髙橋", "タカハシ", "090-1234-5678", date(2024, 4, 1))
    sign_in(browser_client, "municipality", CITY_A, "a-admin", "municipal_admin")
    refused = _search(browser_client, "たかはし")
    assert refused.status_code == 400
    assert "検索できません" in refused.text and case_id[:8] not in refused.text
    by_number = _search(browser_client, case_id[:8]).text
    assert case_id[:8] in by_number and "髙橋" not in by_number  # masked: number and site only
