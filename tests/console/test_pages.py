"""Console pages through the app (TestClient): warnings, forms, attachments, roles, languages."""

from __future__ import annotations

import re
from pathlib import Path

from console_steps import csrf_of, sign_in
from world import CITY_A, NPO, open_case

from yorisoi.infra.access_log_store import AccessLogStore
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import i18n
from yorisoi.services.context import ActingContext, acting_as

TEMPLATES = Path(__file__).parents[2] / "infra" / "console" / "templates"


def _specialist(client) -> None:  # noqa: ANN001
    sign_in(client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))


def test_a_case_without_consent_outside_the_target_population_warns(
        console_world, browser_client) -> None:  # noqa: ANN001
    case_id = open_case(console_world)  # a grandmother's call: no consent on file
    _specialist(browser_client)
    page = browser_client.get(f"/console/m/{CITY_A}/cases/{case_id}")
    assert page.status_code == 200
    assert "記録の作成に関する有効な同意がありません" in page.text
    assert "支援対象（§3）の範囲外の世帯です。理由：祖母からの相談" in page.text
    assert "要保護児童対策地域協議会" not in page.text


def test_a_council_case_meeting_asks_for_the_recorded_decision(
        console_world, browser_client) -> None:  # noqa: ANN001
    case_id = open_case(console_world)
    staff = ActingContext(user_id="seed", role="specialist", organisation_kind="municipality",
                          organisation_id=CITY_A, contract_id="contract-a-npo",
                          site_id="a-hiroba")
    with console_world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        import uuid

        rt.casework.mark_council_case(uuid.UUID(case_id), council_case=True,
                                      expected_version=None, writable_contract_ids=None)
        rt.catch_up()
    _specialist(browser_client)
    assert "要保護児童対策地域協議会（要対協）で扱っている" in browser_client.get(
        f"/console/m/{CITY_A}/cases/{case_id}").text
    url = f"/console/m/{CITY_A}/cases/{case_id}/meetings/new"
    form = browser_client.get(url)
    day = japan_today().isoformat()
    meeting = {"csrf": csrf_of(form.text), "startsAt": f"{day}T14:00", "endsAt": f"{day}T15:00",
               "internalParticipants.0.userId": "npo-staff-1",
               "internalParticipants.0.role": "specialist"}
    refused = browser_client.post(url, data=meeting)
    assert refused.status_code == 400
    error = re.search(r'<p class="error" id="(f-councilDecision-error)">([^<]+)</p>', refused.text)
    assert error, refused.text
    assert f'aria-describedby="f-councilDecision-hint {error.group(1)}"' in refused.text
    accepted = browser_client.post(url, data={**meeting,
                                              "councilDecision": "協議会の了承を得て開催"})
    assert accepted.status_code == 303
    assert "/console/m/131016/meetings/" in accepted.headers["location"]


def test_documents_upload_and_download_through_a_short_lived_link(
        console_world, browser_client) -> None:  # noqa: ANN001
    case_id = open_case(console_world)
    _specialist(browser_client)
    url = f"/console/m/{CITY_A}/cases/{case_id}/attachments/new"
    token = csrf_of(browser_client.get(url).text)
    wrong = browser_client.post(url, data={"csrf": token, "kind": "consent_form"},
                                files={"file": ("form.txt", b"hello", "text/plain")})
    assert wrong.status_code == 400
    assert "PDF・PNG・JPEGのファイルを添付してください。" in wrong.text
    pdf = b"%PDF-1.4\n% signed consent form\n%%EOF\n"
    stored = browser_client.post(url, data={"csrf": token, "kind": "consent_form"},
                                 files={"file": ("架空花子の同意書.pdf", pdf, "application/pdf")})
    assert stored.status_code == 303, stored.text
    page = browser_client.get(f"/console/m/{CITY_A}/cases/{case_id}").text
    (link,) = re.findall(rf"/console/m/{CITY_A}/cases/{case_id}/attachments/[0-9a-f-]{{36}}", page)
    assert "架空花子" not in page  # file names are not kept: the kind, type and size name it
    assert "同意書.pdf（" in page
    redirect = browser_client.get(link)
    assert redirect.status_code == 303 and redirect.headers["location"].startswith("/files/")
    assert browser_client.get(redirect.headers["location"]).content == pdf


