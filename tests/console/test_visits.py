"""Outreach visits in the console (TestClient): plan from the case, record done with the
consultation held on it, the follow-up in my tasks, not met, calling off, refused forms."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from console_steps import csrf_of, sign_in
from world import CITY_A, NPO, build_world, consultation_command

from yorisoi.infra.clock import japan_today
from yorisoi.services.context import ActingContext, acting_as

PURPOSE = "産後の様子を伺う（架空）"
SUMMARY = "授乳の悩みを伺った（架空）"


@pytest.fixture(scope="module")
def vworld(tmp_path_factory):
    from yorisoi.infra.settings import Settings

    built = build_world(Settings(backend="sqlite", data_dir=tmp_path_factory.mktemp("visits"),
                                 environment="test"))
    yield built
    built.services.close()


@pytest.fixture
def web(vworld):
    from fastapi.testclient import TestClient

    from yorisoi.infra.http.app import create_app

    app = create_app(vworld.services.settings, vworld.services)
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        sign_in(client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
        yield client


def _case(world) -> str:
    """A family with consent on file at the NPO's site."""
    staff = ActingContext(user_id="npo-staff-1", role="specialist", organisation_kind="contractor",
                          organisation_id=NPO, contract_id="contract-a-npo", site_id="a-hiroba")
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        recorded = rt.casework.record_consultation(consultation_command())
        rt.catch_up()
    return str(recorded.case_id)


def _post(client, url: str, page_url: str, data: dict):
    return client.post(url, data={"csrf": csrf_of(client.get(page_url).text), **data})


def _plan(client, case_id: str, **fields):
    url = f"/console/m/{CITY_A}/cases/{case_id}/visits/new"
    data = {"kind": "home_visit", "plannedOn": japan_today().isoformat(), "startsAt": "10:00",
            "endsAt": "11:00", "visitors.0": "npo-staff-1", "place": "home",
            "purpose": PURPOSE, **fields}
    return _post(client, url, url, data)


def test_plan_then_record_done_with_a_consultation(vworld, web) -> None:
    case_id = _case(vworld)
    case_page = web.get(f"/console/m/{CITY_A}/cases/{case_id}")
    assert f"/cases/{case_id}/visits/new" in case_page.text
    form = web.get(f"/console/m/{CITY_A}/cases/{case_id}/visits/new")
    assert form.status_code == 200
    assert "家庭訪問" in form.text and "住所は入力しません" in form.text

    planned = _plan(web, case_id)
    assert planned.status_code == 303, planned.text
    visit_url = planned.headers["location"]
    page = web.get(visit_url)
    assert page.status_code == 200
    assert "保存しました" in page.text and PURPOSE in page.text and "自宅" in page.text
    assert "npo-staff-1" not in page.text  # people by name, never by sign-in id

    calendar = web.get(f"/console/m/{CITY_A}/visits")
    assert visit_url in calendar.text and PURPOSE in calendar.text
    tasks = web.get(f"/console/m/{CITY_A}/tasks")
    assert "訪問（アウトリーチ）" in tasks.text and PURPOSE in tasks.text

    follow_up = (japan_today() + timedelta(days=14)).isoformat()
    done = _post(web, visit_url + "/done", visit_url + "/done", {
        "doneOn": japan_today().isoformat(), "visitors.0": "npo-staff-1", "outcome": "consulted",
        "summary": SUMMARY, "nextStep": "revisit", "nextStepNote": "二週間後に再訪（架空）",
        "followUpOn": follow_up, "themes": "daily_worries", "asked": "授乳がうまくいかない",
        "wishes": "助産師に相談したい", "direction": "産後ケアの案内", "expectedVersion": "1"})
    assert done.status_code == 303, done.text
    page = web.get(visit_url)
    assert SUMMARY in page.text and "実施済み" in page.text and "相談記録" in page.text
    case_page = web.get(f"/console/m/{CITY_A}/cases/{case_id}")
    assert "訪問・アウトリーチ" in case_page.text  # the consultation's channel
    tasks = web.get(f"/console/m/{CITY_A}/tasks")
    assert "訪問後の次回対応" in tasks.text and "二週間後に再訪（架空）" in tasks.text

    # The done form of a visit already done leads back to the visit.
    assert web.get(visit_url + "/done").status_code == 303
    completed = _post(web, visit_url + "/follow-up", visit_url,
                      {"completedOn": japan_today().isoformat()})
    assert completed.status_code == 303, completed.text
    assert "訪問後の次回対応" not in web.get(f"/console/m/{CITY_A}/tasks").text


def test_refused_forms_keep_the_text_and_name_the_field(vworld, web) -> None:
    case_id = _case(vworld)
    refused = _plan(web, case_id, place="", purpose="", endsAt="09:00", **{"visitors.0": ""})
    assert refused.status_code == 400
    assert "error-summary" in refused.text
    for field in ("purpose", "place", "endsAt"):
        assert f'id="f-{field}-error"' in refused.text, field
    assert 'id="f-visitors-error"' in refused.text
    planned = _plan(web, case_id, plannedOn="令和" + str(japan_today().year - 2018) + "年"
                    + f"{japan_today().month}月{japan_today().day}日")
    assert planned.status_code == 303, planned.text
    visit_url = planned.headers["location"]
    refused = _post(web, visit_url + "/done", visit_url + "/done", {
        "doneOn": (japan_today() + timedelta(days=1)).isoformat(), "outcome": "consulted",
        "summary": SUMMARY, "nextStep": "none"})
    assert refused.status_code == 400
    assert "未来の日付" in refused.text and SUMMARY in refused.text  # the text is kept

    not_met = _post(web, visit_url + "/not-met", visit_url + "/not-met", {
        "attemptedOn": japan_today().isoformat(), "reason": "absent", "nextStep": "revisit",
        "note": "不在票を投函（架空）"})
    assert not_met.status_code == 303, not_met.text
    page = web.get(visit_url)
    assert "会えず" in page.text and "不在" in page.text


