"""Consent (同意・承諾) as a first-class record, and the exceptions made without it.

Guideline §6(1)①: creating and viewing records needs the family's consent in
principle; sharing with an agency needs it too (§6(1)②), except where the law
overrides it (the duty to report suspected abuse, 児童虐待防止法第6条).

Model
-----
* ``Consent``: one aggregate per grant.  A grant has a purpose
  (``create_records`` | ``view`` | ``share``), for ``share`` one named agency
  or one agency kind, a free-text scope, who gave it, the day, and optionally
  the signed form (an attachment of the case).  Withdrawal is one more event
  on the same grant: the grant's history stays readable, and from the moment
  it is stored the grant covers nothing.
* ``ConsentException``: its own aggregate with a single ``Recorded`` event,
  not an event on the case.  An exception belongs to one action (a record
  created, a referral sent), is never changed afterwards, and is saved
  atomically next to that action's aggregates; as an event on ``Case`` it
  would move the case version on every exceptional action, so a referral
  sent without consent would conflict with a consultation recorded at the same
  time, and the case stream would fill with per-action facts.
* ``HouseholdConsents``: the household's index of both (deterministic id
  ``uuid5(household_id)``).  Enforcement must see a withdrawal at once, so it
  reads the event store, never a lagging read model; the index turns "which
  consents does this household have" into one aggregate read.

The people who gave or withdrew consent, the scope and every reason are
personal: they are encrypted under the household key (``personal_fields``).
Purposes, agencies, legal bases and dates stay in clear for statistics and
audit after disposal.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, NotFoundDomainError
from yorisoi.domain.ids import uuid5
from yorisoi.domain.vocabulary import AGENCY_KINDS, LEGAL_BASES

PURPOSES: dict[str, str] = {
    "create_records": "記録の作成",
    "view": "記録の閲覧",
    "share": "関係機関への情報提供",
}

_INDEX_NAMESPACE = UUID("6f1c3a52-0b7e-4f0e-9d41-3c1f4f3a9e27")


class ConsentMissingError(DomainError):
    code = "consent_missing"
    message = ("No un-withdrawn consent covers this action: record the family's consent, "
               "or an exception with its reason and legal basis.")
    message_ja = ("この操作を対象とする有効な同意がありません。家族の同意、"
                  "または同意によらない理由と法的根拠を記録してください。")


class ConsentWithdrawnError(ConsentMissingError):
    code = "consent_withdrawn"
    message = ("The family withdrew the consent that covered this action: record a new "
               "consent, or an exception with its reason and legal basis.")
    message_ja = ("この操作を対象とする同意は撤回されています。改めて同意を得るか、"
                  "同意によらない理由と法的根拠を記録してください。")


class ConsentPurposeUnknownError(DomainError):
    code = "consent_purpose_unknown"
    message = "The purpose is not one of create_records, view or share."
    message_ja = "同意の目的は記録の作成・閲覧・情報提供のいずれかを指定してください。"


class ConsentAgencyInvalidError(DomainError):
    code = "consent_agency_invalid"
    message = ("Sharing needs exactly one recipient: a named agency or a known agency kind; "
               "other purposes take none.")
    message_ja = ("情報提供には提供先の機関または機関の種別を一つだけ指定してください。"
                  "それ以外の目的では指定できません。")


class ConsentGiverMissingError(DomainError):
    code = "consent_giver_missing"
    message = "Record who gave the consent and their relationship to the child."
    message_ja = "同意した方の氏名と続柄を記録してください。"


class ConsentDateInvalidError(DomainError):
    code = "consent_date_invalid"
    message = "The date cannot be in the future (nor before the consent was given)."
    message_ja = "日付に未来の日付（または同意日より前の日付）は指定できません。"


class ConsentAlreadyWithdrawnError(DomainError):
    code = "consent_already_withdrawn"
    message = "This consent has already been withdrawn."
    message_ja = "この同意はすでに撤回されています。"


class ConsentNotFoundError(NotFoundDomainError):
    code = "consent_not_found"
    message = "No such consent for this case's household."
    message_ja = "このケースの世帯に、指定された同意はありません。"


class ConsentEvidenceUnknownError(DomainError):
    code = "consent_evidence_unknown"
    message = "The evidence must be a consent-form attachment of this case."
    message_ja = "同意の証跡には、このケースに添付された同意書を指定してください。"


class ConsentExceptionReasonMissingError(DomainError):
    code = "consent_exception_reason_missing"
    message = "Record why the action is taken without consent."
    message_ja = "同意を得ずに行う理由を記録してください。"


class ConsentLegalBasisUnknownError(DomainError):
    code = "consent_legal_basis_unknown"
    message = "Choose the legal basis from the list."
    message_ja = "法的根拠を一覧から選んでください。"


def check_recipient(purpose: str, agency_id: str | None, agency_kind: str | None,
                    field_prefix: str = "") -> None:
    """Sharing names one recipient (agency or kind); other purposes name none."""
    if purpose not in PURPOSES:
        raise ConsentPurposeUnknownError(field=f"{field_prefix}purpose")
    named = [value for value in (agency_id, agency_kind) if value]
    if agency_kind and agency_kind not in AGENCY_KINDS:
        raise ConsentAgencyInvalidError(field=f"{field_prefix}agencyKind")
    if (purpose == "share") != (len(named) == 1) or len(named) > 1:
        raise ConsentAgencyInvalidError(field=f"{field_prefix}agencyId")


class Consent(Aggregate):
    """One grant of consent by a household, for one purpose."""

    class Given(Aggregate.Created):
        personal_fields: ClassVar[tuple[str, ...]] = ("given_by", "relationship", "scope")
        household_id: UUID
        case_id: UUID
        purpose: str
        agency_id: str | None
        agency_kind: str | None
        given_on: date
        evidence_attachment_id: str | None
        given_by: str | None
        relationship: str | None
        scope: str | None

    class Withdrawn(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("reason",)
        household_id: UUID
        withdrawn_on: date
        reason: str | None

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def give(cls, *, household_id: UUID, case_id: UUID, purpose: str, given_by: str,
             relationship: str, given_on: date, scope: str, today: date,
             agency_id: str | None = None, agency_kind: str | None = None,
             evidence_attachment_id: str | None = None, field_prefix: str = "") -> Consent:
        """Record a grant of consent, checking it says what it covers and who gave it."""
        check_recipient(purpose, agency_id, agency_kind, field_prefix)
        if not given_by.strip() or not relationship.strip():
            raise ConsentGiverMissingError(field=f"{field_prefix}givenBy")
        if given_on > today:
            raise ConsentDateInvalidError(field=f"{field_prefix}givenOn")
        return cls(household_id=household_id, case_id=case_id, purpose=purpose,
                   agency_id=agency_id or None, agency_kind=agency_kind or None,
                   given_on=given_on, evidence_attachment_id=evidence_attachment_id,
                   given_by=given_by.strip(), relationship=relationship.strip(),
                   scope=scope.strip())

    @event(Given)
    def __init__(self, household_id: UUID, case_id: UUID, purpose: str,
                 agency_id: str | None, agency_kind: str | None, given_on: date,
                 evidence_attachment_id: str | None, given_by: str | None,
                 relationship: str | None, scope: str | None) -> None:
        self.household_id = household_id
        self.case_id = case_id
        self.purpose = purpose
        self.agency_id = agency_id
        self.agency_kind = agency_kind
        self.given_on = given_on
        self.evidence_attachment_id = evidence_attachment_id
        # None after crypto-shredding.
        self.given_by = given_by
        self.relationship = relationship
        self.scope = scope
        self.withdrawn_on: date | None = None
        self.withdrawal_reason: str | None = None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_on is not None

    def withdraw(self, *, withdrawn_on: date, reason: str, today: date) -> None:
        """Withdraw the grant: from now on it covers no action."""
        if self.withdrawn:
            raise ConsentAlreadyWithdrawnError(field="consentId")
        if withdrawn_on > today or withdrawn_on < self.given_on:
            raise ConsentDateInvalidError(field="withdrawnOn")
        self._withdrawn(household_id=self.household_id, withdrawn_on=withdrawn_on,
                        reason=reason.strip() or None)

    @event(Withdrawn)
    def _withdrawn(self, household_id: UUID, withdrawn_on: date, reason: str | None) -> None:
        self.withdrawn_on = withdrawn_on
        self.withdrawal_reason = reason

    def matches(self, *, purpose: str, agency_id: str | None = None,
                agency_kind: str | None = None) -> bool:
        """Whether the grant is about this kind of action (withdrawn or not)."""
        if self.purpose != purpose:
            return False
        if purpose != "share":
            return True
        # A grant for an agency kind covers every agency of that kind.
        return bool((self.agency_id and self.agency_id == agency_id)
                    or (self.agency_kind and self.agency_kind == agency_kind))

    def covers(self, *, purpose: str, on: date, agency_id: str | None = None,
               agency_kind: str | None = None) -> bool:
        """Whether this grant covers an action taken now, dated ``on``.

        A withdrawn grant covers nothing, whatever the date: withdrawal takes
        effect at once for every action still to be taken.
        """
        return (not self.withdrawn and self.given_on <= on
                and self.matches(purpose=purpose, agency_id=agency_id, agency_kind=agency_kind))


class ConsentException(Aggregate):
    """An action taken without consent, with its reason and legal basis."""

    class Recorded(Aggregate.Created):
        personal_fields: ClassVar[tuple[str, ...]] = ("reason",)
        household_id: UUID
        case_id: UUID
        purpose: str
        legal_basis: str
        agency_id: str | None
        agency_kind: str | None
        taken_on: date
        record_id: UUID | None
        reason: str | None

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def record(cls, *, household_id: UUID, case_id: UUID, purpose: str, legal_basis: str,
               reason: str, taken_on: date, today: date, agency_id: str | None = None,
               agency_kind: str | None = None, record_id: UUID | None = None,
               field_prefix: str = "") -> ConsentException:
        """Record an exception: every one states its legal basis and its reason."""
        check_recipient(purpose, agency_id, agency_kind, field_prefix)
        if legal_basis not in LEGAL_BASES:
            raise ConsentLegalBasisUnknownError(field=f"{field_prefix}legalBasis")
        if not reason.strip():
            raise ConsentExceptionReasonMissingError(field=f"{field_prefix}reason")
        if taken_on > today:
            raise ConsentDateInvalidError(field=f"{field_prefix}takenOn")
        return cls(household_id=household_id, case_id=case_id, purpose=purpose,
                   legal_basis=legal_basis, agency_id=agency_id or None,
                   agency_kind=agency_kind or None, taken_on=taken_on, record_id=record_id,
                   reason=reason.strip())

    @event(Recorded)
    def __init__(self, household_id: UUID, case_id: UUID, purpose: str, legal_basis: str,
                 agency_id: str | None, agency_kind: str | None, taken_on: date,
                 record_id: UUID | None, reason: str | None) -> None:
        self.household_id = household_id
        self.case_id = case_id
        self.purpose = purpose
        self.legal_basis = legal_basis
        self.agency_id = agency_id
        self.agency_kind = agency_kind
        self.taken_on = taken_on
        self.record_id = record_id
        self.reason = reason  # None after crypto-shredding


class HouseholdConsents(Aggregate):
    """Index of a household's consents and consent exceptions (nothing personal)."""

    @staticmethod
    def create_id(household_id: UUID) -> UUID:
        return uuid5(_INDEX_NAMESPACE, str(household_id))

    @event("Started")
    def __init__(self, household_id: UUID) -> None:
        self.household_id = household_id
        self.consent_ids: list[UUID] = []
        self.exception_ids: list[UUID] = []

    def list_consent(self, consent_id: UUID) -> None:
        self._consent_listed(consent_id)

    @event("ConsentListed")
    def _consent_listed(self, consent_id: UUID) -> None:
        self.consent_ids.append(consent_id)

    def list_exception(self, exception_id: UUID) -> None:
        self._exception_listed(exception_id)

    @event("ExceptionListed")
    def _exception_listed(self, exception_id: UUID) -> None:
        self.exception_ids.append(exception_id)
