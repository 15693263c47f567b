"""Japan time: municipal dates (consultation days, fiscal years) are JST dates."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


def japan_now() -> datetime:
    return datetime.now(JST)


def japan_today() -> date:
    """Today's date in Japan (a UTC server says 'yesterday' until 09:00 JST)."""
    return japan_now().date()


def municipal_closed_days(start: date, end: date) -> frozenset[date]:
    """Days a municipal office is closed in [start, end]: 国民の祝日 and 年末年始 (29 Dec – 3 Jan).

    Public holidays come from the ``holidays`` package's Japanese calendar
    (substitute and citizens' holidays included); weekends are not listed here.
    """
    import holidays  # imported when needed: the calendar is built per year range

    years = range(start.year, end.year + 1)
    closed = set(holidays.country_holidays("JP", years=years))
    for year in years:
        closed |= {date(year, 12, d) for d in (29, 30, 31)} | {date(year, 1, d) for d in (1, 2, 3)}
    return frozenset(d for d in closed if start <= d <= end)
