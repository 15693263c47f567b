"""Referral commands (つなぎ) and the agency directory, mixed into CaseworkApplication.

A referral goes to an agency, or to an entry of the resource directory that
accepts referrals: the first referral to an entry registers the agency that
stands for it (its id derived from the entry's), later ones reuse it.

Every method is an explicit command of a specialist: no code path drafts or
sends a referral by itself (the family decides, guideline §4(3)③).  Sending
is a disclosure: the aggregate refuses it without a confidentiality basis and
without covering consent or a recorded exception.  For an off-system agency
the chosen fields, and nothing else, are sealed under the household key into
a packet object; the caller's publisher stores it and issues the link.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.agencies import Agency, agency_id_for_resource
from yorisoi.domain.errors import NotFoundDomainError
from yorisoi.domain.referrals import Referral, check_recipient_choice
from yorisoi.infra.clock import japan_today

if TYPE_CHECKING:
    from yorisoi.domain.cases import Case
    from yorisoi.domain.resources import Resource
    from yorisoi.services.personal_data import HouseholdKeyring

# Absent and out-of-scope answer alike, so existence is never disclosed.
class ReferralNotFoundError(NotFoundDomainError):
    code = "referral_not_found"
    message = "No such referral in this municipality."
    message_ja = "指定されたつなぎが見つかりません。"
from yorisoi.services.tenant_application import command


class AgencyNotFoundError(NotFoundDomainError):
    code = "agency_not_found"
    message = "No such agency in this municipality's directory."
    message_ja = "指定された関係機関が見つかりません。"


# Consultation fields that describe the family's situation, as the consultation
# record names them (read defensively: the record may not carry them yet).
_SITUATION_FIELDS = ("outer_situation", "inner_situation", "child_rearing_situation")


def packet_aad(referral_id: UUID | str) -> bytes:
    return f"referral_packet:{UUID(str(referral_id))}".encode()


class PacketPublisher(Protocol):
    """Stores a sealed packet where the agency's link will find it."""

    expires_at: datetime

    def publish(self, household_id: UUID, referral_id: UUID, sealed: bytes) -> None: ...


@dataclass(frozen=True)
class ReferralSent:
    referral: Referral
    packet_published: bool


