"""Data-subject requests (保有個人情報の開示・訂正・利用停止請求) and their deadlines.

A municipality is an 行政機関等 under the Act on the Protection of Personal
Information (APPI, as amended in 2021, in force for local governments since
April 2023), so its requests follow Chapter 5, not the "without delay" rule
for businesses (§33–§35):

* disclosure (開示請求, §76–§89): decided within 30 days of the request (§83(1));
* correction (訂正請求, §90–§97): decided within 30 days (§94(1));
* suspension of use (利用停止請求, §98–§103): decided within 30 days (§102(1)).

Each may be extended once by up to 30 days for a justified reason, with
notice to the requester (§83(2), §94(2), §102(2)).  A municipality's own
ordinance (施行条例, §108) may shorten these periods — many keep the 14 or 15
days of their former ordinances — so the days are the municipality's
setting (``DataSubjectRequestDeadlines``), defaulting to the statutory 30,
and never longer.  Days are calendar days and the day of receipt is not
counted (民法 §140), so a request received on 1 April is due on 1 May.

The request itself holds no personal values: the household it concerns (an
id), how the requester was identified (a method code — never the document)
and the requester's standing (本人 / 法定代理人 / 任意代理人).  It therefore
stays readable after the household is disposed of, as the record that the
request was answered.
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, NotFoundDomainError, StaleVersionError

KINDS: dict[str, str] = {
    "disclosure": "保有個人情報の開示請求",
    "correction": "保有個人情報の訂正請求",
    "suspension_of_use": "保有個人情報の利用停止請求",
}

# How the requester proved who they are (§77(2), §91(2), §99(2)): the method only.
IDENTIFICATION_METHODS: dict[str, str] = {
    "counter_photo_id": "窓口で顔写真付き本人確認書類を提示（運転免許証・マイナンバーカード等）",
    "counter_two_documents": "窓口で本人確認書類を2点提示（健康保険の資格確認書等）",
    "mail_copy_and_residence": "郵送：本人確認書類の写しと住民票の写し",
    "online_digital_signature": "オンライン：公的個人認証サービスによる電子署名",
}

# Who made the request (§76(2): a minor's legal representative may request).
REQUESTER_RELATIONSHIPS: dict[str, str] = {
    "self": "本人",
    "legal_representative": "法定代理人（未成年者の親権者等）",
    "delegated_representative": "任意代理人（本人の委任による）",
}

# Decisions granting a request, per kind.
OUTCOMES: dict[str, dict[str, str]] = {
    "disclosure": {"disclosed": "全部開示", "partially_disclosed": "部分開示（法第79条）"},
    "correction": {"corrected": "訂正", "partially_corrected": "一部訂正"},
    "suspension_of_use": {"suspended": "利用停止"},
}

REFUSAL_REASONS: dict[str, str] = {
    "identity_not_confirmed": "本人又は代理人であることが確認できない",
    "no_data_held": "請求に係る保有個人情報を保有していない",
    "non_disclosable": "不開示情報に該当する（法第78条）",
    "not_inaccurate": "訂正請求に理由があると認められない（法第92条）",
    "no_ground_for_suspension": "利用停止請求に理由があると認められない（法第100条）",
    "impairs_duties": "利用停止により事務の適正な遂行に著しい支障を及ぼすおそれがある（法第100条ただし書）",
    "withdrawn_by_requester": "請求の取下げ",
    "other": "その他（決定通知書に記載）",
}

EXTENSION_REASONS: dict[str, str] = {
    "volume_of_records": "対象となる保有個人情報が多く、期間内の決定が困難",
    "third_party_consultation": "第三者への意見照会が必要（法第86条）",
    "other": "その他の正当な理由（延長通知に記載）",
}

LIFT_REASONS: dict[str, str] = {
    "requested_by_data_subject": "本人からの解除の申出",
    "ground_resolved": "利用停止の理由が解消した",
    "other": "その他",
}

STATUTORY_DAYS = 30  # §83(1), §94(1), §102(1)
MAX_EXTENSION_DAYS = 30  # §83(2), §94(2), §102(2)

RECEIVED, IN_PROGRESS, ANSWERED, REFUSED, CLOSED = (
    "received", "in_progress", "answered", "refused", "closed")
OPEN = (RECEIVED, IN_PROGRESS)


class DataSubjectRequestNotFoundError(NotFoundDomainError):
    code = "data_subject_request_not_found"
    message = "No such data-subject request in this municipality."
    message_ja = "指定された開示等の請求が見つかりません。"


class DataSubjectRequestKindUnknownError(DomainError):
    code = "data_subject_request_kind_unknown"
    message = "The kind is not one of disclosure, correction or suspension_of_use."
    message_ja = "請求の種類は開示・訂正・利用停止のいずれかを指定してください。"


class IdentificationMethodUnknownError(DomainError):
    code = "identification_method_unknown"
    message = "Choose how the requester was identified from the list."
    message_ja = "本人確認の方法を一覧から選んでください。"


class RequesterRelationshipUnknownError(DomainError):
    code = "requester_relationship_unknown"
    message = "Choose who made the request (self, legal or delegated representative)."
    message_ja = "請求者の区分（本人・法定代理人・任意代理人）を選んでください。"


class DataSubjectRequestDateInvalidError(DomainError):
    code = "data_subject_request_date_invalid"
    message = "The date must lie between the request's previous step and today."
    message_ja = "日付は前の手続の日から今日までの間で指定してください。"


class DataSubjectRequestStepError(DomainError):
    code = "data_subject_request_step_invalid"
    message = "The request is not at a step where this can be done."
    message_ja = "この請求は、現在の手続段階ではこの操作を行えません。"


class DataSubjectRequestKindMismatchError(DomainError):
    code = "data_subject_request_kind_mismatch"
    message = "This step belongs to another kind of request."
    message_ja = "この操作は別の種類の請求に対するものです。"


class DataSubjectRequestOutcomeUnknownError(DomainError):
    code = "data_subject_request_outcome_unknown"
    message = "Choose a decision that fits the kind of request."
    message_ja = "請求の種類に応じた決定の内容を選んでください。"


class DataSubjectRequestNothingDoneError(DomainError):
    code = "data_subject_request_nothing_done"
    message = ("Grant a disclosure only after exporting the records, and a correction only "
               "after recording at least one corrected record.")
    message_ja = ("開示は記録の出力後に、訂正は訂正した記録を一件以上記録した後に"
                  "決定してください。")


class DataSubjectRequestReasonUnknownError(DomainError):
    code = "data_subject_request_reason_unknown"
    message = "Choose the reason from the list."
    message_ja = "理由を一覧から選んでください。"


class DataSubjectRequestExtensionInvalidError(DomainError):
    code = "data_subject_request_extension_invalid"
    message = "The deadline can be extended once, by 1 to 30 days."
    message_ja = "期限の延長は一回限り、1日から30日の範囲で指定してください。"


class SuspensionNotActiveError(DomainError):
    code = "suspension_not_active"
    message = "No suspension of use from this request is in force."
    message_ja = "この請求による利用停止は行われていません。"


class DeadlineDaysInvalidError(DomainError):
    code = "data_subject_request_deadline_invalid"
    message = "Deadlines are 1 to 30 days (the statute allows no more)."
    message_ja = "期限は1日から30日の範囲で指定してください（法定の期間を超えられません）。"


def check_version(aggregate: Aggregate, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != aggregate.version:
        raise StaleVersionError(field="expectedVersion", current_version=aggregate.version)


def check_code(value: str, allowed: dict[str, str], error: type[DomainError], field: str) -> None:
    if value not in allowed:
        raise error(field=field)


class DataSubjectRequest(Aggregate):
    """One request by a family to see, correct or stop the use of what is held about it."""

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def receive(cls, *, household_id: UUID, municipality_code: str, kind: str,
                identification_method: str, requester_relationship: str, received_on: date,
                deadline_days: int, today: date) -> DataSubjectRequest:
        """Record a request on the day it reached the municipality; its deadline starts then."""
        check_code(kind, KINDS, DataSubjectRequestKindUnknownError, "kind")
        check_code(identification_method, IDENTIFICATION_METHODS,
                    IdentificationMethodUnknownError, "identificationMethod")
        check_code(requester_relationship, REQUESTER_RELATIONSHIPS,
                    RequesterRelationshipUnknownError, "requesterRelationship")
        if received_on > today:
            raise DataSubjectRequestDateInvalidError(field="receivedOn")
        # The day of receipt is not counted (民法 §140): due = received + days.
        return cls(household_id=household_id, municipality_code=municipality_code, kind=kind,
                   identification_method=identification_method,
                   requester_relationship=requester_relationship, received_on=received_on,
                   deadline_days=deadline_days, due_on=received_on + timedelta(deadline_days))

    @event("Received")
    def __init__(self, household_id: UUID, municipality_code: str, kind: str,
                 identification_method: str, requester_relationship: str, received_on: date,
                 deadline_days: int, due_on: date) -> None:
        self.household_id = household_id
        self.municipality_code = municipality_code
        self.kind = kind
        self.identification_method = identification_method
        self.requester_relationship = requester_relationship
        self.received_on = received_on
        self.deadline_days = deadline_days
        self.due_on = due_on
        self.status = RECEIVED
        self.last_step_on = received_on
        self.extended_by = 0
        self.extension_reason: str | None = None
        self.started_on: date | None = None
        self.decided_on: date | None = None
        self.outcome: str | None = None
        self.refusal_reason: str | None = None
        self.closed_on: date | None = None
        self.exports: list[dict[str, object]] = []
        self.corrections: list[dict[str, object]] = []
        self.suspension_lifted_on: date | None = None
        self.lift_reason: str | None = None

    # ------------------------------------------------------------------ reading

    @property
    def suspension_active(self) -> bool:
        return (self.kind == "suspension_of_use" and self.outcome == "suspended"
                and self.suspension_lifted_on is None)

    def is_overdue(self, today: date) -> bool:
        """Still undecided after its (possibly extended) deadline."""
        return self.status in OPEN and today > self.due_on

    # ------------------------------------------------------------------ guards

    def _step(self, allowed: tuple[str, ...], on: date, today: date, field: str,
              expected_version: int | None) -> None:
        check_version(self, expected_version)
        if self.status not in allowed:
            raise DataSubjectRequestStepError(field="requestId")
        if not self.last_step_on <= on <= today:
            raise DataSubjectRequestDateInvalidError(field=field)

    def _require_kind(self, kind: str) -> None:
        if self.kind != kind:
            raise DataSubjectRequestKindMismatchError(field="requestId")

    # ------------------------------------------------------------------ steps

    def start(self, *, started_on: date, today: date, expected_version: int | None) -> None:
        """The municipality starts handling the request (検討開始)."""
        self._step((RECEIVED,), started_on, today, "startedOn", expected_version)
        self._started(started_on)

    @event("Started")
    def _started(self, started_on: date) -> None:
        self.status = IN_PROGRESS
        self.started_on = started_on
        self.last_step_on = started_on

    def extend(self, *, days: int, reason: str, expected_version: int | None) -> None:
        """Extend the deadline once, by at most 30 days, for a justified reason."""
        check_version(self, expected_version)
        if self.status not in OPEN:
            raise DataSubjectRequestStepError(field="requestId")
        if self.extended_by or not 1 <= days <= MAX_EXTENSION_DAYS:
            raise DataSubjectRequestExtensionInvalidError(field="days")
        check_code(reason, EXTENSION_REASONS, DataSubjectRequestReasonUnknownError, "reason")
        self._extended(days, reason, self.due_on + timedelta(days))

    @event("DeadlineExtended")
    def _extended(self, extended_by: int, reason: str, due_on: date) -> None:
        self.extended_by = extended_by
        self.extension_reason = reason
        self.due_on = due_on

    def check_exportable(self) -> None:
        """Only a disclosure request being handled is exported (checked before any read)."""
        self._require_kind("disclosure")
        if self.status != IN_PROGRESS:
            raise DataSubjectRequestStepError(field="requestId")

    def note_export(self, *, export_id: UUID, exported_on: date, records: int,
                    access_entries: int, sealed_sha256: dict[str, str]) -> None:
        """Remember a disclosure export (its sealed objects' digests, never its content)."""
        self.check_exportable()
        self._exported(str(export_id), exported_on, records, access_entries, sealed_sha256)

    @event("DisclosureExported")
    def _exported(self, export_id: str, exported_on: date, records: int, access_entries: int,
                  sealed_sha256: dict[str, str]) -> None:
        self.exports.append({"export_id": export_id, "exported_on": exported_on,
                             "records": records, "access_entries": access_entries})

    def link_correction(self, *, record_kind: str, record_id: UUID, record_version: int,
                        changed_fields: list[str]) -> None:
        """Tie a correction (a new event on the record; the original stays) to this request."""
        self._require_kind("correction")
        if self.status != IN_PROGRESS:
            raise DataSubjectRequestStepError(field="requestId")
        self._correction_linked(record_kind, str(record_id), record_version,
                                sorted(changed_fields))

    @event("CorrectionLinked")
    def _correction_linked(self, record_kind: str, record_id: str, record_version: int,
                           changed_fields: list[str]) -> None:
        self.corrections.append({"record_kind": record_kind, "record_id": record_id,
                                 "record_version": record_version,
                                 "changed_fields": changed_fields})

    def answer(self, *, answered_on: date, outcome: str, today: date,
               expected_version: int | None) -> None:
        """Decide to grant the request (for suspension of use: the suspension starts)."""
        self._step((IN_PROGRESS,), answered_on, today, "answeredOn", expected_version)
        check_code(outcome, OUTCOMES[self.kind], DataSubjectRequestOutcomeUnknownError,
                    "outcome")
        if (self.kind == "disclosure" and not self.exports) or (
                self.kind == "correction" and not self.corrections):
            raise DataSubjectRequestNothingDoneError(field="requestId")
        self._answered(answered_on, outcome)

    @event("Answered")
    def _answered(self, answered_on: date, outcome: str) -> None:
        self.status = ANSWERED
        self.decided_on = answered_on
        self.outcome = outcome
        self.last_step_on = answered_on

    def refuse(self, *, refused_on: date, reason: str, today: date,
               expected_version: int | None) -> None:
        """Decide not to grant the request, for a stated reason code."""
        self._step(OPEN, refused_on, today, "refusedOn", expected_version)
        check_code(reason, REFUSAL_REASONS, DataSubjectRequestReasonUnknownError, "reason")
        self._refused(refused_on, reason)

    @event("Refused")
    def _refused(self, refused_on: date, reason: str) -> None:
        self.status = REFUSED
        self.decided_on = refused_on
        self.refusal_reason = reason
        self.last_step_on = refused_on

    def lift_suspension(self, *, lifted_on: date, reason: str, today: date,
                        expected_version: int | None) -> None:
        """End the suspension of use this request started."""
        check_version(self, expected_version)
        if not self.suspension_active:
            raise SuspensionNotActiveError(field="requestId")
        if not self.last_step_on <= lifted_on <= today:
            raise DataSubjectRequestDateInvalidError(field="liftedOn")
        check_code(reason, LIFT_REASONS, DataSubjectRequestReasonUnknownError, "reason")
        self._lifted(lifted_on, reason)

    @event("SuspensionLifted")
    def _lifted(self, lifted_on: date, reason: str) -> None:
        self.suspension_lifted_on = lifted_on
        self.lift_reason = reason

    def close(self, *, closed_on: date, today: date, expected_version: int | None) -> None:
        """File the request once decided (a suspension stays in force until it is lifted)."""
        self._step((ANSWERED, REFUSED), closed_on, today, "closedOn", expected_version)
        self._closed(closed_on)

    @event("Closed")
    def _closed(self, closed_on: date) -> None:
        self.status = CLOSED
        self.closed_on = closed_on
        self.last_step_on = closed_on
