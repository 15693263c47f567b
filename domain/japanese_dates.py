"""Dates as people in Japan type them: 和暦 (令和6年4月1日, R6.4.1) and western forms.

Used where a typed date is *searched for* (a child's birth date in the case
search) and by the console to show dates in the era calendar.  Pure stdlib:
the era table is here so the domain, the services and the console share one.
Eras: 令和 from 2019-05-01, 平成 from 1989-01-08, 昭和 from 1926-12-25,
大正 from 1912-07-30; the first year of an era is 元年.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# (first day, name, initial used in abbreviations such as R6.4.1), newest first.
ERA_TABLE: tuple[tuple[date, str, str], ...] = (
    (date(2019, 5, 1), "令和", "r"),
    (date(1989, 1, 8), "平成", "h"),
    (date(1926, 12, 25), "昭和", "s"),
    (date(1912, 7, 30), "大正", "t"),
)

# The form the console shows: (first day, name), newest first.
ERAS: tuple[tuple[date, str], ...] = tuple((first, name) for first, name, _ in ERA_TABLE)

_ERA_BY_NAME = {name: first for first, name, _ in ERA_TABLE}
_ERA_BY_NAME.update({initial: first for first, _, initial in ERA_TABLE})
# The one-character era ligatures (㋿ ㍻ ㍼ ㍽) become their names under NFKC.

_SEPARATORS = "[./\\-年月・]"
_ERA_FORM = re.compile(
    r"^(令和|平成|昭和|大正|r|h|s|t)(元|\d{1,2})" + _SEPARATORS
    + r"(\d{1,2})" + _SEPARATORS + r"(\d{1,2})日?$")
_WESTERN_FORM = re.compile(r"^(\d{4})" + _SEPARATORS + r"(\d{1,2})" + _SEPARATORS
                           + r"(\d{1,2})日?$")
_COMPACT_FORM = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def wareki(day: date) -> str:
    """``day`` in the era calendar, e.g. 令和元年5月1日; ISO before 大正."""
    for first, name in ERAS:
        if day >= first:
            year = day.year - first.year + 1
            return f"{name}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return day.isoformat()


def parse_typed_date(text: str) -> date | None:
    """The calendar date ``text`` names, or None when it names none.

    Accepted (full-width digits, spaces and the era ligatures too):
    令和6年4月1日, 令和元年5月1日, R6.4.1, R6/4/1, H31-4-30, 2024/4/1,
    2024-04-01, 2024年4月1日, 20240401.  A year of an era that the era never
    reached (平成32年) is refused: it is a typing error, not a date.
    """
    value = unicodedata.normalize("NFKC", text or "").strip().lower()
    value = re.sub(r"\s+", "", value)
    if not value or len(value) > 20:
        return None
    try:
        if match := _ERA_FORM.match(value):
            era, year_text, month, day = match.groups()
            first = _ERA_BY_NAME[era]
            year = 1 if year_text == "元" else int(year_text)
            if year < 1:
                return None
            result = date(first.year + year - 1, int(month), int(day))
            following = _next_era_start(first)
            if result < first or (following is not None and result >= following
                                  and year > following.year - first.year + 1):
                return None
            return result
        if match := _WESTERN_FORM.match(value) or _COMPACT_FORM.match(value):
            year, month, day = (int(part) for part in match.groups())
            return date(year, month, day)
    except ValueError:  # 2月30日 and the like
        return None
    return None


def _next_era_start(first: date) -> date | None:
    starts = [start for start, _, _ in ERA_TABLE]
    index = starts.index(first)
    return starts[index - 1] if index > 0 else None
