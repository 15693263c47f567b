"""Staff commands of the casework application (mixed into CaseworkApplication).

Municipal administrators manage every staff record of their municipality; a
contractor's administrator manages only its own organisation's staff, and
assigns them only to sites its active contracts cover.  Those limits arrive
as ``organisation_id`` / ``assignable_sites`` (decided from the grant by the
caller); a record outside them is reported as absent, never as forbidden.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.errors import DomainError, NotFoundDomainError
from yorisoi.domain.staff import StaffMember
from yorisoi.infra.clock import japan_today
from yorisoi.services.tenant_application import command


class StaffMemberNotFoundError(NotFoundDomainError):
    code = "staff_member_not_found"
    message = "No such staff member (among those you manage)."
    message_ja = "指定された職員が見つかりません。"


class StaffAlreadyRegisteredError(DomainError):
    code = "staff_already_registered"
    message = "This person is already registered as staff of the organisation."
    message_ja = "この職員はすでに登録されています。"


class StaffOrganisationUnknownError(DomainError):
    code = "staff_organisation_unknown"
    message = "Staff belong to the municipality or to a contractor with a contract here."
    message_ja = "職員の所属は、本自治体または本自治体と契約のある受託事業者を指定してください。"


class StaffSiteNotAssignableError(NotFoundDomainError):
    code = "staff_site_not_assignable"
    message = "No such site among those your organisation runs for this municipality."
    message_ja = "指定された実施場所は、貴団体が受託している実施場所ではありません。"


class StaffCommands:
    """Registering staff, assigning them to sites, recording training and the pledge."""

    # Provided by CaseworkApplication.
    tenant: str
    repository: Any
    save: Any

    @command("command.register_staff_member")
    def register_staff_member(self, *, subject: str, display_name: str, organisation_kind: str,
                              organisation_id: str, roles: Iterable[str],
                              qualifications: Iterable[str],
                              allowed_organisations: Collection[str]) -> StaffMember:
        """Register a person (by token subject) as staff of an organisation allowed here."""
        if organisation_id not in allowed_organisations:
            raise StaffOrganisationUnknownError(field="organisationId")
        staff_id = StaffMember.create_id(organisation_id, subject)
        if staff_id in self.repository:
            raise StaffAlreadyRegisteredError(field="subject")
        member = StaffMember.register(
            subject=subject, display_name=display_name, organisation_kind=organisation_kind,
            organisation_id=organisation_id, roles=roles, qualifications=qualifications)
        self.save(member)
        return member

    @command("command.update_staff_member")
    def update_staff_member(self, staff_id: UUID, *, display_name: str, roles: Iterable[str],
                            qualifications: Iterable[str], expected_version: int | None,
                            organisation_id: str | None) -> StaffMember:
        member = self.staff_member(staff_id, organisation_id)
        member.check_version(expected_version)
        member.update(display_name=display_name, roles=roles, qualifications=qualifications)
        self.save(member)
        return member

    @command("command.assign_staff")
    def assign_staff(self, staff_id: UUID, *, site_id: str, kind: str, starts_on: date,
                     ends_on: date | None, organisation_id: str | None,
                     assignable_sites: Collection[str] | None) -> tuple[StaffMember, str]:
        member = self.staff_member(staff_id, organisation_id)
        if assignable_sites is not None and site_id not in assignable_sites:
            raise StaffSiteNotAssignableError(field="siteId")
        assignment_id = member.assign(site_id=site_id, kind=kind, starts_on=starts_on,
                                      ends_on=ends_on)
        self.save(member)
        return member, assignment_id

    @command("command.end_staff_assignment")
    def end_staff_assignment(self, staff_id: UUID, *, assignment_id: str, ends_on: date,
                             organisation_id: str | None) -> StaffMember:
        member = self.staff_member(staff_id, organisation_id)
        member.end_assignment(assignment_id=assignment_id, ends_on=ends_on)
        self.save(member)
        return member

    @command("command.record_staff_training")
    def record_staff_training(self, staff_id: UUID, *, kind: str, completed_on: date,
                              valid_until: date | None,
                              organisation_id: str | None) -> StaffMember:
        member = self.staff_member(staff_id, organisation_id)
        member.record_training(kind=kind, completed_on=completed_on,
                               valid_until=valid_until, today=japan_today())
        self.save(member)
        return member

    @command("command.attach_staff_pledge")
    def attach_staff_pledge(self, staff_id: UUID, *, attachment_id: UUID, signed_on: date,
                            content_type: str, data: bytes, store: Callable[[bytes], str],
                            organisation_id: str | None) -> StaffMember:
        """Check, then store the bytes (``store`` returns their SHA-256), then record."""
        member = self.staff_member(staff_id, organisation_id)
        digest = hashlib.sha256(data).hexdigest()
        member.attach_pledge(attachment_id=attachment_id, signed_on=signed_on,
                             content_type=content_type, size=len(data), sha256=digest,
                             today=japan_today())
        if store(data) != digest:
            raise RuntimeError("object store returned a different digest")
        self.save(member)
        return member

    def staff_member(self, staff_id: UUID, organisation_id: str | None = None) -> StaffMember:
        """The staff member, if within ``organisation_id`` (None: any organisation)."""
        try:
            member: Any = self.repository.get(staff_id)
        except AggregateNotFoundError:
            raise StaffMemberNotFoundError(field="staffId") from None
        if not isinstance(member, StaffMember) or (
                organisation_id is not None and member.organisation_id != organisation_id):
            raise StaffMemberNotFoundError(field="staffId")
        return member