class ReferralCommands:
    """The referral workflow of one municipality (a CaseworkApplication mixin)."""

    # Provided by CaseworkApplication (declared only for type checkers: a
    # definition here would shadow the application's own methods).
    if TYPE_CHECKING:
        repository: Any
        keyring: HouseholdKeyring

        def save(self, *aggregates: Any) -> Any: ...
        def _get_case(self, case_id: UUID, writable: Collection[str] | None) -> Case: ...
        def _get_resource(self, resource_id: UUID,
                          expected_version: int | None) -> Resource: ...

    # ------------------------------------------------------------------ agencies

    @command("command.register_agency")
    def register_agency(self, *, municipality_code: str, name: str, kind: str,
                        on_system: bool, contact_email: str | None,
                        confidentiality_basis: str | None) -> Agency:
        """Add an agency to the municipality's directory."""
        agency = Agency.register(municipality_code=municipality_code, name=name, kind=kind,
                                 on_system=on_system, contact_email=contact_email,
                                 confidentiality_basis=confidentiality_basis)
        self.save(agency)
        return agency

    def agency(self, agency_id: UUID) -> Agency:
        try:
            agency = self.repository.get(agency_id)
        except AggregateNotFoundError:
            raise AgencyNotFoundError(field="agencyId") from None
        if not isinstance(agency, Agency):
            raise AgencyNotFoundError(field="agencyId")
        return agency

    def resource_agency(self, resource_id: UUID) -> tuple[Agency, bool]:
        """The agency standing for a directory entry that accepts referrals, and whether it is new.

        A new agency is not saved here: the caller saves it with the referral,
        so a refused draft leaves nothing behind.
        """
        resource = self._get_resource(resource_id, None)
        profile = resource.require_accepting_referrals()
        try:
            return self.agency(agency_id_for_resource(resource.id)), False
        except AgencyNotFoundError:
            pass
        agency = Agency.register(
            municipality_code=resource.municipality_code, name=str(resource.attributes["name"]),
            kind=str(profile["kind"]), on_system=bool(profile["on_system"]),
            contact_email=profile["contact_email"],  # type: ignore[arg-type]
            confidentiality_basis=profile["confidentiality_basis"],  # type: ignore[arg-type]
            resource_id=resource.id)
        return agency, True

    # ------------------------------------------------------------------ referrals

    def readable_referral(self, referral_id: UUID,
                          contract_ids: Collection[str] | None) -> Referral:
        """The referral, if the actor's contracts cover its case (else ReferralNotFoundError)."""
        try:
            referral = self.repository.get(referral_id)
        except AggregateNotFoundError:
            raise ReferralNotFoundError(field="referralId") from None
        if not isinstance(referral, Referral) or (
                contract_ids is not None and referral.contract_id not in contract_ids):
            raise ReferralNotFoundError(field="referralId")
        return referral

    @command("command.draft_referral")
    def draft_referral(self, *, case_id: UUID, agency_id: UUID | None = None,
                       resource_id: UUID | None = None, reason: str, urgent: bool,
                       accompanied: bool, shared_fields: list[str],
                       writable_contract_ids: Collection[str] | None) -> Referral:
        """Draft a referral the family chose (to an agency or a directory entry); nothing
        leaves the municipality yet."""
        check_recipient_choice(agency_id, resource_id)
        case = self._get_case(case_id, writable_contract_ids)
        case.require_open()
        if resource_id is not None:
            agency, new_agency = self.resource_agency(resource_id)
        else:
            assert agency_id is not None
            agency, new_agency = self.agency(agency_id), False
        referral = Referral.draft(
            case_id=case.id, household_id=case.household_id, agency_id=agency.id,
            agency_kind=agency.kind, site_id=case.site_id, contract_id=case.contract_id,
            reason=reason, urgent=urgent, accompanied=accompanied, shared_fields=shared_fields,
            today=japan_today())
        self.save(*([agency] if new_agency else []), referral)
        return referral

    @command("command.send_referral")
    def send_referral(self, referral_id: UUID, *, sent_on: date,
                      confidentiality_basis: str | None, exception_reason: str | None,
                      exception_legal_basis: str | None, expected_version: int | None,
                      writable_contract_ids: Collection[str] | None,
                      publisher: PacketPublisher | None) -> ReferralSent:
        """Send: check the disclosure, then (off-system) store the packet, then record."""
        referral = self.readable_referral(referral_id, writable_contract_ids)
        referral.check_version(expected_version)
        case = self._get_case(referral.case_id, writable_contract_ids)
        case.require_open()
        agency = self.agency(referral.agency_id)
        packet = not agency.on_system
        if packet and publisher is None:
            raise RuntimeError("an off-system agency needs a packet publisher")
        covered, consent_id = self._covering_consent(referral, agency, sent_on)
        referral.send(
            sent_on=sent_on, today=japan_today(),
            confidentiality_basis=confidentiality_basis or agency.confidentiality_basis,
            consent_covered=covered, consent_id=consent_id, exception_reason=exception_reason,
            exception_legal_basis=exception_legal_basis,
            packet_expires_at=publisher.expires_at if packet and publisher else None)
        also = [] if covered else self._consent_exception(referral, agency, sent_on,
                                                          exception_reason,
                                                          exception_legal_basis)
        self.refuse_if_suspended(referral, *also)  # type: ignore[attr-defined]
        if packet and publisher is not None:
            # Only once the aggregate accepted the disclosure: a refusal stores nothing.
            content = self._packet(referral, case, agency)
            publisher.publish(referral.household_id, referral.id, self.keyring.seal_json(
                referral.household_id, content, packet_aad(referral.id)))
        self.save(referral, *also)
        return ReferralSent(referral, packet)

    def _covering_consent(self, referral: Referral, agency: Agency,
                          on: date) -> tuple[bool, str | None]:
        """(covered, the covering consent's id) from the consent records, when present."""
        covers = getattr(self, "consent_covers", None)
        if covers is None:  # no consent records in this build: nothing is covered
            return False, None
        kwargs: dict[str, Any] = {"purpose": "share", "agency_id": str(agency.id),
                                  "agency_kind": agency.kind, "on": on}
        if not covers(referral.household_id, **kwargs):
            return False, None
        records = getattr(self, "household_consents", None)
        consents = records(referral.household_id).consents if records else []
        ids = [str(c.id) for c in consents if getattr(c, "covers", None) and c.covers(**kwargs)]
        return True, ids[0] if ids else None

    def _consent_exception(self, referral: Referral, agency: Agency, on: date,
                           reason: str | None, legal_basis: str | None) -> list[Any]:
        """The exception as a consent record too (saved with the referral), when they exist."""
        index_of = getattr(self, "consent_index", None)
        add = getattr(self, "add_consent_exception", None)
        if index_of is None or add is None or reason is None or legal_basis is None:
            return []
        index = index_of(referral.household_id)
        exception = add(index, case_id=referral.case_id, purpose="share",
                        legal_basis=legal_basis, reason=reason, taken_on=on,
                        today=japan_today(), agency_id=str(agency.id),
                        record_id=referral.id, field_prefix="exception.")
        return [index, exception]

    def _packet(self, referral: Referral, case: Case, agency: Agency) -> dict[str, Any]:
        """What the agency receives: the chosen fields and nothing else."""
        chosen = set(referral.shared_fields)
        packet: dict[str, Any] = {
            "referralId": str(referral.id), "municipalityCode": case.municipality_code,
            "agency": agency.name, "urgent": referral.urgent,
            "accompanied": referral.accompanied, "sharedFields": list(referral.shared_fields),
        }
        if "referral.reason" in chosen:
            packet["reason"] = referral.reason
        if chosen & {"household.guardians", "household.children", "household.pregnancy"}:
            household = self.repository.get(case.household_id)
            people: dict[str, Any] = {}
            if "household.guardians" in chosen:
                people["guardians"] = [{"name": g.name, "relationship": g.relationship}
                                       for g in household.guardians]
            if "household.children" in chosen:
                people["children"] = [{"name": c.name, "birthDate": c.birth_date.isoformat()}
                                      for c in household.children]
            if "household.pregnancy" in chosen:
                people["pregnancyDueDate"] = (household.pregnancy.due_date.isoformat()
                                              if household.pregnancy else None)
            packet["household"] = people
        wanted = [name for name in ("asked", "wishes", "direction")
                  if f"consultation.{name}" in chosen]
        situations = "consultation.situations" in chosen
        if wanted or situations:
            packet["consultations"] = []
            for consultation_id in case.consultation_ids:
                consultation = self.repository.get(consultation_id)
                entry: dict[str, Any] = {"occurredOn": consultation.occurred_on.isoformat()}
                entry.update({name: getattr(consultation, name) for name in wanted})
                if situations:
                    entry["situations"] = {name: getattr(consultation, name) for name in
                                           _SITUATION_FIELDS if hasattr(consultation, name)}
                packet["consultations"].append(entry)
        return packet

    @command("command.acknowledge_referral")
    def acknowledge_referral(self, referral_id: UUID, *, acknowledged_on: date, via: str,
                             expected_version: int | None,
                             writable_contract_ids: Collection[str] | None) -> Referral:
        """Record that the agency confirmed receipt."""
        referral = self.readable_referral(referral_id, writable_contract_ids)
        referral.check_version(expected_version)
        referral.acknowledge(acknowledged_on=acknowledged_on, today=japan_today(), via=via)
        self.save(referral)
        return referral

    @command("command.respond_to_referral")
    def respond_to_referral(self, referral_id: UUID, *, accepted: bool, on: date, note: str,
                            expected_version: int | None,
                            writable_contract_ids: Collection[str] | None) -> Referral:
        """Record the agency's answer: accepted, or declined (with a note)."""
        referral = self.readable_referral(referral_id, writable_contract_ids)
        referral.check_version(expected_version)
        if accepted:
            referral.accept(accepted_on=on, today=japan_today())
        else:
            referral.decline(declined_on=on, today=japan_today(), note=note)
        self.save(referral)
        return referral

    @command("command.record_referral_outcome")
    def record_referral_outcome(self, referral_id: UUID, *, outcome: str, note: str,
                                recorded_on: date, expected_version: int | None,
                                writable_contract_ids: Collection[str] | None) -> Referral:
        """Record what came of the referral."""
        referral = self.readable_referral(referral_id, writable_contract_ids)
        referral.check_version(expected_version)
        referral.record_outcome(outcome=outcome, note=note, recorded_on=recorded_on,
                                today=japan_today())
        self.save(referral)
        return referral

    @command("command.schedule_referral_follow_up")
    def schedule_referral_follow_up(self, referral_id: UUID, *, follow_up_id: str,
                                    due_on: date, owner_user_id: str,
                                    expected_version: int | None,
                                    writable_contract_ids: Collection[str] | None) -> Referral:
        """Plan a follow-up check (継続的な見守り) for one owner."""
        referral = self.readable_referral(referral_id, writable_contract_ids)
        referral.check_version(expected_version)
        referral.schedule_follow_up(follow_up_id=follow_up_id, due_on=due_on,
                                    owner_user_id=owner_user_id)
        self.save(referral)
        return referral

    @command("command.complete_referral_follow_up")
    def complete_referral_follow_up(self, referral_id: UUID, *, follow_up_id: str,
                                    completed_on: date, note: str,
                                    expected_version: int | None,
                                    writable_contract_ids: Collection[str] | None) -> Referral:
        """Record that a follow-up check took place."""
        referral = self.readable_referral(referral_id, writable_contract_ids)
        referral.check_version(expected_version)
        referral.complete_follow_up(follow_up_id=follow_up_id, completed_on=completed_on,
                                    note=note, today=japan_today())
        self.save(referral)
        return referral

    @command("command.close_referral")
    def close_referral(self, referral_id: UUID, *, closed_on: date, reason: str,
                       expected_version: int | None,
                       writable_contract_ids: Collection[str] | None) -> Referral:
        """Close the referral (final)."""
        referral = self.readable_referral(referral_id, writable_contract_ids)
        referral.check_version(expected_version)
        referral.close(closed_on=closed_on, reason=reason, today=japan_today())
        self.save(referral)
        return referral
