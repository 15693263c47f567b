"""Crypto-shredding of personal data, on SQLite and on PostgreSQL.

Every scenario records a real consultation through the casework application
of a provisioned world, then looks at what is stored and what remains after
the household's data key is destroyed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import StoredEvent
from key_destruction import destroy_key

from yorisoi.domain.households import Child, Guardian
from yorisoi.infra.clock import japan_today
from yorisoi.infra.keys import LocalKeyFileProvider, TenantKeyRetiredError
from yorisoi.projections.case_queries import CaseScope
from yorisoi.services.casework import (
    CaseworkApplication,
    NewHousehold,
    RecordConsultation,
    SnapshotsWouldLeakError,
)
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.personal_data import HouseholdKeyDestroyedError
from yorisoi.tenants.runtime import TenantRuntime
from yorisoi.tenants.spaces import event_store_env, municipality_space

CITY_A = "131016"
GUARDIAN = "架空 花子"
CHILD = "架空 たろう"
ASKED = "二歳の子のことばが遅いのが心配"
WISHES = "近くで相談できる所を知りたい"
DIRECTION = "発達相談の窓口を案内"
SECRETS = (GUARDIAN, CHILD, ASKED, WISHES, DIRECTION, "花子", "たろう", "ことばが遅い")

STAFF = ActingContext(user_id="staff-7", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter", request_id="req-1")


def _forms(text: str) -> list[bytes]:
    """UTF-8 and JSON-escaped (\\uXXXX) spellings of a text."""
    return [text.encode(), json.dumps(text).strip('"').encode(),
            json.dumps(text, ensure_ascii=True).strip('"').encode()]


def assert_no_secrets(blob: bytes, where: str) -> None:
    for secret in SECRETS:
        for form in _forms(secret):
            assert form not in blob, f"{secret!r} found in {where}"


def _command(**overrides: object) -> RecordConsultation:
    fields: dict[str, object] = dict(
        municipality_code=CITY_A, site_id="a-counter", contract_id=None,
        occurred_on=japan_today() - timedelta(days=2), channel="phone",
        themes=["development", "daily_worries"], asked=ASKED, wishes=WISHES,
        direction=DIRECTION,
        consent=NewConsent(GUARDIAN, "母", japan_today() - timedelta(days=2), "相談記録の作成"),
        household=NewHousehold(guardians=[Guardian(GUARDIAN, "母")],
                               children=[Child(CHILD, date(2024, 5, 1))], pregnancy=None))
    fields.update(overrides)
    return RecordConsultation(**fields)  # type: ignore[arg-type]


@dataclass
class Recorded:
    rt: TenantRuntime
    case_id: UUID
    consultation_id: UUID
    household_id: UUID
    second_consultation_id: UUID


@pytest.fixture
def recorded(world):
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        first = rt.casework.record_consultation(_command())
        second = rt.casework.record_consultation(_command(
            case_id=first.case_id, household=None, asked="保育園の空きについて",
            themes=["childcare_place"], channel="visit", consent=None))  # consent on file
        yield Recorded(rt, first.case_id, first.consultation_id, first.household_id,
                       second.consultation_id)


def _raw_states(rt: TenantRuntime) -> list[bytes]:
    """The stored events, less a disposal batch's own (destroy_key records one on PostgreSQL)."""
    with rt.casework.database.transaction(write=False) as cur:
        return [bytes(r["state"]) for r in cur.execute(
            "SELECT state FROM {events} WHERE topic NOT LIKE %s",
            ("%:DisposalBatch.%",)).fetchall()]


def _raw_rows(rt: TenantRuntime, table: str) -> bytes:
    with rt.casework.database.transaction(write=False) as cur:
        rows = cur.execute(f"SELECT * FROM {{s}}{table}").fetchall()
    return b"".join(
        bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
        for row in rows for v in row.values())


def _stored(rt: TenantRuntime, originator_id: UUID) -> list[StoredEvent]:
    return list(rt.casework.recorder.select_events(originator_id))


def _key_row(rt: TenantRuntime, household_id: UUID) -> dict:
    with rt.casework.database.transaction(write=False) as cur:
        row = cur.execute("SELECT * FROM {s}household_keys WHERE household_id = %s",
                          (str(household_id),)).fetchone()
    assert row is not None
    return row


