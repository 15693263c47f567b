"""Referrals (つなぎ): the workflow's mutations, the referral board and a case's referrals.

Every step is an explicit mutation of a specialist: nothing refers a family
by itself.  Steps on an existing referral act under the referral's own
contract and site (like a case's commands), and a referral outside the
caller's contracts answers NotFound, as an absent one does.  The agencies
themselves are in graphql/agencies.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from yorisoi.graphql import paging
from yorisoi.graphql.cases import PageInfo
from yorisoi.graphql.commands import execute, on_referral, read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    UserError,
    ValidationError,
)
from yorisoi.graphql.validation import Checker
from yorisoi.infra.referral_packets import ObjectStorePacketPublisher, packet_secret
from yorisoi.projections.referral_board import (
    ReferralBoardQueries,
    ReferralRecord,
    encode_cursor,
)
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_NAME = 200
MAX_CODE = 50
MAX_SHARED = 20


@strawberry.type(description="A follow-up check (継続的な見守り) with its owner and due date.")
class ReferralFollowUp:
    id: strawberry.ID
    due_on: str
    owner_user_id: str
    completed_on: str | None
    note: str | None


@strawberry.type(description="A referral of a family to an agency. Personal data: every read is attributable.")
class Referral:
    id: strawberry.ID
    case_id: strawberry.ID
    agency_id: strawberry.ID
    agency_kind: str
    status: str = strawberry.field(description="draft | sent | acknowledged | accepted | declined | outcome_recorded | closed")
    urgent: bool
    sent_on: str | None
    next_follow_up_on: str | None
    follow_up_owner: str | None
    contract_id: str | None
    site_id: str | None
    version: int = strawberry.field(description="Send it back as expectedVersion to detect stale edits")
    disposed: bool = strawberry.field(description="True once the household's data key is destroyed")
    reason: str | None
    shared_fields: list[str] | None
    accompanied: bool | None = strawberry.field(description="同行の有無")
    confidentiality_basis: str | None
    consent_id: str | None
    exception_legal_basis: str | None
    exception_reason: str | None
    acknowledged_via: str | None
    outcome: str | None
    outcome_note: str | None
    decline_note: str | None
    closure_reason: str | None
    follow_ups: list[ReferralFollowUp]

    @classmethod
    def from_record(cls, r: ReferralRecord) -> Referral:
        d: dict[str, Any] = r.details or {}
        return cls(
            id=strawberry.ID(r.referral_id), case_id=strawberry.ID(r.case_id),
            agency_id=strawberry.ID(r.agency_id), agency_kind=r.agency_kind, status=r.status,
            urgent=r.urgent, sent_on=r.sent_on, next_follow_up_on=r.next_follow_up_on,
            follow_up_owner=r.follow_up_owner, contract_id=r.contract_id, site_id=r.site_id,
            version=r.version, disposed=r.details is None, reason=d.get("reason"),
            shared_fields=d.get("shared_fields"), accompanied=d.get("accompanied"),
            confidentiality_basis=d.get("confidentiality_basis"),
            consent_id=d.get("consent_id"), exception_legal_basis=d.get("exception_legal_basis"),
            exception_reason=d.get("exception_reason"),
            acknowledged_via=d.get("acknowledged_via"), outcome=d.get("outcome"),
            outcome_note=d.get("outcome_note"), decline_note=d.get("decline_note"),
            closure_reason=d.get("closure_reason"),
            follow_ups=[ReferralFollowUp(id=strawberry.ID(f.follow_up_id), due_on=f.due_on,
                                         owner_user_id=f.owner_user_id,
                                         completed_on=f.completed_on, note=f.note)
                        for f in r.follow_ups])


@strawberry.type
class ReferralEdge:
    cursor: str
    node: Referral


@strawberry.type
class ReferralConnection:
    total_count: int
    edges: list[ReferralEdge]
    nodes: list[Referral] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type(description="The off-system agency's expiring link to its packet.")
class PacketLink:
    url: str
    expires_at: str


@strawberry.type
class ReferralChanged:
    referral: Referral


@strawberry.type
class ReferralSent:
    referral: Referral
    packet_link: PacketLink | None = strawberry.field(description="Only for an off-system agency; give it to the agency")


ReferralResult = Annotated[
    ReferralChanged | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("ReferralResult")]
SendReferralResult = Annotated[
    ReferralSent | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("SendReferralResult")]


@strawberry.input
class DraftReferralInput:
    municipality_code: str
    case_id: strawberry.ID
    agency_id: strawberry.ID | None = strawberry.field(default=None, description="The agency; or give resourceId")
    resource_id: strawberry.ID | None = strawberry.field(default=None, description="A directory entry that accepts referrals; or give agencyId")
    reason: str
    urgent: bool = strawberry.field(default=False, description="Abuse concern: surfaces first")
    accompanied: bool = strawberry.field(default=False, description="同行の有無")
    shared_fields: list[str] = strawberry.field(default_factory=list, description="e.g. household.children, consultation.asked")


@strawberry.input(description="Why the referral is sent without consent, and under which law.")
class ReferralExceptionInput:
    reason: str
    legal_basis: str = strawberry.field(description="child_abuse_report | child_welfare_act_25 | emergency_life_safety | court_order | other")


@strawberry.input
class SendReferralInput:
    municipality_code: str
    referral_id: strawberry.ID
    sent_on: str
    confidentiality_basis: str | None = strawberry.field(default=None, description="Defaults to the agency's")
    exception: ReferralExceptionInput | None = None
    expected_version: int | None = None


@strawberry.input(description="A dated step: acknowledged, accepted or declined.")
class ReferralStepInput:
    municipality_code: str
    referral_id: strawberry.ID
    on: str
    note: str = strawberry.field(default="", description="Only kept when declining")
    expected_version: int | None = None


@strawberry.input
class RecordReferralOutcomeInput:
    municipality_code: str
    referral_id: strawberry.ID
    outcome: str = strawberry.field(description="service_started | assessment_done | referred_elsewhere | no_service_needed | family_declined | other")
    recorded_on: str
    note: str = ""
    expected_version: int | None = None


@strawberry.input
class ScheduleReferralFollowUpInput:
    municipality_code: str
    referral_id: strawberry.ID
    due_on: str
    owner_user_id: str
    expected_version: int | None = None


@strawberry.input
class CompleteReferralFollowUpInput:
    municipality_code: str
    referral_id: strawberry.ID
    follow_up_id: strawberry.ID
    completed_on: str
    note: str = ""
    expected_version: int | None = None


@strawberry.input
class CloseReferralInput:
    municipality_code: str
    referral_id: strawberry.ID
    closed_on: str
    reason: str = strawberry.field(description="completed | family_withdrew | declined_by_agency | other")
    expected_version: int | None = None


# --------------------------------------------------------------------------- helpers


def _board(rt: TenantRuntime) -> ReferralBoardQueries:
    return ReferralBoardQueries(rt.casework.database, rt.casework.keyring)


def _after(rt: TenantRuntime, grant: Grant, referral_id: uuid.UUID) -> Referral:
    rt.catch_up()  # read-your-writes: the answer is built from the view
    record = _board(rt).get(grant.scope, str(referral_id))
    if record is None:  # cannot happen: the command found it in scope a moment ago
        raise LookupError("referral missing from the board")
    return Referral.from_record(record)


async def _step(info: Info[YorisoiContext, None], code: str, check: Checker,
                referral_id: uuid.UUID | None,
                act: Callable[[TenantRuntime, Grant], object]) -> ReferralChanged | UserError:
    """Run one step on an existing referral, under the referral's contract and site."""

    def command(rt: TenantRuntime, grant: Grant) -> ReferralChanged:
        assert referral_id is not None  # the checker reported a bad id first
        on_referral(rt, grant, referral_id, act)
        return ReferralChanged(referral=_after(rt, grant, referral_id))

    return await execute(info, "case.manage", code, command, check=check)


