"""Disposal: due list, holds, two-person approval, crash-resume, and nothing left behind.

Every household here is recorded through the casework application as staff
would record it — a consultation with consent, a support note, a referral sent
to an off-system agency (its sealed packet stored under the household's
prefix), a case meeting, a signed consent form attached as a file — and its
case closed years ago, so that its retention period has run out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import boto3
import pytest

from yorisoi.domain.case_meetings import CaseMeeting  # noqa: F401 - topic resolution
from yorisoi.domain.disposal import (
    COMPLETED,
    DisposalApproverSameAsProposerError,
    DisposalBatchStateError,
    HouseholdNotDueError,
)
from yorisoi.domain.households import Child, Guardian
from yorisoi.domain.retention import RECORD_CLASSES, RetentionScheduleMissingError
from yorisoi.infra.certificates import (
    CertificateInvalidError,
    render_markdown,
    verify_certificate,
)
from yorisoi.infra.clock import JST, japan_today
from yorisoi.infra.keys import TenantKeyRetiredError, version_of
from yorisoi.infra.referral_packets import ObjectStorePacketPublisher
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.disposal import Disposal, household_prefix
from yorisoi.services.meetings import ScheduleCaseMeeting
from yorisoi.tenants.runtime import TenantRuntime

CITY = "131016"
PROPOSER = ActingContext(user_id="a-records-officer", role="municipal_supervisor",
                         organisation_kind="municipality", organisation_id=CITY)
APPROVER = ActingContext(user_id="a-records-chief", role="municipal_admin",
                         organisation_kind="municipality", organisation_id=CITY)
STAFF = ActingContext(user_id="a-specialist", role="specialist",
                      organisation_kind="municipality", organisation_id=CITY,
                      site_id="a-counter")


@dataclass(frozen=True)
class Family:
    """The words of one fictional family: every one of them must be gone after disposal."""

    guardian: str
    child: str
    asked: str
    note: str
    reason: str
    agenda: str
    exception: str

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.guardian, self.child, self.asked, self.note, self.reason, self.agenda,
                self.exception)

    @classmethod
    def named(cls, tag: str) -> Family:
        return cls(guardian=f"廃棄{tag} 花子", child=f"廃棄{tag} たろう",
                   asked=f"{tag}ことばが遅いのが心配", note=f"{tag}次回は祖母も同席",
                   reason=f"{tag}発達の相談先として", agenda=f"{tag}支援方針の確認",
                   exception=f"{tag}虐待の疑いにより通告")


@dataclass(frozen=True)
class Household:
    household_id: str
    case_id: UUID
    family: Family


def _record(rt: TenantRuntime, objects, family: Family, *, closed_on: date | None,
            opened_on: date = date(2018, 5, 1)) -> Household:
    """A household with every kind of record, closed on ``closed_on`` (None: left open)."""
    casework = rt.casework
    with acting_as(STAFF):
        recorded = casework.record_consultation(RecordConsultation(
            municipality_code=CITY, site_id="a-counter", contract_id=None,
            occurred_on=opened_on, channel="visit", themes=["development"], asked=family.asked,
            wishes="相談先を知りたい", direction="発達相談の案内",
            household=NewHousehold(guardians=[Guardian(family.guardian, "母")],
                                   children=[Child(family.child, date(2017, 5, 1))],
                                   pregnancy=None),
            consent=NewConsent(family.guardian, "母", opened_on, "相談記録の作成")))
        case_id, hid = recorded.case_id, recorded.household_id
        casework.write_support_note(case_id, written_on=opened_on, kind="progress",
                                    body=family.note, writable_contract_ids=None)
        agency = casework.register_agency(
            municipality_code=CITY, name="架空市 児童相談所", kind="child_guidance_center",
            on_system=False, contact_email="jidou@example.invalid",
            confidentiality_basis="public_servant")
        referral = casework.draft_referral(
            case_id=case_id, agency_id=agency.id, reason=family.reason, urgent=False,
            accompanied=False, shared_fields=["referral.reason", "household.guardians"],
            writable_contract_ids=None)
        casework.send_referral(
            referral.id, sent_on=japan_today(), confidentiality_basis=None,
            exception_reason=family.exception, exception_legal_basis="child_abuse_report",
            expected_version=None, writable_contract_ids=None,
            publisher=ObjectStorePacketPublisher(objects, b"s" * 32, rt.space))
        casework.schedule_case_meeting(ScheduleCaseMeeting(
            case_id=case_id, starts_at=datetime(2018, 6, 1, 10, tzinfo=JST),
            ends_at=datetime(2018, 6, 1, 11, tzinfo=JST), place="区役所 相談室",
            agenda=family.agenda))
        form = f"同意書\n氏名: {family.guardian}\n子: {family.child}\n".encode()

        def store(household_id: UUID, data: bytes) -> str:
            key = f"{household_prefix(rt.space, str(household_id))}/attachments/{uuid.uuid4()}"
            return objects.put(key, data, content_type="application/pdf").sha256

        casework.attach_to_case(case_id, attachment_id=uuid.uuid4(), kind="consent_form",
                                content_type="application/pdf", data=form, store=store,
                                writable_contract_ids=None)
        if closed_on is not None:
            casework.close_case(case_id, closed_on=closed_on, reason="support_completed",
                                expected_version=None, writable_contract_ids=None)
    rt.catch_up()
    return Household(str(hid), case_id, family)


def _schedule(rt: TenantRuntime, *, two_person: bool = True, years: int | None = 1) -> None:
    with acting_as(APPROVER):
        rt.casework.set_retention_schedule(
            effective_from=japan_today(), two_person_approval=two_person,
            years={name: years for name in RECORD_CLASSES})


def _disposal(world, rt: TenantRuntime) -> Disposal:
    return Disposal(rt, world.services.objects, world.services.signer)


def _approved_batch(world, rt: TenantRuntime, households: list[Household]) -> UUID:
    disposal = _disposal(world, rt)
    with acting_as(PROPOSER):
        batch = disposal.propose([h.household_id for h in households])
    with acting_as(APPROVER):
        rt.casework.approve_disposal(batch.id, expected_version=None)
    return batch.id


# --------------------------------------------------------------------------- scans


def _forms(text: str) -> list[bytes]:
    """UTF-8 and JSON-escaped (\\uXXXX) spellings of a value."""
    return [text.encode(), json.dumps(text).strip('"').encode()]


def _found(blob: bytes, secrets: tuple[str, ...]) -> set[str]:
    return {s for s in secrets if any(form in blob for form in _forms(s))}


def scan_database(world, secrets: tuple[str, ...], cluster=None) -> dict[str, set[str]]:
    """Every text/bytea column of every table of every schema (PostgreSQL, as superuser so
    row-level security hides nothing), or of every SQLite file, searched for the values."""
    hits: dict[str, set[str]] = {}
    settings = world.services.settings
    if settings.backend == "postgres":
        with cluster.connect(settings.pg_dbname, "superuser") as conn:
            columns = conn.execute(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                " AND table_schema NOT LIKE 'pg_toast%%'"
                " AND data_type IN ('text', 'bytea', 'character varying', 'json', 'jsonb',"
                " 'character', 'USER-DEFINED', 'ARRAY')").fetchall()
            assert len(columns) > 50  # the scan sees the spaces, not an empty database
            for schema, table, column in columns:
                values = conn.execute(
                    f'SELECT "{column}"::text AS t, "{column}" AS v FROM "{schema}"."{table}"'
                ).fetchall()
                blob = b"\0".join(
                    (bytes(v) if isinstance(v, (bytes, memoryview)) else (t or "").encode())
                    for t, v in values)
                if found := _found(blob, secrets):
                    hits[f"{schema}.{table}.{column}"] = found
        return hits
    import sqlite3

    for path in sorted(Path(settings.sqlite_dir).glob("*.sqlite")):
        with sqlite3.connect(path) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master"
                                                 " WHERE type = 'table'")]
            assert tables
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    blob = b"\0".join(v if isinstance(v, bytes) else str(v).encode()
                                      for v in row)
                    if found := _found(blob, secrets):
                        hits.setdefault(f"{path.name}:{table}", set()).update(found)
    return hits


def scan_objects(world, secrets: tuple[str, ...]) -> dict[str, set[str]]:
    """Every object in the store — every version of every key, on S3."""
    settings, hits = world.services.settings, {}
    if settings.storage == "s3":
        s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url,
                          region_name=settings.s3_region)
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=settings.s3_bucket)
        versions = [v for page in pages for v in page.get("Versions", [])]
        for v in versions:
            data = s3.get_object(Bucket=settings.s3_bucket, Key=v["Key"],
                                 VersionId=v["VersionId"])["Body"].read()
            if found := _found(data, secrets):
                hits[v["Key"]] = found
        return hits
    for path in Path(settings.objects_dir).rglob("*"):
        if path.is_file() and (found := _found(path.read_bytes(), secrets)):
            hits[str(path)] = found
    return hits


def readable_through_the_platform(world, secrets: tuple[str, ...]) -> set[str]:
    """What a fresh process holding the platform's keys can still decrypt from the event log."""
    rt = TenantRuntime(world.services.settings, CITY, world.services.key_provider)
    try:
        with rt.casework.database.transaction(write=False) as cur:
            rows = cur.execute("SELECT originator_id, originator_version, topic, state"
                               " FROM {events}").fetchall()
        from eventsourcing.persistence import StoredEvent

        text = "".join(json.dumps(vars(rt.casework.mapper.to_domain_event(StoredEvent(
            originator_id=r["originator_id"], originator_version=r["originator_version"],
            topic=r["topic"], state=bytes(r["state"])))), default=str, ensure_ascii=False)
            for r in rows)
    finally:
        rt.close()
    return {s for s in secrets if s in text}


