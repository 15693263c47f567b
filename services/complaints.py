"""Complaint commands of the casework application (mixed into CaseworkApplication).

Complaints live in the municipality's event log beside its cases, scoped the
same way: staff of a contractor reach only complaints received under their
contracts (``readable``/``writable`` contract ids; None means every one).
A complaint's commands act under its own contract and site.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.cases import Case
from yorisoi.domain.complaints import (
    Complaint,
    ComplaintDeadlines,
    ComplaintNotFoundError,
    ComplaintRoles,
)
from yorisoi.domain.households import Household
from yorisoi.infra.clock import japan_today
from yorisoi.services.context import acting_as, current_context
from yorisoi.services.tenant_application import command


@dataclass(frozen=True)
class NewComplaint:
    """A complaint to receive at a site (under the contract running it, if any)."""

    site_id: str
    contract_id: str | None
    contractor_id: str | None
    kind: str
    channel: str
    received_on: date
    anonymous: bool
    content: str
    complainant_name: str | None = None
    complainant_contact: str | None = None
    wishes: str | None = None
    involve_third_party: bool = False
    case_id: UUID | None = None


class ComplaintCommands:
    """Receiving and resolving complaints, their roles and their deadlines."""

    # Provided by CaseworkApplication.
    tenant: str
    repository: Any
    save: Any
    municipality_code: str
    _get_case: Any

    def _aggregate(self, aggregate_id: UUID, cls: type) -> Any:
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    def _get_complaint(self, complaint_id: UUID, contracts: Collection[str] | None) -> Complaint:
        complaint = self._aggregate(complaint_id, Complaint)
        # Outside the actor's contracts reads as absent: existence is not disclosed.
        if complaint is None or (contracts is not None and complaint.contract_id not in contracts):
            raise ComplaintNotFoundError(field="complaintId")
        return complaint

    @contextmanager
    def _acting_on(self, complaint: Complaint) -> Iterator[None]:
        with acting_as(current_context().at(contract_id=complaint.contract_id,
                                            site_id=complaint.site_id)):
            yield

    # -- configuration

    def complaint_roles(self, scope_kind: str, scope_id: str) -> ComplaintRoles | None:
        return self._aggregate(
            ComplaintRoles.create_id(self.municipality_code, scope_kind, scope_id), ComplaintRoles)

    @command("command.assign_complaint_roles")
    def assign_complaint_roles(self, *, scope_kind: str, scope_id: str, intake_officer: str,
                               resolution_officer: str, third_party_members: list[dict[str, str]],
                               expected_version: int | None) -> ComplaintRoles:
        """Assign a site's or contractor's complaint officers and third-party members."""
        roles = self.complaint_roles(scope_kind, scope_id) or ComplaintRoles.start(
            municipality_code=self.municipality_code, scope_kind=scope_kind,
            scope_id=scope_id)
        roles.assign(intake_officer=intake_officer, resolution_officer=resolution_officer,
                     third_party_members=third_party_members,
                     expected_version=expected_version)
        self.save(roles)
        return roles

    def complaint_deadlines(self) -> ComplaintDeadlines:
        """The municipality's deadlines (defaults until it sets its own)."""
        found = self._aggregate(ComplaintDeadlines.create_id(self.municipality_code),
                                ComplaintDeadlines)
        return found or ComplaintDeadlines(municipality_code=self.municipality_code)

    @command("command.set_complaint_deadlines")
    def set_complaint_deadlines(self, days: dict[str, int], *,
                                expected_version: int | None) -> ComplaintDeadlines:
        deadlines = self.complaint_deadlines()
        deadlines.set(days, expected_version=expected_version)
        self.save(deadlines)
        return deadlines

    # -- the complaint's steps

    @command("command.receive_complaint")
    def receive_complaint(self, cmd: NewComplaint,
                          writable_contract_ids: Collection[str] | None) -> Complaint:
        """Receive and record a complaint (linked to a case the actor may see, if given)."""
        if cmd.case_id is not None:
            self._get_case(cmd.case_id, writable_contract_ids)
        complaint = Complaint.receive(
            municipality_code=self.municipality_code, site_id=cmd.site_id,
            contract_id=cmd.contract_id, contractor_id=cmd.contractor_id,
            case_id=cmd.case_id, kind=cmd.kind, channel=cmd.channel,
            received_on=cmd.received_on, anonymous=cmd.anonymous,
            complainant_name=cmd.complainant_name,
            complainant_contact=cmd.complainant_contact, content=cmd.content,
            wishes=cmd.wishes, involve_third_party=cmd.involve_third_party,
            today=japan_today())
        self.save(complaint)
        return complaint

    def complaint_step(self, complaint_id: UUID, step: str, *,
                       writable_contract_ids: Collection[str] | None,
                       expected_version: int | None, **args: Any) -> Complaint:
        """Take one step: report, add_discussion, record_outcome, report_outcome,
        publish_summary, escalate or close (the aggregate checks the order)."""
        def take_step() -> Complaint:
            complaint = self._get_complaint(complaint_id, writable_contract_ids)
            step_args = dict(args)  # a retried attempt starts from the caller's arguments
            if step == "publish_summary":
                step_args["other_names"] = self._case_names(complaint.case_id)
            getattr(complaint, step)(today=japan_today(), expected_version=expected_version,
                                     **step_args)
            with self._acting_on(complaint):
                self.save(complaint)
            return complaint

        return self.run_command(f"command.complaint.{step}", take_step)

    def readable_complaint(self, complaint_id: UUID,
                           contracts: Collection[str] | None) -> Complaint:
        return self._get_complaint(complaint_id, contracts)

    def _case_names(self, case_id: UUID | None) -> list[str]:
        """Names of the linked case's family: none of them may appear in a public summary."""
        if case_id is None:
            return []
        case = self._aggregate(case_id, Case)
        household = case and self._aggregate(case.household_id, Household)
        if household is None:
            return []
        return [g.name for g in household.guardians] + [c.name for c in household.children]
