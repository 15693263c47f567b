"""One vocabulary for what the console names: stored events, timeline entries, record fields.

People see names, never ids: an event is 「同意の撤回」, not ``Consent.Withdrawn``; a
field is 「相談内容（主訴）」, not ``asked``.  The audit pages, the case timeline, the file
register and the disclosure document take their words from here (Japanese first,
English beside it), so a thing is never named twice.  ``SCREEN`` holds the forms'
newer screen words, read when ``messages.json`` lacks a key.
"""

from __future__ import annotations

import re
from typing import Any

from yorisoi.services.disclosure_document import FIELD_LABELS

# Stored events by their ``Aggregate.Event`` name: (Japanese, English).
EVENT_NAMES: dict[str, tuple[str, str]] = {
    "AccessGrant.Granted": ("アクセス権の付与", "Access granted"),
    "AccessGrant.Revoked": ("アクセス権の取消し", "Access revoked"),
    "Agency.Registered": ("関係機関の登録", "Agency registered"),
    "BreakGlass.Recorded": ("緊急閲覧の記録", "Emergency access recorded"),
    "Case.AttachmentAdded": ("書類の添付", "Document attached"),
    "Case.Closed": ("ケース終結", "Case closed"),
    "Case.ConsultationNoted": ("相談の追加", "Consultation added"),
    "Case.CouncilCaseMarked": ("要対協の指定", "Council case marked"),
    "Case.HandedOver": ("ケースの引継ぎ", "Case handed over"),
    "Case.Opened": ("ケース開始", "Case opened"),
    "Case.Reopened": ("ケース再開", "Case reopened"),
    "CaseMeeting.ActionAssigned": ("会議の役割分担", "Meeting task assigned"),
    "CaseMeeting.ActionCompleted": ("役割分担の完了", "Meeting task completed"),
    "CaseMeeting.Cancelled": ("ケース会議の中止", "Case meeting cancelled"),
    "CaseMeeting.ExternalParticipantAdded": ("会議の外部参加者の追加",
                                             "External participant added"),
    "CaseMeeting.InternalParticipantAdded": ("会議の参加者の追加", "Participant added"),
    "CaseMeeting.MinutesRecorded": ("ケース会議の記録", "Meeting minutes recorded"),
    "CaseMeeting.Scheduled": ("ケース会議の設定", "Case meeting scheduled"),
    "Complaint.Closed": ("苦情の終結", "Complaint closed"),
    "Complaint.DiscussionAdded": ("苦情の話合い", "Complaint discussion"),
    "Complaint.Escalated": ("苦情の第三者委員への付議", "Complaint escalated"),
    "Complaint.OutcomeRecorded": ("苦情の結果の記録", "Complaint outcome recorded"),
    "Complaint.OutcomeReported": ("苦情の結果の報告", "Complaint outcome reported"),
    "Complaint.Received": ("苦情の受付", "Complaint received"),
    "Complaint.Reported": ("苦情の報告", "Complaint reported"),
    "Complaint.SummaryPublished": ("苦情の概要の公表", "Complaint summary published"),
    "ComplaintDeadlines.Set": ("苦情対応の期限の設定", "Complaint deadlines set"),
    "ComplaintRoles.Assigned": ("苦情対応の担当の指定", "Complaint roles assigned"),
    "Consent.Given": ("同意", "Consent given"),
    "Consent.Withdrawn": ("同意の撤回", "Consent withdrawn"),
    "ConsentException.Recorded": ("同意によらない対応", "Action without consent"),
    "Consultation.Corrected": ("相談記録の訂正", "Consultation corrected"),
    "Consultation.Recorded": ("相談", "Consultation"),
    "Contract.Ended": ("委託契約の終了", "Contract ended"),
    "Contract.Resumed": ("委託契約の再開", "Contract resumed"),
    "Contract.Signed": ("委託契約の締結", "Contract signed"),
    "Contract.Suspended": ("委託契約の停止", "Contract suspended"),
    "Contractor.Registered": ("受託事業者の登録", "Contractor registered"),
    "DataSubjectRequest.Answered": ("本人からの請求への回答", "Request answered"),
    "DataSubjectRequest.Closed": ("本人からの請求の終了", "Request closed"),
    "DataSubjectRequest.CorrectionLinked": ("請求に基づく訂正", "Correction linked"),
    "DataSubjectRequest.DeadlineExtended": ("請求の期限の延長", "Deadline extended"),
    "DataSubjectRequest.DisclosureExported": ("開示書類の作成", "Disclosure exported"),
    "DataSubjectRequest.Received": ("本人からの請求の受付", "Request received"),
    "DataSubjectRequest.Refused": ("本人からの請求の不開示等", "Request refused"),
    "DataSubjectRequest.SuspensionLifted": ("利用停止の解除", "Suspension lifted"),
    "DataSubjectRequestDeadlines.Set": ("請求の期限の設定", "Request deadlines set"),
    "DataSubjectRequestRegister.RequestListed": ("請求の登録", "Request listed"),
    "DisposalBatch.Approved": ("廃棄の承認", "Disposal approved"),
    "DisposalBatch.Certified": ("廃棄証明書の作成", "Disposal certified"),
    "DisposalBatch.Completed": ("廃棄の完了", "Disposal completed"),
    "DisposalBatch.HouseholdDisposed": ("世帯の記録の廃棄", "Household disposed of"),
    "DisposalBatch.HouseholdSkipped": ("廃棄の見送り", "Household skipped"),
    "DisposalBatch.Proposed": ("廃棄の起案", "Disposal proposed"),
    "DisposalBatch.StepDone": ("廃棄の手順の完了", "Disposal step done"),
    "DisposalBatch.TenantKeyRotated": ("暗号鍵の更新", "Key rotated"),
    "Hold.Placed": ("保存の延長（保留）", "Hold placed"),
    "Hold.Released": ("保留の解除", "Hold released"),
    "Household.Corrected": ("世帯の情報の訂正", "Household corrected"),
    "Household.Registered": ("世帯の登録", "Household registered"),
    "HouseholdConsents.ConsentListed": ("同意の登録", "Consent listed"),
    "HouseholdConsents.ExceptionListed": ("同意によらない対応の登録", "Exception listed"),
    "HouseholdRequests.RequestListed": ("請求の登録", "Request listed"),
    "HouseholdRequests.SuspensionLifted": ("利用停止の解除", "Suspension lifted"),
    "HouseholdRequests.SuspensionStarted": ("利用停止", "Suspension started"),
    "IdentityProvider.Registered": ("認証基盤の登録", "Identity provider registered"),
    "Municipality.Registered": ("自治体の登録", "Municipality registered"),
    "NeighbourDeclaration.NeighbourDeclared": ("近隣関係の申告", "Neighbour declared"),
    "NeighbourDeclaration.NeighbourWithdrawn": ("近隣関係の申告の取下げ", "Neighbour withdrawn"),
    "ReceptionCounter.Assigned": ("受付番号の付番", "Reception number assigned"),
    "OfflineDevices.Started": ("端末台帳の作成", "Device register started"),
    "OfflineDevices.Registered": ("端末の登録", "Device registered"),
    "OfflineDevices.Revoked": ("端末登録の取消", "Device revoked"),
    "OutreachVisit.Planned": ("訪問の予定", "Visit planned"),
    "OutreachVisit.Rescheduled": ("訪問の予定変更", "Visit rescheduled"),
    "OutreachVisit.Done": ("訪問の実施", "Visit done"),
    "OutreachVisit.NotMet": ("訪問（会えず）", "Visit: not met"),
    "OutreachVisit.FollowUpCompleted": ("訪問後の対応の完了", "Visit follow-up done"),
    "OutreachVisit.Cancelled": ("訪問の取りやめ", "Visit cancelled"),
    "Referral.Accepted": ("つなぎ先の受入れ", "Referral accepted"),
    "Referral.Acknowledged": ("つなぎ先の受領確認", "Referral acknowledged"),
    "Referral.Closed": ("つなぎの終了", "Referral closed"),
    "Referral.Declined": ("つなぎ先の辞退", "Referral declined"),
    "Referral.Drafted": ("つなぎ作成", "Referral drafted"),
    "Referral.FollowUpCompleted": ("フォローアップの完了", "Follow-up completed"),
    "Referral.FollowUpScheduled": ("フォローアップの予定", "Follow-up scheduled"),
    "Referral.OutcomeRecorded": ("つなぎの結果の記録", "Referral outcome recorded"),
    "Referral.Sent": ("情報提供書の送付", "Referral sent"),
    "RepresentativeMeeting.Recorded": ("代表者会議の記録", "Representative meeting recorded"),
    "Resource.Published": ("社会資源の公開", "Resource published"),
    "Resource.ReferralProfileSet": ("社会資源のつなぎ先情報", "Referral profile set"),
    "Resource.Registered": ("社会資源の登録", "Resource registered"),
    "Resource.Unpublished": ("社会資源の公開停止", "Resource unpublished"),
    "Resource.Updated": ("社会資源の更新", "Resource updated"),
    "Resource.Verified": ("社会資源の確認", "Resource verified"),
    "RetentionSchedule.VersionSet": ("保存期間の設定", "Retention schedule set"),
    "Site.Registered": ("実施場所の登録", "Site registered"),
    "SiteProfile.Described": ("実施場所の情報の更新", "Site described"),
    "SiteProfile.ExceptionAdded": ("開所日の例外の追加", "Opening exception added"),
    "SiteProfile.ExceptionRemoved": ("開所日の例外の削除", "Opening exception removed"),
    "SiteProfile.Registered": ("実施場所の情報の登録", "Site profile registered"),
    "SiteProfile.ScheduleSet": ("開所時間の設定", "Opening hours set"),
    "StaffMember.Assigned": ("職員の配置", "Staff assigned"),
    "StaffMember.AssignmentEnded": ("職員の配置の終了", "Assignment ended"),
    "StaffMember.PledgeAttached": ("誓約書の添付", "Pledge attached"),
    "StaffMember.Registered": ("職員の登録", "Staff registered"),
    "StaffMember.TrainingRecorded": ("研修の記録", "Training recorded"),
    "StaffMember.Updated": ("職員の情報の更新", "Staff updated"),
    "SupportNote.Corrected": ("支援記録の訂正", "Support note corrected"),
    "SupportNote.Written": ("支援記録", "Support note"),
    "ThemeTaxonomy.ThemeAdded": ("相談分類の追加", "Theme added"),
    "ThemeTaxonomy.ThemeRetired": ("相談分類の廃止", "Theme retired"),
}