def test_stored_events_and_view_rows_never_contain_the_familys_words(recorded):
    rt = recorded.rt
    states = _raw_states(rt)
    # Registered, Opened, 2×ConsultationNoted, 2×Recorded, Consent.Given,
    # HouseholdConsents.Started and .ConsentListed, and the reception counter's two.
    assert len(states) == 11
    for state in states:
        assert_no_secrets(state, "a stored event")
    assert any(b'"_personal"' in s for s in states)
    # The non-personal facts stay readable in the log: statistics need them.
    recorded_states = [s for s in states if b'"channel"' in s]
    assert len(recorded_states) == 2 and all(b'"themes"' in s for s in recorded_states)
    rt.catch_up()
    for table in ("household_view", "consultation_view", "case_view", "household_keys"):
        assert_no_secrets(_raw_rows(rt, table), table)


def test_recorded_consultation_reads_back_in_plaintext_before_disposal(recorded):
    rt = recorded.rt
    household = rt.casework.repository.get(recorded.household_id)
    assert household.guardians == [Guardian(GUARDIAN, "母")]
    assert household.children == [Child(CHILD, date(2024, 5, 1))]
    assert household.shredded is False
    consultation = rt.casework.repository.get(recorded.consultation_id)
    assert (consultation.asked, consultation.wishes, consultation.direction) == (
        ASKED, WISHES, DIRECTION)


def test_destroyed_household_key_leaves_events_loadable_but_unreadable(recorded):
    rt = recorded.rt
    assert destroy_key(rt, recorded.household_id) is True
    assert destroy_key(rt, recorded.household_id) is False  # once only

    household = rt.casework.repository.get(recorded.household_id)
    assert household.shredded is True
    assert household.guardians == [] and household.children == []
    assert household.pregnancy is None and household.outside_target_reason is None
    assert household.version == 1

    consultation = rt.casework.repository.get(recorded.consultation_id)
    assert (consultation.asked, consultation.wishes, consultation.direction) == (None, None, None)
    assert consultation.themes == ["development", "daily_worries"]
    assert consultation.channel == "phone"
    assert consultation.occurred_on == japan_today() - timedelta(days=2)
    assert consultation.site_id == "a-counter" and consultation.contract_id is None
    assert consultation.case_id == recorded.case_id
    assert consultation.household_id == recorded.household_id

    case = rt.casework.repository.get(recorded.case_id)
    assert case.consultation_ids == [recorded.consultation_id, recorded.second_consultation_id]
    # The stream itself is untouched: same number of events, same stored bytes.
    assert len(_raw_states(rt)) == 11


def test_stored_bytes_are_unchanged_by_disposal(recorded):
    rt = recorded.rt
    before = sorted(_raw_states(rt))
    destroy_key(rt, recorded.household_id)
    assert sorted(_raw_states(rt)) == before


def test_destroyed_key_row_is_the_proof_that_the_key_is_gone(recorded):
    rt = recorded.rt
    live = _key_row(rt, recorded.household_id)
    assert live["wrapped_key"] is not None and live["destroyed_at"] is None
    destroy_key(rt, recorded.household_id)
    gone = _key_row(rt, recorded.household_id)
    assert gone["wrapped_key"] is None
    assert gone["destroyed_at"] is not None
    assert gone["created_at"] == live["created_at"]


def test_case_view_shows_a_disposed_household_after_catch_up_and_after_rebuild(recorded):
    rt = recorded.rt
    rt.catch_up()
    scope = CaseScope()
    hid, cid = str(recorded.household_id), str(recorded.case_id)
    assert rt.cases.households([hid])[hid].guardians == [{"name": GUARDIAN, "relationship": "母", "reading": None, "phone": None}]
    assert rt.cases.consultations([cid])[cid][0].asked == ASKED

    destroy_key(rt, recorded.household_id)
    rt.catch_up()
    household = rt.cases.households([hid])[hid]
    assert household.disposed is True and household.guardians is None
    assert household.children is None
    consultations = rt.cases.consultations([cid])[cid]
    assert [c.asked for c in consultations] == [None, None]
    assert [c.themes for c in consultations] == [["development", "daily_worries"],
                                                 ["childcare_place"]]
    case = rt.cases.get(scope, cid)
    assert case is not None and case.consultation_count == 2

    rt.case_projector.rebuild()
    household = rt.cases.households([hid])[hid]
    assert household.disposed is True and household.guardians is None
    consultations = rt.cases.consultations([cid])[cid]
    assert [c.asked for c in consultations] == [None, None]
    assert [c.channel for c in consultations] == ["phone", "visit"]
    assert [c.recorded_by for c in consultations] == ["staff-7", "staff-7"]
    case = rt.cases.get(scope, cid)
    assert case is not None and case.consultation_count == 2
    assert case.themes == ["development", "daily_worries", "childcare_place"]
    # After a rebuild no sealed value is left behind for the disposed household.
    with rt.casework.database.transaction(write=False) as cur:
        sealed = cur.execute("SELECT sealed FROM {s}consultation_view").fetchall()
        sealed += cur.execute("SELECT sealed FROM {s}household_view").fetchall()
    assert [r["sealed"] for r in sealed] == [None, None, None]