# --------------------------------------------------------------------------- due list


def test_the_due_list_follows_schedule_closure_holds_and_reopening(world):
    with world.services.runtimes.lease(CITY) as rt:
        disposal = _disposal(world, rt)
        due_one = _record(rt, world.services.objects, Family.named("A"), closed_on=date(2019, 6, 1))
        open_one = _record(rt, world.services.objects, Family.named("B"), closed_on=None)
        held_one = _record(rt, world.services.objects, Family.named("C"), closed_on=date(2019, 6, 1))
        recent = _record(rt, world.services.objects, Family.named("D"),
                         closed_on=japan_today() - timedelta(days=1),
                         opened_on=japan_today() - timedelta(days=30))
        with pytest.raises(RetentionScheduleMissingError):
            disposal.due()  # nothing is hard-coded: no schedule, nothing due
        _schedule(rt)
        with acting_as(APPROVER):
            hold = rt.casework.place_hold(household_id=UUID(held_one.household_id),
                                          reason="litigation", owner="a-legal",
                                          starts_on=date(2024, 4, 1), ends_on=None)
        schedule, due = disposal.due()
        assert schedule.version == 1
        assert [d.household_id for d in due] == [due_one.household_id]
        (standing,) = due
        assert standing.closed_on == date(2019, 6, 1) and standing.due_on == date(2021, 4, 1)
        assert standing.record_counts == {"consent_form": 4, "consultation_file": 4,
                                          "meeting_minutes": 1, "referral": 1}
        standings = {s.household_id: s for s in disposal.queries.standings(
            schedule, japan_today())}
        assert open_one.household_id not in standings  # an open case stops the clock
        assert standings[held_one.household_id].held
        assert standings[recent.household_id].due_on > japan_today()

        with acting_as(APPROVER):
            rt.casework.release_hold(hold.id, released_on=japan_today())
        assert {d.household_id for d in disposal.due()[1]} == {
            due_one.household_id, held_one.household_id}
        with acting_as(STAFF):
            rt.casework.reopen_case(due_one.case_id, reopened_on=japan_today(),
                                    expected_version=None, writable_contract_ids=None)
        assert [d.household_id for d in disposal.due()[1]] == [held_one.household_id]
        with acting_as(PROPOSER), pytest.raises(HouseholdNotDueError):
            disposal.propose([due_one.household_id])
        # An undecided disclosure request holds the household as well.
        with acting_as(APPROVER):
            rt.casework.receive_data_subject_request(
                household_id=UUID(held_one.household_id), kind="disclosure",
                identification_method="counter_photo_id", requester_relationship="self",
                received_on=japan_today())
        assert disposal.due()[1] == []
        (released,) = disposal.queries.holds(held_one.household_id)
        assert released.released_on == japan_today().isoformat()
        assert released.released_by == APPROVER.user_id and released.placed_by == "a-records-chief"


