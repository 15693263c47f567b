"""Japan-time helpers: the municipal calendar."""

from __future__ import annotations

from datetime import date


def test_municipal_closed_days_hold_public_holidays_and_the_new_year_break():
    from yorisoi.infra.clock import municipal_closed_days

    closed = municipal_closed_days(date(2026, 12, 1), date(2027, 1, 31))
    assert {date(2026, 12, 29), date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 3),
            date(2027, 1, 11)} <= closed  # 成人の日 2027 is the second Monday
    assert date(2026, 12, 28) not in closed and date(2027, 1, 4) not in closed
    # A substitute holiday: 2026-05-06 (憲法記念日 fell on a Sunday).
    assert date(2026, 5, 6) in municipal_closed_days(date(2026, 5, 1), date(2026, 5, 31))
