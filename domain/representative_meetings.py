"""Representative meetings (代表者会議), guideline §4(4)①.

A representative meeting is about the region, not about families: it holds
organisations, issues, resources and theme counts — never a case.

Small counts are suppressed.  In a small town "abuse_concern: 1" for a month
can point at one family, and the meeting's record is read by every attending
organisation.  So a theme counted on fewer than ``MIN_THEME_COUNT`` cases is
not stored at all: it is left out of ``theme_counts`` and only the number of
such themes is kept (``suppressed_themes``).  Omitting is chosen over storing
the theme with a null count because the theme's name alone ("dv: fewer than
3") already says that such a family exists; the number of suppressed themes
tells the meeting the figures are incomplete without saying which are
missing.  The suppression happens here, before the event is stored, so no
small count ever reaches the log, a view or an export.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.agencies import AgencyKindUnknownError
from yorisoi.domain.errors import DomainError
from yorisoi.domain.vocabulary import AGENCY_KINDS

# Counts below this are not stored (the usual small-cell threshold of
# published statistics).
MIN_THEME_COUNT = 3


class RepresentativeMeetingDateInFutureError(DomainError):
    code = "representative_meeting_date_in_future"
    message = "Record a representative meeting on or after the day it was held."
    message_ja = "代表者会議は開催日以降に記録してください。"


class RepresentativeMeetingAttendeesMissingError(DomainError):
    code = "representative_meeting_attendees_missing"
    message = "Name at least one attending organisation, with its kind."
    message_ja = "出席した機関を一つ以上、種別とともに入力してください。"


class ThemePeriodInvalidError(DomainError):
    code = "theme_period_invalid"
    message = "The period of the theme counts must start before it ends, and not after today."
    message_ja = "集計期間は開始日を終了日以前、かつ今日以前にしてください。"


def suppress_small_counts(theme_counts: dict[str, int]) -> tuple[dict[str, int], int]:
    """(the counts of at least MIN_THEME_COUNT cases, how many themes were left out)."""
    counted = {str(theme): int(n) for theme, n in sorted(theme_counts.items()) if int(n) > 0}
    kept = {theme: n for theme, n in counted.items() if n >= MIN_THEME_COUNT}
    return kept, len(counted) - len(kept)


class RepresentativeMeeting(Aggregate):
    """A meeting of the region's agencies: issues found, resources to develop, theme counts."""

    class Recorded(Aggregate.Created):
        # Nothing here is personal, by construction: organisations, regional
        # issues and counts only.  No household_id, so nothing can be shredded
        # or leak with it.
        municipality_code: str
        held_on: date
        attendees: list[dict[str, str]]  # organisation, kind (an AGENCY_KINDS code)
        regional_issues: list[str]
        resources_to_develop: list[str]
        themes_from: date
        themes_to: date
        theme_counts: dict[str, int]  # only counts of at least MIN_THEME_COUNT
        suppressed_themes: int  # themes counted on fewer cases, left out

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def record(cls, *, municipality_code: str, held_on: date,
               attendees: list[tuple[str, str]], regional_issues: list[str],
               resources_to_develop: list[str], themes_from: date, themes_to: date,
               theme_counts: dict[str, int], today: date) -> RepresentativeMeeting:
        """Record a held representative meeting with anonymised theme counts."""
        if held_on > today:
            raise RepresentativeMeetingDateInFutureError(field="heldOn")
        named = [(org.strip(), kind.strip()) for org, kind in attendees]
        if not named or any(not org or not kind for org, kind in named):
            raise RepresentativeMeetingAttendeesMissingError(field="attendees")
        for index, (_, kind) in enumerate(named):
            if kind not in AGENCY_KINDS:
                raise AgencyKindUnknownError(field=f"attendees.{index}.kind")
        if themes_from > themes_to or themes_to > today:
            raise ThemePeriodInvalidError(field="themesFrom")
        # Counts only: a theme code and how many cases, nothing that points at a case.
        counts, suppressed = suppress_small_counts(theme_counts)
        return cls(municipality_code=municipality_code, held_on=held_on,
                   attendees=[{"organisation": o, "kind": k} for o, k in named],
                   regional_issues=[t.strip() for t in regional_issues if t.strip()],
                   resources_to_develop=[t.strip() for t in resources_to_develop if t.strip()],
                   themes_from=themes_from, themes_to=themes_to, theme_counts=counts,
                   suppressed_themes=suppressed)

    @event(Recorded)
    def __init__(self, municipality_code: str, held_on: date, attendees: list[dict[str, str]],
                 regional_issues: list[str], resources_to_develop: list[str],
                 themes_from: date, themes_to: date, theme_counts: dict[str, int],
                 suppressed_themes: int) -> None:
        self.municipality_code = municipality_code
        self.held_on = held_on
        self.attendees = attendees
        self.regional_issues = regional_issues
        self.resources_to_develop = resources_to_develop
        self.themes_from = themes_from
        self.themes_to = themes_to
        self.theme_counts = theme_counts
        self.suppressed_themes = suppressed_themes
