"""The referral (つなぎ・仲介): connecting a family to an agency, and seeing it through.

draft → sent → acknowledged → accepted | declined → outcome recorded →
follow-up checks (継続的な見守り) → closed.  The family decides: a referral
exists only because a specialist drafted it on the family's behalf; nothing
creates one automatically.  Sending is a disclosure (guideline §6(1)②): it
needs the recipient's confidentiality basis and either the family's covering
consent or a recorded exception with its legal basis (e.g. the duty to report
suspected abuse).  Why the family is referred, notes and exception reasons are
personal and encrypted under the household key.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.agencies import check_confidentiality_basis
from yorisoi.domain.errors import DomainError, StaleVersionError
from yorisoi.domain.vocabulary import LEGAL_BASES

# What a specialist may choose to share; an off-system packet holds these only.
SHAREABLE_FIELDS: dict[str, str] = {
    "referral.reason": "つなぐ理由",
    "household.guardians": "保護者",
    "household.children": "子ども",
    "household.pregnancy": "妊娠・出産予定日",
    "consultation.asked": "相談内容（主訴）",
    "consultation.wishes": "本人・家族の希望",
    "consultation.direction": "支援の方向性",
    "consultation.situations": "家庭の状況・子育ての状況",
}

OUTCOMES: dict[str, str] = {
    "service_started": "支援・サービスの利用開始",
    "assessment_done": "相談・判定を実施",
    "referred_elsewhere": "他機関へつないだ",
    "no_service_needed": "支援不要と判断",
    "family_declined": "本人・家族が利用しなかった",
    "other": "その他",
}

CLOSURE_REASONS: dict[str, str] = {
    "completed": "見守りを終了",
    "family_withdrew": "本人・家族の希望で取りやめ",
    "declined_by_agency": "機関が受け入れなかった",
    "other": "その他",
}

ACKNOWLEDGED_VIA = ("staff", "packet_link")


class ReferralRecipientChoiceError(DomainError):
    code = "referral_recipient_choice"
    message = "Give either an agency or a directory entry (exactly one)."
    message_ja = "関係機関か社会資源のどちらか一方を指定してください。"


def check_recipient_choice(agency_id: object | None, resource_id: object | None) -> None:
    """A referral goes to exactly one recipient: an agency, or a directory entry."""
    if (agency_id is None) == (resource_id is None):
        raise ReferralRecipientChoiceError(field="agencyId")


class ReferralReasonMissingError(DomainError):
    code = "referral_reason_missing"
    message = "Record why the family is being referred."
    message_ja = "つなぐ理由を記録してください。"


class ReferralFieldNotShareableError(DomainError):
    code = "referral_field_not_shareable"
    message = "A field chosen for sharing is not one that can be shared."
    message_ja = "共有する項目に、共有できない項目が含まれています。"


class ReferralConfidentialityBasisMissingError(DomainError):
    code = "referral_confidentiality_basis_missing"
    message = ("The recipient's confidentiality basis is not known: record it before sending "
               "(council member, public servant, contract clause or professional duty).")
    message_ja = ("送付先の守秘義務の根拠が不明です。送付する前に記録してください"
                  "（要対協構成員・公務員・契約上の守秘義務・法定守秘義務）。")


class ReferralConsentMissingError(DomainError):
    code = "referral_consent_missing"
    message = ("No consent of the family covers sharing with this agency: record the consent, "
               "or an exception with its reason and legal basis.")
    message_ja = ("この機関への情報提供について家族の同意がありません。同意を記録するか、"
                  "例外として理由と法的根拠を記録してください。")


class ReferralExceptionIncompleteError(DomainError):
    code = "referral_exception_incomplete"
    message = "An exception to consent needs both a reason and a legal basis from the list."
    message_ja = "同意の例外には、理由と一覧にある法的根拠の両方が必要です。"


class ReferralAlreadySentError(DomainError):
    code = "referral_already_sent"
    message = "This referral has already been sent."
    message_ja = "このつなぎは既に送付済みです。"


class ReferralTransitionError(DomainError):
    code = "referral_step_out_of_order"
    message = "This step does not follow from the referral's current status."
    message_ja = "現在の状態からはこの操作を行えません。"


class ReferralClosedError(DomainError):
    code = "referral_closed"
    message = "The referral is closed."
    message_ja = "このつなぎは終了しています。"


class ReferralDateInvalidError(DomainError):
    code = "referral_date_invalid"
    message = "The date must lie between the referral's previous step and today."
    message_ja = "日付は前の段階の日付から今日までの間で指定してください。"


class ReferralOutcomeUnknownError(DomainError):
    code = "referral_outcome_unknown"
    message = "Choose the outcome from the list."
    message_ja = "つなぎの結果を一覧から選んでください。"


class ReferralFollowUpNotAllowedError(DomainError):
    code = "referral_follow_up_not_allowed"
    message = "Follow-up checks start once the agency has accepted or an outcome is recorded."
    message_ja = "見守りの予定は、機関の受け入れ後または結果の記録後に登録できます。"


class ReferralFollowUpUnknownError(DomainError):
    code = "referral_follow_up_unknown"
    message = "No open follow-up check with this id on the referral."
    message_ja = "このつなぎに該当する未完了の見守り予定がありません。"


class ReferralFollowUpsOpenError(DomainError):
    code = "referral_follow_ups_open"
    message = "Complete the open follow-up checks before closing the referral."
    message_ja = "未完了の見守り予定を完了してから終了してください。"


class ReferralClosureReasonUnknownError(DomainError):
    code = "referral_closure_reason_unknown"
    message = "Choose the closure reason from the list."
    message_ja = "終了理由を一覧から選んでください。"


class Referral(Aggregate):
    """A family's referral to one agency, from draft to closure."""

    DRAFT = "draft"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    OUTCOME_RECORDED = "outcome_recorded"
    CLOSED = "closed"

    class Drafted(Aggregate.Created):
        personal_fields: ClassVar[tuple[str, ...]] = ("reason",)
        case_id: UUID
        household_id: UUID
        agency_id: UUID
        agency_kind: str
        site_id: str
        contract_id: str | None
        drafted_on: date
        reason: str | None
        urgent: bool
        accompanied: bool
        shared_fields: list[str]

    class Sent(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("exception_reason",)
        household_id: UUID
        sent_on: date
        confidentiality_basis: str
        consent_id: str | None
        exception_legal_basis: str | None
        exception_reason: str | None
        packet_expires_at: datetime | None

    class Acknowledged(Aggregate.Event):
        acknowledged_on: date
        acknowledged_via: str

    class Accepted(Aggregate.Event):
        accepted_on: date

    class Declined(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("note",)
        household_id: UUID
        declined_on: date
        note: str | None

    class OutcomeRecorded(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("note",)
        household_id: UUID
        recorded_on: date
        outcome: str
        note: str | None

    class FollowUpScheduled(Aggregate.Event):
        follow_up_id: str
        due_on: date
        owner_user_id: str

    class FollowUpCompleted(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("note",)
        household_id: UUID
        follow_up_id: str
        completed_on: date
        note: str | None

    class Closed(Aggregate.Event):
        closed_on: date
        reason: str

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def draft(cls, *, case_id: UUID, household_id: UUID, agency_id: UUID, agency_kind: str,
              site_id: str, contract_id: str | None, reason: str, urgent: bool,
              accompanied: bool, shared_fields: Collection[str], today: date) -> Referral:
        """Draft a referral the family agreed to pursue (nothing is sent yet)."""
        if not reason.strip():
            raise ReferralReasonMissingError(field="reason")
        for index, name in enumerate(shared_fields):
            if name not in SHAREABLE_FIELDS:
                raise ReferralFieldNotShareableError(field=f"sharedFields.{index}")
        return cls(case_id=case_id, household_id=household_id, agency_id=agency_id,
                   agency_kind=agency_kind, site_id=site_id, contract_id=contract_id,
                   drafted_on=today, reason=reason.strip(), urgent=urgent,
                   accompanied=accompanied, shared_fields=list(dict.fromkeys(shared_fields)))

    @event(Drafted)
    def __init__(self, case_id: UUID, household_id: UUID, agency_id: UUID, agency_kind: str,
                 site_id: str, contract_id: str | None, drafted_on: date, reason: str | None,
                 urgent: bool, accompanied: bool, shared_fields: list[str]) -> None:
        self.case_id = case_id
        self.household_id = household_id
        self.agency_id = agency_id
        self.agency_kind = agency_kind
        self.site_id = site_id
        self.contract_id = contract_id
        self.drafted_on = drafted_on
        self.reason = reason  # None after crypto-shredding
        self.urgent = urgent
        self.accompanied = accompanied
        self.shared_fields = shared_fields
        self.status = Referral.DRAFT
        self.last_step_on = drafted_on
        self.sent_on: date | None = None
        self.confidentiality_basis: str | None = None
        self.follow_ups: dict[str, dict[str, object]] = {}

    # ------------------------------------------------------------------ guards

    def check_version(self, expected_version: int | None) -> None:
        """Refuse a command decided on a stale view of the referral."""
        if expected_version is not None and expected_version != self.version:
            raise StaleVersionError(field="expectedVersion", current_version=self.version)

    def _require(self, *allowed: str) -> None:
        if self.status == Referral.CLOSED:
            raise ReferralClosedError(field="referralId")
        if self.status not in allowed:
            raise ReferralTransitionError(field="referralId")

    def _check_day(self, on: date, today: date, field: str) -> None:
        if on > today or on < self.last_step_on:
            raise ReferralDateInvalidError(field=field)

    @property
    def open_follow_ups(self) -> list[str]:
        return [fid for fid, f in self.follow_ups.items() if f["completed_on"] is None]

    # ------------------------------------------------------------------ sending

    def send(self, *, sent_on: date, today: date, confidentiality_basis: str | None,
             consent_covered: bool, consent_id: str | None = None,
             exception_reason: str | None = None, exception_legal_basis: str | None = None,
             packet_expires_at: datetime | None = None) -> None:
        """Disclose to the agency: needs a confidentiality basis and consent or an exception."""
        if self.status == Referral.CLOSED:
            raise ReferralClosedError(field="referralId")
        if self.status != Referral.DRAFT:
            raise ReferralAlreadySentError(field="referralId")
        if confidentiality_basis is None:
            raise ReferralConfidentialityBasisMissingError(field="confidentialityBasis")
        check_confidentiality_basis(confidentiality_basis, "confidentialityBasis")
        self._check_day(sent_on, today, "sentOn")
        reason = (exception_reason or "").strip() or None
        if (reason is None) != (exception_legal_basis is None) or (
                exception_legal_basis is not None and exception_legal_basis not in LEGAL_BASES):
            raise ReferralExceptionIncompleteError(field="exception")
        # A legal duty (e.g. to report suspected abuse) overrides consent, but
        # only when it is recorded with its basis.
        if not consent_covered and reason is None:
            raise ReferralConsentMissingError(field="consent")
        self._sent(self.household_id, sent_on, confidentiality_basis,
                   consent_id if consent_covered else None, exception_legal_basis, reason,
                   packet_expires_at)

    @event(Sent)
    def _sent(self, household_id: UUID, sent_on: date, confidentiality_basis: str,
              consent_id: str | None, exception_legal_basis: str | None,
              exception_reason: str | None, packet_expires_at: datetime | None) -> None:
        self.status = Referral.SENT
        self.sent_on = sent_on
        self.last_step_on = sent_on
        self.confidentiality_basis = confidentiality_basis
        self.consent_id = consent_id
        self.exception_legal_basis = exception_legal_basis
        self.packet_expires_at = packet_expires_at

    # ------------------------------------------------------------------ the agency's answer

    def acknowledge(self, *, acknowledged_on: date, today: date, via: str = "staff") -> None:
        """The agency confirmed it received the referral (by staff, or through the packet link)."""
        if via not in ACKNOWLEDGED_VIA:
            raise ValueError("unknown acknowledgement channel")
        self._require(Referral.SENT)
        self._check_day(acknowledged_on, today, "acknowledgedOn")
        self._acknowledged(acknowledged_on, via)

    @event(Acknowledged)
    def _acknowledged(self, acknowledged_on: date, acknowledged_via: str) -> None:
        self.status = Referral.ACKNOWLEDGED
        self.last_step_on = acknowledged_on

    def accept(self, *, accepted_on: date, today: date) -> None:
        """The agency takes the family on."""
        self._require(Referral.ACKNOWLEDGED)
        self._check_day(accepted_on, today, "on")
        self._accepted(accepted_on)

    @event(Accepted)
    def _accepted(self, accepted_on: date) -> None:
        self.status = Referral.ACCEPTED
        self.last_step_on = accepted_on

    def decline(self, *, declined_on: date, today: date, note: str) -> None:
        """The agency does not take the family on."""
        self._require(Referral.ACKNOWLEDGED)
        self._check_day(declined_on, today, "on")
        self._declined(self.household_id, declined_on, note.strip() or None)

    @event(Declined)
    def _declined(self, household_id: UUID, declined_on: date, note: str | None) -> None:
        self.status = Referral.DECLINED
        self.last_step_on = declined_on

    def record_outcome(self, *, outcome: str, note: str, recorded_on: date, today: date) -> None:
        """What came of the referral."""
        self._require(Referral.ACCEPTED, Referral.DECLINED)
        if outcome not in OUTCOMES:
            raise ReferralOutcomeUnknownError(field="outcome")
        self._check_day(recorded_on, today, "recordedOn")
        self._outcome_recorded(self.household_id, recorded_on, outcome, note.strip() or None)

    @event(OutcomeRecorded)
    def _outcome_recorded(self, household_id: UUID, recorded_on: date, outcome: str,
                          note: str | None) -> None:
        self.status = Referral.OUTCOME_RECORDED
        self.last_step_on = recorded_on
        self.outcome = outcome

    # ------------------------------------------------------------------ follow-up (見守り)

    def schedule_follow_up(self, *, follow_up_id: str, due_on: date, owner_user_id: str) -> None:
        """Plan a follow-up check, owned by one staff member, due on a date."""
        if self.status == Referral.CLOSED:
            raise ReferralClosedError(field="referralId")
        if self.status not in (Referral.ACCEPTED, Referral.OUTCOME_RECORDED):
            raise ReferralFollowUpNotAllowedError(field="referralId")
        if due_on < self.last_step_on:
            raise ReferralDateInvalidError(field="dueOn")
        self._follow_up_scheduled(follow_up_id, due_on, owner_user_id)

    @event(FollowUpScheduled)
    def _follow_up_scheduled(self, follow_up_id: str, due_on: date, owner_user_id: str) -> None:
        self.follow_ups[follow_up_id] = {"due_on": due_on, "owner_user_id": owner_user_id,
                                         "completed_on": None}

    def complete_follow_up(self, *, follow_up_id: str, completed_on: date, note: str,
                           today: date) -> None:
        """Record that a follow-up check took place, with what was found."""
        if self.status == Referral.CLOSED:
            raise ReferralClosedError(field="referralId")
        if follow_up_id not in self.open_follow_ups:
            raise ReferralFollowUpUnknownError(field="followUpId")
        self._check_day(completed_on, today, "completedOn")
        self._follow_up_completed(self.household_id, follow_up_id, completed_on,
                                  note.strip() or None)

    @event(FollowUpCompleted)
    def _follow_up_completed(self, household_id: UUID, follow_up_id: str, completed_on: date,
                             note: str | None) -> None:
        self.follow_ups[follow_up_id]["completed_on"] = completed_on

    # ------------------------------------------------------------------ closure

    def close(self, *, closed_on: date, reason: str, today: date) -> None:
        """Close the referral: a draft the family withdrew, a declined one, or one seen through."""
        self._require(Referral.DRAFT, Referral.DECLINED, Referral.OUTCOME_RECORDED)
        if reason not in CLOSURE_REASONS:
            raise ReferralClosureReasonUnknownError(field="reason")
        if self.open_follow_ups:
            raise ReferralFollowUpsOpenError(field="referralId")
        self._check_day(closed_on, today, "closedOn")
        self._closed(closed_on, reason)

    @event(Closed)
    def _closed(self, closed_on: date, reason: str) -> None:
        self.status = Referral.CLOSED
        self.last_step_on = closed_on