# Records by kind (the compliance pages' ``record_kind``: an aggregate's name in snake case),
# for those the screen catalogue does not name: (Japanese, English).
RECORD_KINDS: dict[str, tuple[str, str]] = {
    "access_grant": ("アクセス権", "Access grant"),
    "agency": ("関係機関", "Agency"),
    "break_glass": ("緊急閲覧", "Emergency access"),
    "case": ("ケース", "Case"),
    "complaint_deadlines": ("苦情対応の期限", "Complaint deadlines"),
    "complaint_roles": ("苦情対応の担当", "Complaint roles"),
    "consent_index": ("世帯の同意の一覧", "Household's consents"),
    "data_subject_request": ("本人からの請求", "Data-subject request"),
    "data_subject_request_deadlines": ("請求の期限", "Request deadlines"),
    "data_subject_request_register": ("請求の一覧", "Request register"),
    "disposal_batch": ("廃棄", "Disposal batch"),
    "hold": ("保留", "Hold"),
    "household_consents": ("世帯の同意の一覧", "Household's consents"),
    "household_requests": ("世帯の請求の一覧", "Household's requests"),
    "neighbour_declaration": ("近隣関係の申告", "Neighbour declaration"),
    "reception_counter": ("受付番号の台帳", "Reception numbers"),
    "representative_meeting": ("代表者会議", "Representative meeting"),
    "resource": ("社会資源", "Resource"),
    "retention_schedule": ("保存期間", "Retention schedule"),
    "site_profile": ("実施場所の情報", "Site profile"),
    "staff_member": ("職員", "Staff member"),
    "theme_taxonomy": ("相談内容の分類", "Themes"),
}

