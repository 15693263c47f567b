"""SupportNote invariants, and writing and correcting notes through the casework application.

The aggregate tests need no database; the application tests run the real
casework application on SQLite (POPO would skip the per-household encryption).
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest

from yorisoi.domain.cases import Case
from yorisoi.domain.errors import CaseClosedError, StaleVersionError
from yorisoi.domain.households import Child, Guardian, Household
from yorisoi.domain.support_notes import (
    NOTE_KINDS,
    SupportNote,
    SupportNoteBodyMissingError,
    SupportNoteCorrectionReasonMissingError,
    SupportNoteCorrectionUnchangedError,
    SupportNoteDateInFutureError,
    SupportNoteKindUnknownError,
)
from yorisoi.infra.clock import japan_today
from yorisoi.services.casework import CaseNotFoundError
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.support_notes import SupportNoteNotFoundError

TODAY = date(2025, 6, 15)
CITY_A = "131016"
STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")


def _write(**overrides) -> SupportNote:
    fields = {"case_id": uuid4(), "household_id": uuid4(), "site_id": "a-hiroba",
              "contract_id": "contract-a-npo", "written_on": TODAY, "kind": "progress",
              "body": "  保育園の見学に同行した  ", "today": TODAY}
    fields.update(overrides)
    return SupportNote.write(**fields)


# --------------------------------------------------------------------------- aggregate


def test_note_keeps_its_case_site_and_trimmed_body_and_only_the_body_is_personal():
    note = _write()
    assert (note.kind, note.written_on, note.body) == ("progress", TODAY, "保育園の見学に同行した")
    assert not note.corrected
    (event,) = note.collect_events()
    assert isinstance(event, SupportNote.Written)
    assert (event.site_id, event.contract_id) == ("a-hiroba", "contract-a-npo")
    assert SupportNote.Written.personal_fields == ("body",)
    assert SupportNote.Corrected.personal_fields == ("body", "reason")


def test_note_dated_tomorrow_is_refused_but_today_is_accepted():
    with pytest.raises(SupportNoteDateInFutureError) as caught:
        _write(written_on=TODAY + timedelta(days=1))
    assert caught.value.field == "writtenOn"
    assert _write(written_on=TODAY).written_on == TODAY


@pytest.mark.parametrize("kind", ["", "Progress", "経過", "meeting"])
def test_unknown_note_kind_is_refused(kind):
    with pytest.raises(SupportNoteKindUnknownError) as caught:
        _write(kind=kind)
    assert caught.value.field == "kind"


@pytest.mark.parametrize("kind", list(NOTE_KINDS))
def test_every_note_kind_is_accepted(kind):
    assert _write(kind=kind).kind == kind


def test_blank_note_is_refused():
    with pytest.raises(SupportNoteBodyMissingError):
        _write(body=" \n ")


def test_correction_is_a_new_event_and_the_original_stays_in_the_stream():
    note = _write()
    note.correct(body="保育園の見学に同行した（二か所）", reason="見学先の数を追記")
    written, corrected = note.collect_events()
    assert written.body == "保育園の見学に同行した"
    assert isinstance(corrected, SupportNote.Corrected)
    assert (corrected.body, corrected.reason) == ("保育園の見学に同行した（二か所）", "見学先の数を追記")
    assert corrected.household_id == note.household_id
    assert note.body == "保育園の見学に同行した（二か所）"
    assert note.corrected and note.version == 2


@pytest.mark.parametrize(("body", "reason", "error", "field"), [
    ("", "理由", SupportNoteBodyMissingError, "body"),
    ("新しい内容", "  ", SupportNoteCorrectionReasonMissingError, "reason"),
    (" 保育園の見学に同行した ", "理由", SupportNoteCorrectionUnchangedError, "body"),
])
def test_invalid_correction_is_refused_and_records_nothing(body, reason, error, field):
    note = _write()
    note.collect_events()
    with pytest.raises(error) as caught:
        note.correct(body=body, reason=reason)
    assert caught.value.field == field
    assert note.collect_events() == []
    assert note.body == "保育園の見学に同行した"


def test_stale_version_is_refused():
    note = _write()
    note.check_version(1)
    note.check_version(None)
    with pytest.raises(StaleVersionError):
        note.check_version(2)


# --------------------------------------------------------------------------- application


@pytest.fixture
def rt(world):
    with world.services.runtimes.lease(CITY_A) as runtime, acting_as(STAFF):
        yield runtime


def _open_case(rt) -> UUID:
    household = Household.register(guardians=[Guardian("架空 花子", "母")],
                                   children=[Child("架空 たろう", date(2024, 5, 1))],
                                   pregnancy=None, today=japan_today())
    case = Case(household_id=household.id, municipality_code=CITY_A, site_id="a-counter",
                contract_id=None, opened_on=japan_today() - timedelta(days=10))
    rt.casework.save(household, case)
    return case.id


SQLITE_ONLY = pytest.mark.parametrize("backend_settings", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_note_on_an_open_case_is_written_under_the_case_site(rt):
    case_id = _open_case(rt)
    note = rt.casework.write_support_note(case_id, written_on=japan_today(), kind="contact",
                                          body="電話で様子を確認", writable_contract_ids=None)
    stored = rt.casework.repository.get(note.id)
    assert (stored.case_id, stored.site_id, stored.contract_id) == (case_id, "a-counter", None)
    assert stored.body == "電話で様子を確認"


@SQLITE_ONLY
def test_note_and_correction_on_a_closed_case_are_refused_and_nothing_is_written(rt):
    case_id = _open_case(rt)
    note = rt.casework.write_support_note(case_id, written_on=japan_today(), kind="progress",
                                          body="経過", writable_contract_ids=None)
    rt.casework.close_case(case_id, closed_on=japan_today(), reason="support_completed",
                           expected_version=None, writable_contract_ids=None)
    before = rt.casework.recorder.max_notification_id()
    with pytest.raises(CaseClosedError):
        rt.casework.write_support_note(case_id, written_on=japan_today(), kind="progress",
                                       body="追記", writable_contract_ids=None)
    with pytest.raises(CaseClosedError):
        rt.casework.correct_support_note(note.id, case_id=case_id, body="訂正", reason="誤記",
                                         expected_version=None, writable_contract_ids=None)
    assert rt.casework.recorder.max_notification_id() == before


@SQLITE_ONLY
def test_note_of_another_case_or_outside_the_actors_contracts_is_not_found(rt):
    first, second = _open_case(rt), _open_case(rt)
    note = rt.casework.write_support_note(first, written_on=japan_today(), kind="progress",
                                          body="経過", writable_contract_ids=None)
    before = rt.casework.recorder.max_notification_id()
    with pytest.raises(SupportNoteNotFoundError):
        rt.casework.correct_support_note(note.id, case_id=second, body="訂正", reason="誤記",
                                         expected_version=None, writable_contract_ids=None)
    with pytest.raises(SupportNoteNotFoundError):
        rt.casework.correct_support_note(first, case_id=first, body="訂正", reason="誤記",
                                         expected_version=None, writable_contract_ids=None)
    with pytest.raises(CaseNotFoundError):
        rt.casework.write_support_note(first, written_on=japan_today(), kind="progress",
                                       body="経過", writable_contract_ids=["contract-a-npo"])
    assert rt.casework.recorder.max_notification_id() == before