def test_a_permanent_class_keeps_a_household_forever(world):
    with world.services.runtimes.lease(CITY) as rt:
        _record(rt, world.services.objects, Family.named("P"), closed_on=date(2019, 6, 1))
        _schedule(rt, years=None)
        assert _disposal(world, rt).due()[1] == []


def test_every_read_model_says_how_a_household_is_purged_from_it():
    from yorisoi.projections.tenant_views import TENANT_VIEWS

    # A view without purge would stop every disposal run: say so here, at the source.
    assert [v.__name__ for v in TENANT_VIEWS if not callable(getattr(v, "purge", None))] == []


# --------------------------------------------------------------------------- approval


def test_two_person_approval_refuses_the_proposer_and_accepts_a_second_officer(world):
    with world.services.runtimes.lease(CITY) as rt:
        household = _record(rt, world.services.objects, Family.named("E"),
                            closed_on=date(2019, 6, 1))
        _schedule(rt, two_person=True)
        disposal = _disposal(world, rt)
        with acting_as(PROPOSER):
            batch = disposal.propose([household.household_id])
            with pytest.raises(DisposalApproverSameAsProposerError):
                rt.casework.approve_disposal(batch.id, expected_version=None)
            with pytest.raises(DisposalBatchStateError):
                disposal.run(batch.id)  # not approved: nothing runs
        assert rt.casework.keyring.for_reading(UUID(household.household_id)) is not None
        with acting_as(APPROVER):
            approved = rt.casework.approve_disposal(batch.id, expected_version=batch.version)
        assert (approved.proposed_by, approved.approved_by) == (PROPOSER.user_id,
                                                               APPROVER.user_id)
        with acting_as(APPROVER), pytest.raises(DisposalBatchStateError):
            rt.casework.approve_disposal(batch.id, expected_version=None)  # once only


