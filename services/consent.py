"""Consent commands of the casework application, and the consent check other commands use.

``ConsentCommands`` is a mixin of ``CaseworkApplication``: consents live in the
municipality's own event log, next to the cases whose actions they cover, so
an action and its consent (or its recorded exception) are saved in one
transaction.  Enforcement reads the event store through the household's
``HouseholdConsents`` index, never a read model: a withdrawal must stop the
very next action, and a projection may lag behind.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.consent import (
    PURPOSES,
    Consent,
    ConsentEvidenceUnknownError,
    ConsentException,
    ConsentMissingError,
    ConsentNotFoundError,
    ConsentWithdrawnError,
    HouseholdConsents,
)
from yorisoi.infra.clock import japan_today

if TYPE_CHECKING:
    from eventsourcing.application import Repository

    from yorisoi.domain.cases import Case
from yorisoi.services.tenant_application import command


@dataclass(frozen=True)
class NewConsent:
    """Consent given in the same command as the action it covers."""

    given_by: str  # the guardian's name
    relationship: str  # e.g. 母, 父, 本人
    given_on: date
    scope: str = ""


@dataclass(frozen=True)
class NewConsentException:
    """Why an action is taken without consent, and under which law."""

    reason: str
    legal_basis: str  # a code of domain.consent.LEGAL_BASES


@dataclass(frozen=True)
class HouseholdConsentRecords:
    """A household's consents and consent exceptions, in the order they were recorded."""

    consents: list[Consent]
    exceptions: list[ConsentException]


