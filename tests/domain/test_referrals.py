"""Referral and Agency invariants, without a database: every transition and every refusal."""

from __future__ import annotations

from datetime import date, timedelta
from functools import reduce
from uuid import uuid4

import pytest

from yorisoi.domain.agencies import (
    Agency,
    AgencyContactMissingError,
    AgencyKindUnknownError,
    AgencyNameMissingError,
    ConfidentialityBasisUnknownError,
)
from yorisoi.domain.errors import StaleVersionError
from yorisoi.domain.referrals import (
    Referral,
    ReferralAlreadySentError,
    ReferralClosedError,
    ReferralClosureReasonUnknownError,
    ReferralConfidentialityBasisMissingError,
    ReferralConsentMissingError,
    ReferralDateInvalidError,
    ReferralExceptionIncompleteError,
    ReferralFieldNotShareableError,
    ReferralFollowUpNotAllowedError,
    ReferralFollowUpsOpenError,
    ReferralFollowUpUnknownError,
    ReferralOutcomeUnknownError,
    ReferralReasonMissingError,
    ReferralTransitionError,
)

TODAY = date(2025, 6, 15)


def _draft(**overrides) -> Referral:
    fields = dict(case_id=uuid4(), household_id=uuid4(), agency_id=uuid4(),
                  agency_kind="health_center", site_id="a-hiroba", contract_id="contract-a-npo",
                  reason="発達の相談先として保健センターへ", urgent=False, accompanied=True,
                  shared_fields=["household.children", "consultation.asked"], today=TODAY)
    fields.update(overrides)
    return Referral.draft(**fields)


def _send(referral: Referral, **overrides) -> None:
    fields = dict(sent_on=TODAY, today=TODAY, confidentiality_basis="public_servant",
                  consent_covered=True, consent_id="consent-1")
    fields.update(overrides)
    referral.send(**fields)


def _accepted() -> Referral:
    referral = _draft()
    _send(referral)
    referral.acknowledge(acknowledged_on=TODAY, today=TODAY)
    referral.accept(accepted_on=TODAY, today=TODAY)
    return referral


def _replayed(referral: Referral) -> Referral:
    """The aggregate rebuilt from its events (the decorated bodies only apply state)."""
    events = referral.collect_events()
    return reduce(lambda agg, e: e.mutate(agg), events, None)


# --------------------------------------------------------------------------- agencies


def test_off_system_agency_is_registered_with_its_organisation_address():
    agency = Agency.register(municipality_code="131016", name=" 千代田区保健センター ",
                             kind="health_center", on_system=False,
                             contact_email="hoken@city.example.jp",
                             confidentiality_basis="public_servant")
    assert (agency.name, agency.kind, agency.on_system) == ("千代田区保健センター",
                                                            "health_center", False)
    assert agency.confidentiality_basis == "public_servant"


@pytest.mark.parametrize(("overrides", "error", "field"), [
    ({"name": "  "}, AgencyNameMissingError, "name"),
    ({"kind": "police"}, AgencyKindUnknownError, "kind"),
    ({"confidentiality_basis": "promise"}, ConfidentialityBasisUnknownError,
     "confidentialityBasis"),
    ({"contact_email": None}, AgencyContactMissingError, "contactEmail"),
    ({"contact_email": "not-an-address"}, AgencyContactMissingError, "contactEmail"),
])
def test_agency_refusals(overrides, error, field):
    fields = dict(municipality_code="131016", name="保健センター", kind="health_center",
                  on_system=False, contact_email="hoken@city.example.jp",
                  confidentiality_basis=None)
    fields.update(overrides)
    with pytest.raises(error) as caught:
        Agency.register(**fields)
    assert caught.value.field == field


def test_on_system_agency_needs_no_address():
    agency = Agency.register(municipality_code="131016", name="児童相談所", kind="child_guidance_center",
                             on_system=True, contact_email=None, confidentiality_basis=None)
    assert agency.contact_email is None and agency.confidentiality_basis is None


# --------------------------------------------------------------------------- the whole way