def test_without_the_two_person_rule_the_proposer_may_approve(world):
    with world.services.runtimes.lease(CITY) as rt:
        household = _record(rt, world.services.objects, Family.named("F"),
                            closed_on=date(2019, 6, 1))
        _schedule(rt, two_person=False)
        with acting_as(PROPOSER):
            batch = _disposal(world, rt).propose([household.household_id])
            assert rt.casework.approve_disposal(batch.id, expected_version=None).approved_by == (
                PROPOSER.user_id)


def test_a_household_held_after_approval_is_skipped_not_disposed(world):
    with world.services.runtimes.lease(CITY) as rt:
        kept = _record(rt, world.services.objects, Family.named("G"), closed_on=date(2019, 6, 1))
        gone = _record(rt, world.services.objects, Family.named("H"), closed_on=date(2019, 6, 1))
        _schedule(rt)
        batch_id = _approved_batch(world, rt, [kept, gone])
        with acting_as(APPROVER):
            rt.casework.place_hold(household_id=UUID(kept.household_id),
                                   reason="child_guidance_centre", owner="a-chief",
                                   starts_on=japan_today(), ends_on=None)
            batch = _disposal(world, rt).run(batch_id)
        assert batch.status == COMPLETED
        assert batch.outcomes[kept.household_id]["reason"] == "hold_active"
        assert batch.disposed == [gone.household_id]
        assert "ホールド中" in render_markdown(_disposal(world, rt).certificate(batch_id))
        assert rt.casework.keyring.for_reading(UUID(kept.household_id)) is not None
        assert rt.casework.keyring.for_reading(UUID(gone.household_id)) is None
        assert _found(json.dumps(vars(rt.casework.repository.get(UUID(kept.household_id))),
                                 default=str, ensure_ascii=False).encode(), (kept.family.guardian,))


