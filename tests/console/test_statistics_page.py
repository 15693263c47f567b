"""The statistics page: the fiscal year's figures by name, in 令和, with SVG charts, downloads,
issuing and issued reports (reproduced byte for byte); contractor admins see their own."""

from __future__ import annotations

import re

from console_steps import sign_in
from world import CITY_A, NPO, consultation_command

from yorisoi.infra.clock import japan_today


def _supervisor(client) -> None:  # noqa: ANN001
    sign_in(client, "municipality", CITY_A, "a-supervisor", "municipal_supervisor")


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def _record(world) -> None:  # noqa: ANN001
    """One consultation by the NPO's specialist at its contracted site."""
    from world import consultation_command

    from yorisoi.services.context import ActingContext, acting_as

    staff = ActingContext(user_id="npo-staff-1", role="specialist", organisation_kind="contractor",
                          organisation_id=NPO, contract_id="contract-a-npo", site_id="a-hiroba")
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        rt.casework.record_consultation(consultation_command())
        rt.catch_up()


def test_the_statistics_page_counts_by_name_in_the_japanese_fiscal_year(
        console_world, browser_client) -> None:  # noqa: ANN001
    _record(console_world)
    _supervisor(browser_client)
    page = browser_client.get(f"/console/m/{CITY_A}/statistics")
    assert page.status_code == 200, page.text
    text = _text(page.text)
    assert "実施状況の統計" in text and "令和" in text and "年度" in text
    assert "ひろば" in text  # the site by its name
    assert "a-hiroba" not in text
    assert re.search(r"相談件数（延べ）\s*1\b", text)
    assert "発達" in text or "development" not in text  # themes by their labels
    year = japan_today().year if japan_today().month >= 4 else japan_today().year - 1
    earlier = browser_client.get(f"/console/m/{CITY_A}/statistics?fy={year - 1}")
    assert earlier.status_code == 200
    assert re.search(r"相談件数（延べ）\s*0\b", _text(earlier.text))


def test_the_oversight_page_names_sites_and_contractors(console_world, browser_client) -> None:  # noqa: ANN001
    _record(console_world)
    _supervisor(browser_client)
    text = _text(browser_client.get(f"/console/m/{CITY_A}/oversight").text)
    assert "NPO法人 ひだまり" in text
    assert "npo-hidamari" not in text and "a-hiroba" not in text
    assert "令和" in text


def test_a_specialist_has_no_statistics_page(console_world, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
    assert browser_client.get(f"/console/m/{CITY_A}/statistics").status_code == 403


def _year() -> int:
    today = japan_today()
    return today.year if today.month >= 4 else today.year - 1


def test_the_supervisor_sees_charts_downloads_issues_and_gets_the_issued_file_again(
        console_world, browser_client) -> None:  # noqa: ANN001
    import csv
    import io

    import openpyxl

    _record(console_world)
    _supervisor(browser_client)
    base = f"/console/m/{CITY_A}/statistics"
    page = browser_client.get(f"{base}?fy={_year()}")
    assert page.status_code == 200, page.text
    assert page.text.count("<svg") >= 3 and 'role="img"' in page.text  # months, channels, themes
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # nothing from elsewhere
    assert re.search(r"実人数（世帯）\s*1\b", _text(page.text))

    xlsx = browser_client.get(f"{base}/report.xlsx?fy={_year()}")
    assert xlsx.status_code == 200 and "spreadsheetml" in xlsx.headers["content-type"]
    assert "attachment" in xlsx.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["月別"]
    assert [c.value for c in sheet[sheet.max_row]][:3] == ["合計", 1, 1]
    got = browser_client.get(f"{base}/report.csv?fy={_year()}&form=prefecture")
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"), newline="")))
    monthly = rows[rows.index(["月別の実施状況"]) + 1:]
    assert monthly[0][:2] == ["月", "相談件数（延べ）"]
    assert "*" in [v for r in monthly[1:13] for v in r]  # the 1 is suppressed for the prefecture

    submitted = browser_client.get(f"{base}?fy={_year()}&form=prefecture").text
    assert "<td>*</td>" in submitted  # the tables as submitted: 1 suppressed…
    assert re.search(r"<svg[^>]*>.*?>1</text>", submitted, re.S)  # …the charts: the real count
    once = re.search(r'name="once" value="([^"]+)"', page.text).group(1)
    form = {"csrf": re.search(r'name="csrf" value="([^"]+)"', page.text).group(1),
            "once": once, "fy": str(_year()), "form": "annual"}
    issued = browser_client.post(f"{base}/issue", data=form)
    assert issued.status_code == 303, issued.text
    assert browser_client.post(f"{base}/issue", data=form).status_code == 303  # same key: once
    listed = browser_client.get(issued.headers["location"])
    ids = set(re.findall(r"/statistics/issued/([0-9a-f-]{36})\.xlsx", listed.text))
    assert len(ids) == 1 and "保存しました" in listed.text
    (report_id,) = ids
    _record(console_world)  # a later consultation does not change the issued file
    again = browser_client.get(f"{base}/issued/{report_id}.xlsx")
    assert again.status_code == 200
    assert [c.value for c in openpyxl.load_workbook(io.BytesIO(again.content))["月別"][
        sheet.max_row]][:2] == ["合計", 1]
    changes = browser_client.get(f"{base}/issued/{report_id}/changes")
    assert changes.status_code == 200 and "発行時" in changes.text
    assert re.search(r"相談件数（延べ）\s*1\s*2", _text(changes.text))
    assert browser_client.get(f"{base}/issued/not-an-id.csv").status_code == 404
    assert browser_client.get(f"{base}/report.pdf").status_code == 404
    assert browser_client.get(f"{base}?fy=1899").status_code == 400


def test_a_contractor_admin_sees_only_its_contracts_figures(console_world, browser_client) -> None:  # noqa: ANN001
    from yorisoi.services.context import ActingContext, acting_as

    _record(console_world)
    municipal = ActingContext(user_id="a-staff", role="specialist",
                              organisation_kind="municipality", organisation_id=CITY_A,
                              contract_id=None, site_id="a-counter")
    with console_world.services.runtimes.lease(CITY_A) as rt, acting_as(municipal):
        rt.casework.record_consultation(consultation_command(site_id="a-counter",
                                                             contract_id=None))
        rt.catch_up()
    sign_in(browser_client, "contractor", NPO, "npo-admin", "contractor_admin")
    page = browser_client.get(f"/console/m/{CITY_A}/statistics")
    assert page.status_code == 200, page.text
    text = _text(page.text)
    assert re.search(r"相談件数（延べ）\s*1\b", text)
    assert "窓口" not in text  # the municipality's own site is not among its figures