@strawberry.type
class ReferralMutation:
    @strawberry.mutation(description="Draft a referral the family chose (nothing is sent yet).")
    async def draft_referral(self, info: Info[YorisoiContext, None],
                             input: DraftReferralInput) -> ReferralResult:
        check = Checker.of(info)
        case_id = check.case_id(input.case_id)
        agency_id = check.record_id("agencyId", input.agency_id)
        resource_id = check.record_id("resourceId", input.resource_id)
        reason = check.text("reason", input.reason)
        check.count("sharedFields", input.shared_fields, MAX_SHARED)
        shared = [check.text(f"sharedFields.{i}", f, MAX_CODE)
                  for i, f in enumerate(input.shared_fields)]

        def command(rt: TenantRuntime, grant: Grant) -> ReferralChanged:
            assert case_id is not None
            referral = rt.casework.draft_referral(
                case_id=case_id, agency_id=agency_id, resource_id=resource_id, reason=reason,
                urgent=input.urgent, accompanied=input.accompanied, shared_fields=shared,
                writable_contract_ids=grant.scope.contract_ids)
            return ReferralChanged(referral=_after(rt, grant, referral.id))

        return await execute(info, "case.manage", input.municipality_code, command,
                             check=check, case_id=case_id)

    @strawberry.mutation(description="Send a referral: needs the recipient's confidentiality basis and consent or an exception.")
    async def send_referral(self, info: Info[YorisoiContext, None],
                            input: SendReferralInput) -> SendReferralResult:
        check = Checker.of(info)
        referral_id = check.record_id("referralId", input.referral_id)
        sent_on = check.day("sentOn", input.sent_on)
        reason = legal_basis = None
        if input.exception is not None:
            reason = check.text("exception.reason", input.exception.reason) or None
            legal_basis = check.text("exception.legalBasis", input.exception.legal_basis,
                                     MAX_CODE) or None
        services = info.context.services
        sent: dict[str, ObjectStorePacketPublisher] = {}

        def act(rt: TenantRuntime, grant: Grant) -> None:
            assert referral_id is not None and sent_on is not None
            sent["publisher"] = ObjectStorePacketPublisher(services.objects,
                                                           packet_secret(services), rt.space)
            rt.casework.send_referral(
                referral_id, sent_on=sent_on, confidentiality_basis=input.confidentiality_basis,
                exception_reason=reason, exception_legal_basis=legal_basis,
                expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids, publisher=sent["publisher"])

        result = await _step(info, input.municipality_code, check, referral_id, act)
        if not isinstance(result, ReferralChanged):
            return result
        publisher = sent["publisher"]
        link = None
        if publisher.token is not None:
            link = PacketLink(url=f"{services.settings.public_url}/agency-packets/{publisher.token}",
                              expires_at=publisher.expires_at.isoformat())
        return ReferralSent(referral=result.referral, packet_link=link)

    @strawberry.mutation(description="Record that the agency confirmed receipt.")
    async def acknowledge_referral(self, info: Info[YorisoiContext, None],
                                   input: ReferralStepInput) -> ReferralResult:
        return await _dated_step(info, input, "acknowledge")

    @strawberry.mutation(description="Record that the agency took the family on.")
    async def accept_referral(self, info: Info[YorisoiContext, None],
                              input: ReferralStepInput) -> ReferralResult:
        return await _dated_step(info, input, "accept")

    @strawberry.mutation(description="Record that the agency did not take the family on.")
    async def decline_referral(self, info: Info[YorisoiContext, None],
                               input: ReferralStepInput) -> ReferralResult:
        return await _dated_step(info, input, "decline")

    @strawberry.mutation(description="Record what came of the referral.")
    async def record_referral_outcome(self, info: Info[YorisoiContext, None],
                                      input: RecordReferralOutcomeInput) -> ReferralResult:
        check = Checker.of(info)
        referral_id = check.record_id("referralId", input.referral_id)
        recorded_on = check.day("recordedOn", input.recorded_on)
        note = check.text("note", input.note)

        def act(rt: TenantRuntime, grant: Grant) -> None:
            assert referral_id is not None and recorded_on is not None
            rt.casework.record_referral_outcome(
                referral_id, outcome=input.outcome, note=note, recorded_on=recorded_on,
                expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids)

        return await _step(info, input.municipality_code, check, referral_id, act)

    @strawberry.mutation(description="Plan a follow-up check for one owner, due on a date.")
    async def schedule_referral_follow_up(self, info: Info[YorisoiContext, None],
                                          input: ScheduleReferralFollowUpInput) -> ReferralResult:
        check = Checker.of(info)
        referral_id = check.record_id("referralId", input.referral_id)
        due_on = check.day("dueOn", input.due_on)
        owner = check.required("ownerUserId", input.owner_user_id, MAX_NAME)

        def act(rt: TenantRuntime, grant: Grant) -> None:
            assert referral_id is not None and due_on is not None
            rt.casework.schedule_referral_follow_up(
                referral_id, follow_up_id=str(uuid.uuid4()), due_on=due_on, owner_user_id=owner,
                expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids)

        return await _step(info, input.municipality_code, check, referral_id, act)

    @strawberry.mutation(description="Record that a follow-up check took place.")
    async def complete_referral_follow_up(self, info: Info[YorisoiContext, None],
                                          input: CompleteReferralFollowUpInput) -> ReferralResult:
        check = Checker.of(info)
        referral_id = check.record_id("referralId", input.referral_id)
        completed_on = check.day("completedOn", input.completed_on)
        note = check.text("note", input.note)
        follow_up_id = check.text("followUpId", str(input.follow_up_id), 64)

        def act(rt: TenantRuntime, grant: Grant) -> None:
            assert referral_id is not None and completed_on is not None
            rt.casework.complete_referral_follow_up(
                referral_id, follow_up_id=follow_up_id, completed_on=completed_on, note=note,
                expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids)

        return await _step(info, input.municipality_code, check, referral_id, act)

    @strawberry.mutation(description="Close a referral (final).")
    async def close_referral(self, info: Info[YorisoiContext, None],
                             input: CloseReferralInput) -> ReferralResult:
        check = Checker.of(info)
        referral_id = check.record_id("referralId", input.referral_id)
        closed_on = check.day("closedOn", input.closed_on)

        def act(rt: TenantRuntime, grant: Grant) -> None:
            assert referral_id is not None and closed_on is not None
            rt.casework.close_referral(referral_id, closed_on=closed_on, reason=input.reason,
                                       expected_version=input.expected_version,
                                       writable_contract_ids=grant.scope.contract_ids)

        return await _step(info, input.municipality_code, check, referral_id, act)


