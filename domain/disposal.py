"""The disposal batch (廃棄): proposed, approved, run household by household, certified.

An authorised officer proposes a batch of households that are due; an
officer approves it — a second person when the municipality's schedule
requires it.  Running the batch records every step of every household as an
event (key destroyed, read models purged, objects deleted, disposed), so a
run that crashes resumes exactly where it stopped and a step is never
forgotten.  Once every household is disposed of (or skipped, with a reason
code, when it stopped being due), the tenant key is rotated and the batch
is certified.

Nothing here is personal: household and record ids, record classes, counts,
dates, staff ids and reason codes.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, NotFoundDomainError, StaleVersionError
from yorisoi.domain.retention import MAX_BATCH

PROPOSED, APPROVED, RUNNING, COMPLETED = "proposed", "approved", "running", "completed"

# Per household, in this order; each is idempotent, so a resumed run repeats
# at most the step it was in when it stopped.
KEY_DESTROYED, READ_MODELS_PURGED, OBJECTS_DELETED = (
    "key_destroyed", "read_models_purged", "objects_deleted")
STEPS = (KEY_DESTROYED, READ_MODELS_PURGED, OBJECTS_DELETED)
DISPOSED, SKIPPED, PENDING = "disposed", "skipped", "pending"

# Why a household of an approved batch was not disposed of after all.
SKIP_REASONS: dict[str, str] = {
    "hold_active": "ホールド中",
    "disclosure_pending": "開示請求の対応中",
    "case_reopened": "ケース再開",
    "not_due": "保存期間が満了していない",
    "already_disposed": "廃棄済み",
}


class DisposalBatchEmptyError(DomainError):
    code = "disposal_batch_empty"
    message = f"Choose between 1 and {MAX_BATCH} households that are due for disposal."
    message_ja = f"廃棄の対象となる世帯を1〜{MAX_BATCH}件選んでください。"


class HouseholdNotDueError(DomainError):
    code = "household_not_due"
    message = ("A chosen household is not due for disposal (its period has not run out, a case "
               "is open, it is on hold, or it was disposed of already).")
    message_ja = ("選択した世帯に廃棄の対象でないものがあります（保存期間中、ケースが継続中、"
                  "ホールド中、または廃棄済み）。")


class DisposalApproverSameAsProposerError(DomainError):
    code = "disposal_approver_same_as_proposer"
    message = ("This municipality requires a second person: the batch must be approved by "
               "someone other than its proposer.")
    message_ja = "この自治体の規程では、廃棄の承認は起案者以外の職員が行う必要があります。"


class DisposalBatchStateError(DomainError):
    code = "disposal_batch_state"
    message = "The batch is not in a state that allows this (proposed → approved → run)."
    message_ja = "この廃棄案件は現在この操作を行える状態ではありません（起案 → 承認 → 実行）。"


class DisposalBatchNotFoundError(NotFoundDomainError):
    code = "disposal_batch_not_found"
    message = "No such disposal batch in this municipality."
    message_ja = "指定された廃棄案件が見つかりません。"


class DisposalBatch(Aggregate):
    """One approved disposal: which households, under which schedule version, by whom."""

    class Proposed(Aggregate.Created):
        municipality_code: str
        schedule_version: int
        two_person_approval: bool
        proposed_by: str
        proposed_at: str
        evaluated_on: date
        households: list[dict[str, Any]]

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def propose(cls, *, municipality_code: str, schedule_version: int,
                two_person_approval: bool, proposed_by: str, proposed_at: str,
                evaluated_on: date, households: list[dict[str, Any]]) -> DisposalBatch:
        """Propose disposing of ``households`` (each already checked as due on ``evaluated_on``)."""
        ids = [h["household_id"] for h in households]
        if not 1 <= len(ids) <= MAX_BATCH or len(set(ids)) != len(ids):
            raise DisposalBatchEmptyError(field="householdIds")
        return cls(municipality_code=municipality_code, schedule_version=schedule_version,
                   two_person_approval=two_person_approval, proposed_by=proposed_by,
                   proposed_at=proposed_at, evaluated_on=evaluated_on, households=households)

    @event(Proposed)
    def __init__(self, municipality_code: str, schedule_version: int, two_person_approval: bool,
                 proposed_by: str, proposed_at: str, evaluated_on: date,
                 households: list[dict[str, Any]]) -> None:
        self.municipality_code = municipality_code
        self.schedule_version = schedule_version
        self.two_person_approval = two_person_approval
        self.proposed_by = proposed_by
        self.proposed_at = proposed_at
        self.evaluated_on = evaluated_on
        # Household id -> what the proposal saw (closure, due date, record counts).
        self.households: dict[str, dict[str, Any]] = {h["household_id"]: dict(h)
                                                      for h in households}
        self.status = PROPOSED
        self.approved_by: str | None = None
        self.approved_at: str | None = None
        self.started_at: str | None = None
        self.steps: dict[str, dict[str, Any]] = {h: {} for h in self.households}
        self.outcomes: dict[str, dict[str, Any]] = {}
        self.key_rotation: dict[str, Any] | None = None
        self.certificate: dict[str, Any] | None = None
        self.completed_at: str | None = None

    def check_version(self, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != self.version:
            raise StaleVersionError(field="expectedVersion", current_version=self.version)

    # ------------------------------------------------------------------ approval

    def approve(self, *, approved_by: str, approved_at: str) -> None:
        """Approve the batch; a second person where the schedule requires one."""
        if self.status != PROPOSED:
            raise DisposalBatchStateError(field="batchId")
        if self.two_person_approval and approved_by == self.proposed_by:
            raise DisposalApproverSameAsProposerError(field="batchId")
        self._approved(approved_by=approved_by, approved_at=approved_at)

    @event("Approved")
    def _approved(self, approved_by: str, approved_at: str) -> None:
        self.status = APPROVED
        self.approved_by = approved_by
        self.approved_at = approved_at

    # ------------------------------------------------------------------ running

    def start(self, *, started_at: str) -> None:
        """Start (or, when already running, resume) the approved batch."""
        if self.status == RUNNING:
            return
        if self.status != APPROVED:
            raise DisposalBatchStateError(field="batchId")
        self._started(started_at=started_at)

    @event("Started")
    def _started(self, started_at: str) -> None:
        self.status = RUNNING
        self.started_at = started_at

    def household_state(self, household_id: str) -> str:
        return self.outcomes.get(household_id, {}).get("status", PENDING)

    def next_step(self, household_id: str) -> str | None:
        """The household's next step, or None once every step is done."""
        done = self.steps[household_id]
        return next((step for step in STEPS if step not in done), None)

    def _require_running(self, household_id: str) -> None:
        if self.status != RUNNING or household_id not in self.households:
            raise DisposalBatchStateError(field="batchId")
        if self.household_state(household_id) != PENDING:
            raise DisposalBatchStateError(field="householdId")

    def skip(self, household_id: str, *, reason: str, at: str) -> None:
        """Leave a household out: it stopped being due before its key was destroyed."""
        self._require_running(household_id)
        if reason not in SKIP_REASONS or KEY_DESTROYED in self.steps[household_id]:
            raise DisposalBatchStateError(field="householdId")
        self._skipped(household_id=household_id, reason=reason, at=at)

    @event("HouseholdSkipped")
    def _skipped(self, household_id: str, reason: str, at: str) -> None:
        self.outcomes[household_id] = {"status": SKIPPED, "reason": reason, "at": at}

    def step_done(self, household_id: str, step: str, *, at: str,
                  detail: dict[str, Any]) -> None:
        """Record one finished step (in order) of one household."""
        self._require_running(household_id)
        if step != self.next_step(household_id):
            raise DisposalBatchStateError(field="step")
        self._step_done(household_id=household_id, step=step, at=at, detail=detail)

    @event("StepDone")
    def _step_done(self, household_id: str, step: str, at: str, detail: dict[str, Any]) -> None:
        self.steps[household_id][step] = {"at": at, **detail}

    def dispose(self, household_id: str, *, records: list[dict[str, str]], at: str) -> None:
        """The disposal event: every step done; what was disposed of (ids and classes only)."""
        self._require_running(household_id)
        if self.next_step(household_id) is not None:
            raise DisposalBatchStateError(field="householdId")
        self._disposed(household_id=household_id, records=records, at=at)

    @event("HouseholdDisposed")
    def _disposed(self, household_id: str, records: list[dict[str, str]], at: str) -> None:
        self.outcomes[household_id] = {"status": DISPOSED, "records": records, "at": at}

    @property
    def pending(self) -> list[str]:
        return [h for h in self.households if self.household_state(h) == PENDING]

    @property
    def disposed(self) -> list[str]:
        return [h for h in self.households if self.household_state(h) == DISPOSED]

    def record_key_rotation(self, *, rotation: dict[str, Any]) -> None:
        """The tenant key was rotated after the households' keys were destroyed."""
        if self.status != RUNNING or self.pending or self.key_rotation is not None:
            raise DisposalBatchStateError(field="batchId")
        self._key_rotated(rotation=rotation)

    @event("TenantKeyRotated")
    def _key_rotated(self, rotation: dict[str, Any]) -> None:
        self.key_rotation = rotation

    def certify(self, *, certificate: dict[str, Any]) -> None:
        """The signed certificate was issued and stored (its digest and where)."""
        if self.status != RUNNING or self.pending or self.certificate is not None:
            raise DisposalBatchStateError(field="batchId")
        if self.disposed and self.key_rotation is None:
            raise DisposalBatchStateError(field="batchId")
        self._certified(certificate=certificate)

    @event("Certified")
    def _certified(self, certificate: dict[str, Any]) -> None:
        self.certificate = certificate

    def complete(self, *, at: str) -> None:
        if self.status != RUNNING or self.certificate is None:
            raise DisposalBatchStateError(field="batchId")
        self._completed(at=at)

    @event("Completed")
    def _completed(self, at: str) -> None:
        self.status = COMPLETED
        self.completed_at = at