class ConsentCommands:
    """Mixin of ``CaseworkApplication``: give, withdraw, except, and check consent."""

    if TYPE_CHECKING:
        repository: Repository[UUID]
        tenant: str

        def save(self, *objs: Any) -> Any: ...
        def _get_case(self, case_id: UUID, writable: Collection[str] | None) -> Case: ...

    # ------------------------------------------------------------------ queries

    def consent_covers(self, household_id: UUID, *, purpose: str,
                       agency_id: str | None = None, agency_kind: str | None = None,
                       on: date) -> bool:
        """True when an un-withdrawn consent of the household covers the action.

        ``purpose`` is ``create_records``, ``view`` or ``share``.  For ``share``
        pass the recipient's directory id and/or its kind (a code of
        ``domain.consent.AGENCY_KINDS``): a consent naming that agency, or that
        agency kind, covers it.  ``on`` is the day the action is taken: a
        consent given after it does not cover it; a withdrawn consent covers
        nothing, whatever the day.
        """
        return self._covering(household_id, purpose, agency_id, agency_kind, on)[0]

    def require_consent(self, household_id: UUID, *, purpose: str, on: date,
                        agency_id: str | None = None, agency_kind: str | None = None,
                        field: str = "consent") -> None:
        """Refuse (``ConsentMissingError`` / ``ConsentWithdrawnError``) unless consent covers it."""
        covered, withdrawn = self._covering(household_id, purpose, agency_id, agency_kind, on)
        if not covered:
            raise (ConsentWithdrawnError if withdrawn else ConsentMissingError)(field=field)

    def household_consents(self, household_id: UUID) -> HouseholdConsentRecords:
        """Every consent and exception of a household (personal fields decrypted)."""
        index = self._stored_index(household_id)
        if index is None:
            return HouseholdConsentRecords([], [])
        return HouseholdConsentRecords(
            consents=[self.repository.get(cid) for cid in index.consent_ids],
            exceptions=[self.repository.get(eid) for eid in index.exception_ids])

    def case_consents(self, case_id: UUID,
                      readable_contract_ids: Collection[str] | None) -> HouseholdConsentRecords:
        """The consents of a case's household, if the actor's contracts cover the case."""
        case = self._get_case(case_id, readable_contract_ids)
        return self.household_consents(case.household_id)

    def _covering(self, household_id: UUID, purpose: str, agency_id: str | None,
                  agency_kind: str | None, on: date) -> tuple[bool, bool]:
        """(covered, a matching consent exists but was withdrawn)."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown consent purpose: {purpose}")
        if purpose == "share" and not (agency_id or agency_kind):
            raise ValueError("sharing names the recipient agency or its kind")
        withdrawn = False
        index = self._stored_index(household_id)
        # Purpose, recipient, dates and withdrawal are stored in clear: the check
        # reads the consents' terms without opening anything personal.
        terms = [self.repository.terms(cid) for cid in index.consent_ids] if index else []
        for consent in terms:
            if consent.covers(purpose=purpose, agency_id=agency_id, agency_kind=agency_kind,
                              on=on):
                return True, False
            if consent.withdrawn and consent.matches(purpose=purpose, agency_id=agency_id,
                                                     agency_kind=agency_kind):
                withdrawn = True
        return False, withdrawn

    # ------------------------------------------------- building blocks for commands

    def consent_index(self, household_id: UUID) -> HouseholdConsents:
        """The household's index, stored or new (save it with what you add to it)."""
        return self._stored_index(household_id) or HouseholdConsents(household_id=household_id)

    def add_consent(self, index: HouseholdConsents, *, case_id: UUID, purpose: str,
                    given_by: str, relationship: str, given_on: date, scope: str,
                    today: date, agency_id: str | None = None, agency_kind: str | None = None,
                    evidence_attachment_id: str | None = None,
                    field_prefix: str = "") -> Consent:
        """A new consent, listed in ``index`` (the caller saves both)."""
        consent = Consent.give(
            household_id=index.household_id, case_id=case_id, purpose=purpose,
            given_by=given_by, relationship=relationship, given_on=given_on, scope=scope,
            today=today, agency_id=agency_id, agency_kind=agency_kind,
            evidence_attachment_id=evidence_attachment_id, field_prefix=field_prefix)
        index.list_consent(consent.id)
        return consent

    def add_consent_exception(self, index: HouseholdConsents, *, case_id: UUID, purpose: str,
                              legal_basis: str, reason: str, taken_on: date, today: date,
                              agency_id: str | None = None, agency_kind: str | None = None,
                              record_id: UUID | None = None,
                              field_prefix: str = "") -> ConsentException:
        """A new exception, listed in ``index`` (the caller saves both, with the action)."""
        exception = ConsentException.record(
            household_id=index.household_id, case_id=case_id, purpose=purpose,
            legal_basis=legal_basis, reason=reason, taken_on=taken_on, today=today,
            agency_id=agency_id, agency_kind=agency_kind, record_id=record_id,
            field_prefix=field_prefix)
        index.list_exception(exception.id)
        return exception

    def consent_to_record(self, *, household_id: UUID, case_id: UUID, record_id: UUID,
                          consent: NewConsent | None, exception: NewConsentException | None,
                          new_household: bool, today: date) -> list[Any]:
        """What creating a record needs (§6(1)①): aggregates to save with it, or a refusal.

        A new household brings its consent (or an exception) in the same
        command; an existing one needs an un-withdrawn ``create_records``
        consent unless the command brings one.
        """
        if consent is None and exception is None:
            if new_household:
                raise ConsentMissingError(field="consent")
            self.require_consent(household_id, purpose="create_records", on=today)
            return []
        index = (HouseholdConsents(household_id=household_id) if new_household
                 else self.consent_index(household_id))
        made: list[Any] = [index]
        if consent is not None:
            made.append(self.add_consent(
                index, case_id=case_id, purpose="create_records", given_by=consent.given_by,
                relationship=consent.relationship, given_on=consent.given_on,
                scope=consent.scope, today=today, field_prefix="consent."))
        if exception is not None:
            made.append(self.add_consent_exception(
                index, case_id=case_id, purpose="create_records",
                legal_basis=exception.legal_basis, reason=exception.reason, taken_on=today,
                today=today, record_id=record_id, field_prefix="noConsentException."))
        return made

    # ------------------------------------------------------------------ commands

    @command("command.give_consent")
    def give_consent(self, case_id: UUID, *, purpose: str, given_by: str, relationship: str,
                     given_on: date, scope: str, agency_id: str | None = None,
                     agency_kind: str | None = None, evidence_attachment_id: str | None = None,
                     writable_contract_ids: Collection[str] | None) -> Consent:
        """Record the family's consent for one purpose (for sharing: one agency or kind)."""
        case = self._get_case(case_id, writable_contract_ids)
        case.require_open()
        if evidence_attachment_id is not None and (
                case.attachments.get(evidence_attachment_id, {}).get("kind")
                != "consent_form"):
            raise ConsentEvidenceUnknownError(field="evidenceAttachmentId")
        index = self.consent_index(case.household_id)
        consent = self.add_consent(
            index, case_id=case.id, purpose=purpose, given_by=given_by,
            relationship=relationship, given_on=given_on, scope=scope,
            today=japan_today(), agency_id=agency_id, agency_kind=agency_kind,
            evidence_attachment_id=evidence_attachment_id)
        self.save(index, consent)
        return consent

    @command("command.withdraw_consent")
    def withdraw_consent(self, case_id: UUID, consent_id: UUID, *, withdrawn_on: date,
                         reason: str, writable_contract_ids: Collection[str] | None) -> Consent:
        """Withdraw a consent: it covers no further action (allowed on closed cases too)."""
        case = self._get_case(case_id, writable_contract_ids)
        consent = self._consent_of(case, consent_id)
        consent.withdraw(withdrawn_on=withdrawn_on, reason=reason, today=japan_today())
        self.save(consent)
        return consent

    @command("command.record_consent_exception")
    def record_consent_exception(self, case_id: UUID, *, purpose: str, legal_basis: str,
                                 reason: str, taken_on: date, agency_id: str | None = None,
                                 agency_kind: str | None = None, record_id: UUID | None = None,
                                 writable_contract_ids: Collection[str] | None,
                                 ) -> ConsentException:
        """Record an action taken without consent (e.g. a report of suspected abuse).

        Allowed on a closed case too: a legal duty to report does not wait for
        a case to be reopened.
        """
        case = self._get_case(case_id, writable_contract_ids)
        index = self.consent_index(case.household_id)
        exception = self.add_consent_exception(
            index, case_id=case.id, purpose=purpose, legal_basis=legal_basis,
            reason=reason, taken_on=taken_on, today=japan_today(), agency_id=agency_id,
            agency_kind=agency_kind, record_id=record_id)
        self.save(index, exception)
        return exception

    # ------------------------------------------------------------------ helpers

    def _stored_index(self, household_id: UUID) -> HouseholdConsents | None:
        try:
            index: Any = self.repository.get(HouseholdConsents.create_id(household_id))
        except AggregateNotFoundError:
            return None
        return index if isinstance(index, HouseholdConsents) else None

    def _consent_of(self, case: Case, consent_id: UUID) -> Consent:
        index = self._stored_index(case.household_id)
        # Another household's consent reads as absent.
        if index is None or consent_id not in index.consent_ids:
            raise ConsentNotFoundError(field="consentId")
        consent: Consent = self.repository.get(consent_id)
        return consent