# The case timeline's entries (``projections/timeline.py`` kinds): (Japanese, English).
TIMELINE_KINDS: dict[str, tuple[str, str]] = {
    "consultation": ("相談", "Consultation"),
    "support_note": ("支援記録", "Support note"),
    "case_opened": ("ケース開始", "Case opened"),
    "case_closed": ("ケース終結", "Case closed"),
    "case_reopened": ("ケース再開", "Case reopened"),
    "council_case_marked": ("要対協の指定", "Council case marked"),
    "household_corrected": ("世帯の情報の訂正", "Household corrected"),
    "attachment_added": ("書類の添付", "Document attached"),
    "consent_given": ("同意", "Consent given"),
    "consent_withdrawn": ("同意の撤回", "Consent withdrawn"),
    "consent_exception": ("同意によらない対応", "Action without consent"),
    "referral_drafted": ("つなぎ作成", "Referral drafted"),
    "referral_sent": ("情報提供書の送付", "Referral sent"),
    "referral_acknowledged": ("つなぎ先の受領確認", "Referral acknowledged"),
    "referral_accepted": ("つなぎ先の受入れ", "Referral accepted"),
    "referral_declined": ("つなぎ先の辞退", "Referral declined"),
    "referral_outcome": ("つなぎの結果", "Referral outcome"),
    "referral_follow_up_scheduled": ("フォローアップの予定", "Follow-up scheduled"),
    "referral_follow_up_completed": ("フォローアップの完了", "Follow-up completed"),
    "referral_closed": ("つなぎの終了", "Referral closed"),
    "case_meeting_scheduled": ("ケース会議の設定", "Case meeting scheduled"),
    "case_meeting_held": ("ケース会議の記録", "Meeting minutes recorded"),
    "case_meeting_action_assigned": ("会議の役割分担", "Meeting task assigned"),
    "case_meeting_action_completed": ("役割分担の完了", "Meeting task completed"),
    "case_meeting_cancelled": ("ケース会議の中止", "Case meeting cancelled"),
    "case_handed_over": ("ケースの引継ぎ", "Case handed over"),
    "visit_planned": ("訪問の予定", "Visit planned"),
    "visit_rescheduled": ("訪問の予定変更", "Visit rescheduled"),
    "visit_done": ("訪問の実施", "Visit made"),
    "visit_not_met": ("訪問（会えなかった）", "Visit: family not met"),
    "visit_cancelled": ("訪問の中止", "Visit cancelled"),
}