def test_referral_goes_draft_sent_acknowledged_accepted_outcome_follow_up_closed():
    referral = _draft(shared_fields=["consultation.asked", "household.children",
                                     "consultation.asked"])
    assert referral.status == Referral.DRAFT
    assert referral.shared_fields == ["consultation.asked", "household.children"]
    _send(referral)
    assert (referral.status, referral.sent_on) == (Referral.SENT, TODAY)
    assert (referral.confidentiality_basis, referral.consent_id) == ("public_servant", "consent-1")
    referral.acknowledge(acknowledged_on=TODAY, today=TODAY)
    referral.accept(accepted_on=TODAY, today=TODAY)
    referral.schedule_follow_up(follow_up_id="f1", due_on=TODAY + timedelta(days=30),
                                owner_user_id="staff-1")
    referral.record_outcome(outcome="service_started", note="療育の利用開始", recorded_on=TODAY,
                            today=TODAY)
    referral.schedule_follow_up(follow_up_id="f2", due_on=TODAY + timedelta(days=60),
                                owner_user_id="staff-2")
    assert referral.open_follow_ups == ["f1", "f2"]
    later = TODAY + timedelta(days=61)
    referral.complete_follow_up(follow_up_id="f1", completed_on=later, note="通所継続", today=later)
    referral.complete_follow_up(follow_up_id="f2", completed_on=later, note="安定", today=later)
    referral.close(closed_on=later, reason="completed", today=later)
    assert referral.status == Referral.CLOSED

    replayed = _replayed(referral)
    assert replayed.status == Referral.CLOSED
    assert replayed.version == referral.version == 10
    assert replayed.follow_ups["f2"]["completed_on"] == later


def test_declined_referral_records_an_outcome_and_closes():
    referral = _draft()
    _send(referral)
    referral.acknowledge(acknowledged_on=TODAY, today=TODAY, via="packet_link")
    referral.decline(declined_on=TODAY, today=TODAY, note="対象外")
    assert referral.status == Referral.DECLINED
    with pytest.raises(ReferralFollowUpNotAllowedError):
        referral.schedule_follow_up(follow_up_id="f", due_on=TODAY, owner_user_id="u")
    referral.record_outcome(outcome="referred_elsewhere", note="", recorded_on=TODAY, today=TODAY)
    referral.close(closed_on=TODAY, reason="declined_by_agency", today=TODAY)
    assert referral.status == Referral.CLOSED


def test_a_draft_the_family_withdrew_can_be_closed_without_sending():
    referral = _draft()
    referral.close(closed_on=TODAY, reason="family_withdrew", today=TODAY)
    assert referral.status == Referral.CLOSED and referral.sent_on is None


def test_sending_under_a_legal_duty_records_the_exception_without_consent():
    referral = _draft(agency_kind="child_guidance_center", urgent=True)
    _send(referral, consent_covered=False, consent_id=None,
          exception_reason="身体に複数のあざ", exception_legal_basis="child_abuse_report",
          confidentiality_basis="public_servant")
    assert referral.status == Referral.SENT
    assert referral.exception_legal_basis == "child_abuse_report"
    assert referral.consent_id is None
    [drafted, sent] = referral.collect_events()
    assert sent.exception_reason == "身体に複数のあざ"
    assert "exception_reason" in Referral.Sent.personal_fields
    assert drafted.urgent is True


# --------------------------------------------------------------------------- refusals


def test_draft_without_a_reason_is_refused():
    with pytest.raises(ReferralReasonMissingError) as caught:
        _draft(reason="   ")
    assert caught.value.field == "reason"


def test_draft_sharing_a_field_outside_the_allowed_set_is_refused():
    with pytest.raises(ReferralFieldNotShareableError) as caught:
        _draft(shared_fields=["household.children", "household.address"])
    assert caught.value.field == "sharedFields.1"


def test_sending_without_a_confidentiality_basis_is_refused():
    referral = _draft()
    with pytest.raises(ReferralConfidentialityBasisMissingError) as caught:
        _send(referral, confidentiality_basis=None)
    assert caught.value.field == "confidentialityBasis"
    assert referral.status == Referral.DRAFT and len(referral.collect_events()) == 1


def test_sending_with_an_unknown_confidentiality_basis_is_refused():
    with pytest.raises(ConfidentialityBasisUnknownError):
        _send(_draft(), confidentiality_basis="trust_me")


def test_sending_without_consent_or_exception_is_refused():
    referral = _draft()
    with pytest.raises(ReferralConsentMissingError) as caught:
        _send(referral, consent_covered=False, consent_id=None)
    assert caught.value.field == "consent"
    assert referral.status == Referral.DRAFT


@pytest.mark.parametrize(("reason", "basis"), [
    ("通告", None), (None, "child_abuse_report"), ("  ", "child_abuse_report"),
    ("通告", "because"),
])
def test_an_incomplete_exception_is_refused(reason, basis):
    with pytest.raises(ReferralExceptionIncompleteError):
        _send(_draft(), consent_covered=False, exception_reason=reason,
              exception_legal_basis=basis)


def test_sending_twice_is_refused():
    referral = _draft()
    _send(referral)
    with pytest.raises(ReferralAlreadySentError):
        _send(referral)


@pytest.mark.parametrize("sent_on", [TODAY + timedelta(days=1), TODAY - timedelta(days=1)])
def test_sending_dated_in_the_future_or_before_the_draft_is_refused(sent_on):
    with pytest.raises(ReferralDateInvalidError) as caught:
        _send(_draft(), sent_on=sent_on)
    assert caught.value.field == "sentOn"