async def _dated_step(info: Info[YorisoiContext, None], input: ReferralStepInput,
                      step: str) -> ReferralChanged | UserError:
    check = Checker.of(info)
    referral_id = check.record_id("referralId", input.referral_id)
    on = check.day("on", input.on)
    note = check.text("note", input.note)

    def act(rt: TenantRuntime, grant: Grant) -> None:
        assert referral_id is not None and isinstance(on, date)
        common: dict[str, Any] = {"expected_version": input.expected_version,
                                  "writable_contract_ids": grant.scope.contract_ids}
        if step == "acknowledge":
            rt.casework.acknowledge_referral(referral_id, acknowledged_on=on, via="staff",
                                             **common)
        else:
            rt.casework.respond_to_referral(referral_id, accepted=step == "accept", on=on,
                                            note=note, **common)

    return await _step(info, input.municipality_code, check, referral_id, act)


@strawberry.type
class ReferralQuery:
    @strawberry.field(description="Referrals by status and agency, urgent first, then most recently changed.")
    async def referral_board(
        self, info: Info[YorisoiContext, None], municipality_code: str | None = None,
        status: str | None = None, agency_id: strawberry.ID | None = None,
        first: int = 20, after: str | None = None,
    ) -> ReferralConnection:
        first = paging.page_size(first)

        def run() -> ReferralConnection:
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = _board(rt).board(grant.scope, first=first, after=after, status=status,
                                        agency_id=str(agency_id) if agency_id else None)
            return ReferralConnection(
                total_count=page.total_count,
                edges=[ReferralEdge(cursor=encode_cursor(r), node=Referral.from_record(r))
                       for r in page.referrals],
                page_info=PageInfo(has_next_page=page.has_next_page,
                                   end_cursor=page.end_cursor))

        return await read(run)

    @strawberry.field(description="The referrals of one case (empty when the case is not visible).")
    async def referrals(self, info: Info[YorisoiContext, None], case_id: strawberry.ID,
                        municipality_code: str | None = None) -> list[Referral]:
        def run() -> list[Referral]:
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                records = _board(rt).for_case(grant.scope, str(case_id))
            return [Referral.from_record(r) for r in records]

        return await read(run)