# Documents kept with a case (``domain/cases.ATTACHMENT_KINDS``), as a file is named.
ATTACHMENT_NAMES: dict[str, tuple[str, str]] = {
    "consent_form": ("同意書", "Consent form"),
    "meeting_minutes": ("会議録", "Meeting minutes"),
    "referral_letter": ("情報提供書", "Referral letter"),
    "assessment": ("アセスメントシート", "Assessment"),
    "other": ("書類", "Document"),
}
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}

# The forms' screen words that ``messages.json`` does not hold (yet).
SCREEN: dict[str, tuple[str, str]] = {
    "form.saved": ("保存しました。", "Saved."),
    "form.date_any_hint": ("例：令和6年4月1日、R6.4.1、2024/4/1、2024-04-01",
                           "e.g. 2024-04-01, 2024/4/1, R6.4.1 or 令和6年4月1日"),
    "form.not_a_date": (
        "日付として読み取れません。例：令和6年4月1日、R6.4.1、2024/4/1、2024-04-01",
        "Not a date we can read: try 2024-04-01, 2024/4/1, R6.4.1 or 令和6年4月1日."),
    "form.counter": ("{n} / {limit}文字", "{n} / {limit} characters"),
    "form.too_long": (("{field}が長すぎます（{n}文字）。{limit}文字以内にしてください。"
                       "入力した文章はそのまま残しています。"),
                      ("{field} is too long ({n} characters): at most {limit}. "
                       "What you typed is kept below.")),
    "form.choose_one": ("一つ以上選んでください。", "Choose at least one."),
    "meeting.staff": ("職員{n}", "Staff member {n}"),
    "access_channel.console": ("職員コンソール", "Console"),
    "access_channel.graphql": ("API（GraphQL）", "API (GraphQL)"),
    "access_channel.rest": ("API（REST）", "API (REST)"),
    "access_channel.export": ("開示書類の出力", "Disclosure export"),
    "access_channel.cli": ("コマンド", "Command line"),
    "household.add_guardian": ("保護者を追加", "Add a guardian"),
    "household.add_child": ("子どもを追加", "Add a child"),
    "household.remove_row": ("この行を削除", "Remove this row"),
    "household.empty": ("保護者、子ども、出産予定日のいずれかを入力してください。",
                        "Enter a guardian, a child or a due date."),
    "error.title.500": ("エラーが発生しました", "Something went wrong"),
    "error.title.429": ("しばらくしてからお試しください", "Please try again shortly"),
    "error.title.409": ("ほかの変更と重なりました", "The record changed meanwhile"),
    "timeline.attachment": ("{name}（{size}）", "{name} ({size})"),
    "timeline.until": ("期限 {on}", "due {on}"),
}


