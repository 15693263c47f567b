"""The retention clock: from 1 April of the fiscal year after the file is closed, Japan time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from yorisoi.domain.errors import DomainError
from yorisoi.domain.holds import Hold, HoldAlreadyReleasedError, hold_blocks
from yorisoi.domain.retention import (
    RECORD_CLASSES,
    RETENTION_YEARS,
    RecordClassUnknownError,
    RetentionClassUnknownError,
    RetentionSchedule,
    RetentionScheduleDateInvalidError,
    RetentionScheduleIncompleteError,
    clock_starts_on,
    disposable_from,
    fiscal_year,
    household_due_on,
    japan_date,
    retention_ends_on,
)


@pytest.mark.parametrize(("day", "fy"), [
    (date(2025, 3, 31), 2024), (date(2025, 4, 1), 2025), (date(2025, 1, 1), 2024),
    (date(2024, 12, 31), 2024), (date(2024, 2, 29), 2023), (date(2000, 4, 1), 2000),
])
def test_fiscal_year_runs_from_1_april_to_31_march(day, fy):
    assert fiscal_year(day) == fy


def test_closure_on_31_march_starts_the_clock_a_year_earlier_than_closure_on_1_april():
    assert clock_starts_on(date(2025, 3, 31)) == date(2025, 4, 1)
    assert clock_starts_on(date(2025, 4, 1)) == date(2026, 4, 1)
    # Five years: the 31 March file may go on 1 April 2030, the 1 April file a year later.
    assert retention_ends_on(date(2025, 3, 31), 5) == date(2030, 3, 31)
    assert disposable_from(date(2025, 3, 31), 5) == date(2030, 4, 1)
    assert retention_ends_on(date(2025, 4, 1), 5) == date(2031, 3, 31)
    assert disposable_from(date(2025, 4, 1), 5) == date(2031, 4, 1)


@pytest.mark.parametrize("years", RETENTION_YEARS)
def test_every_class_ends_on_31_march_and_is_disposable_the_next_day(years):
    for closed in (date(2020, 4, 1), date(2020, 12, 31), date(2021, 3, 31)):
        end, first = retention_ends_on(closed, years), disposable_from(closed, years)
        assert end is not None and first is not None
        assert (end.month, end.day) == (3, 31) and first - end == timedelta(days=1)
        assert first.year == 2021 + years  # every day of FY2020 counts from 1 April 2021


@pytest.mark.parametrize(("closed", "years", "first"), [
    (date(2024, 2, 29), 1, date(2025, 4, 1)),    # leap day: fiscal year 2023
    (date(2024, 2, 29), 30, date(2054, 4, 1)),
    (date(2020, 2, 29), 5, date(2025, 4, 1)),
    (date(2023, 3, 1), 1, date(2024, 4, 1)),     # the period spans 29 Feb 2024
    (date(2024, 3, 31), 3, date(2027, 4, 1)),
    (date(2024, 4, 1), 3, date(2028, 4, 1)),
])
def test_leap_years_change_nothing_because_the_clock_starts_on_1_april(closed, years, first):
    assert disposable_from(closed, years) == first


def test_permanent_records_never_become_disposable():
    assert retention_ends_on(date(2020, 5, 1), None) is None
    assert disposable_from(date(2020, 5, 1), None) is None
    assert household_due_on([date(2000, 5, 1)], [1, None]) is None


def test_the_closure_date_is_the_japan_date_of_the_closure_moment():
    # 31 March 23:30 JST is 14:30 UTC: still fiscal year 2024.
    late = datetime(2025, 3, 31, 14, 30, tzinfo=UTC)
    assert japan_date(late) == date(2025, 3, 31)
    assert clock_starts_on(japan_date(late)) == date(2025, 4, 1)
    # 15:00 UTC on 31 March is already 1 April in Japan: fiscal year 2025.
    midnight = datetime(2025, 3, 31, 15, 0, tzinfo=UTC)
    assert japan_date(midnight) == date(2025, 4, 1)
    assert clock_starts_on(japan_date(midnight)) == date(2026, 4, 1)
    assert japan_date(datetime(2025, 4, 1, 0, 30, tzinfo=timezone(timedelta(hours=9)))) == date(
        2025, 4, 1)
    with pytest.raises(ValueError):
        japan_date(datetime(2025, 4, 1))  # a naive moment has no date in Japan


def test_a_household_is_due_when_every_file_has_run_out():
    # Latest closure and longest class decide.
    assert household_due_on([date(2020, 5, 1)], [1, 5]) == date(2026, 4, 1)
    assert household_due_on([date(2020, 5, 1), date(2021, 3, 31)], [3]) == date(2024, 4, 1)
    assert household_due_on([date(2020, 5, 1), date(2021, 4, 1)], [3]) == date(2025, 4, 1)


def test_an_open_or_reopened_case_stops_the_clock():
    assert household_due_on([date(2015, 5, 1), None], [1]) is None
    assert household_due_on([], [1]) is None  # no case at all: nothing closed


def test_reopened_then_closed_again_counts_from_the_new_closure():
    first_closure, second_closure = date(2019, 6, 1), date(2023, 3, 31)
    assert household_due_on([first_closure], [3]) == date(2023, 4, 1)
    # Reopened: the clock is stopped whatever the first closure said.
    assert household_due_on([None], [3]) is None
    # Closed again on 31 March 2023: counted from 1 April 2023.
    assert household_due_on([second_closure], [3]) == date(2026, 4, 1)


def _years(**overrides):
    return {name: 5 for name in RECORD_CLASSES} | overrides


def test_schedule_versions_apply_from_their_effective_date():
    schedule = RetentionSchedule(municipality_code="131016")
    today = date(2025, 1, 10)
    first = schedule.set_version(effective_from=today, years=_years(), two_person_approval=False,
                                 set_by="a-admin", today=today)
    second = schedule.set_version(effective_from=date(2025, 4, 1),
                                  years=_years(consultation_file=10, access_log=None),
                                  two_person_approval=True, set_by="a-admin", today=today)
    assert (first.version, second.version) == (1, 2)
    assert schedule.in_effect_on(date(2025, 1, 9)) is None
    assert schedule.in_effect_on(date(2025, 3, 31)) == first
    in_april = schedule.in_effect_on(date(2025, 4, 1))
    assert in_april == second and in_april.years_for("consultation_file") == 10
    assert in_april.years_for("access_log") is None and in_april.two_person_approval
    assert schedule.find_version(1) == first  # an old decision finds the version it cited


@pytest.mark.parametrize(("years", "error"), [
    ({name: 5 for name in list(RECORD_CLASSES)[:-1]}, RetentionScheduleIncompleteError),
    (_years(consultation_file=7), RetentionClassUnknownError),
    (_years(consultation_file=True), RetentionClassUnknownError),
    (_years(diary=5), RecordClassUnknownError),
])
def test_a_schedule_gives_every_class_one_of_the_retention_classes(years, error):
    schedule = RetentionSchedule(municipality_code="131016")
    with pytest.raises(error):
        schedule.set_version(effective_from=date(2025, 1, 10), years=years,
                             two_person_approval=False, set_by="a", today=date(2025, 1, 10))
    assert schedule.versions() == []


def test_a_schedule_version_is_never_retroactive():
    schedule = RetentionSchedule(municipality_code="131016")
    today = date(2025, 1, 10)
    with pytest.raises(RetentionScheduleDateInvalidError):
        schedule.set_version(effective_from=today - timedelta(days=1), years=_years(),
                             two_person_approval=False, set_by="a", today=today)
    schedule.set_version(effective_from=date(2025, 4, 1), years=_years(),
                         two_person_approval=False, set_by="a", today=today)
    with pytest.raises(RetentionScheduleDateInvalidError):
        schedule.set_version(effective_from=date(2025, 3, 1), years=_years(),
                             two_person_approval=False, set_by="a", today=today)


def test_a_hold_blocks_until_released_or_ended_even_before_it_starts():
    hold = Hold.place(household_id=Hold.create_id(), reason="litigation", owner="a-legal",
                      starts_on=date(2025, 6, 1), ends_on=date(2025, 12, 31))
    assert hold.blocks(date(2025, 5, 1))  # disposal is irreversible: a future hold holds now
    assert hold.blocks(date(2025, 12, 31)) and not hold.blocks(date(2026, 1, 1))
    hold.release(released_on=date(2025, 7, 1), released_by="a-legal", today=date(2025, 7, 2))
    assert hold.blocks(date(2025, 6, 30)) and not hold.blocks(date(2025, 7, 1))
    with pytest.raises(HoldAlreadyReleasedError):
        hold.release(released_on=date(2025, 7, 2), released_by="x", today=date(2025, 7, 2))
    assert hold_blocks(released_on=None, ends_on=None, on=date(2099, 1, 1))  # open-ended


@pytest.mark.parametrize(("reason", "owner", "ends_on"), [
    ("gossip", "a", None), ("legal_hold", " ", None), ("legal_hold", "a", date(2025, 1, 1)),
])
def test_a_hold_needs_a_known_reason_an_owner_and_a_sane_end(reason, owner, ends_on):
    with pytest.raises(DomainError):
        Hold.place(household_id=Hold.create_id(), reason=reason, owner=owner,
                   starts_on=date(2025, 2, 1), ends_on=ends_on)



def test_a_record_class_given_twice_is_refused_not_overwritten():
    from yorisoi.domain.retention import RecordClassRepeatedError, years_by_class

    assert years_by_class([("referral", 1), ("consultation", None)]) == {
        "referral": 1, "consultation": None}
    with pytest.raises(RecordClassRepeatedError) as repeated:
        years_by_class([("referral", 1), ("consultation", 5), ("referral", 10)])
    assert repeated.value.field == "classes" and repeated.value.message_ja