def test_recording_new_personal_data_for_a_disposed_household_is_refused(recorded, world):
    rt = recorded.rt
    destroy_key(rt, recorded.household_id)
    count = len(_raw_states(rt))
    with acting_as(STAFF), pytest.raises(HouseholdKeyDestroyedError):
        rt.casework.record_consultation(_command(case_id=recorded.case_id, household=None))
    assert len(_raw_states(rt)) == count
    # A fresh runtime (another process) refuses too: the refusal is in the database.
    other = TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
    try:
        with pytest.raises(HouseholdKeyDestroyedError):
            other.casework.keyring.for_writing(recorded.household_id)
        with acting_as(STAFF), pytest.raises(HouseholdKeyDestroyedError):
            other.casework.record_consultation(_command(case_id=recorded.case_id,
                                                        household=None))
    finally:
        other.close()
    assert len(_raw_states(rt)) == count


def test_personal_envelope_moved_to_another_event_fails_authentication(recorded):
    rt = recorded.rt
    mapper = rt.casework.mapper
    (first,) = _stored(rt, recorded.consultation_id)
    (second,) = _stored(rt, recorded.second_consultation_id)
    # Control: untouched events decode.
    assert mapper.to_domain_event(first).asked == ASKED

    # The whole state of the second event presented as the first one.
    forged = StoredEvent(originator_id=first.originator_id,
                         originator_version=first.originator_version,
                         topic=first.topic, state=second.state)
    with pytest.raises(ValueError, match="failed authentication"):
        mapper.to_domain_event(forged)

    # Only the envelope swapped in, every other field of the first event kept.
    state = json.loads(first.state)
    state["_personal"] = json.loads(second.state)["_personal"]
    spliced = StoredEvent(originator_id=first.originator_id,
                          originator_version=first.originator_version, topic=first.topic,
                          state=json.dumps(state, ensure_ascii=False).encode())
    with pytest.raises(ValueError, match="failed authentication"):
        mapper.to_domain_event(spliced)

    # The same envelope claimed for another version of the same stream.
    shifted = StoredEvent(originator_id=first.originator_id, originator_version=2,
                          topic=first.topic, state=first.state)
    with pytest.raises(ValueError, match="failed authentication"):
        mapper.to_domain_event(shifted)


def test_envelope_copied_into_another_households_event_does_not_open(recorded):
    rt = recorded.rt
    with acting_as(STAFF):
        other = rt.casework.record_consultation(_command(
            household=NewHousehold(guardians=[Guardian("架空 次郎", "父")], children=[],
                                   pregnancy=None, outside_target_reason="父の相談")))
    (mine,) = _stored(rt, recorded.consultation_id)
    (theirs,) = _stored(rt, other.consultation_id)
    state = json.loads(theirs.state)
    state["_personal"] = json.loads(mine.state)["_personal"]
    forged = StoredEvent(originator_id=theirs.originator_id,
                         originator_version=theirs.originator_version, topic=theirs.topic,
                         state=json.dumps(state, ensure_ascii=False).encode())
    with pytest.raises(ValueError, match="failed authentication"):
        rt.casework.mapper.to_domain_event(forged)


def test_wrapped_household_key_does_not_unwrap_for_another_household_or_tenant(recorded, world):
    rt = recorded.rt
    wrapped = bytes(_key_row(rt, recorded.household_id)["wrapped_key"])
    provider = LocalKeyFileProvider(world.services.settings.keys_dir)
    space = municipality_space(CITY_A)
    data_key = provider.unwrap(space, wrapped, {"household": str(recorded.household_id)})
    assert len(data_key) == 32
    with pytest.raises(InvalidTag):
        provider.unwrap(space, wrapped, {"household": str(uuid4())})
    with pytest.raises(InvalidTag):
        provider.unwrap(municipality_space("141003"), wrapped,
                        {"household": str(recorded.household_id)})


