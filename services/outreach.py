"""Outreach-visit commands of a municipality's casework application.

Each command runs on the tenant's ``CaseworkApplication`` as one command
(``run_command``: validated reads, retried when stale), about a case in the
actor's scope: contractor staff reach only their contracts' cases, exactly as
for consultations (``_get_case``).  A visit found outside that scope reads as
absent, never as forbidden.

A visit recorded as done may carry a consultation recorded in the same step
(channel ``outreach``): the casework application's own ``record_consultation``
does it — consent, themes, dates and all — inside the same unit of work as the
visit's ``Done`` event, so both are stored or neither.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.errors import NotFoundDomainError
from yorisoi.domain.outreach import (
    OutreachVisit,
    VisitFollowUpOwnerNotStaffError,
    VisitVisitorNotStaffError,
    check_visitors,
)
from yorisoi.domain.staff import StaffMember
from yorisoi.domain.vocabulary import Channel
from yorisoi.infra.clock import japan_today


class VisitNotFoundError(NotFoundDomainError):
    code = "visit_not_found"
    message = "No such visit in this case."
    message_ja = "指定された訪問が見つかりません。"


@dataclass(frozen=True)
class PlanVisit:
    case_id: UUID
    kind: str
    planned_on: date
    starts_at: str | None
    ends_at: str | None
    visitors: list[str]
    place: str
    place_note: str | None
    purpose: str


@dataclass(frozen=True)
class VisitOutcome:
    """What is recorded when a visit took place (``done``) or did not (``not met``)."""

    on: date
    next_step: str
    follow_up_on: date | None = None
    follow_up_owner: str | None = None
    # done
    outcome: str | None = None
    summary: str | None = None
    next_step_note: str | None = None
    visitors: list[str] | None = None
    # not met
    reason: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class OutreachConsultation:
    """The consultation held during the visit: what ``recordConsultation`` records."""

    themes: list[str]
    asked: str
    wishes: str
    direction: str
    outer_situation: str | None = None
    inner_situation: str | None = None
    child_rearing_situation: str | None = None


def get_visit(app: Any, visit_id: UUID, writable: Collection[str] | None,
              case_id: UUID | None = None) -> OutreachVisit:
    """The visit, if it is one and lies in the actor's scope (else VisitNotFoundError)."""
    try:
        visit: Any = app.repository.get(visit_id)
    except AggregateNotFoundError:
        raise VisitNotFoundError(field="visitId") from None
    if (not isinstance(visit, OutreachVisit)
            or (writable is not None and visit.contract_id not in writable)
            or (case_id is not None and visit.case_id != case_id)):
        raise VisitNotFoundError(field="visitId")
    return visit


def plan_visit(app: Any, cmd: PlanVisit, *,
               writable_contract_ids: Collection[str] | None) -> OutreachVisit:
    """Plan a visit for an open case, under the case's own site and contract."""
    def body() -> OutreachVisit:
        case = app._get_case(cmd.case_id, writable_contract_ids)
        case.require_open()
        # Who will go is named as who went is: the organisation's own staff.
        check_went(app, list(cmd.visitors))
        visit = OutreachVisit.plan(
            case_id=case.id, household_id=case.household_id, site_id=case.site_id,
            contract_id=case.contract_id, kind=cmd.kind, planned_on=cmd.planned_on,
            starts_at=cmd.starts_at, ends_at=cmd.ends_at, visitors=cmd.visitors,
            place=cmd.place, place_note=cmd.place_note, purpose=cmd.purpose,
            case_opened_on=case.opened_on, today=japan_today())
        app.save(visit)
        return visit

    return app.run_command("command.plan_visit", body)


def check_went(app: Any, visitors: list[str], *,
               refusal: Callable[[], Exception] = lambda: VisitVisitorNotStaffError(
                   field="visitors")) -> None:
    """Who went must be staff of the organisation recording the visit: the signed-in person
    herself (her identity provider vouches for her organisation) or someone in that
    organisation's staff records (else ``refusal()``, VisitVisitorNotStaffError).  Read from
    the event store by the record's deterministic id: no projection lag, nothing personal
    opened."""
    from yorisoi.services.context import current_context

    acting = current_context()
    for subject in visitors:
        if subject == acting.user_id:
            continue
        try:
            member: Any = app.repository.get(StaffMember.create_id(acting.organisation_id,
                                                                   subject))
        except AggregateNotFoundError:
            member = None
        if not isinstance(member, StaffMember):
            raise refusal()


def _check_follow_up_owner(app: Any, owner: str | None, follow_up_on: date | None) -> None:
    """A named follow-up owner gets the task: the recording organisation's staff only."""
    if follow_up_on is not None and owner and owner.strip():
        check_went(app, [owner.strip()], refusal=lambda: VisitFollowUpOwnerNotStaffError(
            field="followUpOwner"))


def hand_over_visits(app: Any, case_ids: Collection[UUID],
                     to_contract_id: str) -> list[OutreachVisit]:
    """The still-planned visits of cases handed over to ``to_contract_id``, moved with them
    (unsaved: the hand-over saves them with their cases).  Visits done, not met or
    cancelled stay with the contract they happened under (``OutreachVisit.hand_over``)."""
    from yorisoi.projections.visit_queries import case_visit_ids

    moved = []
    for visit_id in case_visit_ids(app.database, [str(c) for c in case_ids], status="planned"):
        visit: Any = app.repository.get(UUID(visit_id))
        if visit.hand_over(to_contract_id=to_contract_id):
            moved.append(visit)
    return moved


