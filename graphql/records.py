"""Records governance: retention schedules, holds, the due list, disposal batches, certificates.

Municipal staff only (``records.manage`` to read and to set schedules and
holds; ``disposal.approve`` to propose, approve and run a batch).  Nothing
here is personal: ids, record classes, dates, reason codes and staff ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from yorisoi.domain.disposal import DisposalBatch as BatchAggregate
from yorisoi.domain.holds import HOLD_REASONS
from yorisoi.domain.holds import Hold as HoldAggregate
from yorisoi.domain.retention import RECORD_CLASSES, ScheduleVersion, years_by_class
from yorisoi.graphql import paging
from yorisoi.graphql.commands import execute, read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
)
from yorisoi.graphql.validation import Checker
from yorisoi.infra.certificates import render_markdown
from yorisoi.infra.clock import japan_today
from yorisoi.projections.disposal_due import HoldRecord
from yorisoi.services.disposal import Disposal
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

CLASS_HELP = " | ".join(RECORD_CLASSES)
REASON_HELP = " | ".join(HOLD_REASONS)
MAX_DUE_PAGE = 500

MunicipalityCode = Annotated[str | None, strawberry.argument(
    description="Defaults to the caller's own municipality.")]


@strawberry.type(description="How long one record class is kept (保存年限).")
class RecordClassRetention:
    record_class: str = strawberry.field(description=CLASS_HELP)
    label_ja: str
    years: int | None = strawberry.field(description="1, 3, 5, 10 or 30; null when permanent")
    permanent: bool


@strawberry.type(description="One version of the municipality's retention schedule.")
class RetentionScheduleVersion:
    version: int
    effective_from: str
    two_person_approval: bool = strawberry.field(
        description="Disposal needs an approver other than the proposer")
    set_by: str | None
    classes: list[RecordClassRetention]

    @classmethod
    def from_value(cls, v: ScheduleVersion) -> RetentionScheduleVersion:
        return cls(version=v.version, effective_from=v.effective_from.isoformat(),
                   two_person_approval=v.two_person_approval, set_by=v.set_by,
                   classes=[RecordClassRetention(record_class=name, label_ja=RECORD_CLASSES[name],
                                                 years=years, permanent=years is None)
                            for name, years in v.years.items()])


@strawberry.type(description="The municipality's retention schedule (保存年限表), every version.")
class RetentionSchedule:
    versions: list[RetentionScheduleVersion]
    in_effect: RetentionScheduleVersion | None = strawberry.field(
        description="The version that applies today (Japan time)")


@strawberry.type(description="A hold: the household is never disposed of while it lasts.")
class RecordHold:
    id: strawberry.ID
    household_id: strawberry.ID
    reason: str = strawberry.field(description=REASON_HELP)
    owner: str
    starts_on: str
    ends_on: str | None
    released_on: str | None
    released_by: str | None
    active: bool = strawberry.field(description="Blocks disposal today")

    @classmethod
    def from_record(cls, h: HoldRecord) -> RecordHold:
        return cls(id=strawberry.ID(h.hold_id), household_id=strawberry.ID(h.household_id),
                   reason=h.reason, owner=h.owner, starts_on=h.starts_on, ends_on=h.ends_on,
                   released_on=h.released_on, released_by=h.released_by,
                   active=h.blocks(japan_today()))

    @classmethod
    def from_aggregate(cls, h: HoldAggregate) -> RecordHold:
        return cls(id=strawberry.ID(str(h.id)), household_id=strawberry.ID(str(h.household_id)),
                   reason=h.reason, owner=h.owner, starts_on=h.starts_on.isoformat(),
                   ends_on=h.ends_on.isoformat() if h.ends_on else None,
                   released_on=h.released_on.isoformat() if h.released_on else None,
                   released_by=h.released_by, active=h.blocks(japan_today()))


@strawberry.type
class RecordCount:
    record_class: str
    count: int


def _counts(counts: dict[str, int]) -> list[RecordCount]:
    return [RecordCount(record_class=k, count=v) for k, v in sorted(counts.items())]


@strawberry.type(description="A household due for disposal (no personal data).")
class DueHousehold:
    household_id: strawberry.ID
    closed_on: str = strawberry.field(description="Its latest case closure (Japan time)")
    due_on: str = strawberry.field(description="The first day it may be disposed of")
    record_counts: list[RecordCount]


@strawberry.type
class DisposalDue:
    schedule_version: int
    evaluated_on: str
    total_count: int
    households: list[DueHousehold]


@strawberry.type
class DisposalBatchHousehold:
    household_id: strawberry.ID
    status: str = strawberry.field(description="pending | disposed | skipped")
    skip_reason: str | None = strawberry.field(
        description="hold_active | disclosure_pending | case_reopened | not_due | "
                    "already_disposed")
    steps_done: list[str]
    records_disposed: int | None


@strawberry.type(description="A disposal batch: proposed → approved → running → completed.")
class DisposalBatch:
    id: strawberry.ID
    version: int
    status: str
    schedule_version: int
    two_person_approval: bool
    proposed_by: str
    proposed_at: str
    approved_by: str | None
    approved_at: str | None
    started_at: str | None
    completed_at: str | None
    certificate_sha256: str | None
    households: list[DisposalBatchHousehold]

    @classmethod
    def from_aggregate(cls, b: BatchAggregate) -> DisposalBatch:
        return cls(
            id=strawberry.ID(str(b.id)), version=b.version, status=b.status,
            schedule_version=b.schedule_version, two_person_approval=b.two_person_approval,
            proposed_by=b.proposed_by, proposed_at=b.proposed_at, approved_by=b.approved_by,
            approved_at=b.approved_at, started_at=b.started_at, completed_at=b.completed_at,
            certificate_sha256=(b.certificate or {}).get("sha256"),
            households=[DisposalBatchHousehold(
                household_id=strawberry.ID(h), status=b.household_state(h),
                skip_reason=b.outcomes.get(h, {}).get("reason"), steps_done=list(b.steps[h]),
                records_disposed=(len(b.outcomes[h]["records"])
                                  if b.household_state(h) == "disposed" else None))
                for h in b.households])


RecordHoldConnection = paging.Connection[RecordHold]
DisposalBatchConnection = paging.Connection[DisposalBatch]


@strawberry.type(description="A signed disposal certificate (廃棄証明): no personal data.")
class DisposalCertificate:
    batch_id: strawberry.ID
    sha256: str
    json: str = strawberry.field(description="The signed file, byte for byte (verify offline)")
    document_ja: str = strawberry.field(description="The same, for people (Markdown, 和暦)")


# --------------------------------------------------------------------------- queries


def _lease(info: Info[YorisoiContext, None], action: str, code: str | None) -> Any:
    grant = info.context.authorize(action, code)  # type: ignore[arg-type]
    return info.context.services.runtimes.lease(grant.municipality_code)


def _disposal(info: Info[YorisoiContext, None], rt: TenantRuntime) -> Disposal:
    services = info.context.services
    return Disposal(rt, services.objects, services.signer)


def _batch_id(check: Checker, value: strawberry.ID) -> uuid.UUID | None:
    return check.record_id("batchId", value)


@strawberry.type
class RecordsQuery:
    @strawberry.field(description="The municipality's retention schedule (null until set).")
    async def retention_schedule(self, info: Info[YorisoiContext, None],
                                 municipality_code: MunicipalityCode = None
                                 ) -> RetentionSchedule | None:
        def run() -> RetentionSchedule | None:
            with _lease(info, "records.manage", municipality_code) as rt:
                schedule = rt.casework.retention_schedule()
            if schedule is None:
                return None
            current = schedule.in_effect_on(japan_today())
            return RetentionSchedule(
                versions=[RetentionScheduleVersion.from_value(v) for v in schedule.versions()],
                in_effect=RetentionScheduleVersion.from_value(current) if current else None)

        return await read(run)

    @strawberry.field(description="Holds, released ones included (optionally one household's), "
                                  "by start day (keyset pages: pass pageInfo.endCursor as after).")
    async def record_holds(self, info: Info[YorisoiContext, None],
                           municipality_code: MunicipalityCode = None,
                           household_id: strawberry.ID | None = None, first: int = 50,
                           after: str | None = None) -> RecordHoldConnection:
        first = paging.page_size(first)

        def run() -> RecordHoldConnection:
            check = Checker.of(info)
            hid = check.record_id("householdId", household_id)
            check.raise_if_any()
            start = paging.decode(after, str, str)
            with _lease(info, "records.manage", municipality_code) as rt:
                rt.catch_up()
                rows, total = _disposal(info, rt).queries.hold_page(
                    str(hid) if hid else None, after=start, limit=first + 1)
            return paging.connection(rows, first=first, total_count=total,
                                     key=lambda h: (h.starts_on, h.hold_id),
                                     node=RecordHold.from_record)

        return await read(run)

    @strawberry.field(description="Households due for disposal today: periods run out, no "
                                  "active hold, not yet disposed (oldest closure first).")
    async def disposal_due(self, info: Info[YorisoiContext, None],
                           municipality_code: MunicipalityCode = None,
                           first: int = 100) -> DisposalDue:
        # Not a keyset list: the whole worklist in one answer, so it keeps its larger bound
        # (clients asked for up to 500 before); out of range is the same typed error.
        paging.page_size(first, MAX_DUE_PAGE)

        def run() -> DisposalDue:
            today = japan_today()
            with _lease(info, "records.manage", municipality_code) as rt:
                schedule, due = _disposal(info, rt).due(today)
            return DisposalDue(
                schedule_version=schedule.version, evaluated_on=today.isoformat(),
                total_count=len(due),
                households=[DueHousehold(household_id=strawberry.ID(h.household_id),
                                         closed_on=h.closed_on.isoformat(),
                                         due_on=h.due_on.isoformat() if h.due_on else "",
                                         record_counts=_counts(h.record_counts))
                            for h in due[:first]])

        return await read(run)

    @strawberry.field(description="Disposal batches, newest first (keyset pages: pass "
                                  "pageInfo.endCursor as after).")
    async def disposal_batches(self, info: Info[YorisoiContext, None],
                               municipality_code: MunicipalityCode = None, first: int = 50,
                               after: str | None = None) -> DisposalBatchConnection:
        first = paging.page_size(first)

        def run() -> DisposalBatchConnection:
            start = paging.decode(after, str, str)
            with _lease(info, "records.manage", municipality_code) as rt:
                rt.catch_up()
                rows, total = _disposal(info, rt).queries.batch_page(after=start,
                                                                     limit=first + 1)
                # The batches are aggregates: read while the runtime is leased.
                return paging.connection(
                    rows, first=first, total_count=total,
                    key=lambda b: (b.proposed_at, b.batch_id),
                    node=lambda b: DisposalBatch.from_aggregate(
                        rt.casework.disposal_batch(uuid.UUID(b.batch_id))))

        return await read(run)

    @strawberry.field(description="A certified batch's signed certificate.")
    async def disposal_certificate(self, info: Info[YorisoiContext, None],
                                   batch_id: strawberry.ID,
                                   municipality_code: MunicipalityCode = None
                                   ) -> DisposalCertificate:
        def run() -> DisposalCertificate:
            check = Checker.of(info)
            bid = _batch_id(check, batch_id)
            check.raise_if_any()
            assert bid is not None
            with _lease(info, "records.manage", municipality_code) as rt:
                data = _disposal(info, rt).certificate(bid)
            from yorisoi.infra.certificates import digest

            return DisposalCertificate(batch_id=strawberry.ID(str(bid)), sha256=digest(data),
                                       json=data.decode(), document_ja=render_markdown(data))

        return await read(run)


# --------------------------------------------------------------------------- mutations


@strawberry.type
class RetentionScheduleChanged:
    schedule: RetentionSchedule


@strawberry.type
class HoldChanged:
    hold: RecordHold


@strawberry.type
class DisposalBatchChanged:
    batch: DisposalBatch


RetentionScheduleResult = Annotated[
    RetentionScheduleChanged | ValidationError | NotAuthorizedError | ConflictError,
    strawberry.union("RetentionScheduleResult"),
]
HoldResult = Annotated[
    HoldChanged | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("HoldResult"),
]
DisposalBatchResult = Annotated[
    DisposalBatchChanged | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("DisposalBatchResult"),
]


@strawberry.input
class RecordClassRetentionInput:
    record_class: str = strawberry.field(description=CLASS_HELP)
    years: int | None = strawberry.field(description="1, 3, 5, 10 or 30; null for permanent")


@strawberry.input
class SetRetentionScheduleInput:
    municipality_code: str
    effective_from: str = strawberry.field(description="YYYY-MM-DD, today or later")
    two_person_approval: bool
    classes: list[RecordClassRetentionInput] = strawberry.field(
        description="Every record class exactly once")


@strawberry.input
class PlaceHoldInput:
    municipality_code: str
    household_id: strawberry.ID
    reason: str = strawberry.field(description=REASON_HELP)
    owner: str | None = strawberry.field(default=None,
                                         description="Who answers for it (default: you)")
    starts_on: str
    ends_on: str | None = strawberry.field(default=None, description="Open-ended when null")


@strawberry.input
class ReleaseHoldInput:
    municipality_code: str
    hold_id: strawberry.ID
    released_on: str


@strawberry.input
class ProposeDisposalBatchInput:
    municipality_code: str
    household_ids: list[strawberry.ID] = strawberry.field(
        description="Households due for disposal today")


@strawberry.input
class DisposalBatchInput:
    municipality_code: str
    batch_id: strawberry.ID
    expected_version: int | None = None


def _schedule_of(rt: TenantRuntime) -> RetentionSchedule:
    schedule = rt.casework.retention_schedule()
    current = schedule.in_effect_on(japan_today())
    return RetentionSchedule(
        versions=[RetentionScheduleVersion.from_value(v) for v in schedule.versions()],
        in_effect=RetentionScheduleVersion.from_value(current) if current else None)


async def _on_batch(info: Info[YorisoiContext, None], input: DisposalBatchInput,
                    act: Callable[[TenantRuntime, uuid.UUID], BatchAggregate],
                    ) -> DisposalBatchResult:
    """Run one step on an existing disposal batch and answer with the batch after it."""
    check = Checker.of(info)
    batch_id = _batch_id(check, input.batch_id)

    def command(rt: TenantRuntime, grant: Grant) -> DisposalBatchChanged:
        assert batch_id is not None  # the checker reported a bad id first
        return DisposalBatchChanged(batch=DisposalBatch.from_aggregate(act(rt, batch_id)))

    return await execute(info, "disposal.approve", input.municipality_code, command,
                         check=check)


@strawberry.type
class RecordsMutation:
    @strawberry.mutation(description="Add a version of the retention schedule (applies from "
                                     "its effective date; never retroactive).")
    async def set_retention_schedule(self, info: Info[YorisoiContext, None],
                                     input: SetRetentionScheduleInput) -> RetentionScheduleResult:
        check = Checker.of(info)
        effective_from = check.day("effectiveFrom", input.effective_from)
        check.count("classes", input.classes, len(RECORD_CLASSES))

        def command(rt: TenantRuntime, grant: Grant) -> RetentionScheduleChanged:
            years = years_by_class((c.record_class, c.years) for c in input.classes)
            rt.casework.set_retention_schedule(effective_from=effective_from, years=years,
                                               two_person_approval=input.two_person_approval)
            return RetentionScheduleChanged(schedule=_schedule_of(rt))

        return await execute(info, "records.manage", input.municipality_code, command,
                             check=check)

    @strawberry.mutation(description="Hold a household's records (never disposed while held).")
    async def place_hold(self, info: Info[YorisoiContext, None],
                         input: PlaceHoldInput) -> HoldResult:
        check = Checker.of(info)
        household_id = check.record_id("householdId", input.household_id)
        starts_on = check.day("startsOn", input.starts_on)
        ends_on = check.day("endsOn", input.ends_on)
        owner = check.text("owner", input.owner, 100)

        def command(rt: TenantRuntime, grant: Grant) -> HoldChanged:
            hold = rt.casework.place_hold(household_id=household_id, reason=input.reason,
                                          owner=owner or None,
                                          starts_on=starts_on, ends_on=ends_on)
            return HoldChanged(hold=RecordHold.from_aggregate(hold))

        return await execute(info, "records.manage", input.municipality_code, command,
                             check=check)

    @strawberry.mutation(description="Release a hold (who and when are recorded).")
    async def release_hold(self, info: Info[YorisoiContext, None],
                           input: ReleaseHoldInput) -> HoldResult:
        check = Checker.of(info)
        hold_id = check.record_id("holdId", input.hold_id)
        released_on = check.day("releasedOn", input.released_on)

        def command(rt: TenantRuntime, grant: Grant) -> HoldChanged:
            hold = rt.casework.release_hold(hold_id, released_on=released_on)
            return HoldChanged(hold=RecordHold.from_aggregate(hold))

        return await execute(info, "records.manage", input.municipality_code, command,
                             check=check)

    @strawberry.mutation(description="Propose disposing of households that are due today.")
    async def propose_disposal_batch(self, info: Info[YorisoiContext, None],
                                     input: ProposeDisposalBatchInput) -> DisposalBatchResult:
        check = Checker.of(info)
        ids = [check.record_id(f"householdIds.{i}", h) for i, h in enumerate(input.household_ids)]

        def command(rt: TenantRuntime, grant: Grant) -> DisposalBatchChanged:
            batch = _disposal(info, rt).propose([str(h) for h in ids])
            return DisposalBatchChanged(batch=DisposalBatch.from_aggregate(batch))

        return await execute(info, "disposal.approve", input.municipality_code, command,
                             check=check)

    @strawberry.mutation(description="Approve a proposed batch (a second officer where the "
                                     "schedule requires it).")
    async def approve_disposal_batch(self, info: Info[YorisoiContext, None],
                                     input: DisposalBatchInput) -> DisposalBatchResult:
        return await _on_batch(info, input, lambda rt, batch_id: rt.casework.approve_disposal(
            batch_id, expected_version=input.expected_version))

    @strawberry.mutation(description="Run (or resume) an approved batch to its certificate: "
                                     "keys destroyed, read models purged, objects deleted.")
    async def run_disposal_batch(self, info: Info[YorisoiContext, None],
                                 input: DisposalBatchInput) -> DisposalBatchResult:
        def act(rt: TenantRuntime, batch_id: uuid.UUID) -> BatchAggregate:
            disposal = _disposal(info, rt)
            rt.casework.disposal_batch(batch_id).check_version(input.expected_version)
            return disposal.run(batch_id)

        return await _on_batch(info, input, act)
