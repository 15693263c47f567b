"""What a suspension of use (利用停止) refuses, and the legal duties it never blocks.

While a household's suspension is in force, nothing new may be done with its
personal data: no new record, note, attachment, consent for further use,
referral, meeting or follow-up.  The rule is decided per *event*, at the
moment the events are saved (``services/data_subject_requests.py``), so every
command — today's and tomorrow's — is covered, and a refusal writes nothing.

Always allowed (winding down, the family's own rights, accuracy):
  closing or handing over a case, withdrawing consent, correcting a record
  (the accuracy duty, 法第65条, and the right to correction), recording an
  agency's answer to a referral already sent, completing an open follow-up or
  meeting task, cancelling a meeting, closing a referral.

Allowed as legal duties (DUTY rows below), because the law requires them
whatever the family asked (法第98条 covers use *in breach of* the Act; a
statutory duty is not):
  * a consent exception whose legal basis is one of ``LEGAL_DUTY_BASES`` —
    the duty to report suspected abuse (児童虐待防止法第6条), to report a child
    in need of protection (児童福祉法第25条), a court order, an emergency for
    life or safety — and every record saved *together with* it (the
    consultation documenting the report);
  * referrals to a 児童相談所 (the statutory recipient of those reports), and
    a referral sent to a 福祉事務所 with a recorded duty exception (a draft to
    a 福祉事務所 is allowed: it is how such a report is prepared);
  * marking a case as handled by the 要対協 and the meetings of such a case
    (information exchange within the council, 児童福祉法第25条の2・第25条の3).

Every event class of the casework aggregates must appear in ``POLICY``: a
test fails when a new one is added without being classified.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from yorisoi.domain.case_meetings import CaseMeeting
from yorisoi.domain.cases import Case
from yorisoi.domain.consent import Consent, ConsentException, HouseholdConsents
from yorisoi.domain.consultations import Consultation
from yorisoi.domain.errors import DomainError
from yorisoi.domain.households import Household
from yorisoi.domain.referrals import Referral
from yorisoi.domain.support_notes import SupportNote

LEGAL_DUTY_BASES = frozenset({"child_abuse_report", "child_welfare_act_25", "court_order",
                              "emergency_life_safety"})
# Referrals to these agencies are the report itself.
DUTY_AGENCY_KINDS = frozenset({"child_guidance_center"})
# A referral to these may be drafted (preparing a report); sending needs a duty basis.
REPORT_DRAFT_AGENCY_KINDS = frozenset({"child_guidance_center", "welfare_office"})

# The aggregates a suspension guards: each concerns one household.
GUARDED: tuple[type, ...] = (Household, Case, Consultation, SupportNote, Consent,
                             ConsentException, HouseholdConsents, Referral, CaseMeeting)

ALLOWED, REFUSED, DUTY = "allowed", "refused", "duty"
POLICY: dict[str, str] = {
    "Household.Registered": REFUSED,
    "Household.Corrected": ALLOWED,  # the right to correction is not suspended
    "Case.Opened": REFUSED,
    "Case.ConsultationNoted": REFUSED,
    "Case.AttachmentAdded": REFUSED,
    "Case.Reopened": REFUSED,
    "Case.Closed": ALLOWED,
    "Case.HandedOver": ALLOWED,
    "Case.CouncilCaseMarked": ALLOWED,
    "Consultation.Recorded": REFUSED,
    "Consultation.Corrected": ALLOWED,
    "SupportNote.Written": REFUSED,
    "SupportNote.Corrected": ALLOWED,
    "Consent.Given": REFUSED,
    "Consent.Withdrawn": ALLOWED,
    "ConsentException.Recorded": DUTY,
    # Bookkeeping of the consent index: the consent or exception listed decides.
    "HouseholdConsents.Started": ALLOWED,
    "HouseholdConsents.ConsentListed": ALLOWED,
    "HouseholdConsents.ExceptionListed": ALLOWED,
    "Referral.Drafted": DUTY,
    "Referral.Sent": DUTY,
    "Referral.FollowUpScheduled": DUTY,
    "Referral.Acknowledged": ALLOWED,
    "Referral.Accepted": ALLOWED,
    "Referral.Declined": ALLOWED,
    "Referral.OutcomeRecorded": ALLOWED,
    "Referral.FollowUpCompleted": ALLOWED,
    "Referral.Closed": ALLOWED,
    "CaseMeeting.Scheduled": DUTY,
    "CaseMeeting.InternalParticipantAdded": DUTY,
    "CaseMeeting.ExternalParticipantAdded": DUTY,
    "CaseMeeting.MinutesRecorded": DUTY,
    "CaseMeeting.ActionAssigned": DUTY,
    "CaseMeeting.ActionCompleted": ALLOWED,
    "CaseMeeting.Cancelled": ALLOWED,
}


class ProcessingSuspendedError(DomainError):
    """The family asked the municipality to stop using its data (利用停止), and it did."""

    code = "processing_suspended"
    message = ("Use of this family's records is suspended at its request (suspension of use); "
               "only legal duties such as a report to the child guidance centre may be recorded.")
    message_ja = ("本人からの利用停止請求により、この世帯の個人情報の利用は停止されています。"
                  "児童相談所への通告など法令上の義務に当たるものに限り記録できます。")


def subject_of(aggregate: Any) -> UUID | None:
    """The household a guarded aggregate concerns (None: not guarded)."""
    if isinstance(aggregate, Household):
        return aggregate.id
    if isinstance(aggregate, GUARDED):
        return aggregate.household_id
    return None


def _is_duty_exception(event: Any) -> bool:
    return (isinstance(event, ConsentException.Recorded)
            and event.legal_basis in LEGAL_DUTY_BASES)


def _duty(event: Any, aggregate: Any) -> bool:
    """Whether a DUTY event is a legal duty on its own (without an exception beside it)."""
    if isinstance(aggregate, Referral):
        if aggregate.agency_kind in DUTY_AGENCY_KINDS:
            return True
        if isinstance(event, Referral.Drafted):
            return aggregate.agency_kind in REPORT_DRAFT_AGENCY_KINDS
        return getattr(aggregate, "exception_legal_basis", None) in LEGAL_DUTY_BASES
    if isinstance(aggregate, CaseMeeting):
        return bool(aggregate.council_case)
    return _is_duty_exception(event)


def policy_of(event: Any) -> str:
    """The event's class under the policy; an unclassified one is refused (fail closed)."""
    return POLICY.get(type(event).__qualname__, REFUSED)


def refused_events(items: Iterable[tuple[Any, Any]]) -> list[Any]:
    """Of one household's (event, aggregate) pairs about to be saved, those a suspension refuses.

    A save that carries a consent exception on a legal-duty basis is that
    duty being carried out: everything saved with it is allowed.
    """
    pairs = list(items)
    if any(_is_duty_exception(event) for event, _ in pairs):
        return []
    return [event for event, aggregate in pairs
            if (rule := policy_of(event)) == REFUSED or (rule == DUTY
                                                         and not _duty(event, aggregate))]