def _open_visit(app: Any, visit_id: UUID, expected_version: int | None,
                writable: Collection[str] | None) -> tuple[Any, OutreachVisit]:
    visit = get_visit(app, visit_id, writable)
    case = app._get_case(visit.case_id, writable)
    # A closed case's records are frozen until it is reopened.
    case.require_open()
    visit.check_version(expected_version)
    return case, visit


def reschedule_visit(app: Any, visit_id: UUID, *, planned_on: date, starts_at: str | None,
                     ends_at: str | None, visitors: list[str], expected_version: int | None,
                     writable_contract_ids: Collection[str] | None) -> OutreachVisit:
    def body() -> OutreachVisit:
        case, visit = _open_visit(app, visit_id, expected_version, writable_contract_ids)
        check_went(app, list(visitors))
        visit.reschedule(planned_on=planned_on, starts_at=starts_at, ends_at=ends_at,
                         visitors=visitors, case_opened_on=case.opened_on, today=japan_today())
        app.save(visit)
        return visit

    return app.run_command("command.reschedule_visit", body)


def record_visit_done(app: Any, visit_id: UUID, outcome: VisitOutcome, *,
                      consultation: OutreachConsultation | None, municipality_code: str,
                      expected_version: int | None,
                      writable_contract_ids: Collection[str] | None) -> OutreachVisit:
    """Record the visit as done; with ``consultation``, record it too (channel outreach)."""
    from yorisoi.services.casework import RecordConsultation  # the application imports us not

    def body() -> OutreachVisit:
        case, visit = _open_visit(app, visit_id, expected_version, writable_contract_ids)
        today = japan_today()
        # Who went: as recorded, else as planned (a plan made before a hand-over names
        # the predecessor's staff: the successor then says who went).
        if visit.status == OutreachVisit.PLANNED:
            check_went(app, check_visitors(outcome.visitors) if outcome.visitors
                       else list(visit.visitors))
        _check_follow_up_owner(app, outcome.follow_up_owner, outcome.follow_up_on)

        def done(target: OutreachVisit, consultation_id: UUID | None) -> None:
            target.record_done(
                done_on=outcome.on, visitors=outcome.visitors, outcome=outcome.outcome or "",
                summary=outcome.summary or "", next_step=outcome.next_step,
                next_step_note=outcome.next_step_note, follow_up_on=outcome.follow_up_on,
                follow_up_owner=outcome.follow_up_owner, consultation_id=consultation_id,
                case_opened_on=case.opened_on, today=today)

        if consultation is None:
            done(visit, None)
            app.save(visit)
            return visit
        # The visit's own rules first, on a copy: a refused outcome records no consultation.
        done(copy.deepcopy(visit), None)
        recorded = app.record_consultation(RecordConsultation(
            municipality_code=municipality_code, site_id=case.site_id,
            contract_id=case.contract_id, occurred_on=outcome.on,
            channel=Channel.OUTREACH.value, themes=consultation.themes, asked=consultation.asked,
            wishes=consultation.wishes, direction=consultation.direction, case_id=case.id,
            writable_contract_ids=writable_contract_ids,
            outer_situation=consultation.outer_situation,
            inner_situation=consultation.inner_situation,
            child_rearing_situation=consultation.child_rearing_situation))
        done(visit, recorded.consultation_id)
        app.save(visit)
        return visit

    # One unit of work: the consultation's events and the visit's Done commit together.
    with app.database.unit_of_work():
        return app.run_command("command.record_visit_done", body)


def record_visit_not_met(app: Any, visit_id: UUID, outcome: VisitOutcome, *,
                         expected_version: int | None,
                         writable_contract_ids: Collection[str] | None) -> OutreachVisit:
    def body() -> OutreachVisit:
        case, visit = _open_visit(app, visit_id, expected_version, writable_contract_ids)
        # Who tried are the plan's visitors (the follow-up defaults to the first of them):
        # after a hand-over the successor first names its own staff (reschedule).
        check_went(app, list(visit.visitors))
        _check_follow_up_owner(app, outcome.follow_up_owner, outcome.follow_up_on)
        visit.record_not_met(
            attempted_on=outcome.on, reason=outcome.reason or "", note=outcome.note,
            next_step=outcome.next_step, follow_up_on=outcome.follow_up_on,
            follow_up_owner=outcome.follow_up_owner, case_opened_on=case.opened_on,
            today=japan_today())
        app.save(visit)
        return visit

    return app.run_command("command.record_visit_not_met", body)


def complete_visit_follow_up(app: Any, visit_id: UUID, *, completed_on: date,
                             expected_version: int | None,
                             writable_contract_ids: Collection[str] | None) -> OutreachVisit:
    def body() -> OutreachVisit:
        visit = get_visit(app, visit_id, writable_contract_ids)
        app._get_case(visit.case_id, writable_contract_ids)
        visit.check_version(expected_version)
        visit.complete_follow_up(completed_on=completed_on, today=japan_today())
        app.save(visit)
        return visit

    return app.run_command("command.complete_visit_follow_up", body)


def cancel_visit(app: Any, visit_id: UUID, *, reason: str | None, expected_version: int | None,
                 writable_contract_ids: Collection[str] | None) -> OutreachVisit:
    def body() -> OutreachVisit:
        visit = get_visit(app, visit_id, writable_contract_ids)
        app._get_case(visit.case_id, writable_contract_ids)
        # A closed case's planned visits may still be called off.
        visit.check_version(expected_version)
        visit.cancel(reason=reason)
        app.save(visit)
        return visit

    return app.run_command("command.cancel_visit", body)


__all__ = ["OutreachConsultation", "PlanVisit", "VisitNotFoundError", "VisitOutcome",
           "cancel_visit", "check_went", "complete_visit_follow_up", "get_visit",
           "hand_over_visits", "plan_visit",
           "record_visit_done", "record_visit_not_met", "reschedule_visit"]