def test_supervisors_see_oversight_and_complaints_and_specialists_do_not(
        browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "municipality", CITY_A, "a-supervisor", "municipal_supervisor")
    assert browser_client.get("/console/").headers["location"].endswith(
        f"/m/{CITY_A}/oversight")
    oversight = browser_client.get(f"/console/m/{CITY_A}/oversight")
    assert oversight.status_code == 200 and "集計値のみ" in oversight.text
    complaints = browser_client.get(f"/console/m/{CITY_A}/complaints")
    assert complaints.status_code == 200 and "苦情・要望" in complaints.text
    browser_client.cookies.clear()
    _specialist(browser_client)
    refused = browser_client.get(f"/console/m/{CITY_A}/oversight")
    assert refused.status_code == 403
    assert "この操作を行う権限がありません" in refused.text


def test_console_reads_of_personal_data_are_logged(console_world, browser_client) -> None:  # noqa: ANN001
    case_id = open_case(console_world)
    _specialist(browser_client)
    assert browser_client.get(f"/console/m/{CITY_A}/cases/{case_id}").status_code == 200
    with console_world.services.runtimes.lease(CITY_A) as rt:
        rows = AccessLogStore(rt.casework.database).rows()
    mine = [r for r in rows if r["actor"] == "npo-staff-1"]
    assert {r["channel"] for r in mine} == {"console"}
    assert "household" in {r["record_kind"] for r in mine}
    assert all("架空" not in r["fields"] for r in mine)  # names of fields, never values


def test_english_is_one_switch_away(browser_client) -> None:  # noqa: ANN001
    _specialist(browser_client)
    switched = browser_client.get(f"/console/lang?to=en&next=/console/m/{CITY_A}/tasks")
    assert switched.status_code == 303
    page = browser_client.get(switched.headers["location"])
    assert '<html lang="en">' in page.text and "<h1>My tasks</h1>" in page.text
    # Only console paths are followed after a switch.
    assert browser_client.get("/console/lang?to=ja&next=https://evil.example/").headers[
        "location"] == "/console/"


def test_every_text_key_in_the_templates_is_in_the_catalogue() -> None:
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_.0-9]+)'[,)]", template.read_text()))
    missing = sorted(k for k in used if k not in i18n.catalogue())
    assert not missing, missing


def test_compliance_pages_answer_auditors_only(console_world, browser_client) -> None:  # noqa: ANN001
    case_id = open_case(console_world)
    _specialist(browser_client)
    assert browser_client.get(f"/console/m/{CITY_A}/cases/{case_id}").status_code == 200
    assert browser_client.get(f"/console/m/{CITY_A}/audit").status_code == 403
    browser_client.cookies.clear()
    sign_in(browser_client, "municipality", CITY_A, "a-auditor", "compliance_auditor")
    for path in ("", "/break-glass", "/disposals", "/chain", f"/records?id={case_id}",
                 "/people?actor=npo-staff-1"):
        page = browser_client.get(f"/console/m/{CITY_A}/audit{path}")
        assert page.status_code == 200, (path, page.text[:500])
        assert "架空" not in page.text, path
    chain = browser_client.get(f"/console/m/{CITY_A}/audit/chain").text
    # Nothing was tampered with here, so the chain must verify (not merely render a verdict).
    assert "改ざんは検出されませんでした" in chain and "不整合があります" not in chain
    person = browser_client.get(f"/console/m/{CITY_A}/audit/people?actor=npo-staff-1").text
    assert "保護者" in person and "guardians" not in person  # the read, by field name in Japanese
    assert browser_client.get(f"/console/m/{CITY_A}/audit/records?id=not-a-case"
                              ).status_code == 400


def test_the_case_list_filters_by_site_and_opens_a_case_by_its_number(
        console_world, browser_client) -> None:  # noqa: ANN001
    hub = open_case(console_world)
    counter = open_case(console_world, site_id="a-counter", contract_id=None)
    sign_in(browser_client, "municipality", CITY_A, "a-supervisor", "municipal_supervisor")
    everything = browser_client.get(f"/console/m/{CITY_A}/cases").text
    assert hub[:8] in everything and counter[:8] in everything
    counter_only = browser_client.get(f"/console/m/{CITY_A}/cases?site=a-counter").text
    assert counter[:8] in counter_only and hub[:8] not in counter_only
    jump = browser_client.get(f"/console/m/{CITY_A}/cases?q={hub}")
    assert jump.status_code == 303 and jump.headers["location"].endswith(hub)
    # A contractor's specialist never sees the municipality's own counter, filter or not.
    browser_client.cookies.clear()
    _specialist(browser_client)
    assert counter[:8] not in browser_client.get(
        f"/console/m/{CITY_A}/cases?site=a-counter").text
