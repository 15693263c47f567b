"""Disposal: proposing and approving batches, and running them step by step, resumably.

``DisposalCommands`` (mixed into CaseworkApplication) holds the batch's
commands.  ``Disposal`` runs a municipality's batches: it needs the tenant
runtime (views and keyring), the object store and the platform signer.

Running an approved batch, per household, each step recorded on the batch
before the next begins:

1. check it is still due (a reopened case, a new hold or an earlier
   disposal leave it out, with a reason code) — before anything is destroyed;
2. destroy its data key, with the batch's authorisation that the database
   checks (from here on every copy of its personal fields — events, read-model
   rows, sealed attachments, referral packets, in backups too — is unreadable,
   and nothing new can be written for it);
3. purge its sealed values from every read model (``purge`` of each view);
4. delete its objects (attachments, referral packets: its household prefix);
5. append the disposal event, listing its records by id and class.

Then the tenant key is rotated (so backups taken before no longer open the
destroyed keys) and the signed certificate is stored.  Each step is
idempotent, so a run that crashed anywhere is finished by running it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.disposal import (
    COMPLETED,
    KEY_DESTROYED,
    OBJECTS_DELETED,
    READ_MODELS_PURGED,
    DisposalBatch,
    DisposalBatchNotFoundError,
    HouseholdNotDueError,
)
from yorisoi.domain.retention import (
    RetentionScheduleMissingError,
    ScheduleVersion,
    household_due_on,
)
from yorisoi.infra.certificates import (
    build_certificate,
    certificate_key,
    digest,
    sign_certificate,
)
from yorisoi.infra.clock import japan_today
from yorisoi.infra.keys import version_of
from yorisoi.infra.signing import PlatformSigner
from yorisoi.infra.storage import ObjectLockedError, ObjectStore
from yorisoi.infra.telemetry import command_span
from yorisoi.projections.disposal_due import DisposalDueQueries, HouseholdStanding
from yorisoi.services.context import current_context

# Certificates are kept (write-once) long after what they certify is gone.
CERTIFICATE_RETENTION = timedelta(days=366 * 30)

Progress = Callable[[str, str], None]  # (household id, step) after each recorded step
from yorisoi.services.tenant_application import command


def _now() -> str:
    return datetime.now(UTC).isoformat()


def household_prefix(space: str, household_id: str) -> str:
    """Where a household's objects live (attachments, referral packets): one folder."""
    return f"{space}/households/{household_id}"


class DisposalCommands:
    """The disposal batch's commands (get → command → save)."""

    # Provided by CaseworkApplication.
    tenant: str
    repository: Any
    save: Any
    municipality_code: str

    def disposal_batch(self, batch_id: UUID) -> DisposalBatch:
        try:
            batch: Any = self.repository.get(batch_id)
        except AggregateNotFoundError:
            batch = None
        if not isinstance(batch, DisposalBatch):
            raise DisposalBatchNotFoundError(field="batchId")
        return batch

    @command("command.propose_disposal")
    def propose_disposal(self, *, schedule: ScheduleVersion, evaluated_on: date,
                         households: list[HouseholdStanding]) -> DisposalBatch:
        """Propose disposing of households already found due on ``evaluated_on``."""
        batch = DisposalBatch.propose(
            municipality_code=self.municipality_code, schedule_version=schedule.version,
            two_person_approval=schedule.two_person_approval,
            proposed_by=current_context().user_id, proposed_at=_now(),
            evaluated_on=evaluated_on,
            households=[{"household_id": h.household_id,
                         "closed_on": h.closed_on.isoformat(),
                         "due_on": h.due_on.isoformat() if h.due_on else None,
                         "record_counts": h.record_counts} for h in households])
        self.save(batch)
        return batch

    @command("command.approve_disposal")
    def approve_disposal(self, batch_id: UUID, *, expected_version: int | None) -> DisposalBatch:
        """Approve a proposed batch (by a second person where the schedule says so)."""
        batch = self.disposal_batch(batch_id)
        batch.check_version(expected_version)
        batch.approve(approved_by=current_context().user_id, approved_at=_now())
        self.save(batch)
        return batch


