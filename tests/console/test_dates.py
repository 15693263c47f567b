"""The Japanese era calendar (和暦) and Japan time as the console shows them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from yorisoi.infra.console.dates import show_date, show_moment, wareki


@pytest.mark.parametrize(("day", "expected"), [
    (date(2019, 5, 1), "令和元年5月1日"),  # the first day of 令和
    (date(2019, 4, 30), "平成31年4月30日"),  # the last day of 平成
    (date(2019, 12, 31), "令和元年12月31日"),
    (date(2020, 1, 1), "令和2年1月1日"),
    (date(2026, 4, 1), "令和8年4月1日"),
    (date(1989, 1, 8), "平成元年1月8日"),
    (date(1989, 1, 7), "昭和64年1月7日"),
    (date(2000, 2, 29), "平成12年2月29日"),
])
def test_era_dates(day: date, expected: str) -> None:
    assert wareki(day) == expected


def test_dates_before_showa_stay_gregorian() -> None:
    assert wareki(date(1900, 1, 1)) == "1900-01-01"


def test_japanese_dates_carry_the_weekday_and_english_ones_are_gregorian() -> None:
    assert show_date("2026-04-01", "ja") == "令和8年4月1日（水）"
    assert show_date("2026-04-01", "en") == "Wed 01 Apr 2026"
    assert show_date(None, "ja") == "—"


def test_moments_are_shown_in_japan_time() -> None:
    # 15:30 UTC on 30 April 2019 is already 1 May (令和元年) in Japan.
    moment = datetime(2019, 4, 30, 15, 30, tzinfo=UTC)
    assert show_moment(moment, "ja") == "令和元年5月1日 00:30"
    assert show_moment(moment.isoformat(), "en") == "2019-05-01 00:30 JST"
