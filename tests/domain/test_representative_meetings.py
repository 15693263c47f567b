"""RepresentativeMeeting invariants, without a database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from yorisoi.domain.agencies import AgencyKindUnknownError
from yorisoi.domain.representative_meetings import (
    MIN_THEME_COUNT,
    RepresentativeMeeting,
    RepresentativeMeetingAttendeesMissingError,
    RepresentativeMeetingDateInFutureError,
    ThemePeriodInvalidError,
)
from yorisoi.domain.vocabulary import AGENCY_KINDS

TODAY = date(2025, 6, 15)


def _representative(**overrides):
    fields = {"municipality_code": "131016", "held_on": TODAY,
              "attendees": [("保健センター", "health_center"),
                            ("児童相談所", "child_guidance_center")],
              "regional_issues": ["一時預かりの空きが足りない"], "resources_to_develop": ["夜間の預かり"],
              "themes_from": TODAY - timedelta(days=90), "themes_to": TODAY,
              "theme_counts": {"temporary_care": 12, "money": 0}, "today": TODAY}
    fields.update(overrides)
    return RepresentativeMeeting.record(**fields)


def test_representative_meeting_keeps_counts_only():
    meeting = _representative()
    assert meeting.theme_counts == {"temporary_care": 12}  # zero counts say nothing
    assert meeting.suppressed_themes == 0
    assert not getattr(RepresentativeMeeting.Recorded, "personal_fields", ())


def test_small_theme_counts_are_not_stored_only_how_many_were_left_out():
    meeting = _representative(theme_counts={"temporary_care": 12, "dv": 1,
                                            "abuse_concern": 2, "development": 3, "money": 0})
    assert MIN_THEME_COUNT == 3
    assert meeting.theme_counts == {"development": 3, "temporary_care": 12}
    assert meeting.suppressed_themes == 2
    (recorded,) = meeting.collect_events()
    # The stored event itself never holds a count that could point at a family.
    assert recorded.theme_counts == {"development": 3, "temporary_care": 12}
    assert "dv" not in repr(vars(recorded)) and "abuse_concern" not in repr(vars(recorded))


def test_attendee_kinds_are_the_agency_kinds():
    meeting = _representative(attendees=[(f"機関{i}", kind)
                                         for i, kind in enumerate(AGENCY_KINDS)])
    assert [a["kind"] for a in meeting.attendees] == list(AGENCY_KINDS)
    with pytest.raises(AgencyKindUnknownError) as caught:
        _representative(attendees=[("保健センター", "health_center"), ("どこか", "hokenjo")])
    assert caught.value.field == "attendees.1.kind"


def test_representative_meeting_refusals():
    with pytest.raises(RepresentativeMeetingDateInFutureError):
        _representative(held_on=TODAY + timedelta(days=1))
    with pytest.raises(RepresentativeMeetingAttendeesMissingError):
        _representative(attendees=[])
    with pytest.raises(RepresentativeMeetingAttendeesMissingError):
        _representative(attendees=[("保健センター", " ")])
    with pytest.raises(ThemePeriodInvalidError):
        _representative(themes_from=TODAY, themes_to=TODAY - timedelta(days=1))