class Disposal:
    """Runs one municipality's disposal: due list, proposal, and the batch itself."""

    def __init__(self, runtime: Any, objects: ObjectStore, signer: PlatformSigner) -> None:
        self.rt = runtime
        self.casework = runtime.casework
        self.objects = objects
        self.signer = signer
        self.queries = DisposalDueQueries(self.casework.database)

    # ------------------------------------------------------------------ due list

    def schedule(self, on: date) -> ScheduleVersion:
        schedule = self.casework.schedule_in_effect(on)
        if schedule is None:
            raise RetentionScheduleMissingError(field="municipalityCode")
        return schedule

    def due(self, on: date | None = None) -> tuple[ScheduleVersion, list[HouseholdStanding]]:
        """The schedule in effect and the households due on ``on`` (today, Japan time)."""
        on = on or japan_today()
        self.rt.catch_up()
        schedule = self.schedule(on)
        # An undecided disclosure request holds a household like a recorded hold does
        # (read from the event store: a request received a moment ago counts).
        return schedule, [h for h in self.queries.due(schedule, on)
                          if not self.casework.pending_disclosure(UUID(h.household_id))]

    def propose(self, household_ids: list[str]) -> DisposalBatch:
        """Propose a batch of households, each of which must be due today."""
        today = japan_today()
        schedule, due = self.due(today)
        by_id = {h.household_id: h for h in due}
        chosen = [str(UUID(h)) for h in household_ids]
        if any(h not in by_id for h in chosen):
            raise HouseholdNotDueError(field="householdIds")
        return self.casework.propose_disposal(schedule=schedule, evaluated_on=today,
                                              households=[by_id[h] for h in chosen])

    # ------------------------------------------------------------------ running

    def run(self, batch_id: UUID, progress: Progress | None = None) -> DisposalBatch:
        """Run (or resume) an approved batch to its certificate."""
        with command_span("command.run_disposal", self.casework.tenant):
            batch = self.casework.disposal_batch(batch_id)
            if batch.status == COMPLETED:
                return batch
            batch.start(started_at=_now())
            self._save(batch)
            # Every view at the head before anything is purged: a projector that
            # applied an older event afterwards would find the key gone and store
            # nothing, but none is left behind to do so.
            self.rt.catch_up()
            schedule = self._schedule_version(batch.schedule_version)
            for household_id in batch.pending:
                batch = self._household(batch, household_id, schedule, progress)
            if batch.disposed and batch.key_rotation is None:
                rotation = self.casework.keyring.rotate_tenant_key()
                batch.record_key_rotation(rotation={
                    "provider": rotation.provider, "version": rotation.version,
                    "retired": [asdict(r) for r in rotation.retired],
                    "rewrapped": rotation.rewrapped, "at": _now()})
                self._save(batch)
                self._progress(progress, "", "tenant_key_rotated")
            if batch.certificate is None:
                batch.certify(certificate=self._issue(batch, schedule))
                self._save(batch)
                self._progress(progress, "", "certified")
            batch.complete(at=_now())
            self._save(batch)
        self.rt.catch_up()
        return batch

    def _save(self, batch: DisposalBatch) -> None:
        if batch.pending_events:
            self.casework.save(batch)

    @staticmethod
    def _progress(progress: Progress | None, household_id: str, step: str) -> None:
        if progress is not None:
            progress(household_id, step)

    def _schedule_version(self, number: int) -> ScheduleVersion:
        schedule = self.casework.retention_schedule()
        version = schedule.find_version(number) if schedule is not None else None
        if version is None:  # cannot happen: the batch was proposed under it
            raise RetentionScheduleMissingError(field="batchId")
        return version

    def _skip_reason(self, household_id: str, schedule: ScheduleVersion) -> str | None:
        """Why a household of the batch must not be disposed of today, if it must not."""
        today = japan_today()
        inventory = self.queries.inventory(household_id)
        if inventory.disposed:
            return "already_disposed"
        key = self.casework.keyring.store.row(UUID(household_id))
        if key is not None and key["wrapped_key"] is None:
            # Gone already (a run stopped between destroying the key and recording it):
            # nothing can protect it any more; what is left of it can only be cleaned up.
            return None
        if not inventory.closures or any(c is None for c in inventory.closures):
            return "case_reopened"
        if self.queries.blocking_holds(household_id, today):
            return "hold_active"
        if self.casework.pending_disclosure(UUID(household_id)):
            return "disclosure_pending"
        classes = {record["class"] for record in inventory.records} or {"consultation_file"}
        due_on = household_due_on(inventory.closures, [schedule.years_for(c) for c in classes])
        if due_on is None or due_on > today:
            return "not_due"
        return None

    def _household(self, batch: DisposalBatch, household_id: str, schedule: ScheduleVersion,
                   progress: Progress | None) -> DisposalBatch:
        if batch.next_step(household_id) == KEY_DESTROYED:  # nothing recorded yet
            reason = self._skip_reason(household_id, schedule)
            if reason is not None:
                batch.skip(household_id, reason=reason, at=_now())
                self._save(batch)
                self._progress(progress, household_id, "skipped")
                return batch
        while (step := batch.next_step(household_id)) is not None:
            detail = self._do(step, household_id, batch.id)
            batch.step_done(household_id, step, at=_now(), detail=detail)
            self._save(batch)
            self._progress(progress, household_id, step)
        inventory = self.queries.inventory(household_id)
        batch.dispose(household_id, records=inventory.records, at=_now())
        self._save(batch)
        self._progress(progress, household_id, "disposed")
        return batch

    def _do(self, step: str, household_id: str, batch_id: UUID) -> dict[str, Any]:
        keyring = self.casework.keyring
        hid = UUID(household_id)
        if step == KEY_DESTROYED:
            before = keyring.store.row(hid)
            # The database lets the key go only with this batch's authorisation
            # (infra/household_keys.py); then the keyring forgets its cached copy.
            keyring.store.destroy(hid, batch_id)
            keyring.destroy(hid)
            after = keyring.store.row(hid) or {}
            live = before is not None and before["wrapped_key"] is not None
            return {"kek_version": version_of(before["wrapped_key"]) if live else None,
                    "destroyed_at": after.get("destroyed_at")}
        if step == READ_MODELS_PURGED:
            views = [projector.view for projector in self.rt.projectors]
            with self.casework.database.transaction() as cur:
                for view in views:
                    view.purge(cur, household_id)
            return {"views": sorted(view.name for view in views)}
        if step == OBJECTS_DELETED:
            # Every version too (S3): an old version of an attachment is a copy.
            return {"objects": self.objects.delete_prefix(
                household_prefix(self.rt.space, household_id))}
        raise ValueError(f"unknown disposal step {step}")

    def _issue(self, batch: DisposalBatch, schedule: ScheduleVersion) -> dict[str, Any]:
        """Build, sign and store the certificate; what the batch records about it."""
        store = self.casework.keyring.store
        key_rows = {h: store.row(UUID(h)) for h in batch.disposed}
        if any(row is not None and row["wrapped_key"] is not None for row in key_rows.values()):
            raise RuntimeError("a disposed household still has a live key")  # never certify that
        document = build_certificate(
            space=self.rt.space, batch=batch, schedule=schedule, key_rows=key_rows,
            live_kek_versions=self.casework.keyring.provider.live_versions(self.casework.tenant))
        data = sign_certificate(document, self.signer)
        key = certificate_key(self.rt.space, str(batch.id))
        try:
            self.objects.put_locked(key, data, content_type="application/json",
                                    retain_until=datetime.now(UTC) + CERTIFICATE_RETENTION)
        except ObjectLockedError:
            # Stored by a run that stopped before recording it: the same bytes, or a fault.
            if self.objects.get(key)[0] != data:
                raise
        return {"sha256": digest(data), "object_key": key, "issued_at": document["issuedAt"]}

    def certificate(self, batch_id: UUID) -> bytes:
        """The stored certificate file of a certified batch."""
        batch = self.casework.disposal_batch(batch_id)
        if batch.certificate is None:
            raise DisposalBatchNotFoundError(field="batchId", message=(
                "The batch has no certificate yet: run it to the end first."),
                message_ja="この廃棄案件はまだ証明書が発行されていません。実行を完了してください。")
        data, _ = self.objects.get(batch.certificate["object_key"])
        if digest(data) != batch.certificate["sha256"]:
            raise RuntimeError("the stored certificate does not match the batch's record")
        return data
