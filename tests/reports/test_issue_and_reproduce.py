"""Issue 20's scenario: issue the annual report, correct and dispose, reproduce it byte for byte.

Also: the files open in readers (csv with BOM and CRLF, .xlsx with openpyxl)
with Japanese headers and totals, the diff against today's figures names what
changed, and the live view equals a fold of the log (rebuild = live).
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import openpyxl
from key_destruction import destroy_key
from world import CITY_A, consultation_command

from yorisoi.infra.clock import japan_today
from yorisoi.services.context import ActingContext, acting_as

STAFF = ActingContext(user_id="npo-staff-1", role="specialist", organisation_kind="contractor",
                      organisation_id="npo-hidamari", contract_id="contract-a-npo",
                      site_id="a-hiroba")
SUPERVISOR = ActingContext(user_id="a-supervisor", role="municipal_supervisor",
                           organisation_kind="municipality", organisation_id=CITY_A)


def _fy() -> int:
    today = japan_today()
    return today.year if today.month >= 4 else today.year - 1


def _record_year(rt):
    """Two families; the first comes back once (same year), by outreach."""
    day = japan_today() - timedelta(days=1)
    with acting_as(STAFF):
        first = rt.casework.record_consultation(consultation_command(occurred_on=day))
        again = rt.casework.record_consultation(consultation_command(
            case_id=first.case_id, household=None, consent=None, occurred_on=day,
            channel="outreach", themes=["development", "health"]))
        second = rt.casework.record_consultation(consultation_command(occurred_on=day))
    rt.catch_up()
    return first, again, second


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    text = data[3:].decode("utf-8")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline="")))


def _table(rows: list[list[str]], title: str) -> list[list[str]]:
    start = next(i for i, r in enumerate(rows) if r == [title]) + 1
    end = next((i for i in range(start, len(rows)) if rows[i] == []), len(rows))
    return rows[start:end]


def test_an_issued_report_is_reproduced_byte_for_byte_after_a_correction_and_a_disposal(world):
    from yorisoi.services.report_figures import fold_cells, in_scope, log_head
    from yorisoi.services.reports import fiscal_months
    from yorisoi.services.reports_issue import (
        diff_with_today,
        issue_report,
        issued,
        live_cells,
        reproduce,
    )

    registry = world.services.directory.registry
    fy = _fy()
    with world.services.runtimes.lease(CITY_A) as rt:
        first, _again, second = _record_year(rt)
        with acting_as(SUPERVISOR):
            report, files = issue_report(rt.casework, registry, CITY_A, "annual", fy)
        rt.catch_up()
        assert report.issued_by == "a-supervisor"
        assert report.position == log_head(rt.casework.database) - 1  # itself the next

        # The files open in readers: headers in Japanese, totals that add up.
        rows = _csv_rows(files.csv)
        assert rows[0] == ["利用者支援事業 実施状況報告（年度）"] and rows[1][1].endswith("年度")
        monthly = _table(rows, "月別の実施状況")
        assert monthly[0][:3] == ["月", "相談件数（延べ）", "実人数"]
        assert monthly[-1][:5] == ["合計", "3", "2", "2", "0"]  # 延べ 3, 実人数 2, 新規 2, 継続 0
        channels = _table(rows, "相談方法別の相談件数")
        assert ["訪問・アウトリーチ", "1"] in channels and channels[-1] == ["合計", "3"]
        book = openpyxl.load_workbook(io.BytesIO(files.xlsx))
        assert "月別" in book.sheetnames and "相談方法別" in book.sheetnames
        sheet = book["月別"]
        assert sheet.freeze_panes == "B3"
        assert [c.value for c in sheet[2]][:3] == ["月", "相談件数（延べ）", "実人数"]
        assert [c.value for c in sheet[sheet.max_row]][:3] == ["合計", 3, 2]
        assert "令和" in sheet["A1"].value
        assert sheet.column_dimensions["B"].width > 8

        # A year later: a correction, a disposal and one more consultation.
        with acting_as(STAFF):
            rt.casework.correct_consultation(
                first.case_id, first.consultation_id, changes={"asked": "訂正後の内容"},
                reason="聞き取りの誤り", expected_version=None, writable_contract_ids=None)
            rt.casework.record_consultation(consultation_command(
                case_id=second.case_id, household=None, consent=None,
                occurred_on=japan_today() - timedelta(days=1)))
        assert destroy_key(rt, first.household_id)
        rt.catch_up()

        again_files = reproduce(rt.casework, issued(rt.casework, report.id))
        assert again_files.csv == files.csv
        assert again_files.xlsx == files.xlsx
        assert again_files.csv_sha256 == report.csv_sha256
        assert again_files.xlsx_sha256 == report.xlsx_sha256

        # What changed since: one more consultation, on a family already counted.
        changes = diff_with_today(rt.casework, registry, issued(rt.casework, report.id))
        monthly_changes = {(c.column, c.then, c.now) for c in changes
                           if c.table == "月別の実施状況" and c.row == "合計"}
        assert ("相談件数（延べ）", 3, 4) in monthly_changes
        assert not any(c.column == "実人数" for c in changes)

        # The live view is the fold of the log (and so is a rebuild).
        months = fiscal_months(fy)
        live = live_cells(rt.casework, fy, None)
        folded = in_scope(fold_cells(rt.casework.database, rt.casework.mapper,
                                     log_head(rt.casework.database)), months[0], months[-1], None)
        assert live == folded
        assert live[(_month_of_yesterday(), "a-hiroba", "contract-a-npo", "households",
                     "new")] == 2
        (view,) = [p for p in rt.projectors if p.view.name == "reports"]
        view.rebuild()
        assert live_cells(rt.casework, fy, None) == folded

def _month_of_yesterday() -> str:
    return (japan_today() - timedelta(days=1)).isoformat()[:7]


def test_the_sites_table_gives_type_hours_and_specialists_as_of_the_year(sqlite_settings) -> None:  # noqa: ANN001
    from world import build_world

    from yorisoi.services.reports_issue import live_report

    world = build_world(sqlite_settings)
    today = japan_today()
    try:
        with world.services.runtimes.lease(CITY_A) as rt, acting_as(SUPERVISOR):
            app = rt.casework
            app.save_site_profile(CITY_A, "a-counter", site_type="tokutei", address="千代田区1-1",
                                  contract_id=None, site_contracts={}, expected_version=None)
            app.set_site_schedule(CITY_A, "a-counter", weekly={
                d: ("09:00", "17:00") for d in ("mon", "tue", "wed", "thu", "fri")},
                closed_on_public_holidays=True, expected_version=None)
            ids = []
            for who, kind in (("sp-1", "dedicated"), ("sp-2", "assisting"), ("sp-3", "assisting")):
                member = app.register_staff_member(
                    subject=who, display_name="架空 職員", organisation_kind="municipality",
                    organisation_id=CITY_A, roles=["specialist"], qualifications=[],
                    allowed_organisations={CITY_A})
                app.assign_staff(member.id, site_id="a-counter", kind=kind,
                                 starts_on=today - timedelta(days=10), ends_on=None,
                                 organisation_id=None, assignable_sites=None)
                ids.append(member.id)
            app.record_staff_training(ids[1], kind="kosodate_shienin_senmon",
                                      completed_on=today - timedelta(days=5), valid_until=None,
                                      organisation_id=None)
            rt.catch_up()
            files = live_report(app, world.services.directory.registry, CITY_A, "annual",
                                _fy())
        (row,) = files.report.table("site_profiles").rows
        assert row == ["窓口", "特定型", "直営", 5, 40.0, 1, 2, 1]
        assert "専任の利用者支援専門員" in files.report.table("site_profiles").headers
    finally:
        world.services.close()
