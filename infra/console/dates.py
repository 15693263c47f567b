"""Dates for people: Japan time, and the Japanese era calendar (和暦) that municipal forms use.

Stored dates are ISO strings (calendar dates in Japan time) and stored moments
are UTC timestamps; both are shown in Japan time.  Eras: 令和 from 2019-05-01,
平成 from 1989-01-08, 昭和 from 1926-12-25; the first year of an era is 元年.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from yorisoi.infra.clock import JST

# (first day, name), newest first.
ERAS: tuple[tuple[date, str], ...] = (
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
    (date(1926, 12, 25), "昭和"),
)


def wareki(day: date) -> str:
    """``day`` in the era calendar, e.g. 令和元年5月1日; ISO before 昭和."""
    for first, name in ERAS:
        if day >= first:
            year = day.year - first.year + 1
            return f"{name}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return day.isoformat()


def _day(value: date | str | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return to_japan(value).date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def to_japan(moment: datetime | str) -> datetime:
    """A stored moment in Japan time (naive moments are taken as UTC, as stored)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(JST)


def show_date(value: date | str | None, lang: str) -> str:
    """A calendar date: 和暦 in Japanese (with the weekday), ISO in English."""
    day = _day(value)
    if day is None:
        return "—" if not value else str(value)
    if lang == "ja":
        return f"{wareki(day)}（{'月火水木金土日'[day.weekday()]}）"
    return day.strftime("%a %d %b %Y")


def show_moment(value: datetime | str | None, lang: str) -> str:
    """A moment in Japan time, to the minute."""
    if not value:
        return "—"
    try:
        local = to_japan(value)
    except ValueError:
        return str(value)
    if lang == "ja":
        return f"{wareki(local.date())} {local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M} JST"
