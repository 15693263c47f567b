"""Reception numbers (受付番号): how people name a case aloud — ``R8-000123``.

One sequence per municipality and fiscal year (年度, April to March), named
by its 令和 year: the case opened on 2026-04-01 is the first of 令和8年度.
A number is given when the case opens, from the ``ReceptionCounter`` of the
fiscal year of the opening date, saved in the same transaction as the case:
two openings that read the same counter cannot both be written (the second is
refused and runs again on the counter as it now is), so a number is never
given twice, and never reused — a case keeps its number for its whole life.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from uuid import NAMESPACE_URL, UUID

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.ids import uuid5

REIWA_START = 2018  # 令和1年 = 2019: 令和N年度 starts in April of 2018 + N
_NUMBER = re.compile(r"R(\d{1,2})-(\d{1,6})")
# Typed variants: 令和8年度-123, R8‐000123, ｒ８－１２３ (NFKC first), spaces around the hyphen.
_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−ー－"), "-")


def fiscal_year_of(day: date) -> int:
    """The fiscal year (年度) a day belongs to, as the calendar year it starts in."""
    return day.year if day.month >= 4 else day.year - 1


def format_reception_number(fiscal_year: int, sequence: int) -> str:
    return f"R{fiscal_year - REIWA_START}-{sequence:06d}"


def parse_reception_number(text: str) -> str | None:
    """The canonical form of a typed reception number, or None when it is not one."""
    value = unicodedata.normalize("NFKC", text).translate(_DASHES).strip().upper()
    value = re.sub(r"^令和(\d{1,2})年度?", r"R\1", value).replace(" ", "")
    match = _NUMBER.fullmatch(value)
    if match is None or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        return None
    return format_reception_number(int(match.group(1)) + REIWA_START, int(match.group(2)))


class ReceptionCounter(Aggregate):
    """The numbers given so far in one municipality's fiscal year (no personal data)."""

    @staticmethod
    def create_id(municipality_code: str, fiscal_year: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"/municipalities/{municipality_code}/reception/{fiscal_year}")

    @classmethod
    def start(cls, municipality_code: str, fiscal_year: int) -> ReceptionCounter:
        return cls._create(cls.Started, id=cls.create_id(municipality_code, fiscal_year),
                           municipality_code=municipality_code, fiscal_year=fiscal_year)

    class Started(Aggregate.Created):
        municipality_code: str
        fiscal_year: int

    @event(Started)
    def __init__(self, municipality_code: str, fiscal_year: int) -> None:
        self.municipality_code = municipality_code
        self.fiscal_year = fiscal_year
        self.last_sequence = 0

    def assign(self, case_id: UUID) -> str:
        """The next number of the year, given to ``case_id``."""
        self._assigned(case_id, self.last_sequence + 1)
        return format_reception_number(self.fiscal_year, self.last_sequence)

    @event("Assigned")
    def _assigned(self, case_id: UUID, sequence: int) -> None:
        self.last_sequence = sequence
