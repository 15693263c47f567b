"""Dates for people: Japan time, and the Japanese era calendar (和暦) that municipal forms use.

Stored dates are ISO strings (calendar dates in Japan time) and stored moments
are UTC timestamps; both are shown in Japan time.  The eras and the parser of
typed dates are ``domain/japanese_dates.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from starlette.datastructures import FormData

from yorisoi.domain.japanese_dates import ERAS, parse_typed_date, wareki
from yorisoi.infra.clock import JST

# The era table and the parser of typed dates live in the domain (the case
# search reads birth dates typed as 令和6年4月1日 too); re-exported here.
__all__ = ["ERAS", "parse_typed_date", "show_date", "show_moment", "to_japan", "typed_dates",
           "wareki"]


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


def typed_dates(form: FormData, is_date: Callable[[str], bool],
                ) -> tuple[FormData, list[str]]:
    """The form with every typed date field read by the one parser (令和6年4月1日, R6.4.1,
    2024/4/1, 2024-04-01, full-width digits) and written as ISO; and the fields whose
    text names no date (left as typed, for the person to correct)."""
    items: list[tuple[str, Any]] = []
    unreadable: list[str] = []
    for name, value in form.multi_items():
        if isinstance(value, str) and is_date(name) and value.strip():
            day = parse_typed_date(value)
            if day is None:
                unreadable.append(name)
            else:
                value = day.isoformat()
        items.append((name, value))
    return FormData(items), unreadable


def typed_day(check: Any, field: str, text: str, *, required: bool = True) -> date | None:
    """A date field of a form, read by the one parser; its problem joins ``check``'s (a
    ``graphql.validation.Checker``): empty (when required), or naming no day."""
    from yorisoi.infra.console import vocabulary

    if not text.strip():
        if required:
            check.bad(field, "This field is required.", "必須項目です。")
        return None
    day = parse_typed_date(text)
    if day is None:
        check.bad(field, vocabulary.text("form.not_a_date", "en"),
                  vocabulary.text("form.not_a_date", "ja"))
    return day


def fiscal_year_label(year: int, lang: str) -> str:
    """A fiscal year (April to March) as municipal offices write it: 令和8年度 (FY2026)."""
    if lang != "ja":
        return f"FY{year}"
    for first, name in ERAS:
        if date(year, 4, 1) >= first:
            n = year - first.year + 1
            return f"{name}{'元' if n == 1 else n}年度"
    return f"{year}年度"
