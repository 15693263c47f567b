"""Data-subject request commands, and the suspension-of-use guard on every save.

``DataSubjectRequestCommands`` is a mixin of ``CaseworkApplication``: requests
live in the municipality's event log beside the records they are about, so a
correction and the request it answers are saved in one transaction.

The guard: ``save`` looks at the events about to be stored, and when one
concerns a household whose suspension of use is in force and the policy
(``domain/suspension_of_use.py``) refuses it, nothing is stored.  Like
consent enforcement it reads the event store (the household's
``HouseholdRequests`` index), never a read model, so a suspension counts
from the very next command.  Only saves carrying a refusable event pay the
one extra read.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from yorisoi.domain.consultations import Consultation, ConsultationNotFoundError
from yorisoi.domain.data_subject_indexes import (
    DataSubjectRequestDeadlines,
    DataSubjectRequestRegister,
    HouseholdRequests,
)
from yorisoi.domain.data_subject_requests import (
    DataSubjectRequest,
    DataSubjectRequestNotFoundError,
)
from yorisoi.domain.errors import NotFoundDomainError, StaleVersionError
from yorisoi.domain.households import Household
from yorisoi.domain.support_notes import SupportNote
from yorisoi.domain.suspension_of_use import (
    ProcessingSuspendedError,
    refused_events,
    subject_of,
)
from yorisoi.infra.clock import japan_today
from yorisoi.services.support_notes import SupportNoteNotFoundError

if TYPE_CHECKING:
    from eventsourcing.application import Repository
from yorisoi.services.tenant_application import command


class HouseholdNotFoundError(NotFoundDomainError):
    code = "household_not_found"
    message = "No such household in this municipality."
    message_ja = "指定された世帯が見つかりません。"


class DataSubjectRequestCommands:
    """Receive, handle and decide requests; refuse processing under a suspension of use."""

    if TYPE_CHECKING:
        repository: Repository[UUID]
        tenant: str
        municipality_code: str

        def _get_case(self, case_id: UUID, writable: Collection[str] | None) -> Any: ...

    # ------------------------------------------------------------------ the guard

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        self.refuse_if_suspended(*objs)
        return super().save(*objs, **kwargs)  # type: ignore[misc]

    def refuse_if_suspended(self, *objs: Any) -> None:
        """Raise ProcessingSuspendedError if a suspension refuses any pending event.

        Commands that store an object before saving (packets, attachments) call
        this first, so a refusal leaves nothing behind.
        """
        by_household: dict[UUID, list[tuple[Any, Any]]] = {}
        # A household registered by this very save has no requests yet (a request
        # names an existing household): nothing to read for it.
        new_households = {obj.id for obj in objs if isinstance(obj, Household)
                          and obj.pending_events
                          and obj.pending_events[0].originator_version == 1}
        for obj in objs:
            household_id = subject_of(obj) if isinstance(obj, Aggregate) else None
            if household_id is not None:
                by_household.setdefault(household_id, []).extend(
                    (event, obj) for event in obj.pending_events)
        for household_id, pairs in by_household.items():
            if household_id in new_households:
                continue
            if refused_events(pairs) and self.processing_suspended(household_id):
                raise ProcessingSuspendedError(field="caseId")

    def processing_suspended(self, household_id: UUID) -> bool:
        """Whether a suspension of use of the household is in force (read from the event store)."""
        index = self._household_requests(household_id)
        return index is not None and index.suspended

    def pending_disclosure(self, household_id: UUID) -> bool:
        """Whether an undecided disclosure request concerns the household (a disposal hold)."""
        return any(r.kind == "disclosure" and r.status in ("received", "in_progress")
                   for r in self.household_data_subject_requests(household_id))

    # ------------------------------------------------------------------ reads

    def data_subject_request(self, request_id: UUID) -> DataSubjectRequest:
        found = self._found(request_id, DataSubjectRequest)
        if found is None:
            raise DataSubjectRequestNotFoundError(field="requestId")
        return found

    def data_subject_requests(self) -> list[DataSubjectRequest]:
        """Every request of the municipality, oldest first."""
        register = self._found(DataSubjectRequestRegister.create_id(self.municipality_code),
                               DataSubjectRequestRegister)
        return [self.data_subject_request(r) for r in (register.request_ids if register else [])]

    def household_data_subject_requests(self, household_id: UUID) -> list[DataSubjectRequest]:
        index = self._household_requests(household_id)
        return [self.data_subject_request(r) for r in (index.request_ids if index else [])]

    def data_subject_request_deadlines(self) -> DataSubjectRequestDeadlines:
        """The municipality's deadlines (the statutory 30 days until it sets its own)."""
        found = self._found(DataSubjectRequestDeadlines.create_id(self.municipality_code),
                            DataSubjectRequestDeadlines)
        return found or DataSubjectRequestDeadlines(municipality_code=self.municipality_code)

    # ------------------------------------------------------------------ commands

    @command("command.set_dsr_deadlines")
    def set_data_subject_request_deadlines(self, days: dict[str, int], *,
                                           expected_version: int | None,
                                           ) -> DataSubjectRequestDeadlines:
        deadlines = self.data_subject_request_deadlines()
        deadlines.set(days, expected_version=expected_version)
        self.save(deadlines)
        return deadlines

    @command("command.receive_dsr")
    def receive_data_subject_request(self, *, household_id: UUID, kind: str,
                                     identification_method: str, requester_relationship: str,
                                     received_on: date) -> DataSubjectRequest:
        """Record a request about a household (a disposed one too: it is answered all the same)."""
        if self._found(household_id, Household) is None:
            raise HouseholdNotFoundError(field="householdId")
        days = self.data_subject_request_deadlines().days.get(kind, 0)
        request = DataSubjectRequest.receive(
            household_id=household_id, municipality_code=self.municipality_code, kind=kind,
            identification_method=identification_method,
            requester_relationship=requester_relationship, received_on=received_on,
            deadline_days=days, today=japan_today())
        index = (self._household_requests(household_id)
                 or HouseholdRequests(household_id=household_id))
        index.list_request(request.id)
        register = (self._found(DataSubjectRequestRegister.create_id(self.municipality_code),
                                DataSubjectRequestRegister)
                    or DataSubjectRequestRegister(municipality_code=self.municipality_code))
        register.list_request(request.id)
        self.save(request, index, register)
        return request

    def household_of_case(self, case_id: UUID) -> UUID:
        """The household of a case (the municipality sees every case)."""
        return self._get_case(case_id, None).household_id

    @command("command.start_data_subject_request")
    def start_data_subject_request(self, request_id: UUID, *, started_on: date,
                                   expected_version: int | None) -> DataSubjectRequest:
        request = self.data_subject_request(request_id)
        request.start(started_on=started_on, today=japan_today(),
                      expected_version=expected_version)
        self.save(request)
        return request

    @command("command.extend_data_subject_request")
    def extend_data_subject_request(self, request_id: UUID, *, days: int, reason: str,
                                    expected_version: int | None) -> DataSubjectRequest:
        request = self.data_subject_request(request_id)
        request.extend(days=days, reason=reason, expected_version=expected_version)
        self.save(request)
        return request

    @command("command.answer_dsr")
    def answer_data_subject_request(self, request_id: UUID, *, answered_on: date, outcome: str,
                                    expected_version: int | None) -> DataSubjectRequest:
        """Grant the request; a granted suspension of use takes effect with the same save."""
        request = self.data_subject_request(request_id)
        request.answer(answered_on=answered_on, outcome=outcome, today=japan_today(),
                       expected_version=expected_version)
        index = None
        if request.suspension_active:
            index = self._household_requests(request.household_id)
            assert index is not None  # listed when the request was received
            index.suspend(request.id)
        self.save(request, index)
        return request

    @command("command.refuse_data_subject_request")
    def refuse_data_subject_request(self, request_id: UUID, *, refused_on: date, reason: str,
                                    expected_version: int | None) -> DataSubjectRequest:
        request = self.data_subject_request(request_id)
        request.refuse(refused_on=refused_on, reason=reason, today=japan_today(),
                       expected_version=expected_version)
        self.save(request)
        return request

    @command("command.lift_suspension")
    def lift_suspension_of_use(self, request_id: UUID, *, lifted_on: date, reason: str,
                               expected_version: int | None) -> DataSubjectRequest:
        request = self.data_subject_request(request_id)
        request.lift_suspension(lifted_on=lifted_on, reason=reason, today=japan_today(),
                                expected_version=expected_version)
        index = self._household_requests(request.household_id)
        assert index is not None
        index.lift(request.id)
        self.save(request, index)
        return request

    @command("command.close_data_subject_request")
    def close_data_subject_request(self, request_id: UUID, *, closed_on: date,
                                   expected_version: int | None) -> DataSubjectRequest:
        request = self.data_subject_request(request_id)
        request.close(closed_on=closed_on, today=japan_today(), expected_version=expected_version)
        self.save(request)
        return request

    @command("command.note_disclosure_export")
    def note_disclosure_export(self, request_id: UUID, *, export_id: UUID, records: int,
                               access_entries: int,
                               sealed_sha256: dict[str, str]) -> DataSubjectRequest:
        request = self.data_subject_request(request_id)
        request.note_export(export_id=export_id, exported_on=japan_today(), records=records,
                            access_entries=access_entries, sealed_sha256=sealed_sha256)
        self.save(request)
        return request

    # Corrections: the record's own correction (a new event; the original stays)
    # and the link to the request, in one save.  A closed case's records are
    # corrected too: the duty to correct (法第92条) does not wait for a reopening.

    @command("command.correct_for_dsr")
    def correct_consultation_for_request(self, request_id: UUID, consultation_id: UUID, *,
                                         changes: dict[str, str | None], reason: str,
                                         expected_version: int | None) -> DataSubjectRequest:
        request = self.data_subject_request(request_id)
        consultation = self._found(consultation_id, Consultation)
        if consultation is None or consultation.household_id != request.household_id:
            raise ConsultationNotFoundError(field="consultationId")
        consultation.check_version(expected_version)
        consultation.correct(changes=changes, reason=reason)
        request.link_correction(record_kind="consultation", record_id=consultation.id,
                                record_version=consultation.version,
                                changed_fields=list(consultation.corrections[-1]["fields"]))
        self.save(consultation, request)
        return request

    @command("command.correct_for_dsr")
    def correct_household_for_request(self, request_id: UUID, household: Any, *, reason: str,
                                      expected_version: int | None) -> DataSubjectRequest:
        """Correct the requesting household's people (names, birth dates) and link it."""
        request = self.data_subject_request(request_id)
        found = self._found(request.household_id, Household)
        if found is None:
            raise DataSubjectRequestNotFoundError(field="requestId")
        if expected_version is not None and expected_version != found.version:
            raise StaleVersionError(field="expectedVersion", current_version=found.version)
        fields = found.correct(guardians=household.guardians, children=household.children,
                               pregnancy=household.pregnancy,
                               outside_target_reason=household.outside_target_reason,
                               reason=reason, today=japan_today())
        request.link_correction(record_kind="household", record_id=found.id,
                                record_version=found.version, changed_fields=fields)
        self.save(found, request)
        return request

    @command("command.correct_for_dsr")
    def correct_support_note_for_request(self, request_id: UUID, note_id: UUID, *, body: str,
                                         reason: str, expected_version: int | None,
                                         ) -> DataSubjectRequest:
        request = self.data_subject_request(request_id)
        note = self._found(note_id, SupportNote)
        if note is None or note.household_id != request.household_id:
            raise SupportNoteNotFoundError(field="noteId")
        note.check_version(expected_version)
        note.correct(body=body, reason=reason)
        request.link_correction(record_kind="support_note", record_id=note.id,
                                record_version=note.version, changed_fields=["body"])
        self.save(note, request)
        return request

    # ------------------------------------------------------------------ helpers

    def _household_requests(self, household_id: UUID) -> HouseholdRequests | None:
        return self._found(HouseholdRequests.create_id(household_id), HouseholdRequests)

    def _found(self, aggregate_id: UUID, cls: type) -> Any:
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None
