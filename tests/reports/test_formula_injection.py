"""No exported cell is read as a formula: names starting with = + - @ or a tab, through every export.

A site, a contractor and a theme are named like formulas; the annual and the
prefecture forms go out as CSV and .xlsx (live and issued) and every such
name arrives quoted — as text — and nothing else is changed.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import openpyxl
import pytest
from world import CITY_A, OPERATOR, consultation_command

from yorisoi.infra.clock import japan_today
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.spreadsheet_safety import neutralise

NASTY = ["=HYPERLINK(\"http://example.invalid\",\"x\")", "+SUM(1,2)", "-2+3", "@cmd",
         "\tsite"]


@pytest.mark.parametrize("value", NASTY)
def test_the_neutraliser_quotes_formula_starts_and_leaves_the_rest(value: str) -> None:
    assert neutralise(value) == "'" + value
    assert neutralise("ひろば") == "ひろば" and neutralise(-3) == -3 and neutralise(2.5) == 2.5


def test_formula_like_names_go_through_every_report_export_as_text(sqlite_settings) -> None:
    from world import build_world

    from yorisoi.services.reports_issue import issue_report, live_report, reproduce

    world = build_world(sqlite_settings)
    d = world.services.directory
    today = japan_today()
    try:
        with acting_as(OPERATOR):
            d.provision_contractor(contractor_id="npo-formula", name=NASTY[1])
            for i, name in enumerate([NASTY[0], NASTY[2], NASTY[3], NASTY[4]]):
                d.register_site(municipality_code=CITY_A, site_id=f"a-f{i}", name=name,
                                site_type="kihon")
            d.sign_contract(contract_id="contract-formula", municipality_code=CITY_A,
                            contractor_id="npo-formula", site_ids=["a-f0"],
                            starts_on=today - timedelta(days=30),
                            ends_on=today + timedelta(days=300))
        fy = today.year if today.month >= 4 else today.year - 1
        with world.services.runtimes.lease(CITY_A) as rt:
            for i in range(4):
                contract = "contract-formula" if i == 0 else None
                staff = ActingContext(user_id="s", role="specialist",
                                      organisation_kind="municipality", organisation_id=CITY_A,
                                      contract_id=contract, site_id=f"a-f{i}")
                with acting_as(staff):
                    rt.casework.record_consultation(consultation_command(
                        site_id=f"a-f{i}", contract_id=contract,
                        occurred_on=today - timedelta(days=1)))
            rt.catch_up()
            registry = d.registry
            exports = []
            for form in ("annual", "prefecture"):
                exports.append(live_report(rt.casework, registry, CITY_A, form, fy))
                with acting_as(ActingContext(user_id="boss", role="municipal_supervisor",
                                             organisation_kind="municipality",
                                             organisation_id=CITY_A)):
                    report, files = issue_report(rt.casework, registry, CITY_A, form, fy)
                exports += [files, reproduce(rt.casework, report)]
        for files in exports:
            cells = [v for row in csv.reader(io.StringIO(files.csv.decode("utf-8-sig"),
                                                         newline="")) for v in row]
            book = openpyxl.load_workbook(io.BytesIO(files.xlsx))
            cells_x = [c.value for sheet in book for row in sheet.iter_rows() for c in row
                       if isinstance(c.value, str)]
            for text in (cells, cells_x):
                assert not [v for v in text if v[:1] in ("=", "+", "-", "@", "\t")], text
            shown = set(cells)
            if files.report.form == "annual":  # names it lists by site and contractor
                assert {"'" + NASTY[0], "'" + NASTY[1], "'" + NASTY[2], "'" + NASTY[3],
                        "'" + NASTY[4]} <= shown
    finally:
        world.services.close()
