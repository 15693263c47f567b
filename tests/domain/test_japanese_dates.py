"""Dates as typed at a counter: 和暦, abbreviations, western forms, full-width digits."""

from __future__ import annotations

from datetime import date

import pytest

from yorisoi.domain.japanese_dates import parse_typed_date, wareki


@pytest.mark.parametrize("typed", [
    "令和6年4月1日", "R6.4.1", "r6/4/1", "Ｒ６．４．１", "令和６年４月１日", "2024/4/1",
    "2024-04-01", "２０２４年４月１日", "2024年4月1日", "20240401", "㋿6年4月1日", " 令和6年 4月 1日 ",
])
def test_every_common_form_of_one_day(typed):
    assert parse_typed_date(typed) == date(2024, 4, 1)


def test_eras_and_their_boundaries():
    assert parse_typed_date("令和元年5月1日") == date(2019, 5, 1)
    assert parse_typed_date("H31.4.30") == date(2019, 4, 30)
    assert parse_typed_date("平成元年1月8日") == date(1989, 1, 8)
    assert parse_typed_date("昭和64年1月7日") == date(1989, 1, 7)
    assert parse_typed_date("S60.10.10") == date(1985, 10, 10)
    assert wareki(date(1920, 1, 1)) == "大正9年1月1日"


@pytest.mark.parametrize("typed", [
    "平成32年1月1日", "令和0年1月1日", "令和元年4月30日", "2024-02-30", "2024/13/1", "たかはし",
    "090-1234-5678", "", "R8-000123", "1" * 30,
])
def test_what_is_not_a_date(typed):
    assert parse_typed_date(typed) is None
