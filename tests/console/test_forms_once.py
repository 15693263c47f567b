"""Console forms save once: a replayed POST, or Back and save again, answers the first save."""

from __future__ import annotations

import re

from console_steps import csrf_of, sign_in
from world import CITY_A, NPO, head, open_case

from yorisoi.infra.clock import japan_today


def _once_of(html: str) -> str:
    found = re.search(r'name="once" value="([^"]+)"', html)
    assert found, "no one-time key on the form"
    return found.group(1)


def _notes(world) -> int:  # noqa: ANN001
    with world.services.runtimes.lease(CITY_A) as rt:
        return sum(1 for n in rt.casework.recorder.select_notifications(start=1, limit=1000)
                   if "SupportNote" in n.topic)


def test_a_replayed_form_saves_once(console_world, browser_client) -> None:  # noqa: ANN001
    case_id = open_case(console_world)
    sign_in(browser_client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
    url = f"/console/m/{CITY_A}/cases/{case_id}/notes/new"
    page = browser_client.get(url).text
    form = {"csrf": csrf_of(page), "once": _once_of(page), "kind": "progress",
            "writtenOn": japan_today().isoformat(), "body": "電話で様子を確認した"}
    first = browser_client.post(url, data=form)
    assert first.status_code == 303, first.text
    after_first = head(console_world)
    # The identical POST again (a replay), then Back and save (the same rendered form).
    for _ in range(2):
        again = browser_client.post(url, data=form)
        assert again.status_code == 303
        assert again.headers["location"] == first.headers["location"]
    assert head(console_world) == after_first
    assert _notes(console_world) == 1
    # A new form is a new key: a second note on purpose is saved.
    fresh = browser_client.get(url).text
    assert _once_of(fresh) != form["once"]
    second = browser_client.post(url, data={**form, "once": _once_of(fresh)})
    assert second.status_code == 303
    assert _notes(console_world) == 2


def test_a_changed_form_under_a_used_key_is_refused(console_world, browser_client) -> None:  # noqa: ANN001
    case_id = open_case(console_world)
    sign_in(browser_client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
    url = f"/console/m/{CITY_A}/cases/{case_id}/notes/new"
    page = browser_client.get(url).text
    form = {"csrf": csrf_of(page), "once": _once_of(page), "kind": "progress",
            "writtenOn": japan_today().isoformat(), "body": "一回目"}
    assert browser_client.post(url, data=form).status_code == 303
    changed = browser_client.post(url, data={**form, "body": "二回目"})
    assert changed.status_code == 400
    assert "送信済みのフォーム" in changed.text
    assert _notes(console_world) == 1
