"""The supervisor's statistics page: the fiscal year's counts, by name, in 令和."""

from __future__ import annotations

import re

from console_steps import sign_in
from world import CITY_A, NPO

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