def test_calling_off_and_an_unknown_visit(vworld, web) -> None:
    case_id = _case(vworld)
    visit_url = _plan(web, case_id).headers["location"]
    stale = _post(web, visit_url + "/cancel", visit_url, {"expectedVersion": "9"})
    assert stale.status_code == 400
    off = _post(web, visit_url + "/cancel", visit_url, {"cancelReason": "家族の希望（架空）"})
    assert off.status_code == 303
    page = web.get(visit_url)
    assert "この訪問は中止されました" in page.text and "家族の希望（架空）" in page.text
    assert web.get(f"/console/m/{CITY_A}/visits/{uuid.uuid4()}").status_code == 404
    assert web.get(f"/console/m/{CITY_A}/visits/not-an-id").status_code == 404
    listing = web.get(f"/console/m/{CITY_A}/cases/{case_id}/visits")
    assert listing.status_code == 200 and "中止" in listing.text


def test_the_visit_pages_in_english(vworld, web) -> None:
    case_id = _case(vworld)
    visit_url = _plan(web, case_id).headers["location"]
    assert web.get(f"/console/lang?to=en&next={visit_url}").status_code in (302, 303)
    page = web.get(visit_url)
    assert page.status_code == 200
    assert "Home visit" in page.text and "Record the visit" in page.text
    form = web.get(visit_url + "/done")
    assert "Consulted" in form.text and "Nothing planned" in form.text
    assert "Visits" in web.get(f"/console/m/{CITY_A}/visits").text


def _timeline(html: str) -> str:
    """The case page's timeline as a reader sees it (tags dropped)."""
    import re

    section = html.split('aria-labelledby="timeline-h"', 1)[1].split("</section>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section))


def test_visits_are_on_the_case_timeline_in_words(vworld, web) -> None:
    import re

    case_id = _case(vworld)
    made = _plan(web, case_id).headers["location"]
    missed = _plan(web, case_id).headers["location"]
    assert _post(web, made + "/done", made + "/done", {
        "doneOn": japan_today().isoformat(), "visitors.0": "npo-staff-1",
        "outcome": "consulted", "summary": SUMMARY, "nextStep": "revisit"}).status_code == 303
    assert _post(web, missed + "/not-met", missed + "/not-met", {
        "attemptedOn": japan_today().isoformat(), "reason": "absent",
        "nextStep": "phone_check"}).status_code == 303
    with vworld.services.runtimes.lease(CITY_A) as rt:
        rt.catch_up()
    text = _timeline(web.get(f"/console/m/{CITY_A}/cases/{case_id}").text)
    assert text.count("訪問の予定") == 2 and PURPOSE in text
    assert "訪問の実施" in text and SUMMARY in text and "相談に応じた" in text
    assert "訪問（会えなかった）" in text and "不在" in text and "電話で様子を確認" in text
    assert "家庭訪問" in text and "自宅" in text and "再訪問" in text
    # Codes and ids never reach the reader.
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text)
    for code in ("visit_", "home_visit", "not_met", "absent", "consulted", "npo-staff-1"):
        assert code not in text, code


def test_who_went_is_chosen_from_and_checked_against_the_organisations_staff(
        vworld, web) -> None:
    office = ActingContext(user_id="a-admin", role="municipal_admin",
                           organisation_kind="municipality", organisation_id=CITY_A)
    with vworld.services.runtimes.lease(CITY_A) as rt, acting_as(office):
        for subject, name, kind, org in (("npo-staff-9", "架空 九子", "contractor", NPO),
                                         ("a-nurse", "架空 市子", "municipality", CITY_A)):
            rt.casework.register_staff_member(
                subject=subject, display_name=name, organisation_kind=kind,
                organisation_id=org, roles=["specialist"], qualifications=[],
                allowed_organisations={CITY_A, NPO})
        rt.catch_up()
    case_id = _case(vworld)
    visit_url = _plan(web, case_id).headers["location"]
    form = web.get(visit_url + "/done").text
    assert "架空 九子" in form and "架空 市子" not in form  # her organisation's staff only
    refused = _post(web, visit_url + "/done", visit_url + "/done", {
        "doneOn": japan_today().isoformat(), "visitors.0": "npo-staff-1",
        "visitors.1": "a-nurse", "outcome": "consulted", "summary": SUMMARY,
        "nextStep": "none"})
    assert refused.status_code == 400
    assert "記録する組織の職員名簿に登録されている職員" in refused.text
    assert 'id="f-visitors-error"' in refused.text and SUMMARY in refused.text
    done = _post(web, visit_url + "/done", visit_url + "/done", {
        "doneOn": japan_today().isoformat(), "visitors.0": "npo-staff-1",
        "visitors.1": "npo-staff-9", "outcome": "consulted", "summary": SUMMARY,
        "nextStep": "none"})
    assert done.status_code == 303, done.text
    assert "架空 九子" in web.get(visit_url).text
