"""Domain errors: every rule the aggregates enforce fails with one of these.

Each error carries a stable ``code`` for API clients, the ``field`` it concerns
(when there is one) and a message in English and Japanese.  Messages never
contain the values a user entered: those may be personal data, and errors end
up in logs and traces.
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused a command."""

    code = "domain_error"
    message = "The request breaks a rule of the service."
    message_ja = "業務上のルールにより受け付けられません。"
    # True for "no such record (among those the actor may see)": the API answers
    # NotFound for every such error in one place (graphql/errors.py).
    not_found = False

    def __init__(self, *, field: str | None = None, message: str | None = None,
                 message_ja: str | None = None) -> None:
        self.field = field
        if message is not None:
            self.message = message
        if message_ja is not None:
            self.message_ja = message_ja
        super().__init__(self.message)


class NotFoundDomainError(DomainError):
    """A record does not exist, or lies outside the actor's reach (never said which)."""

    not_found = True


class InvalidInputError(DomainError):
    """A value has the wrong shape (edge validation, before any aggregate)."""

    code = "invalid_input"
    message = "A value is not valid."
    message_ja = "入力値が正しくありません。"


class ConsultationDateInFutureError(DomainError):
    code = "consultation_date_in_future"
    message = "The consultation date cannot be in the future."
    message_ja = "相談日に未来の日付は指定できません。"


class ConsultationChannelUnknownError(DomainError):
    code = "consultation_channel_unknown"
    message = "The consultation channel is not one of visit, phone, outreach or online."
    message_ja = "相談方法は来所・電話・訪問・オンラインのいずれかを指定してください。"


class ConsultationThemeUnknownError(DomainError):
    code = "consultation_theme_unknown"
    message = "A consultation theme is not in the municipality's theme list."
    message_ja = "相談内容の分類が一覧にありません。"


class ConsultationThemesMissingError(DomainError):
    code = "consultation_themes_missing"
    message = "Choose at least one theme for the consultation."
    message_ja = "相談内容の分類を一つ以上選んでください。"


class ConsultationRequestMissingError(DomainError):
    code = "consultation_request_missing"
    message = "Record what the family asked about."
    message_ja = "相談の内容（主訴）を記録してください。"


class ConsultationBeforePregnancyError(DomainError):
    code = "consultation_before_pregnancy"
    message = ("The consultation date is earlier than a pregnancy of the family's oldest child "
               "(more than 310 days before the birth or due date).")
    message_ja = "相談日が、お子さんの出生日（出産予定日）より妊娠期間（310日）以上前になっています。"


class ConsultationBeforeCaseOpenedError(DomainError):
    code = "consultation_before_case_opened"
    message = "The consultation date is earlier than the day the case was opened."
    message_ja = "相談日がケースの受付日より前になっています。"


class HouseholdEmptyError(DomainError):
    code = "household_empty"
    message = "A household needs at least one guardian, child or pregnancy."
    message_ja = "世帯には保護者・子ども・妊娠のいずれかが必要です。"


class HouseholdOutsideTargetError(DomainError):
    code = "household_outside_target"
    message = ("The household has no pre-school child, no child under 18 and no pregnancy: "
               "record the reason for supporting it.")
    message_ja = ("就学前の子ども・18歳未満の子ども・妊娠のいずれにも当たりません。"
                  "支援する理由を記録してください。")


class BirthDateInFutureError(DomainError):
    code = "birth_date_in_future"
    message = "A child's birth date cannot be in the future."
    message_ja = "子どもの生年月日に未来の日付は指定できません。"


class DueDateImplausibleError(DomainError):
    code = "due_date_implausible"
    message = "The expected due date must be within the next ten months."
    message_ja = "出産予定日は今後10か月以内の日付を指定してください。"


class CaseClosedError(DomainError):
    code = "case_closed"
    message = "The case is closed: reopen it before recording."
    message_ja = "このケースは終結しています。記録する前に再開してください。"


class AttachmentKindUnknownError(DomainError):
    code = "attachment_kind_unknown"
    message = "The attachment kind is not one of consent_form, meeting_minutes or other."
    message_ja = "添付書類の種類は同意書・会議録・その他のいずれかを指定してください。"


class CaseClosureReasonUnknownError(DomainError):
    code = "case_closure_reason_unknown"
    message = "Choose a closure reason from the list."
    message_ja = "終結理由を一覧から選んでください。"


class CaseClosureDateInvalidError(DomainError):
    code = "case_closure_date_invalid"
    message = "The date must lie between the case's opening (or closure) and today."
    message_ja = "日付はケースの開始日（または終結日）から今日までの間で指定してください。"


class CaseNotClosedError(DomainError):
    code = "case_not_closed"
    message = "Only a closed case can be reopened."
    message_ja = "終結していないケースは再開できません。"


class StaleVersionError(DomainError):
    """A command decided on a stale view: the API answers it as a retryable conflict.

    ``current_version`` is the aggregate's version now, so a client can reload
    (or show what changed) and retry with it; a version number is no personal data.
    """

    code = "stale_version"
    message = "The record changed since you loaded it; reload and try again."
    message_ja = "読み込んだ後に記録が更新されています。再読み込みしてからやり直してください。"

    def __init__(self, *, field: str | None = "expectedVersion", current_version: int | None = None,
                 message: str | None = None, message_ja: str | None = None) -> None:
        super().__init__(field=field, message=message, message_ja=message_ja)
        self.current_version = current_version
