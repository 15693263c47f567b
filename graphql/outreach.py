"""Outreach visits (アウトリーチ): planVisit, rescheduleVisit, recordVisitDone,
recordVisitNotMet, completeVisitFollowUp, cancelVisit; a case's visits and a calendar.

Every mutation goes through ``graphql/commands.execute`` (exactly once under an
``Idempotency-Key``, typed bilingual errors, ``expectedVersion`` conflicts) with
the authorisation of consultations on the case: ``case.manage`` — contractor
staff only on their contracts' cases — and ``consultation.record`` when a done
visit records a consultation in the same step.  A visit's commands act under
the visit's own contract and site, as a case's do.

The edge checks are module functions so the console's forms run exactly the
same ones (``infra/console/routes_visits.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from yorisoi.domain.errors import DomainError
from yorisoi.domain.outreach import OutreachVisit as VisitAggregate
from yorisoi.domain.outreach import (
    VisitKindUnknownError,
    VisitNextStepUnknownError,
    VisitNotMetReasonUnknownError,
    VisitOutcomeUnknownError,
    VisitPlaceUnknownError,
    VisitVisitorsMissingError,
    check_time_window,
)
from yorisoi.domain.vocabulary import (
    VISIT_KINDS,
    VISIT_NEXT_STEPS,
    VISIT_NOT_MET_REASONS,
    VISIT_OUTCOMES,
    VISIT_PLACES,
)
from yorisoi.graphql.commands import execute, read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    UserError,
    ValidationError,
)
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.projections.visit_queries import VisitQueries, VisitRecord, staff_names
from yorisoi.services import outreach
from yorisoi.services.context import acting_as
from yorisoi.services.outreach import (
    OutreachConsultation,
    PlanVisit,
    VisitNotFoundError,
    VisitOutcome,
)
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_CODE = 40
MAX_NOTE = 500
MAX_VISITORS_INPUT = 10
MAX_THEMES = 20
MAX_CALENDAR_DAYS = 92

# --------------------------------------------------------------------------- types


@strawberry.type(description="A member of staff on a visit, by name.")
class VisitPerson:
    user_id: str
    name: str | None = strawberry.field(description="From the staff records; null if none")


@strawberry.type(description="An outreach visit (家庭訪問, 保健師同行訪問, 出張相談). Free texts are personal data.")
class OutreachVisit:
    id: strawberry.ID
    case_id: strawberry.ID
    site_id: str
    kind: str = strawberry.field(description="home_visit | with_public_health_nurse | pop_up_counter | other")
    status: str = strawberry.field(description="planned | done | not_met | cancelled")
    planned_on: str
    starts_at: str | None = strawberry.field(description="HH:MM, Japan time")
    ends_at: str | None
    visitors: list[VisitPerson]
    place: str = strawberry.field(description="home | community_center | health_center | childcare_facility | event_venue | other (general terms, never an address)")
    place_note: str | None = strawberry.field(description="Personal data")
    purpose: str | None = strawberry.field(description="Personal data")
    done_on: str | None = strawberry.field(description="The day it was done, or attempted (not met)")
    outcome: str | None = strawberry.field(description="done: consulted | information_provided | connected | watching | other; not met: absent | declined | family_postponed | other")
    summary: str | None = strawberry.field(description="What happened (done) or the note (not met). Personal data")
    next_step: str | None = strawberry.field(description="revisit | phone_check | invite_to_site | refer | case_meeting | none")
    next_step_note: str | None = strawberry.field(description="Personal data")
    follow_up_on: str | None = strawberry.field(description="The agreed follow-up: a task of its owner until completed")
    follow_up_owner: VisitPerson | None
    follow_up_completed_on: str | None
    consultation_id: strawberry.ID | None = strawberry.field(description="The consultation recorded on the visit")
    cancel_reason: str | None = strawberry.field(description="Personal data")
    disposed: bool = strawberry.field(description="The household was disposed of: free texts are gone")
    version: int = strawberry.field(description="Send it back as expectedVersion")

    @classmethod
    def from_record(cls, r: VisitRecord, names: dict[str, str]) -> OutreachVisit:
        def person(user_id: str | None) -> VisitPerson | None:
            return None if not user_id else VisitPerson(user_id=user_id, name=names.get(user_id))

        return cls(
            id=strawberry.ID(r.visit_id), case_id=strawberry.ID(r.case_id), site_id=r.site_id,
            kind=r.kind, status=r.status, planned_on=r.planned_on, starts_at=r.starts_at,
            ends_at=r.ends_at, visitors=[VisitPerson(user_id=v, name=names.get(v))
                                         for v in r.visitors],
            place=r.place, place_note=r.place_note, purpose=r.purpose, done_on=r.done_on,
            outcome=r.outcome, summary=r.summary, next_step=r.next_step,
            next_step_note=r.next_step_note, follow_up_on=r.follow_up_on,
            follow_up_owner=person(r.follow_up_owner),
            follow_up_completed_on=r.follow_up_completed_on,
            consultation_id=strawberry.ID(r.consultation_id) if r.consultation_id else None,
            cancel_reason=r.cancel_reason, disposed=r.disposed, version=r.version)


@strawberry.type
class VisitSaved:
    visit: OutreachVisit


VisitResult = Annotated[
    VisitSaved | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("VisitResult"),
]

# --------------------------------------------------------------------------- inputs


@strawberry.input
class PlanVisitInput:
    municipality_code: str
    case_id: strawberry.ID = strawberry.field(description="The case's id or its 受付番号")
    kind: str = strawberry.field(description="home_visit | with_public_health_nurse | pop_up_counter | other")
    planned_on: str = strawberry.field(description="YYYY-MM-DD (令和6年4月1日, R6.4.1 are read too)")
    visitors: list[str] = strawberry.field(description="Staff user ids, the lead first (1–6)")
    place: str = strawberry.field(description="home | community_center | health_center | childcare_facility | event_venue | other — no address")
    purpose: str = strawberry.field(description="Personal data")
    starts_at: str | None = strawberry.field(default=None, description="HH:MM")
    ends_at: str | None = None
    place_note: str | None = strawberry.field(default=None, description="Optional detail of the place, in general terms. Personal data")


@strawberry.input
class RescheduleVisitInput:
    municipality_code: str
    visit_id: strawberry.ID
    planned_on: str
    visitors: list[str]
    starts_at: str | None = None
    ends_at: str | None = None
    expected_version: int | None = None


@strawberry.input(description="The consultation held on the visit (recorded with channel outreach).")
class VisitConsultationInput:
    themes: list[str]
    asked: str
    wishes: str = ""
    direction: str = ""
    outer_situation: str | None = None
    inner_situation: str | None = None
    child_rearing_situation: str | None = None


@strawberry.input
class RecordVisitDoneInput:
    municipality_code: str
    visit_id: strawberry.ID
    done_on: str
    outcome: str = strawberry.field(description="consulted | information_provided | connected | watching | other")
    summary: str = strawberry.field(description="Personal data")
    next_step: str = strawberry.field(description="revisit | phone_check | invite_to_site | refer | case_meeting | none")
    next_step_note: str | None = None
    follow_up_on: str | None = strawberry.field(default=None, description="Becomes a task of its owner")
    follow_up_owner: str | None = strawberry.field(default=None, description="Staff user id; the lead visitor by default")
    visitors: list[str] | None = strawberry.field(default=None, description="Who went, if not as planned")
    consultation: VisitConsultationInput | None = strawberry.field(default=None, description="Record a consultation in the same step (consent on file needed)")
    expected_version: int | None = None


@strawberry.input
class RecordVisitNotMetInput:
    municipality_code: str
    visit_id: strawberry.ID
    attempted_on: str
    reason: str = strawberry.field(description="absent | declined | family_postponed | other")
    next_step: str
    note: str | None = strawberry.field(default=None, description="Personal data")
    follow_up_on: str | None = None
    follow_up_owner: str | None = None
    expected_version: int | None = None


@strawberry.input
class CompleteVisitFollowUpInput:
    municipality_code: str
    visit_id: strawberry.ID
    completed_on: str
    expected_version: int | None = None


@strawberry.input
class CancelVisitInput:
    municipality_code: str
    visit_id: strawberry.ID
    reason: str | None = strawberry.field(default=None, description="Personal data")
    expected_version: int | None = None


# --------------------------------------------------------------------------- edge checks
# Shared with the console's forms: the same input, the same errors.


def visitor_ids(check: Checker, field: str, values: list[str] | None) -> list[str]:
    values = values or []
    check.count(field, values, MAX_VISITORS_INPUT)
    return [check.text(f"{field}.{i}", v, 200).strip() for i, v in enumerate(values)]


def _codes(check: Checker, *pairs: tuple[str | None, dict[str, str], type[DomainError]]) -> None:
    """Codes outside their list, reported with every other problem at once (the domain
    refuses them too, one at a time)."""
    for value, allowed, error in pairs:
        if value is not None and value not in allowed:
            check.errors.append(error())


def _window(check: Checker, starts_at: str | None, ends_at: str | None,
            visitors: list[str]) -> None:
    try:
        check_time_window(starts_at, ends_at)
    except DomainError as error:
        check.errors.append(error)
    if not any(v.strip() for v in visitors):
        check.errors.append(VisitVisitorsMissingError(field="visitors"))


def check_plan(check: Checker, data: PlanVisitInput) -> PlanVisit | None:
    _codes(check, (data.kind, VISIT_KINDS, partial(VisitKindUnknownError, field="kind")),
           (data.place, VISIT_PLACES, partial(VisitPlaceUnknownError, field="place")))
    _window(check, data.starts_at, data.ends_at, data.visitors)
    case_id = check.case_id(data.case_id)
    planned_on = check.day("plannedOn", data.planned_on)
    cmd = PlanVisit(
        case_id=case_id or uuid.UUID(int=0), kind=check.text("kind", data.kind, MAX_CODE),
        planned_on=planned_on or date.min, starts_at=check.text("startsAt", data.starts_at, 5),
        ends_at=check.text("endsAt", data.ends_at, 5),
        visitors=visitor_ids(check, "visitors", data.visitors),
        place=check.text("place", data.place, MAX_CODE),
        place_note=check.text("placeNote", data.place_note, 200) or None,
        purpose=check.required("purpose", data.purpose, MAX_NOTE))
    return cmd if case_id and planned_on else None


def check_done(check: Checker, data: RecordVisitDoneInput,
               ) -> tuple[VisitOutcome, OutreachConsultation | None]:
    _codes(check,
           (data.outcome, VISIT_OUTCOMES, partial(VisitOutcomeUnknownError, field="outcome")),
           (data.next_step, VISIT_NEXT_STEPS,
            partial(VisitNextStepUnknownError, field="nextStep")))
    on = check.day("doneOn", data.done_on)
    follow_up_on = check.day("followUpOn", data.follow_up_on) if data.follow_up_on else None
    outcome = VisitOutcome(
        on=on or date.min, next_step=check.text("nextStep", data.next_step, MAX_CODE),
        follow_up_on=follow_up_on,
        follow_up_owner=check.text("followUpOwner", data.follow_up_owner, 200) or None,
        outcome=check.text("outcome", data.outcome, MAX_CODE),
        summary=check.required("summary", data.summary),
        next_step_note=check.text("nextStepNote", data.next_step_note, MAX_NOTE) or None,
        visitors=visitor_ids(check, "visitors", data.visitors) or None)
    consultation = None
    if data.consultation is not None:
        c = data.consultation
        check.count("consultation.themes", c.themes, MAX_THEMES)
        consultation = OutreachConsultation(
            themes=[check.text(f"consultation.themes.{i}", t, 50) for i, t in enumerate(c.themes)],
            asked=check.text("consultation.asked", c.asked),
            wishes=check.text("consultation.wishes", c.wishes),
            direction=check.text("consultation.direction", c.direction),
            outer_situation=check.text("consultation.outerSituation", c.outer_situation) or None,
            inner_situation=check.text("consultation.innerSituation", c.inner_situation) or None,
            child_rearing_situation=check.text("consultation.childRearingSituation",
                                               c.child_rearing_situation) or None)
    return outcome, consultation


def check_not_met(check: Checker, data: RecordVisitNotMetInput) -> VisitOutcome:
    _codes(check,
           (data.reason, VISIT_NOT_MET_REASONS,
            partial(VisitNotMetReasonUnknownError, field="reason")),
           (data.next_step, VISIT_NEXT_STEPS,
            partial(VisitNextStepUnknownError, field="nextStep")))
    on = check.day("attemptedOn", data.attempted_on)
    return VisitOutcome(
        on=on or date.min, next_step=check.text("nextStep", data.next_step, MAX_CODE),
        follow_up_on=check.day("followUpOn", data.follow_up_on) if data.follow_up_on else None,
        follow_up_owner=check.text("followUpOwner", data.follow_up_owner, 200) or None,
        reason=check.text("reason", data.reason, MAX_CODE),
        note=check.text("note", data.note, MAX_NOTE) or None)


def visit_after(rt: TenantRuntime, grant: Grant, visit_id: uuid.UUID) -> OutreachVisit:
    """The visit as the view shows it now (the command's catch-up included)."""
    rt.catch_up()
    record = VisitQueries(rt.casework.database, rt.casework.keyring).get(grant.scope,
                                                                         str(visit_id))
    if record is None:
        raise VisitNotFoundError(field="visitId")
    return OutreachVisit.from_record(record, staff_names(rt.casework.database))


def on_visit(rt: TenantRuntime, grant: Grant, visit_id: uuid.UUID,
             act: Callable[[TenantRuntime, Grant], VisitAggregate]) -> VisitSaved:
    """Run ``act`` under the visit's own contract and site (GraphQL and the console alike)."""
    visit = outreach.get_visit(rt.casework, visit_id, grant.scope.contract_ids)
    if rt.cases.get(grant.scope, str(visit.case_id)) is None:
        # The case lies outside the person's sites (or contracts): its visits read as absent.
        raise VisitNotFoundError(field="visitId")
    with acting_as(grant.acting.at(contract_id=visit.contract_id, site_id=visit.site_id)):
        act(rt, grant)
    return VisitSaved(visit=visit_after(rt, grant, visit_id))


async def visit_command(info: Info[YorisoiContext, None], action: Any, municipality_code: str,
                        check: Checker, visit_id: uuid.UUID | None,
                        act: Callable[[TenantRuntime, Grant], VisitAggregate],
                        ) -> VisitSaved | UserError:
    def command(rt: TenantRuntime, grant: Grant) -> VisitSaved:
        assert visit_id is not None  # the edge check reported it otherwise
        return on_visit(rt, grant, visit_id, act)

    return await execute(info, action, municipality_code, command, check=check)


# --------------------------------------------------------------------------- mutations


@strawberry.type
class OutreachMutation:
    @strawberry.mutation(description="Plan an outreach visit for an open case.")
    async def plan_visit(self, info: Info[YorisoiContext, None],
                         input: PlanVisitInput) -> VisitResult:
        check = Checker.of(info)
        cmd = check_plan(check, input)

        def command(rt: TenantRuntime, grant: Grant) -> VisitSaved:
            assert cmd is not None
            visit = outreach.plan_visit(rt.casework, cmd,
                                        writable_contract_ids=grant.scope.contract_ids)
            return VisitSaved(visit=visit_after(rt, grant, visit.id))

        return await execute(info, "case.manage", input.municipality_code, command,
                             check=check, case_id=cmd.case_id if cmd else None)

    @strawberry.mutation(description="Move a planned visit, or change who goes.")
    async def reschedule_visit(self, info: Info[YorisoiContext, None],
                               input: RescheduleVisitInput) -> VisitResult:
        check = Checker.of(info)
        visit_id = check.record_id("visitId", str(input.visit_id))
        planned_on = check.day("plannedOn", input.planned_on)
        visitors = visitor_ids(check, "visitors", input.visitors)
        starts_at = check.text("startsAt", input.starts_at, 5)
        ends_at = check.text("endsAt", input.ends_at, 5)
        return await visit_command(
            info, "case.manage", input.municipality_code, check, visit_id,
            lambda rt, grant: outreach.reschedule_visit(
                rt.casework, visit_id, planned_on=planned_on, starts_at=starts_at,
                ends_at=ends_at, visitors=visitors, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Record that a visit took place; optionally record the "
                                     "consultation held on it (channel outreach) in the same step.")
    async def record_visit_done(self, info: Info[YorisoiContext, None],
                                input: RecordVisitDoneInput) -> VisitResult:
        check = Checker.of(info)
        visit_id = check.record_id("visitId", str(input.visit_id))
        outcome, consultation = check_done(check, input)
        action = "consultation.record" if consultation is not None else "case.manage"
        return await visit_command(
            info, action, input.municipality_code, check, visit_id,
            lambda rt, grant: outreach.record_visit_done(
                rt.casework, visit_id, outcome, consultation=consultation,
                municipality_code=grant.municipality_code,
                expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Record that the family was not met, and the next step.")
    async def record_visit_not_met(self, info: Info[YorisoiContext, None],
                                   input: RecordVisitNotMetInput) -> VisitResult:
        check = Checker.of(info)
        visit_id = check.record_id("visitId", str(input.visit_id))
        outcome = check_not_met(check, input)
        return await visit_command(
            info, "case.manage", input.municipality_code, check, visit_id,
            lambda rt, grant: outreach.record_visit_not_met(
                rt.casework, visit_id, outcome, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Mark the follow-up agreed after a visit as done.")
    async def complete_visit_follow_up(self, info: Info[YorisoiContext, None],
                                       input: CompleteVisitFollowUpInput) -> VisitResult:
        check = Checker.of(info)
        visit_id = check.record_id("visitId", str(input.visit_id))
        completed_on = check.day("completedOn", input.completed_on)
        return await visit_command(
            info, "case.manage", input.municipality_code, check, visit_id,
            lambda rt, grant: outreach.complete_visit_follow_up(
                rt.casework, visit_id, completed_on=completed_on,
                expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))

    @strawberry.mutation(description="Call a planned visit off.")
    async def cancel_visit(self, info: Info[YorisoiContext, None],
                           input: CancelVisitInput) -> VisitResult:
        check = Checker.of(info)
        visit_id = check.record_id("visitId", str(input.visit_id))
        reason = check.text("reason", input.reason, MAX_NOTE) or None
        return await visit_command(
            info, "case.manage", input.municipality_code, check, visit_id,
            lambda rt, grant: outreach.cancel_visit(
                rt.casework, visit_id, reason=reason, expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids))


# --------------------------------------------------------------------------- queries


def calendar_period(check: Checker, from_: str, to: str) -> tuple[date | None, date | None]:
    start, end = check.day("from", from_), check.day("to", to)
    if start and end and not 0 <= (end - start).days <= MAX_CALENDAR_DAYS:
        check.bad("to", f"Give a period of at most {MAX_CALENDAR_DAYS} days, ending after it starts.",
                  f"期間は開始日以降、{MAX_CALENDAR_DAYS}日以内で指定してください。")
    return start, end


@strawberry.type
class OutreachQuery:
    @strawberry.field(description="The outreach visits of one case, the latest planned first.")
    async def case_visits(self, info: Info[YorisoiContext, None], case_id: strawberry.ID,
                          municipality_code: str | None = None) -> list[OutreachVisit]:
        def run() -> list[OutreachVisit]:
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                db = rt.casework.database
                records = VisitQueries(db, rt.casework.keyring).for_case(grant.scope,
                                                                         str(case_id))
                names = staff_names(db)
            return [OutreachVisit.from_record(r, names) for r in records]

        return await read(run)

    @strawberry.field(description="Outreach visits planned between two Japan dates (at most 92 "
                                  "days), earliest first: one site's, or only the caller's own.")
    async def visit_calendar(self, info: Info[YorisoiContext, None], municipality_code: str,
                             from_: Annotated[str, strawberry.argument(name="from")], to: str,
                             site_id: str | None = None, mine: bool = False,
                             status: str | None = None) -> list[OutreachVisit]:
        check = Checker.of(info)
        start, end = calendar_period(check, from_, to)

        def run() -> list[OutreachVisit]:
            grant = info.context.authorize("case.read", municipality_code, site_id=site_id)
            if check.errors:
                raise check.errors[0]
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                db = rt.casework.database
                records = VisitQueries(db, rt.casework.keyring).calendar(
                    grant.scope, start or japan_today(), end or japan_today(), site_id=site_id,
                    visitor=grant.acting.user_id if mine else None,
                    statuses=(status,) if status else ())
                names = staff_names(db)
            return [OutreachVisit.from_record(r, names) for r in records]

        return await read(run)


__all__ = ["OutreachMutation", "OutreachQuery"]