def test_a_household_whose_key_is_already_gone_is_cleaned_up_not_skipped(world):
    """A run stopped between destroying a key and recording it: a reopening meanwhile can
    bring nothing back, and the household's files must not be left behind."""
    with world.services.runtimes.lease(CITY) as rt:
        household = _record(rt, world.services.objects, Family.named("Q"),
                            closed_on=date(2019, 6, 1))
        _schedule(rt)
        batch_id = _approved_batch(world, rt, [household])
        rt.casework.keyring.destroy(UUID(household.household_id))  # the step, unrecorded
        with acting_as(STAFF):
            rt.casework.reopen_case(household.case_id, reopened_on=japan_today(),
                                    expected_version=None, writable_contract_ids=None)
        with acting_as(APPROVER):
            batch = _disposal(world, rt).run(batch_id)
        assert batch.disposed == [household.household_id]
        assert scan_objects(world, household.family.secrets) == {}
        assert "記録なし" in render_markdown(_disposal(world, rt).certificate(batch_id))
        # Proposed again in a second batch (it was due when proposed): skipped, not redone.
        again = _record(rt, world.services.objects, Family.named("R"), closed_on=date(2019, 6, 1))
        second = _approved_batch(world, rt, [again])
        rt.casework.keyring.destroy(UUID(again.household_id))
        third = _approved_batch(world, rt, [again])
        with acting_as(APPROVER):
            assert _disposal(world, rt).run(second).disposed == [again.household_id]
            repeated = _disposal(world, rt).run(third)
        assert repeated.outcomes[again.household_id]["reason"] == "already_disposed"


# --------------------------------------------------------------------------- nothing left


@pytest.fixture
def s3_world(pg_settings, s3_env):
    """The world on PostgreSQL with moto's S3 server as its object store."""
    from world import build_world

    settings = pg_settings.model_copy(update={
        "storage": "s3", "s3_endpoint_url": s3_env,
        "s3_bucket": f"yorisoi-{uuid.uuid4().hex[:12]}"})
    built = build_world(settings)
    built.services.objects.ensure_bucket()
    yield built
    built.services.close()


def test_after_disposal_no_plaintext_of_the_family_exists_anywhere(s3_world, pg_cluster):
    world = s3_world
    with world.services.runtimes.lease(CITY) as rt:
        disposed = _record(rt, world.services.objects, Family.named("X"),
                           closed_on=date(2019, 6, 1))
        staying = _record(rt, world.services.objects, Family.named("Y"), closed_on=None)
        _schedule(rt)
        secrets = disposed.family.secrets
        # Before: the scan finds the family (the signed form in the bucket; the log decrypts).
        objects_before = scan_objects(world, secrets)
        assert any(disposed.household_id in key for key in objects_before)
        assert {disposed.family.guardian, disposed.family.child} <= set().union(
            *objects_before.values())
        assert readable_through_the_platform(world, secrets) == set(secrets)
        assert scan_database(world, secrets, pg_cluster) == {}  # sealed at rest already
        # A database backup taken now: the household keys as stored.
        with rt.casework.database.transaction(write=False) as cur:
            backup = {r["household_id"]: bytes(r["wrapped_key"]) for r in cur.execute(
                "SELECT household_id, wrapped_key FROM {s}household_keys").fetchall()}

        batch_id = _approved_batch(world, rt, [disposed])
        with acting_as(APPROVER):
            batch = _disposal(world, rt).run(batch_id)
        assert batch.status == COMPLETED

        assert scan_database(world, secrets + staying.family.secrets, pg_cluster) == {}
        assert scan_objects(world, secrets) == {}
        assert readable_through_the_platform(world, secrets) == set()
        # The backup's copy of the destroyed key no longer opens: its tenant-key version is gone.
        provider, space = world.services.key_provider, rt.space
        context = {"household": disposed.household_id}
        assert version_of(backup[disposed.household_id]) == 1
        with pytest.raises(TenantKeyRetiredError):
            provider.unwrap(space, backup[disposed.household_id], context)
        # The family that stays is still fully readable, its key re-wrapped under version 2.
        assert readable_through_the_platform(world, staying.family.secrets) == set(
            staying.family.secrets)
        assert version_of(rt.casework.keyring.store.row(
            UUID(staying.household_id))["wrapped_key"]) == 2
        assert provider.live_versions(space) == [2]
        # The certificate (in the bucket) verifies, names the proof and no personal data.
        data = _disposal(world, rt).certificate(batch_id)
        document = verify_certificate(data, world.services.signer.public_pem)
        (entry,) = document["households"]
        assert entry["key"]["wrappedKey"] is None and entry["key"]["destroyedAt"]
        assert entry["key"]["kekVersion"] == 1 and entry["key"]["kekVersionRetired"]
        assert entry["objectsDeleted"] == 2  # the signed form and the referral packet
        assert document["tenantKey"]["retired"][0]["version"] == 1
        assert _found(data, secrets + staying.family.secrets) == set()


