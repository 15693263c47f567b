"""Consent: giveConsent, withdrawConsent, recordConsentException, and a household's consents.

Consents are read from the event store (the same aggregates enforcement
reads), so what a specialist sees is exactly what the next command will be
checked against, with no projection lag.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.domain.consent import Consent as ConsentAggregate
from yorisoi.domain.consent import ConsentException as ConsentExceptionAggregate
from yorisoi.domain.vocabulary import AGENCY_KINDS, LEGAL_BASES
from yorisoi.graphql.commands import execute
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
    api_error,
)
from yorisoi.graphql.validation import Checker
from yorisoi.services.casework import CaseNotFoundError
from yorisoi.services.personal_access import may_read
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_NAME = 100
MAX_CODE = 50
PURPOSE_HELP = "create_records | view | share"
KIND_HELP = " | ".join(AGENCY_KINDS)
BASIS_HELP = " | ".join(LEGAL_BASES)


@strawberry.type(description="A grant of consent by the family. Personal data: reads are attributable.")
class Consent:
    id: strawberry.ID
    case_id: strawberry.ID = strawberry.field(description="The case it was recorded under")
    purpose: str = strawberry.field(description=PURPOSE_HELP)
    agency_id: str | None = strawberry.field(description="For share: the named agency")
    agency_kind: str | None = strawberry.field(description=f"For share: {KIND_HELP}")
    status: str = strawberry.field(description="given | withdrawn")
    given_on: str
    given_by: str | None
    relationship: str | None
    scope: str | None
    evidence_attachment_id: str | None
    withdrawn_on: str | None
    withdrawal_reason: str | None

    @classmethod
    def from_aggregate(cls, c: ConsentAggregate, *, masked: bool = False) -> Consent:
        consent = cls(id=strawberry.ID(str(c.id)), case_id=strawberry.ID(str(c.case_id)),
                   purpose=c.purpose, agency_id=c.agency_id, agency_kind=c.agency_kind,
                   status="withdrawn" if c.withdrawn else "given",
                   given_on=c.given_on.isoformat(), given_by=c.given_by,
                   relationship=c.relationship, scope=c.scope,
                   evidence_attachment_id=c.evidence_attachment_id,
                   withdrawn_on=c.withdrawn_on.isoformat() if c.withdrawn_on else None,
                   withdrawal_reason=c.withdrawal_reason)
        if masked:  # a role without the need to know: personal fields stay null
            consent.given_by = consent.relationship = consent.scope = None
            consent.withdrawal_reason = None
        return consent


@strawberry.type(description="An action taken without consent, with its reason and legal basis.")
class ConsentException:
    id: strawberry.ID
    case_id: strawberry.ID
    purpose: str = strawberry.field(description=PURPOSE_HELP)
    legal_basis: str = strawberry.field(description=BASIS_HELP)
    agency_id: str | None
    agency_kind: str | None
    taken_on: str
    record_id: strawberry.ID | None = strawberry.field(description="The record or referral it concerns")
    reason: str | None

    @classmethod
    def from_aggregate(cls, e: ConsentExceptionAggregate, *,
                       masked: bool = False) -> ConsentException:
        exception = cls(id=strawberry.ID(str(e.id)), case_id=strawberry.ID(str(e.case_id)),
                   purpose=e.purpose, legal_basis=e.legal_basis, agency_id=e.agency_id,
                   agency_kind=e.agency_kind, taken_on=e.taken_on.isoformat(),
                   record_id=strawberry.ID(str(e.record_id)) if e.record_id else None,
                   reason=e.reason)
        if masked:
            exception.reason = None
        return exception


@strawberry.type(description="A household's consents and exceptions, oldest first.")
class HouseholdConsents:
    consents: list[Consent]
    exceptions: list[ConsentException]


@strawberry.type
class ConsentGiven:
    consent: Consent


# Sealed under the household key (domain.consent): masked for roles without the need.
CONSENT_PERSONAL = ("given_by", "relationship", "scope", "withdrawal_reason")


@strawberry.type
class ConsentWithdrawn:
    consent: Consent


@strawberry.type
class ConsentExceptionRecorded:
    exception: ConsentException


_Errors = ValidationError | NotAuthorizedError | NotFoundError | ConflictError
GiveConsentResult = Annotated[ConsentGiven | _Errors, strawberry.union("GiveConsentResult")]
WithdrawConsentResult = Annotated[ConsentWithdrawn | _Errors,
                                  strawberry.union("WithdrawConsentResult")]
RecordConsentExceptionResult = Annotated[ConsentExceptionRecorded | _Errors,
                                         strawberry.union("RecordConsentExceptionResult")]


@strawberry.input
class GiveConsentInput:
    municipality_code: str
    case_id: strawberry.ID
    purpose: str = strawberry.field(description=PURPOSE_HELP)
    given_by: str = strawberry.field(description="Who consented (the guardian's name)")
    relationship: str = strawberry.field(description="e.g. 母, 父, 本人")
    given_on: str = strawberry.field(description="YYYY-MM-DD")
    scope: str = ""
    agency_id: str | None = strawberry.field(default=None, description="For share: one named agency…")
    agency_kind: str | None = strawberry.field(default=None, description=f"…or one agency kind: {KIND_HELP}")
    evidence_attachment_id: strawberry.ID | None = strawberry.field(default=None, description="A consent_form attachment of the case (the signed form)")


@strawberry.input
class WithdrawConsentInput:
    municipality_code: str
    case_id: strawberry.ID
    consent_id: strawberry.ID
    withdrawn_on: str = strawberry.field(description="YYYY-MM-DD; takes effect at once for every later action")
    reason: str = ""


@strawberry.input
class RecordConsentExceptionInput:
    municipality_code: str
    case_id: strawberry.ID
    purpose: str = strawberry.field(description=PURPOSE_HELP)
    legal_basis: str = strawberry.field(description=BASIS_HELP)
    reason: str
    taken_on: str = strawberry.field(description="YYYY-MM-DD: when the action was taken")
    agency_id: str | None = None
    agency_kind: str | None = None
    record_id: strawberry.ID | None = None


def _agency(check: Checker, agency_id: str | None, agency_kind: str | None,
            ) -> tuple[str | None, str | None]:
    return (check.text("agencyId", agency_id, MAX_NAME) or None,
            check.text("agencyKind", agency_kind, MAX_CODE) or None)


@strawberry.type
class ConsentMutation:
    @strawberry.mutation(description="Record the family's consent for one purpose.")
    async def give_consent(self, info: Info[YorisoiContext, None],
                           input: GiveConsentInput) -> GiveConsentResult:
        check = Checker(info.context.services.settings.max_text_length)
        case_id = check.case_id(input.case_id)
        given_on = check.day("givenOn", input.given_on)
        given_by = check.required("givenBy", input.given_by, MAX_NAME)
        relationship = check.required("relationship", input.relationship, MAX_NAME)
        scope = check.text("scope", input.scope)
        purpose = check.text("purpose", input.purpose, MAX_CODE)
        agency_id, agency_kind = _agency(check, input.agency_id, input.agency_kind)
        evidence = check.record_id("evidenceAttachmentId", input.evidence_attachment_id)

        def command(rt: TenantRuntime, grant: Grant) -> ConsentGiven:
            consent = rt.casework.give_consent(
                case_id, purpose=purpose, given_by=given_by, relationship=relationship,
                given_on=given_on, scope=scope, agency_id=agency_id, agency_kind=agency_kind,
                evidence_attachment_id=str(evidence) if evidence else None,
                writable_contract_ids=grant.scope.contract_ids)
            return ConsentGiven(consent=Consent.from_aggregate(consent))

        return await execute(info, "case.manage", input.municipality_code, command,
                             check=check, case_id=case_id)

    @strawberry.mutation(description="Withdraw a consent: it covers no later action.")
    async def withdraw_consent(self, info: Info[YorisoiContext, None],
                               input: WithdrawConsentInput) -> WithdrawConsentResult:
        check = Checker(info.context.services.settings.max_text_length)
        case_id = check.case_id(input.case_id)
        consent_id = check.record_id("consentId", input.consent_id)
        withdrawn_on = check.day("withdrawnOn", input.withdrawn_on)
        reason = check.text("reason", input.reason)

        def command(rt: TenantRuntime, grant: Grant) -> ConsentWithdrawn:
            consent = rt.casework.withdraw_consent(
                case_id, consent_id, withdrawn_on=withdrawn_on, reason=reason,
                writable_contract_ids=grant.scope.contract_ids)
            return ConsentWithdrawn(consent=Consent.from_aggregate(consent))

        return await execute(info, "case.manage", input.municipality_code, command,
                             check=check, case_id=case_id)

    @strawberry.mutation(description="Record an action taken without consent, with its legal basis.")
    async def record_consent_exception(self, info: Info[YorisoiContext, None],
                                       input: RecordConsentExceptionInput,
                                       ) -> RecordConsentExceptionResult:
        check = Checker(info.context.services.settings.max_text_length)
        case_id = check.case_id(input.case_id)
        taken_on = check.day("takenOn", input.taken_on)
        reason = check.required("reason", input.reason)
        purpose = check.text("purpose", input.purpose, MAX_CODE)
        legal_basis = check.text("legalBasis", input.legal_basis, MAX_CODE)
        agency_id, agency_kind = _agency(check, input.agency_id, input.agency_kind)
        record_id = check.record_id("recordId", input.record_id)

        def command(rt: TenantRuntime, grant: Grant) -> ConsentExceptionRecorded:
            exception = rt.casework.record_consent_exception(
                case_id, purpose=purpose, legal_basis=legal_basis, reason=reason,
                taken_on=taken_on, agency_id=agency_id, agency_kind=agency_kind,
                record_id=record_id, writable_contract_ids=grant.scope.contract_ids)
            return ConsentExceptionRecorded(
                exception=ConsentException.from_aggregate(exception))

        return await execute(info, "case.manage", input.municipality_code, command,
                             check=check, case_id=case_id)


@strawberry.type
class ConsentQuery:
    @strawberry.field(description="The consents and exceptions of a case's household, or null "
                                  "when the case does not exist or is not visible.")
    async def consents(self, info: Info[YorisoiContext, None], case_id: strawberry.ID,
                       municipality_code: str | None = None) -> HouseholdConsents | None:
        def run() -> HouseholdConsents | None:
            grant = info.context.authorize("case.read", municipality_code)
            try:
                parsed = uuid.UUID(str(case_id))
            except ValueError:
                return None
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                # The view decides visibility exactly as the case query does.
                if rt.cases.get(grant.scope, str(parsed)) is None:
                    return None
                try:
                    found = rt.casework.case_consents(parsed, grant.scope.contract_ids)
                except CaseNotFoundError:
                    return None
                space = rt.space
            return HouseholdConsents(
                consents=[Consent.from_aggregate(c, masked=not may_read(
                    space, str(c.household_id), "consent", str(c.id), CONSENT_PERSONAL))
                    for c in found.consents],
                exceptions=[ConsentException.from_aggregate(e, masked=not may_read(
                    space, str(e.household_id), "consent_exception", str(e.id), ("reason",)))
                    for e in found.exceptions])

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # noqa: BLE001 - expected errors become typed GraphQL errors
            raise api_error(exc) from None
