"""The console's new-case form: readings suggested (never stored unconfirmed), duplicates shown."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

from console_steps import csrf_of, sign_in
from world import CITY_A, NPO, head

from yorisoi.infra.clock import japan_today

URL = f"/console/m/{CITY_A}/cases/new"


def _once_of(page: str) -> str:
    found = re.search(r'name="once" value="([^"]+)"', page)
    assert found, "no one-time key on the form"
    return found.group(1)


def _form(page: str, **more: str) -> dict[str, Any]:
    today = japan_today().isoformat()
    return {"csrf": csrf_of(page), "once": _once_of(page), "siteId": "a-hiroba",
            "occurredOn": today, "channel": "visit", "themes": ["development"],
            "asked": "ことばが遅い", "household.guardians.0.name": "山田 花子",
            "household.guardians.0.relationship": "母",
            "household.guardians.0.phone": "090-5555-6666",
            "household.children.0.name": "山田 太郎", "household.children.0.birthDate": "2024-07-01",
            "consentBasis": "consent", "consent.givenBy": "山田 花子", "consent.relationship": "母",
            "consent.givenOn": today, **more}


def _value(page: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" type="[a-z]+" value="([^"]*)"', page)
    assert found, name
    return html.unescape(found.group(1))


def _households(world: Any) -> int:
    with world.services.runtimes.lease(CITY_A) as rt:
        return sum(1 for n in rt.casework.recorder.select_notifications(start=1, limit=1000)
                   if n.topic.endswith("Household.Registered"))


def test_readings_are_suggested_for_the_person_to_confirm(console_world, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
    page = browser_client.get(URL).text
    assert 'name="household.guardians.0.reading"' in page
    assert 'name="household.guardians.0.phone"' in page
    before = head(console_world)
    suggested = browser_client.post(URL, data={**_form(page), "action": "suggest"})
    assert suggested.status_code == 200, suggested.text
    # Pre-filled and marked as a suggestion; nothing was recorded.
    assert _value(suggested.text, "household.guardians.0.reading") == "ヤマダ ハナコ"
    assert _value(suggested.text, "household.children.0.reading") == "ヤマダ タロウ"
    assert "候補" in suggested.text
    assert head(console_world) == before
    # What is stored is what the form submits: the person corrected the child's reading.
    form = _form(suggested.text, **{"household.guardians.0.reading": "ヤマダ ハナコ",
                                    "household.children.0.reading": "やまだ たろう"})
    saved = browser_client.post(URL, data=form)
    assert saved.status_code == 303, saved.text
    case_id = saved.headers["location"].split("/cases/")[1].split("#")[0]
    with console_world.services.runtimes.lease(CITY_A) as rt:
        case = rt.casework.repository.get(uuid.UUID(case_id))
        household = rt.casework.repository.get(case.household_id)
    assert household.guardians[0].reading == "ヤマダ ハナコ"
    assert household.guardians[0].phone == "090-5555-6666"
    assert household.children[0].reading == "やまだ たろう"


def test_a_saved_form_without_readings_stores_none(console_world, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
    page = browser_client.get(URL).text
    saved = browser_client.post(URL, data=_form(page))
    assert saved.status_code == 303, saved.text
    case_id = saved.headers["location"].split("/cases/")[1].split("#")[0]
    with console_world.services.runtimes.lease(CITY_A) as rt:
        case = rt.casework.repository.get(uuid.UUID(case_id))
        household = rt.casework.repository.get(case.household_id)
    assert household.guardians[0].reading is None and household.children[0].reading is None


def test_the_same_family_again_shows_the_candidate_and_a_reason_registers_it(
        console_world, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
    first = browser_client.post(URL, data=_form(browser_client.get(URL).text))
    assert first.status_code == 303, first.text
    again = browser_client.post(URL, data=_form(browser_client.get(URL).text))
    assert again.status_code == 409, again.text
    assert "同じ世帯が登録済みの可能性があります" in again.text
    assert re.search(r"R\d+-\d{6}", again.text)  # the candidate's reception number
    assert "電話番号が同じ" in again.text and "ひろば" in again.text
    assert _households(console_world) == 1
    confirmed = browser_client.post(URL, data=_form(again.text, **{
        "action": "confirm_new", "confirmNewHousehold.reason": "別の世帯（同姓同名）"}))
    assert confirmed.status_code == 303, confirmed.text
    assert _households(console_world) == 2


def test_a_case_path_takes_its_reception_number(console_world, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
    saved = browser_client.post(URL, data=_form(browser_client.get(URL).text))
    case_id = saved.headers["location"].split("/cases/")[1].split("#")[0]
    with console_world.services.runtimes.lease(CITY_A) as rt:
        number = rt.casework.repository.get(uuid.UUID(case_id)).reception_number
    typed = number.replace("R", "r").replace("-00000", "-")  # r8-1: as said aloud
    page = browser_client.get(f"/console/m/{CITY_A}/cases/{typed}/notes/new")
    assert page.status_code == 200, page.text
    assert f"/cases/{case_id}" in page.text  # its links name the case by id
    written = browser_client.post(f"/console/m/{CITY_A}/cases/{typed}/notes/new", data={
        "csrf": csrf_of(page.text), "once": _once_of(page.text), "kind": "progress",
        "writtenOn": japan_today().isoformat(), "body": "電話で様子を確認した"})
    assert written.status_code == 303 and case_id in written.headers["location"]
    unknown = browser_client.get(f"/console/m/{CITY_A}/cases/R1-999999/notes/new")
    assert unknown.status_code == 404