# --------------------------------------------------------------------------- crash-resume


class Crash(Exception):
    pass


STEPS_PER_RUN = 2 * 4 + 2  # two households × (3 steps + disposed), key rotation, certificate


@pytest.mark.parametrize("crash_after", range(STEPS_PER_RUN))
def test_a_run_that_fails_after_any_step_resumes_and_leaves_nothing(sqlite_settings,
                                                                    crash_after):
    from world import build_world

    world = build_world(sqlite_settings)
    try:
        with world.services.runtimes.lease(CITY) as rt:
            households = [_record(rt, world.services.objects, Family.named(tag),
                                  closed_on=date(2019, 6, 1)) for tag in ("K", "L")]
            _schedule(rt)
            batch_id = _approved_batch(world, rt, households)
            seen: list[tuple[str, str]] = []

            def fail(household_id: str, step: str) -> None:
                seen.append((household_id, step))
                if len(seen) == crash_after + 1:
                    raise Crash(step)

            with acting_as(APPROVER):
                with pytest.raises(Crash):
                    _disposal(world, rt).run(batch_id, progress=fail)
                assert rt.casework.disposal_batch(batch_id).status != COMPLETED
                batch = _disposal(world, rt).run(batch_id)  # resumed
            assert batch.status == COMPLETED and sorted(batch.disposed) == sorted(
                h.household_id for h in households)
            secrets = tuple(s for h in households for s in h.family.secrets)
            assert scan_database(world, secrets) == {}
            assert scan_objects(world, secrets) == {}
            assert readable_through_the_platform(world, secrets) == set()
            verify_certificate(_disposal(world, rt).certificate(batch_id),
                               world.services.signer.public_pem)
    finally:
        world.services.close()


