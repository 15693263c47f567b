"""Consultation.record and Case invariants, without a database."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest

from yorisoi.domain.cases import ATTACHMENT_KINDS, Case
from yorisoi.domain.consultations import Consultation
from yorisoi.domain.errors import (
    AttachmentKindUnknownError,
    CaseClosedError,
    ConsultationChannelUnknownError,
    ConsultationDateInFutureError,
    ConsultationRequestMissingError,
    ConsultationThemesMissingError,
    ConsultationThemeUnknownError,
)
from yorisoi.domain.vocabulary import STANDARD_THEMES, Channel

TODAY = date(2025, 6, 15)


def _record(**overrides):
    fields = dict(case_id=uuid4(), household_id=uuid4(), site_id="a-hiroba",
                  contract_id="contract-a-npo", occurred_on=TODAY, channel="visit",
                  themes=["development"], asked="ことばが遅い", wishes="相談先を知りたい",
                  direction="発達相談の案内", today=TODAY, allowed_themes=STANDARD_THEMES.keys())
    fields.update(overrides)
    return Consultation.record(**fields)


def _open_case() -> Case:
    return Case(household_id=uuid4(), municipality_code="131016", site_id="a-hiroba",
                contract_id=None, opened_on=TODAY)


def test_consultation_dated_tomorrow_is_refused_but_today_is_accepted():
    with pytest.raises(ConsultationDateInFutureError) as caught:
        _record(occurred_on=TODAY + timedelta(days=1))
    assert caught.value.field == "occurredOn"
    assert _record(occurred_on=TODAY).occurred_on == TODAY


@pytest.mark.parametrize("channel", ["fax", "", "VISIT", "来所"])
def test_unknown_channel_is_refused(channel):
    with pytest.raises(ConsultationChannelUnknownError) as caught:
        _record(channel=channel)
    assert caught.value.field == "channel"


@pytest.mark.parametrize("channel", [c.value for c in Channel])
def test_every_channel_of_the_guideline_is_accepted(channel):
    assert _record(channel=channel).channel == channel


def test_consultation_without_themes_is_refused():
    with pytest.raises(ConsultationThemesMissingError) as caught:
        _record(themes=[])
    assert caught.value.field == "themes"


def test_unknown_theme_is_refused_with_its_index():
    with pytest.raises(ConsultationThemeUnknownError) as caught:
        _record(themes=["development", "astrology"])
    assert caught.value.field == "themes.1"


def test_theme_outside_the_municipality_list_is_refused_even_if_standard():
    with pytest.raises(ConsultationThemeUnknownError):
        _record(themes=["money"], allowed_themes={"development"})


@pytest.mark.parametrize("asked", ["", "   ", "\n\t "])
def test_blank_request_is_refused(asked):
    with pytest.raises(ConsultationRequestMissingError) as caught:
        _record(asked=asked)
    assert caught.value.field == "asked"


def test_themes_are_de_duplicated_keeping_first_order_and_texts_trimmed():
    consultation = _record(themes=["money", "development", "money", "dv", "development"],
                           asked="  ことばが遅い \n", wishes=" 知りたい ", direction=" 案内 ")
    assert consultation.themes == ["money", "development", "dv"]
    assert (consultation.asked, consultation.wishes, consultation.direction) == (
        "ことばが遅い", "知りたい", "案内")
    (event,) = consultation.collect_events()
    assert event.themes == ["money", "development", "dv"]
    assert Consultation.Recorded.personal_fields == (
        "asked", "wishes", "direction", "outer_situation", "inner_situation",
        "child_rearing_situation")


def test_note_consultation_on_open_case_keeps_the_order():
    case = _open_case()
    first, second = uuid4(), uuid4()
    case.note_consultation(first)
    case.note_consultation(second)
    assert case.consultation_ids == [first, second]
    assert [type(e).__name__ for e in case.collect_events()] == [
        "Opened", "ConsultationNoted", "ConsultationNoted"]


def test_closed_case_refuses_new_consultations_and_records_nothing():
    case = _open_case()
    case.collect_events()
    case.status = Case.CLOSED  # the close command arrives with its own issue
    with pytest.raises(CaseClosedError) as caught:
        case.note_consultation(uuid4())
    assert caught.value.field == "caseId"
    assert case.consultation_ids == []
    assert case.collect_events() == []


@pytest.mark.parametrize("kind", ATTACHMENT_KINDS)
def test_known_attachment_kinds_are_kept_without_a_file_name(kind):
    case = _open_case()
    attachment_id = uuid4()
    case.attach(attachment_id=attachment_id, kind=kind, content_type="application/pdf",
                size=1234, sha256="ab" * 32)
    assert case.attachments == {str(attachment_id): {
        "kind": kind, "content_type": "application/pdf", "size": 1234, "sha256": "ab" * 32}}


@pytest.mark.parametrize("kind", ["photo", "", "Consent_Form"])
def test_unknown_attachment_kind_is_refused(kind):
    case = _open_case()
    with pytest.raises(AttachmentKindUnknownError) as caught:
        case.attach(attachment_id=uuid4(), kind=kind, content_type="image/png", size=1,
                    sha256="00" * 32)
    assert caught.value.field == "kind"
    assert case.attachments == {}


def test_closed_case_refuses_attachments():
    case = _open_case()
    case.status = Case.CLOSED
    with pytest.raises(CaseClosedError):
        case.attach(attachment_id=uuid4(), kind="consent_form", content_type="application/pdf",
                    size=1, sha256="00" * 32)
