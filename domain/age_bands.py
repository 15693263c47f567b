"""The child's age band at a consultation, for statistics: a band only, never a date.

Reporting counts consultations by the age of the child they concern (the
guideline serves families "from pregnancy"): 妊娠期, 0歳, 1〜2歳, 3〜5歳 and
学齢期.  The band is decided when the consultation is recorded, from the
household as it is then, and stored on the consultation in clear: it is a
coarse, non-identifying fact that must outlive the household's disposal,
when the birth dates are shredded.

A consultation is about the family, not one named child, so the band is that
of the household's youngest child, an ongoing pregnancy counting as the
youngest (a family expecting a baby with a toddler is in the pregnancy band).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

# Codes in reporting order, with their labels on the forms.
AGE_BANDS: dict[str, str] = {
    "pregnancy": "妊娠期",
    "age_0": "0歳",
    "age_1_2": "1〜2歳",
    "age_3_5": "3〜5歳",
    "school_age": "学齢期（6〜17歳）",
    "other": "その他（18歳以上・子どものいない世帯）",
    "unknown": "不明（記録時に未集計）",
}


def _age_on(birth: date, day: date) -> int:
    years = day.year - birth.year
    return years - ((day.month, day.day) < (birth.month, birth.day))


def age_band_on(day: date, *, birth_dates: Collection[date] = (),
                due_date: date | None = None) -> str:
    """The band of the household's youngest child (or pregnancy) on ``day``."""
    # A due date still ahead, or a child recorded as born after the day, is a pregnancy.
    if (due_date is not None and due_date >= day) or any(b > day for b in birth_dates):
        return "pregnancy"
    if not birth_dates:
        return "other"
    age = min(_age_on(b, day) for b in birth_dates)
    if age < 1:
        return "age_0"
    if age < 3:
        return "age_1_2"
    if age < 6:
        return "age_3_5"
    if age < 18:
        return "school_age"
    return "other"
