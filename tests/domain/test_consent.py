"""Consent, consent exceptions and consultation corrections, without a database."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest

from yorisoi.domain.agencies import Agency
from yorisoi.domain.consent import (
    AGENCY_KINDS,
    LEGAL_BASES,
    Consent,
    ConsentAgencyInvalidError,
    ConsentAlreadyWithdrawnError,
    ConsentDateInvalidError,
    ConsentException,
    ConsentExceptionReasonMissingError,
    ConsentGiverMissingError,
    ConsentLegalBasisUnknownError,
    ConsentPurposeUnknownError,
    HouseholdConsents,
)
from yorisoi.domain.consultations import (
    Consultation,
    ConsultationCorrectionEmptyError,
    ConsultationCorrectionReasonMissingError,
)
from yorisoi.domain.errors import ConsultationRequestMissingError, StaleVersionError
from yorisoi.domain.vocabulary import STANDARD_THEMES

TODAY = date(2025, 6, 15)
HOUSEHOLD = uuid4()


def _give(**overrides):
    fields: dict[str, Any] = {
        "household_id": HOUSEHOLD, "case_id": uuid4(), "purpose": "create_records",
        "given_by": "架空 花子", "relationship": "母", "given_on": TODAY, "scope": "相談記録",
        "today": TODAY}
    fields.update(overrides)
    return Consent.give(**fields)


def _exception(**overrides):
    fields: dict[str, Any] = {
        "household_id": HOUSEHOLD, "case_id": uuid4(), "purpose": "share",
        "legal_basis": "child_abuse_report", "reason": "身体にあざ。通告義務による。",
        "taken_on": TODAY, "today": TODAY, "agency_kind": "child_guidance_center"}
    fields.update(overrides)
    return ConsentException.record(**fields)


def _consultation(**overrides):
    fields: dict[str, Any] = {
        "case_id": uuid4(), "household_id": HOUSEHOLD, "site_id": "a-hiroba",
        "contract_id": None, "occurred_on": TODAY, "channel": "visit", "themes": ["development"],
        "asked": "ことばが遅い", "wishes": "相談先", "direction": "案内", "today": TODAY,
        "allowed_themes": STANDARD_THEMES.keys(), "outer_situation": "転居したばかり"}
    fields.update(overrides)
    return Consultation.record(**fields)


# ------------------------------------------------------------------ giving consent


def test_consent_to_share_with_an_agency_kind_is_recorded_with_its_personal_fields():
    consent = _give(purpose="share", agency_kind="health_center", scope="  発達の経過  ")
    (event,) = consent.collect_events()
    assert type(event).__qualname__ == "Consent.Given"
    assert (event.purpose, event.agency_kind, event.agency_id) == ("share", "health_center", None)
    assert event.scope == "発達の経過"
    assert Consent.Given.personal_fields == ("given_by", "relationship", "scope")
    assert event.household_id == HOUSEHOLD  # the key the personal fields are sealed under


@pytest.mark.parametrize("recipient", [
    {}, {"agency_id": "ag-1", "agency_kind": "medical"}, {"agency_kind": "fortune_teller"}])
def test_sharing_needs_exactly_one_known_recipient(recipient):
    with pytest.raises(ConsentAgencyInvalidError):
        _give(purpose="share", **recipient)


def test_consent_to_keep_records_names_no_recipient():
    with pytest.raises(ConsentAgencyInvalidError):
        _give(agency_id="ag-1")


def test_unknown_purpose_is_refused():
    with pytest.raises(ConsentPurposeUnknownError) as caught:
        _give(purpose="marketing")
    assert caught.value.field == "purpose"


@pytest.mark.parametrize("who", [{"given_by": " "}, {"relationship": ""}])
def test_consent_without_who_gave_it_is_refused(who):
    with pytest.raises(ConsentGiverMissingError):
        _give(**who)


def test_consent_dated_tomorrow_is_refused_with_the_prefixed_field():
    with pytest.raises(ConsentDateInvalidError) as caught:
        _give(given_on=TODAY + timedelta(days=1), field_prefix="consent.")
    assert caught.value.field == "consent.givenOn"


# ------------------------------------------------------------------ what a consent covers


def test_share_consent_covers_its_named_agency_only():
    consent = _give(purpose="share", agency_id="ag-kodomo")
    assert consent.covers(purpose="share", agency_id="ag-kodomo", on=TODAY)
    assert not consent.covers(purpose="share", agency_id="ag-other", on=TODAY)
    assert not consent.covers(purpose="share", agency_kind="health_center", on=TODAY)
    assert not consent.covers(purpose="view", on=TODAY)


def test_share_consent_for_a_kind_covers_every_agency_of_that_kind():
    consent = _give(purpose="share", agency_kind="health_center")
    assert consent.covers(purpose="share", agency_id="ag-any", agency_kind="health_center",
                          on=TODAY)
    assert not consent.covers(purpose="share", agency_kind="medical", on=TODAY)


def test_share_consent_can_name_every_kind_an_agency_can_have():
    for kind in AGENCY_KINDS:
        consent = _give(purpose="share", agency_kind=kind)
        agency = Agency.register(municipality_code="131016", name="架空の機関", kind=kind,
                                 on_system=True, contact_email=None, confidentiality_basis=None)
        assert consent.covers(purpose="share", on=TODAY, agency_kind=agency.kind)
    assert "childcare_facility" in AGENCY_KINDS


def test_consent_does_not_cover_an_action_dated_before_it_was_given():
    consent = _give(given_on=TODAY)
    assert not consent.covers(purpose="create_records", on=TODAY - timedelta(days=1))
    assert consent.covers(purpose="create_records", on=TODAY)


def test_withdrawn_consent_covers_nothing_whatever_the_day():
    consent = _give(given_on=TODAY - timedelta(days=10))
    consent.collect_events()
    consent.withdraw(withdrawn_on=TODAY, reason=" 家族の希望 ", today=TODAY)
    (event,) = consent.collect_events()
    assert type(event).__qualname__ == "Consent.Withdrawn"
    assert (event.withdrawn_on, event.reason, event.household_id) == (TODAY, "家族の希望",
                                                                       HOUSEHOLD)
    assert consent.withdrawn
    assert not consent.covers(purpose="create_records", on=TODAY)
    assert not consent.covers(purpose="create_records", on=TODAY - timedelta(days=5))
    assert consent.matches(purpose="create_records")


def test_withdrawing_twice_or_before_the_consent_was_given_is_refused_and_records_nothing():
    consent = _give(given_on=TODAY - timedelta(days=3))
    consent.collect_events()
    with pytest.raises(ConsentDateInvalidError):
        consent.withdraw(withdrawn_on=TODAY - timedelta(days=4), reason="", today=TODAY)
    with pytest.raises(ConsentDateInvalidError):
        consent.withdraw(withdrawn_on=TODAY + timedelta(days=1), reason="", today=TODAY)
    assert consent.collect_events() == []
    consent.withdraw(withdrawn_on=TODAY, reason="", today=TODAY)
    consent.collect_events()
    with pytest.raises(ConsentAlreadyWithdrawnError):
        consent.withdraw(withdrawn_on=TODAY, reason="", today=TODAY)
    assert consent.collect_events() == []


# ------------------------------------------------------------------ exceptions


def test_exception_records_its_legal_basis_in_clear_and_its_reason_as_personal():
    exception = _exception(record_id=(record := uuid4()))
    (event,) = exception.collect_events()
    assert type(event).__qualname__ == "ConsentException.Recorded"
    assert (event.legal_basis, event.agency_kind, event.record_id) == (
        "child_abuse_report", "child_guidance_center", record)
    assert ConsentException.Recorded.personal_fields == ("reason",)
    assert set(LEGAL_BASES) >= {"child_abuse_report", "child_welfare_act_25",
                                "emergency_life_safety", "court_order", "other"}
    assert "児童相談所" in AGENCY_KINDS.values()


def test_exception_without_reason_or_known_legal_basis_is_refused():
    with pytest.raises(ConsentExceptionReasonMissingError) as caught:
        _exception(reason="  ", field_prefix="noConsentException.")
    assert caught.value.field == "noConsentException.reason"
    with pytest.raises(ConsentLegalBasisUnknownError):
        _exception(legal_basis="convenience")
    with pytest.raises(ConsentDateInvalidError):
        _exception(taken_on=TODAY + timedelta(days=1))


def test_household_index_has_a_deterministic_id_and_lists_in_order():
    index = HouseholdConsents(household_id=HOUSEHOLD)
    assert index.id == HouseholdConsents.create_id(HOUSEHOLD)
    first, second, exception = uuid4(), uuid4(), uuid4()
    index.list_consent(first)
    index.list_exception(exception)
    index.list_consent(second)
    assert (index.consent_ids, index.exception_ids) == ([first, second], [exception])
    assert [type(e).__name__ for e in index.collect_events()] == [
        "Started", "ConsentListed", "ExceptionListed", "ConsentListed"]


# ------------------------------------------------------------------ consultation record


def test_consultation_keeps_the_three_situations_of_the_guideline():
    consultation = _consultation(inner_situation=" 不安が強い ", child_rearing_situation="")
    (event,) = consultation.collect_events()
    assert (event.outer_situation, event.inner_situation, event.child_rearing_situation) == (
        "転居したばかり", "不安が強い", None)
    assert Consultation.Recorded.class_version == 3  # v3: reporting facts (issue 20)


def test_recorded_v1_events_are_upcast_with_empty_situations():
    state = {"asked": "a", "wishes": "", "direction": ""}
    Consultation.Recorded.upcast_v1_v2(state)
    assert state["outer_situation"] is state["inner_situation"] is None


def test_correction_is_a_new_event_keeping_the_original():
    consultation = _consultation()
    (recorded,) = consultation.collect_events()
    consultation.correct(changes={"asked": "ことばの遅れと偏食", "direction": "案内",
                                  "inner_situation": "疲れている"}, reason="聞き取りの誤り")
    (corrected,) = consultation.collect_events()
    assert type(corrected).__qualname__ == "Consultation.Corrected"
    # Only what changed ("direction" was already 案内), the reason, names in clear.
    assert corrected.changes == {"asked": "ことばの遅れと偏食", "inner_situation": "疲れている"}
    assert corrected.changed_fields == ["asked", "inner_situation"]
    assert corrected.reason == "聞き取りの誤り"
    assert recorded.asked == "ことばが遅い"  # the original event is untouched
    assert (consultation.asked, consultation.version) == ("ことばの遅れと偏食", 2)
    assert Consultation.Corrected.personal_fields == ("changes", "reason")


def test_corrections_that_change_nothing_lack_a_reason_or_blank_the_request_are_refused():
    consultation = _consultation()
    consultation.collect_events()
    with pytest.raises(ConsultationCorrectionEmptyError):
        consultation.correct(changes={"asked": " ことばが遅い "}, reason="誤記")
    with pytest.raises(ConsultationCorrectionReasonMissingError):
        consultation.correct(changes={"asked": "新"}, reason=" ")
    with pytest.raises(ConsultationRequestMissingError):
        consultation.correct(changes={"asked": ""}, reason="誤記")
    with pytest.raises(StaleVersionError):
        consultation.check_version(5)
    assert consultation.collect_events() == []