def test_steps_out_of_order_are_refused():
    referral = _draft()
    with pytest.raises(ReferralTransitionError):
        referral.acknowledge(acknowledged_on=TODAY, today=TODAY)
    _send(referral)
    with pytest.raises(ReferralTransitionError):
        referral.accept(accepted_on=TODAY, today=TODAY)
    with pytest.raises(ReferralTransitionError):
        referral.decline(declined_on=TODAY, today=TODAY, note="")
    with pytest.raises(ReferralTransitionError):
        referral.record_outcome(outcome="other", note="", recorded_on=TODAY, today=TODAY)
    with pytest.raises(ReferralTransitionError):
        referral.close(closed_on=TODAY, reason="completed", today=TODAY)
    referral.acknowledge(acknowledged_on=TODAY, today=TODAY)
    with pytest.raises(ReferralTransitionError):
        referral.acknowledge(acknowledged_on=TODAY, today=TODAY)


def test_follow_ups_are_refused_before_acceptance():
    referral = _draft()
    _send(referral)
    with pytest.raises(ReferralFollowUpNotAllowedError):
        referral.schedule_follow_up(follow_up_id="f", due_on=TODAY, owner_user_id="u")


def test_follow_up_due_before_the_last_step_is_refused():
    referral = _accepted()
    with pytest.raises(ReferralDateInvalidError) as caught:
        referral.schedule_follow_up(follow_up_id="f", due_on=TODAY - timedelta(days=1),
                                    owner_user_id="u")
    assert caught.value.field == "dueOn"


def test_completing_an_unknown_or_completed_follow_up_is_refused():
    referral = _accepted()
    with pytest.raises(ReferralFollowUpUnknownError):
        referral.complete_follow_up(follow_up_id="nope", completed_on=TODAY, note="", today=TODAY)
    referral.schedule_follow_up(follow_up_id="f", due_on=TODAY, owner_user_id="u")
    referral.complete_follow_up(follow_up_id="f", completed_on=TODAY, note="", today=TODAY)
    with pytest.raises(ReferralFollowUpUnknownError):
        referral.complete_follow_up(follow_up_id="f", completed_on=TODAY, note="", today=TODAY)


def test_unknown_outcome_and_closure_reason_are_refused():
    referral = _accepted()
    with pytest.raises(ReferralOutcomeUnknownError):
        referral.record_outcome(outcome="great", note="", recorded_on=TODAY, today=TODAY)
    referral.record_outcome(outcome="other", note="", recorded_on=TODAY, today=TODAY)
    with pytest.raises(ReferralClosureReasonUnknownError):
        referral.close(closed_on=TODAY, reason="bored", today=TODAY)


def test_closing_with_open_follow_ups_is_refused():
    referral = _accepted()
    referral.record_outcome(outcome="other", note="", recorded_on=TODAY, today=TODAY)
    referral.schedule_follow_up(follow_up_id="f", due_on=TODAY, owner_user_id="u")
    with pytest.raises(ReferralFollowUpsOpenError):
        referral.close(closed_on=TODAY, reason="completed", today=TODAY)


def test_closed_is_final():
    referral = _draft()
    referral.close(closed_on=TODAY, reason="family_withdrew", today=TODAY)
    with pytest.raises(ReferralClosedError):
        _send(referral)
    with pytest.raises(ReferralClosedError):
        referral.close(closed_on=TODAY, reason="other", today=TODAY)
    with pytest.raises(ReferralClosedError):
        referral.acknowledge(acknowledged_on=TODAY, today=TODAY)
    with pytest.raises(ReferralClosedError):
        referral.schedule_follow_up(follow_up_id="f", due_on=TODAY, owner_user_id="u")
    with pytest.raises(ReferralClosedError):
        referral.complete_follow_up(follow_up_id="f", completed_on=TODAY, note="", today=TODAY)


def test_a_stale_version_is_refused():
    referral = _draft()
    referral.check_version(1)
    referral.check_version(None)
    _send(referral)
    with pytest.raises(StaleVersionError):
        referral.check_version(1)


def test_a_referral_goes_to_exactly_one_recipient():
    from uuid import uuid4

    from yorisoi.domain.referrals import ReferralRecipientChoiceError, check_recipient_choice

    check_recipient_choice(uuid4(), None)
    check_recipient_choice(None, uuid4())
    for agency_id, resource_id in ((None, None), (uuid4(), uuid4())):
        with pytest.raises(ReferralRecipientChoiceError) as refused:
            check_recipient_choice(agency_id, resource_id)
        assert refused.value.field == "agencyId" and refused.value.message_ja
