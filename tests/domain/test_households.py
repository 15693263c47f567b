"""Household.register: who the service is for (guideline §3), without a database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from yorisoi.domain.errors import (
    BirthDateInFutureError,
    DueDateImplausibleError,
    HouseholdEmptyError,
    HouseholdOutsideTargetError,
)
from yorisoi.domain.households import Child, Guardian, Household, Pregnancy

TODAY = date(2025, 6, 15)
MOTHER = Guardian(name="架空 花子", relationship="母")


def _years_before(day: date, years: int) -> date:
    return day.replace(year=day.year - years)


def test_household_with_nobody_in_it_is_refused():
    with pytest.raises(HouseholdEmptyError) as caught:
        Household.register(guardians=[], children=[], pregnancy=None, today=TODAY)
    assert caught.value.field == "household"
    assert caught.value.code == "household_empty"


def test_child_born_tomorrow_is_refused_and_the_error_names_the_child_index():
    children = [Child("架空 いち", date(2023, 1, 1)), Child("架空 に", TODAY + timedelta(days=1))]
    with pytest.raises(BirthDateInFutureError) as caught:
        Household.register(guardians=[MOTHER], children=children, pregnancy=None, today=TODAY)
    assert caught.value.field == "household.children.1.birthDate"


def test_child_born_today_is_accepted():
    household = Household.register(guardians=[MOTHER], children=[Child("架空 あか", TODAY)],
                                   pregnancy=None, today=TODAY)
    assert household.children == [Child("架空 あか", TODAY)]


@pytest.mark.parametrize("offset", [-32, 311, 400, -365])
def test_implausible_due_date_is_refused(offset):
    with pytest.raises(DueDateImplausibleError) as caught:
        Household.register(guardians=[MOTHER], children=[],
                           pregnancy=Pregnancy(TODAY + timedelta(days=offset)), today=TODAY)
    assert caught.value.field == "household.pregnancy.dueDate"


@pytest.mark.parametrize("offset", [-31, 0, 1, 280, 310])
def test_due_date_within_the_plausible_window_is_accepted(offset):
    due = TODAY + timedelta(days=offset)
    household = Household.register(guardians=[], children=[], pregnancy=Pregnancy(due),
                                   today=TODAY)
    assert household.pregnancy == Pregnancy(due)


def test_pregnancy_alone_is_in_the_target_population():
    household = Household.register(guardians=[], children=[],
                                   pregnancy=Pregnancy(TODAY + timedelta(days=100)), today=TODAY)
    assert household.outside_target_reason is None
    assert household.shredded is False


def test_seventeen_year_old_turning_eighteen_tomorrow_is_in_the_target_population():
    born = _years_before(TODAY, 18) + timedelta(days=1)
    assert Child("架空 じろう", born).age_on(TODAY) == 17
    household = Household.register(guardians=[MOTHER], children=[Child("架空 じろう", born)],
                                   pregnancy=None, today=TODAY)
    assert household.children[0].birth_date == born


def test_eighteenth_birthday_today_takes_the_household_out_of_target_without_a_reason():
    born = _years_before(TODAY, 18)
    with pytest.raises(HouseholdOutsideTargetError) as caught:
        Household.register(guardians=[MOTHER], children=[Child("架空 さぶろう", born)],
                           pregnancy=None, today=TODAY)
    assert caught.value.field == "household.outsideTargetReason"


@pytest.mark.parametrize("reason", [None, "", "   \n"])
def test_guardian_only_household_needs_a_non_blank_reason(reason):
    with pytest.raises(HouseholdOutsideTargetError):
        Household.register(guardians=[MOTHER], children=[], pregnancy=None, today=TODAY,
                           outside_target_reason=reason)


def test_outside_target_household_with_a_reason_is_registered_with_the_reason_trimmed():
    household = Household.register(
        guardians=[MOTHER], children=[Child("架空 しろう", date(2000, 1, 1))], pregnancy=None,
        today=TODAY, outside_target_reason="  祖母として孫の育児を相談したい  ")
    assert household.outside_target_reason == "祖母として孫の育児を相談したい"


def test_in_target_household_drops_a_blank_reason():
    household = Household.register(guardians=[MOTHER], children=[Child("架空 ご", date(2022, 3, 3))],
                                   pregnancy=None, today=TODAY, outside_target_reason="   ")
    assert household.outside_target_reason is None


def test_registered_household_keeps_its_people_and_is_not_shredded():
    due = TODAY + timedelta(days=60)
    household = Household.register(guardians=[MOTHER, Guardian("架空 一郎", "父")],
                                   children=[Child("架空 たろう", date(2024, 5, 1))],
                                   pregnancy=Pregnancy(due), today=TODAY)
    assert household.guardians == [MOTHER, Guardian("架空 一郎", "父")]
    assert household.children == [Child("架空 たろう", date(2024, 5, 1))]
    assert household.pregnancy == Pregnancy(due)
    assert household.shredded is False
    (event,) = household.collect_events()
    assert isinstance(event, Household.Registered)
    # The event carries the people as plain data (the mapper encrypts them).
    assert event.children == [{"name": "架空 たろう", "birth_date": "2024-05-01",
                               "reading": None}]
    assert set(Household.Registered.personal_fields) == {
        "guardians", "children", "pregnancy_due_date", "outside_target_reason",
        "new_household_reason"}


def test_household_ids_are_random_not_derived_from_people():
    a = Household.register(guardians=[MOTHER], children=[], pregnancy=Pregnancy(TODAY),
                           today=TODAY)
    b = Household.register(guardians=[MOTHER], children=[], pregnancy=Pregnancy(TODAY),
                           today=TODAY)
    assert a.id != b.id


def test_error_messages_never_echo_the_values_entered():
    with pytest.raises(BirthDateInFutureError) as caught:
        Household.register(guardians=[MOTHER], children=[Child("架空 秘密", TODAY + timedelta(1))],
                           pregnancy=None, today=TODAY)
    text = f"{caught.value} {caught.value.message} {caught.value.message_ja}"
    assert "架空" not in text and "秘密" not in text
