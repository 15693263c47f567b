"""Consent enforcement in the casework application, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from functools import partial
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from world import CITY_A, consultation_command
from key_destruction import destroy_key

from yorisoi.domain.consent import (
    Consent,
    ConsentEvidenceUnknownError,
    ConsentException,
    ConsentMissingError,
    ConsentNotFoundError,
    ConsentWithdrawnError,
)
from yorisoi.domain.errors import StaleVersionError
from yorisoi.infra.clock import japan_today
from yorisoi.projections.case_view import CaseView, consultation_aad
from yorisoi.projections.runner import Projector
from yorisoi.services.consent import NewConsentException
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.event_mapper import _aad

STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
TODAY = japan_today()
_command = partial(consultation_command, site_id="a-counter", contract_id=None)
ABUSE = NewConsentException(reason="腕にあざ。虐待の疑いで通告した。", legal_basis="child_abuse_report")


@pytest.fixture
def rt(world):
    with world.services.runtimes.lease(CITY_A) as runtime, acting_as(STAFF):
        yield runtime


def _head(rt) -> int:
    return rt.casework.recorder.max_notification_id() or 0


def _key_count(rt) -> int:
    with rt.casework.database.transaction(write=False) as cur:
        return int(cur.execute("SELECT COUNT(*) AS n FROM {s}household_keys").fetchone()["n"])


def test_new_household_without_consent_or_exception_is_refused_and_nothing_is_written(rt):
    before, keys = _head(rt), _key_count(rt)
    with pytest.raises(ConsentMissingError) as caught:
        rt.casework.record_consultation(_command(consent=None))
    assert (caught.value.code, caught.value.field) == ("consent_missing", "consent")
    assert caught.value.message_ja
    assert _head(rt) == before
    assert _key_count(rt) == keys  # not even a household key was minted


def test_new_household_with_an_exception_is_recorded_with_its_legal_basis(rt):
    done = rt.casework.record_consultation(_command(consent=None, consent_exception=ABUSE))
    records = rt.casework.household_consents(done.household_id)
    assert records.consents == []
    (exception,) = records.exceptions
    assert isinstance(exception, ConsentException)
    assert (exception.purpose, exception.legal_basis, exception.record_id, exception.case_id) == (
        "create_records", "child_abuse_report", done.consultation_id, done.case_id)
    assert exception.reason == ABUSE.reason
    (event,) = rt.casework.events.get(exception.id)
    assert type(event).__qualname__ == "ConsentException.Recorded"
    # The legal basis is in clear (audit, statistics); the reason is not.
    (stored,) = rt.casework.recorder.select_events(exception.id)
    state = json.loads(stored.state)
    assert state["legal_basis"] == "child_abuse_report"
    assert "あざ" not in stored.state.decode("utf-8", "replace")
    assert "reason" not in state
    # No consent was recorded, so nothing covers a later record without a new exception.
    assert not rt.casework.consent_covers(done.household_id, purpose="create_records", on=TODAY)


def test_existing_case_with_consent_on_file_records_without_a_new_one(rt):
    first = rt.casework.record_consultation(_command())
    before = _head(rt)
    second = rt.casework.record_consultation(_command(case_id=first.case_id, household=None,
                                                      consent=None))
    assert _head(rt) - before == 2  # ConsultationNoted and Recorded: no consent events
    assert rt.casework.repository.get(first.case_id).consultation_ids[-1] == (
        second.consultation_id)


def test_withdrawal_takes_effect_at_once_for_the_next_record(rt):
    first = rt.casework.record_consultation(_command())
    (consent,) = rt.casework.household_consents(first.household_id).consents
    rt.casework.withdraw_consent(first.case_id, consent.id, withdrawn_on=TODAY,
                                 reason="記録をやめてほしい", writable_contract_ids=None)
    assert not rt.casework.consent_covers(first.household_id, purpose="create_records",
                                          on=TODAY)
    before = _head(rt)
    with pytest.raises(ConsentWithdrawnError) as caught:
        rt.casework.record_consultation(_command(case_id=first.case_id, household=None,
                                                 consent=None))
    assert caught.value.code == "consent_withdrawn"
    assert isinstance(caught.value, ConsentMissingError)
    assert _head(rt) == before
    # An exception with its legal basis still lets a duty be recorded.
    rt.casework.record_consultation(_command(case_id=first.case_id, household=None,
                                             consent=None, consent_exception=ABUSE))
    stored = rt.casework.repository.get(consent.id)
    assert (stored.withdrawn_on, stored.withdrawal_reason) == (TODAY, "記録をやめてほしい")


def test_consent_covers_sharing_by_agency_id_and_by_agency_kind(rt):
    done = rt.casework.record_consultation(_command())
    cover = partial(rt.casework.consent_covers, done.household_id, purpose="share", on=TODAY)
    assert not cover(agency_id="ag-hoken")
    named = rt.casework.give_consent(
        done.case_id, purpose="share", agency_id="ag-hoken", given_by="架空 花子",
        relationship="母", given_on=TODAY, scope="発達の経過", writable_contract_ids=None)
    rt.casework.give_consent(
        done.case_id, purpose="share", agency_kind="child_development_center",
        given_by="架空 花子", relationship="母", given_on=TODAY, scope="",
        writable_contract_ids=None)
    assert cover(agency_id="ag-hoken")
    assert not cover(agency_id="ag-other", agency_kind="medical")
    assert cover(agency_id="ag-hattatsu", agency_kind="child_development_center")
    assert cover(agency_kind="child_development_center")
    assert not rt.casework.consent_covers(done.household_id, purpose="share",
                                          agency_id="ag-hoken", on=TODAY - timedelta(days=1))
    # Another household's consent covers nothing here.
    other = rt.casework.record_consultation(_command())
    assert not rt.casework.consent_covers(other.household_id, purpose="share",
                                          agency_id="ag-hoken", on=TODAY)
    rt.casework.withdraw_consent(done.case_id, named.id, withdrawn_on=TODAY, reason="",
                                 writable_contract_ids=None)
    assert not cover(agency_id="ag-hoken")
    with pytest.raises(ValueError):
        cover()  # sharing always names the recipient


def test_consent_of_another_household_cannot_be_withdrawn_through_this_case(rt):
    mine = rt.casework.record_consultation(_command())
    theirs = rt.casework.record_consultation(_command())
    (their_consent,) = rt.casework.household_consents(theirs.household_id).consents
    before = _head(rt)
    for consent_id in (their_consent.id, uuid4()):
        with pytest.raises(ConsentNotFoundError):
            rt.casework.withdraw_consent(mine.case_id, consent_id, withdrawn_on=TODAY,
                                         reason="", writable_contract_ids=None)
    assert _head(rt) == before


def test_evidence_must_be_a_consent_form_attached_to_the_case(rt):
    done = rt.casework.record_consultation(_command())
    give = partial(rt.casework.give_consent, done.case_id, purpose="view", given_by="架空 花子",
                   relationship="母", given_on=TODAY, scope="", writable_contract_ids=None)
    minutes, form = uuid4(), uuid4()
    for attachment_id, kind in ((minutes, "meeting_minutes"), (form, "consent_form")):
        rt.casework.attach_to_case(
            done.case_id, attachment_id=attachment_id, kind=kind,
            content_type="application/pdf", data=b"%PDF-1.4",
            store=lambda _h, data: hashlib.sha256(data).hexdigest(), writable_contract_ids=None)
    before = _head(rt)
    for wrong in (str(uuid4()), str(minutes)):
        with pytest.raises(ConsentEvidenceUnknownError):
            give(evidence_attachment_id=wrong)
    assert _head(rt) == before
    consent = give(evidence_attachment_id=str(form))
    assert isinstance(consent, Consent)
    assert rt.casework.repository.get(consent.id).evidence_attachment_id == str(form)


def test_disposed_household_keeps_consent_status_but_loses_who_gave_it(rt):
    done = rt.casework.record_consultation(_command())
    destroy_key(rt, done.household_id)
    (consent,) = rt.casework.household_consents(done.household_id).consents
    assert (consent.given_by, consent.scope) == (None, None)
    assert consent.purpose == "create_records" and not consent.withdrawn


def _sealed_consultations(rt) -> dict[str, object]:
    with rt.casework.database.transaction(write=False) as cur:
        rows = cur.execute("SELECT consultation_id, household_id, sealed, position"
                           " FROM {s}consultation_view").fetchall()
    return {r["consultation_id"]: (r["position"], rt.casework.keyring.open_json(
        UUID(r["household_id"]), r["sealed"], consultation_aad(r["consultation_id"])))
        for r in rows}


def test_correction_keeps_the_original_and_the_view_shows_current_values(rt):
    done = rt.casework.record_consultation(_command(outer_situation="転居したばかり"))
    rt.casework.correct_consultation(
        done.case_id, done.consultation_id,
        changes={"asked": "ことばの遅れ", "inner_situation": "疲れている"},
        reason="聞き取りの誤り", expected_version=1, writable_contract_ids=None)
    events = list(rt.casework.events.get(done.consultation_id))
    assert [type(e).__qualname__ for e in events] == [
        "Consultation.Recorded", "Consultation.Corrected"]
    assert events[0].asked == "ことばが遅い"  # the original is kept
    assert events[1].changed_fields == ["asked", "inner_situation"]

    rt.catch_up_and_chain()
    (record,) = rt.cases.consultations([str(done.case_id)])[str(done.case_id)]
    assert (record.asked, record.outer_situation, record.inner_situation) == (
        "ことばの遅れ", "転居したばかり", "疲れている")
    (correction,) = record.corrections
    assert correction["reason"] == "聞き取りの誤り"
    assert (correction["corrected_by"], correction["fields"]) == (
        "staff-1", ["asked", "inner_situation"])

    # A stale version is refused and writes nothing.
    before = _head(rt)
    with pytest.raises(StaleVersionError):
        rt.casework.correct_consultation(
            done.case_id, done.consultation_id, changes={"asked": "別"}, reason="再訂正",
            expected_version=1, writable_contract_ids=None)
    assert _head(rt) == before

    # Rebuilding the case view from zero gives the same rows.
    live = _sealed_consultations(rt)
    projector = Projector(rt.casework.database, rt.casework.mapper, CaseView(rt.casework.keyring))
    projector.rebuild()
    assert _sealed_consultations(rt) == live


def test_consultation_stored_before_the_situations_existed_still_loads(rt):
    """A v1 ``Consultation.Recorded`` (no situations, no class_version) is upcast on load."""
    done = rt.casework.record_consultation(_command())
    (stored,) = rt.casework.recorder.select_events(done.consultation_id)
    mapper, keyring = rt.casework.mapper, rt.casework.keyring
    state = json.loads(stored.state)
    assert state.pop("class_version") == 3  # v3: the reporting facts (issue 20)
    aad = _aad(stored.originator_id, stored.originator_version, stored.topic)
    personal = mapper.transcoder.decode(keyring.open(
        done.household_id, base64.b64decode(state["_personal"]), aad))
    v1 = {k: personal[k] for k in ("asked", "wishes", "direction")}
    state["_personal"] = base64.b64encode(keyring.seal(
        done.household_id, mapper.transcoder.encode(v1), aad)).decode()
    old = StoredEvent(originator_id=stored.originator_id,
                      originator_version=stored.originator_version, topic=stored.topic,
                      state=json.dumps(state).encode())
    event = mapper.to_domain_event(old)
    assert event.asked == "ことばが遅い"
    assert (event.outer_situation, event.inner_situation, event.child_rearing_situation) == (
        None, None, None)