def test_a_killed_run_resumes_in_another_process(world, tmp_path):
    """The batch runs in a subprocess that is SIGKILLed half-way; this process finishes it."""
    with world.services.runtimes.lease(CITY) as rt:
        households = [_record(rt, world.services.objects, Family.named(tag),
                              closed_on=date(2019, 6, 1)) for tag in ("M", "N", "O")]
        _schedule(rt)
        batch_id = _approved_batch(world, rt, households)
    settings = world.services.settings
    script = textwrap.dedent(f"""
        import os, signal
        from uuid import UUID
        from yorisoi.infra.wiring.bootstrap import Services
        from yorisoi.infra.settings import Settings
        from yorisoi.services.context import ActingContext, acting_as
        from yorisoi.services.disposal import Disposal

        services = Services(Settings())
        steps = []

        def progress(household_id, step):
            steps.append(step)
            if len(steps) == 6:  # the second household's purge done: die without cleanup
                os.kill(os.getpid(), signal.SIGKILL)

        with services.runtimes.lease("{CITY}") as rt, acting_as(ActingContext(
                user_id="a-records-chief", role="municipal_admin",
                organisation_kind="municipality", organisation_id="{CITY}")):
            Disposal(rt, services.objects, services.signer).run(UUID("{batch_id}"), progress)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
           "YORISOI_BACKEND": settings.backend, "YORISOI_DATA_DIR": str(settings.data_dir),
           "YORISOI_PG_HOST": settings.pg_host, "YORISOI_PG_PORT": str(settings.pg_port),
           "YORISOI_PG_DBNAME": settings.pg_dbname, "YORISOI_PG_USER": settings.pg_user,
           "YORISOI_PG_PASSWORD": settings.pg_password.get_secret_value()}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()[-2000:]
    with world.services.runtimes.lease(CITY) as rt:
        batch = rt.casework.disposal_batch(batch_id)
        assert batch.status == "running" and len(batch.disposed) == 1  # killed half-way
        with acting_as(APPROVER):
            batch = _disposal(world, rt).run(batch_id)
        assert batch.status == COMPLETED and len(batch.disposed) == 3
        secrets = tuple(s for h in households for s in h.family.secrets)
        assert scan_objects(world, secrets) == {}
        assert readable_through_the_platform(world, secrets) == set()


def test_kms_rotation_retires_the_old_key_and_keeps_live_keys_readable(s3_env):
    """KmsKeyProvider against moto's server: versions, re-wrap, retired key scheduled for deletion."""
    from yorisoi.infra.keys import KmsKeyProvider

    provider = KmsKeyProvider(endpoint_url=s3_env, region="ap-northeast-1",
                              alias_prefix=f"alias/yorisoi-test-{uuid.uuid4().hex[:8]}-")
    tenant, context = "t_131016", {"household": str(uuid.uuid4())}
    provider.create_tenant_key(tenant)
    data_key = os.urandom(32)
    old = provider.wrap(tenant, data_key, context)
    assert version_of(old) == 1 and provider.live_versions(tenant) == [1]
    assert provider.unwrap(tenant, old, context) == data_key
    assert provider.add_version(tenant) == 2
    new = provider.wrap(tenant, provider.unwrap(tenant, old, context), context)
    assert version_of(new) == 2
    retired = provider.retire_version(tenant, 1)
    assert retired.detail["state"] == "PendingDeletion"
    kms = boto3.client("kms", endpoint_url=s3_env, region_name="ap-northeast-1")
    assert kms.describe_key(KeyId=retired.detail["keyId"])["KeyMetadata"]["KeyState"] == (
        "PendingDeletion")
    with pytest.raises(TenantKeyRetiredError):
        provider.unwrap(tenant, old, context)  # a backup's wrapped key
    assert provider.unwrap(tenant, new, context) == data_key
    assert provider.live_versions(tenant) == [2]
    with pytest.raises(ValueError):
        provider.retire_version(tenant, 2)  # never the current version


def test_a_certificate_fails_if_any_byte_is_altered(world):
    with world.services.runtimes.lease(CITY) as rt:
        household = _record(rt, world.services.objects, Family.named("Z"),
                            closed_on=date(2019, 6, 1))
        _schedule(rt)
        batch_id = _approved_batch(world, rt, [household])
        with acting_as(APPROVER):
            _disposal(world, rt).run(batch_id)
        data = _disposal(world, rt).certificate(batch_id)
    public = world.services.signer.public_pem
    document = verify_certificate(data, public)
    assert document["totals"]["households"] == 1
    assert document["batch"]["approvedBy"] == APPROVER.user_id
    for position in range(len(data)):
        altered = bytearray(data)
        altered[position] ^= 0x01
        with pytest.raises(CertificateInvalidError):
            verify_certificate(bytes(altered), public)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(CertificateInvalidError):
        verify_certificate(data, stranger)
