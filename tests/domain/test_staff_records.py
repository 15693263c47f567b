"""StaffMember invariants and the staff findings (training missing or lapsed, pledge missing)."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest

from yorisoi.domain.errors import StaleVersionError
from yorisoi.domain.findings import TrainingRecord, staff_findings, training_valid_until
from yorisoi.domain.staff import (
    StaffAssignmentInvalidError,
    StaffAssignmentNotFoundError,
    StaffMember,
    StaffNameMissingError,
    StaffPledgeInvalidError,
    StaffQualificationUnknownError,
    StaffRoleUnknownError,
    StaffTrainingInvalidError,
)

TODAY = date(2025, 6, 15)


def member(**overrides) -> StaffMember:
    fields = {"subject": "npo-staff-1", "display_name": "架空 職員",
              "organisation_kind": "contractor", "organisation_id": "npo-hidamari",
              "roles": ["specialist"], "qualifications": ["hoikushi"]}
    fields.update(overrides)
    return StaffMember.register(**fields)


def codes(findings) -> list[tuple[str, str | None]]:
    return [(f.code, f.training_kind) for f in findings]


def test_the_staff_id_derives_from_organisation_and_subject():
    assert member().id == StaffMember.create_id("npo-hidamari", "npo-staff-1")
    assert StaffMember.create_id("131016", "npo-staff-1") != member().id


@pytest.mark.parametrize(("overrides", "error"), [
    ({"display_name": " "}, StaffNameMissingError),
    ({"display_name": "あ" * 101}, StaffNameMissingError),
    ({"roles": []}, StaffRoleUnknownError),
    ({"roles": ["wizard"]}, StaffRoleUnknownError),
    ({"qualifications": ["astronaut"]}, StaffQualificationUnknownError),
])
def test_an_invalid_registration_is_refused(overrides, error):
    with pytest.raises(error):
        member(**overrides)


def test_updating_without_a_change_stores_nothing():
    m = member()
    m.update(display_name="架空 職員", roles=["specialist"], qualifications=["hoikushi"])
    assert len(m.collect_events()) == 1
    m.update(display_name="架空 職員", roles=["specialist", "site_manager"], qualifications=[])
    assert [type(e).__name__ for e in m.collect_events()] == ["Updated"]
    with pytest.raises(StaleVersionError):
        m.check_version(1)


def test_assignments_are_dedicated_or_assisting_and_can_end():
    m = member()
    a = m.assign(site_id="a-hiroba", kind="dedicated", starts_on=TODAY, ends_on=None)
    m.end_assignment(assignment_id=a, ends_on=TODAY + timedelta(days=30))
    assert m.assignments[a]["ends_on"] == TODAY + timedelta(days=30)
    with pytest.raises(StaffAssignmentInvalidError):
        m.assign(site_id="a-hiroba", kind="full_time", starts_on=TODAY, ends_on=None)
    with pytest.raises(StaffAssignmentInvalidError):
        m.assign(site_id="a-hiroba", kind="assisting", starts_on=TODAY,
                 ends_on=TODAY - timedelta(days=1))
    with pytest.raises(StaffAssignmentInvalidError):
        m.end_assignment(assignment_id=a, ends_on=TODAY - timedelta(days=1))
    with pytest.raises(StaffAssignmentNotFoundError):
        m.end_assignment(assignment_id=str(uuid4()), ends_on=TODAY)
    assert len(m.assignments) == 1


@pytest.mark.parametrize(("kind", "completed_on", "valid_until"), [
    ("cooking", TODAY, None),
    ("kosodate_shienin_kihon", TODAY + timedelta(days=1), None),
    ("privacy_confidentiality", TODAY, TODAY),
])
def test_an_invalid_training_record_is_refused(kind, completed_on, valid_until):
    m = member()
    with pytest.raises(StaffTrainingInvalidError):
        m.record_training(kind=kind, completed_on=completed_on, valid_until=valid_until,
                          today=TODAY)
    assert m.trainings == {}


def test_a_pledge_signed_in_the_future_is_refused():
    m = member()
    with pytest.raises(StaffPledgeInvalidError):
        m.attach_pledge(attachment_id=uuid4(), signed_on=TODAY + timedelta(days=1),
                        content_type="application/pdf", size=3, sha256="x", today=TODAY)
    assert m.pledge is None


# ------------------------------------------------------------------ findings


def test_a_new_specialist_misses_every_training_and_the_pledge():
    assert codes(staff_findings(["specialist"], [], False, TODAY)) == [
        ("training_missing", "kosodate_shienin_kihon"),
        ("training_missing", "kosodate_shienin_senmon"),
        ("training_missing", "privacy_confidentiality"),
        ("pledge_missing", None)]


def test_other_staff_need_only_privacy_training_and_the_pledge():
    assert codes(staff_findings(["assistant"], [], True, TODAY)) == [
        ("training_missing", "privacy_confidentiality")]


def test_privacy_training_lapses_a_year_after_completion_unless_renewed():
    old = TrainingRecord("privacy_confidentiality", TODAY - timedelta(days=400), None)
    assert training_valid_until(old.kind, old.completed_on, None) == old.completed_on + timedelta(
        days=365)
    assert codes(staff_findings(["assistant"], [old], True, TODAY)) == [
        ("training_lapsed", "privacy_confidentiality")]
    renewed = TrainingRecord("privacy_confidentiality", TODAY - timedelta(days=10), None)
    assert staff_findings(["assistant"], [old, renewed], True, TODAY) == []


def test_a_training_past_its_stated_validity_has_lapsed():
    trainings = [TrainingRecord("kosodate_shienin_kihon", date(2020, 1, 1), None),
                 TrainingRecord("kosodate_shienin_senmon", date(2020, 1, 1), date(2025, 1, 1)),
                 TrainingRecord("privacy_confidentiality", TODAY, None)]
    found = staff_findings(["specialist"], trainings, True, TODAY)
    assert codes(found) == [("training_lapsed", "kosodate_shienin_senmon")]
    assert "専門研修" in found[0].message_ja


def test_a_fully_trained_specialist_with_a_pledge_has_no_findings():
    trainings = [TrainingRecord("kosodate_shienin_kihon", date(2020, 1, 1), None),
                 TrainingRecord("kosodate_shienin_senmon", date(2020, 2, 1), None),
                 TrainingRecord("privacy_confidentiality", TODAY - timedelta(days=30), None)]
    assert staff_findings(["specialist"], trainings, True, TODAY) == []