def test_snapshots_are_refused_because_they_would_store_plaintext(world):
    settings = world.services.settings
    env = {**event_store_env(settings, municipality_space(CITY_A)),
           "IS_SNAPSHOTTING_ENABLED": "y"}
    with pytest.raises(SnapshotsWouldLeakError):
        CaseworkApplication(env, tenant=municipality_space(CITY_A),
                            key_provider=world.services.key_provider)


@pytest.mark.parametrize("extra", [
    {"IS_SNAPSHOTTING_ENABLED": "on"},  # the library's strtobool accepts 'on'
    {"IS_SNAPSHOTTING_ENABLED": "TRUE"},
    {"CASEWORK_IS_SNAPSHOTTING_ENABLED": "y"},  # the library reads the prefixed name first
])
def test_snapshots_switched_on_by_any_spelling_are_refused(sqlite_settings, extra):
    from yorisoi.infra.keys import build_key_provider

    env = {**event_store_env(sqlite_settings, municipality_space(CITY_A)), **extra}
    with pytest.raises(SnapshotsWouldLeakError):
        CaseworkApplication(env, tenant=municipality_space(CITY_A),
                            key_provider=build_key_provider(sqlite_settings))


def test_snapshots_switched_on_in_the_process_environment_are_refused(sqlite_settings,
                                                                      monkeypatch):
    from yorisoi.infra.keys import build_key_provider

    monkeypatch.setenv("CASEWORK_IS_SNAPSHOTTING_ENABLED", "yes")
    with pytest.raises(SnapshotsWouldLeakError):
        CaseworkApplication(event_store_env(sqlite_settings, municipality_space(CITY_A)),
                            tenant=municipality_space(CITY_A),
                            key_provider=build_key_provider(sqlite_settings))


def test_aggregate_read_before_disposal_is_not_served_from_memory_after_it(recorded):
    rt = recorded.rt
    assert rt.casework.repository.get(recorded.consultation_id).asked == ASKED
    destroy_key(rt, recorded.household_id)
    assert rt.casework.repository.get(recorded.consultation_id).asked is None


def test_disposal_reaches_another_runtime_once_its_key_cache_expires(recorded, world):
    other = TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
    try:
        # The other runtime (a worker, a second replica) reads the consultation events.
        (event,) = other.casework.events.get(recorded.consultation_id)
        assert event.asked == ASKED
        destroy_key(recorded.rt, recorded.household_id)
        other.casework.keyring._cache_seconds = 0.0  # the documented bound, shortened
        (event,) = other.casework.events.get(recorded.consultation_id)
        assert event.asked is None
        assert vars(event).get("_shredded") is True
    finally:
        other.close()


def test_another_runtime_refuses_to_record_for_a_household_disposed_meanwhile(recorded, world):
    other = TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
    try:
        (event,) = other.casework.events.get(recorded.consultation_id)  # caches the key
        assert event.asked == ASKED
        destroy_key(recorded.rt, recorded.household_id)
        with acting_as(STAFF), pytest.raises(HouseholdKeyDestroyedError):
            other.casework.record_consultation(_command(case_id=recorded.case_id,
                                                        household=None))
    finally:
        other.close()


def test_backup_taken_before_disposal_cannot_decrypt_after_disposal(recorded, world):
    rt = recorded.rt
    backup_wrapped = bytes(_key_row(rt, recorded.household_id)["wrapped_key"])  # a DB backup
    (stored,) = _stored(rt, recorded.consultation_id)
    # Disposal's key steps (services/disposal.py): destroy the key, then rotate the tenant key.
    destroy_key(rt, recorded.household_id)
    rt.casework.keyring.rotate_tenant_key()
    # Disposal done; now restore the backed-up key with the tenant key still in service.
    provider = world.services.key_provider
    try:
        data_key = provider.unwrap(municipality_space(CITY_A), backup_wrapped,
                                   {"household": str(recorded.household_id)})
    except (InvalidTag, TenantKeyRetiredError):
        return  # the tenant key no longer opens pre-disposal backups: what we want
    envelope = base64.b64decode(json.loads(stored.state)["_personal"])
    aad = f"{recorded.consultation_id}:1:{stored.topic}".encode()
    plaintext = AESGCM(data_key).decrypt(envelope[1:13], envelope[13:], aad)
    assert ASKED.encode() not in plaintext
