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