def _pick(entry: tuple[str, str], lang: str) -> str:
    return entry[1] if lang == "en" else entry[0]


def text(key: str, lang: str, **values: Any) -> str:
    """A screen word of ``SCREEN`` (the key itself if unknown, as ``i18n.text`` does)."""
    entry = SCREEN.get(key)
    if entry is None:
        return key
    words = _pick(entry, lang)
    return words.format(**values) if values else words


def event_name(name: str, lang: str) -> str:
    """A stored event's name for people (``Consent.Withdrawn`` → 同意の撤回)."""
    entry = EVENT_NAMES.get(name)
    if entry is not None:
        return _pick(entry, lang)
    return "記録の変更" if lang != "en" else "Change to a record"


def record_kind(kind: str, lang: str) -> str:
    """A kind of record for people; the screen catalogue's word when it has one."""
    from yorisoi.infra.console import i18n

    if f"record_kind.{kind}" in i18n.catalogue():
        return i18n.label("record_kind", kind, lang)
    entry = RECORD_KINDS.get(kind)
    if entry is not None:
        return _pick(entry, lang)
    return "記録" if lang != "en" else "Record"


def field_name(name: str, lang: str) -> str:
    """A record field for people (``given_by`` → 同意した方); the disclosure document's words."""
    key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name.rsplit(".", 1)[-1]).lower()
    if lang == "en":
        return key.replace("_", " ")
    return FIELD_LABELS.get(key, "その他の項目")


def timeline_kind(kind: str, lang: str) -> str:
    entry = TIMELINE_KINDS.get(kind)
    if entry is not None:
        return _pick(entry, lang)
    return "記録" if lang != "en" else "Record"


def file_size(size: int | None, lang: str = "ja") -> str:
    """45 KB, 1.2 MB: a document's size as people read it."""
    if size is None:
        return "—"
    if size < 1024:
        return f"{size} B" if lang == "en" else f"{size} バイト"
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def attachment_name(kind: str, content_type: str | None, size: int | None,
                    lang: str = "ja") -> str:
    """A kept document as people name it: 「同意書.pdf（45 KB）」 (no stored file name)."""
    name = _pick(ATTACHMENT_NAMES.get(kind, ATTACHMENT_NAMES["other"]), lang)
    extension = EXTENSIONS.get(content_type or "")
    if extension:
        name += f".{extension}"
    return text("timeline.attachment", lang, name=name, size=file_size(size, lang))
