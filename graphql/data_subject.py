"""Data-subject requests (開示・訂正・利用停止): receive, handle, decide, export, correct, list.

Every operation is the municipality's (action ``dsr.manage``: municipal
supervisors and administrators; contractors never).  Requests are read from
the event store, so deadlines and suspensions shown are exactly those the
next command is checked against.  Nothing here returns a personal value:
a request holds codes, dates and ids, and a disclosure is handed out as an
expiring link to its sealed files.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import strawberry
from strawberry.types import Info

from yorisoi.domain.consultations import TEXT_FIELDS
from yorisoi.domain.data_subject_requests import KINDS, DataSubjectRequestNotFoundError
from yorisoi.domain.data_subject_requests import DataSubjectRequest as Request
from yorisoi.graphql import paging
from yorisoi.graphql.commands import execute, read
from yorisoi.graphql.consultations import HouseholdInput, parse_household
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.data_subject_types import (
    DataSubjectRequest,
    DataSubjectRequestChanged,
    DataSubjectRequestDeadline,
    DataSubjectRequestDeadlinesResult,
    DataSubjectRequestDeadlinesSet,
    DataSubjectRequestResult,
    DisclosureExported,
    ExportDisclosureResult,
)
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.infra.disclosure_links import ObjectStoreDisclosurePublisher, disclosure_secret
from yorisoi.services.disclosure import export_disclosure
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_CODE = 50


DataSubjectRequestConnection = paging.Connection[DataSubjectRequest]

@strawberry.input(description="Give the case or the household the request concerns (one of them).")
class ReceiveDataSubjectRequestInput:
    municipality_code: str
    kind: str = strawberry.field(description="disclosure | correction | suspension_of_use")
    identification_method: str = strawberry.field(description="How the requester was identified (a method code, never the document)")
    requester_relationship: str = strawberry.field(description="self | legal_representative | delegated_representative")
    received_on: str = strawberry.field(description="YYYY-MM-DD: the deadline counts from the next day")
    case_id: strawberry.ID | None = None
    household_id: strawberry.ID | None = None


@strawberry.input(description="A step of a request on a day (start, answer, refuse, lift, close).")
class DataSubjectRequestStepInput:
    municipality_code: str
    request_id: strawberry.ID
    on: str = strawberry.field(description="YYYY-MM-DD")
    outcome: str | None = strawberry.field(default=None, description="For answer: disclosed | partially_disclosed | corrected | partially_corrected | suspended")
    reason: str | None = strawberry.field(default=None, description="For refuse and lift: a reason code")
    expected_version: int | None = None


@strawberry.input
class ExtendDataSubjectRequestInput:
    municipality_code: str
    request_id: strawberry.ID
    days: int = strawberry.field(description="1–30, once (法第83条第2項 etc.)")
    reason: str = strawberry.field(description="volume_of_records | third_party_consultation | other")
    expected_version: int | None = None


@strawberry.input
class ExportDisclosureInput:
    municipality_code: str
    request_id: strawberry.ID


@strawberry.input(description="Corrected values (omit a field to keep it); the original stays in the log.")
class CorrectConsultationForRequestInput:
    municipality_code: str
    request_id: strawberry.ID
    consultation_id: strawberry.ID
    reason: str
    asked: str | None = None
    wishes: str | None = None
    direction: str | None = None
    outer_situation: str | None = None
    inner_situation: str | None = None
    child_rearing_situation: str | None = None
    expected_version: int | None = None


@strawberry.input(description="The household's people as they should read (the whole set).")
class CorrectHouseholdForRequestInput:
    municipality_code: str
    request_id: strawberry.ID
    household: HouseholdInput
    reason: str
    expected_version: int | None = None


@strawberry.input
class CorrectSupportNoteForRequestInput:
    municipality_code: str
    request_id: strawberry.ID
    note_id: strawberry.ID
    body: str
    reason: str
    expected_version: int | None = None


@strawberry.input
class DataSubjectRequestDeadlineInput:
    kind: str
    days: int = strawberry.field(description="1–30 (the statute's 30 days, or the ordinance's shorter period)")


@strawberry.input
class SetDataSubjectRequestDeadlinesInput:
    municipality_code: str
    deadlines: list[DataSubjectRequestDeadlineInput]
    expected_version: int | None = None


def _checker(info: Info[YorisoiContext, None]) -> Checker:
    return Checker(info.context.services.settings.max_text_length)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def _changed(info: Info[YorisoiContext, None], municipality_code: str, check: Checker,
                   run: Callable[[TenantRuntime], Request]) -> DataSubjectRequestResult:
    def command(rt: TenantRuntime, grant: Grant) -> DataSubjectRequestChanged:
        return DataSubjectRequestChanged(request=DataSubjectRequest.of(run(rt)))

    return await execute(info, "dsr.manage", municipality_code, command, check=check)


async def _step(info: Info[YorisoiContext, None], input: DataSubjectRequestStepInput,
                step: str) -> DataSubjectRequestResult:
    check = _checker(info)
    request_id = check.record_id("requestId", input.request_id)
    on = check.day("on", input.on)
    outcome = check.text("outcome", input.outcome, MAX_CODE)
    reason = check.text("reason", input.reason, MAX_CODE)
    version = input.expected_version

    def run(rt: TenantRuntime) -> Request:
        app = rt.casework
        if step == "start":
            return app.start_data_subject_request(request_id, started_on=on,
                                                  expected_version=version)
        if step == "answer":
            return app.answer_data_subject_request(request_id, answered_on=on, outcome=outcome,
                                                   expected_version=version)
        if step == "refuse":
            return app.refuse_data_subject_request(request_id, refused_on=on, reason=reason,
                                                   expected_version=version)
        if step == "lift":
            return app.lift_suspension_of_use(request_id, lifted_on=on, reason=reason,
                                              expected_version=version)
        return app.close_data_subject_request(request_id, closed_on=on, expected_version=version)

    return await _changed(info, input.municipality_code, check, run)


@strawberry.type
class DataSubjectMutation:
    @strawberry.mutation(description="Record a data-subject request; its deadline starts the next day.")
    async def receive_data_subject_request(self, info: Info[YorisoiContext, None],
                                           input: ReceiveDataSubjectRequestInput,
                                           ) -> DataSubjectRequestResult:
        check = _checker(info)
        received_on = check.day("receivedOn", input.received_on)
        case_id = check.case_id(input.case_id)
        household_id = check.record_id("householdId", input.household_id)
        if (case_id is None) == (household_id is None) and not check.errors:
            check.bad("caseId", "Give the case or the household (one of them).",
                      "ケースまたは世帯のいずれか一方を指定してください。")
        codes = {f: check.text(_camel(f), getattr(input, f), MAX_CODE)
                 for f in ("kind", "identification_method", "requester_relationship")}

        def run(rt: TenantRuntime) -> Request:
            household = household_id or rt.casework.household_of_case(case_id)
            return rt.casework.receive_data_subject_request(
                household_id=household, received_on=received_on, **codes)

        return await _changed(info, input.municipality_code, check, run)

    @strawberry.mutation(description="Start handling a request (received → in_progress).")
    async def start_data_subject_request(self, info: Info[YorisoiContext, None],
                                         input: DataSubjectRequestStepInput,
                                         ) -> DataSubjectRequestResult:
        return await _step(info, input, "start")

    @strawberry.mutation(description="Grant a request; a granted suspension of use takes effect at once.")
    async def answer_data_subject_request(self, info: Info[YorisoiContext, None],
                                          input: DataSubjectRequestStepInput,
                                          ) -> DataSubjectRequestResult:
        return await _step(info, input, "answer")

    @strawberry.mutation(description="Decide not to grant a request, with a reason code.")
    async def refuse_data_subject_request(self, info: Info[YorisoiContext, None],
                                          input: DataSubjectRequestStepInput,
                                          ) -> DataSubjectRequestResult:
        return await _step(info, input, "refuse")

    @strawberry.mutation(description="Lift the suspension of use a request started.")
    async def lift_suspension_of_use(self, info: Info[YorisoiContext, None],
                                     input: DataSubjectRequestStepInput,
                                     ) -> DataSubjectRequestResult:
        return await _step(info, input, "lift")

    @strawberry.mutation(description="File a decided request (answered or refused → closed).")
    async def close_data_subject_request(self, info: Info[YorisoiContext, None],
                                         input: DataSubjectRequestStepInput,
                                         ) -> DataSubjectRequestResult:
        return await _step(info, input, "close")

    @strawberry.mutation(description="Extend a request's deadline once, by up to 30 days.")
    async def extend_data_subject_request(self, info: Info[YorisoiContext, None],
                                          input: ExtendDataSubjectRequestInput,
                                          ) -> DataSubjectRequestResult:
        check = _checker(info)
        request_id = check.record_id("requestId", input.request_id)
        reason = check.text("reason", input.reason, MAX_CODE)
        return await _changed(info, input.municipality_code, check, lambda rt: (
            rt.casework.extend_data_subject_request(request_id, days=input.days, reason=reason,
                                                    expected_version=input.expected_version)))

    @strawberry.mutation(description="Correct a consultation for a correction request (one save).")
    async def correct_consultation_for_request(self, info: Info[YorisoiContext, None],
                                               input: CorrectConsultationForRequestInput,
                                               ) -> DataSubjectRequestResult:
        check = _checker(info)
        request_id = check.record_id("requestId", input.request_id)
        consultation_id = check.record_id("consultationId", input.consultation_id)
        reason = check.required("reason", input.reason)
        changes = {name: check.text(_camel(name), getattr(input, name))
                   for name in TEXT_FIELDS if getattr(input, name) is not None}
        return await _changed(info, input.municipality_code, check, lambda rt: (
            rt.casework.correct_consultation_for_request(
                request_id, consultation_id, changes=changes, reason=reason,
                expected_version=input.expected_version)))

    @strawberry.mutation(description="Correct the household's people (names, birth dates) for a "
                                     "correction request (one save; the original stays).")
    async def correct_household_for_request(self, info: Info[YorisoiContext, None],
                                            input: CorrectHouseholdForRequestInput,
                                            ) -> DataSubjectRequestResult:
        check = _checker(info)
        request_id = check.record_id("requestId", input.request_id)
        household = parse_household(check, input.household)
        reason = check.required("reason", input.reason)
        return await _changed(info, input.municipality_code, check, lambda rt: (
            rt.casework.correct_household_for_request(
                request_id, household, reason=reason,
                expected_version=input.expected_version)))

    @strawberry.mutation(description="Correct a support note for a correction request (one save).")
    async def correct_support_note_for_request(self, info: Info[YorisoiContext, None],
                                               input: CorrectSupportNoteForRequestInput,
                                               ) -> DataSubjectRequestResult:
        check = _checker(info)
        request_id = check.record_id("requestId", input.request_id)
        note_id = check.record_id("noteId", input.note_id)
        body = check.required("body", input.body)
        reason = check.required("reason", input.reason)
        return await _changed(info, input.municipality_code, check, lambda rt: (
            rt.casework.correct_support_note_for_request(
                request_id, note_id, body=body, reason=reason,
                expected_version=input.expected_version)))

    @strawberry.mutation(description="Export everything held about the household (JSON and a Japanese document); logged as a read.")
    async def export_disclosure(self, info: Info[YorisoiContext, None],
                                input: ExportDisclosureInput) -> ExportDisclosureResult:
        check = _checker(info)
        request_id = check.record_id("requestId", input.request_id)
        services = info.context.services

        def command(rt: TenantRuntime, grant: Grant) -> DisclosureExported:
            rt.catch_up()  # the read models locate the household's records
            tenant = services.directory.registry.tenant(grant.municipality_code)
            publisher = ObjectStoreDisclosurePublisher(services.objects,
                                                       disclosure_secret(services), rt.space)
            result = export_disclosure(
                rt.casework, request_id, publisher=publisher,
                municipality_name=tenant.name if tenant else grant.municipality_code)
            return DisclosureExported(
                request=DataSubjectRequest.of(rt.casework.data_subject_request(request_id)),
                export_id=strawberry.ID(str(result.export_id)), records=result.records,
                access_entries=result.access_entries, json_url=result.links["json"],
                html_url=result.links["html"], expires_at=result.expires_at.isoformat())

        return await execute(info, "dsr.manage", input.municipality_code, command, check=check)

    @strawberry.mutation(description="Set the municipality's days to decide each kind of request (≤ 30).")
    async def set_data_subject_request_deadlines(self, info: Info[YorisoiContext, None],
                                                 input: SetDataSubjectRequestDeadlinesInput,
                                                 ) -> DataSubjectRequestDeadlinesResult:
        check = _checker(info)
        check.count("deadlines", input.deadlines, len(KINDS))

        def command(rt: TenantRuntime, grant: Grant) -> DataSubjectRequestDeadlinesSet:
            deadlines = rt.casework.set_data_subject_request_deadlines(
                {d.kind: d.days for d in input.deadlines}, expected_version=input.expected_version)
            return _deadlines(deadlines.days, deadlines.version)

        return await execute(info, "dsr.manage", input.municipality_code, command, check=check)


def _deadlines(days: dict[str, int], version: int) -> DataSubjectRequestDeadlinesSet:
    return DataSubjectRequestDeadlinesSet(
        deadlines=[DataSubjectRequestDeadline(kind=k, days=d) for k, d in days.items()],
        version=version)


@strawberry.type
class DataSubjectQuery:
    @strawberry.field(description="The municipality's data-subject requests, oldest received "
                                  "first (keyset pages: pass pageInfo.endCursor as after).")
    async def data_subject_requests(self, info: Info[YorisoiContext, None], municipality_code: str,
                                    overdue_only: bool = False, status: str | None = None,
                                    household_id: strawberry.ID | None = None, first: int = 50,
                                    after: str | None = None) -> DataSubjectRequestConnection:
        first = paging.page_size(first)

        def run() -> DataSubjectRequestConnection:
            grant = info.context.authorize("dsr.manage", municipality_code)
            today = japan_today()
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                found = rt.casework.data_subject_requests()
            # Requests are aggregates read from the event store (no read-model table), so
            # the filtered list is paged in memory by the same (receivedOn, id) cursor rule.
            matching = [r for r in found
                        if (not overdue_only or r.is_overdue(today))
                        and (status is None or r.status == status)
                        and (household_id is None or str(r.household_id) == str(household_id))]
            return paging.sorted_connection(
                matching, lambda r: (r.received_on.isoformat(), str(r.id)), first=first,
                after=after, types=(str, str), node=DataSubjectRequest.of)

        return await read(run)

    @strawberry.field(description="One request, or null when there is no such request.")
    async def data_subject_request(self, info: Info[YorisoiContext, None], municipality_code: str,
                                   id: strawberry.ID) -> DataSubjectRequest | None:
        def run() -> DataSubjectRequest | None:
            grant = info.context.authorize("dsr.manage", municipality_code)
            try:
                request_id = uuid.UUID(str(id))
            except ValueError:
                return None
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                try:
                    found = rt.casework.data_subject_request(request_id)
                except DataSubjectRequestNotFoundError:
                    return None
            return DataSubjectRequest.of(found)

        return await read(run)

    @strawberry.field(description="Days to decide each kind of request (statutory 30 unless the municipality shortened them).")
    async def data_subject_request_deadlines(self, info: Info[YorisoiContext, None],
                                             municipality_code: str,
                                             ) -> DataSubjectRequestDeadlinesSet:
        def run() -> DataSubjectRequestDeadlinesSet:
            grant = info.context.authorize("dsr.manage", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                deadlines = rt.casework.data_subject_request_deadlines()
            return _deadlines(deadlines.days, deadlines.version)

        return await read(run)
