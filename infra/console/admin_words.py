"""The administrator's pages' words: screen text and the names of the vocabularies they show.

Japanese names of domain codes come from the domain's own dictionaries (never
worded twice); the console's shared catalogue (``i18n``) names roles, site types,
agency kinds and confidentiality bases.  The screen text of these pages lives
here, once, Japanese first, so the pages do not depend on edits to the shared
``messages.json`` made by others at the same time.
"""

from __future__ import annotations

from typing import Any

from yorisoi.domain.findings import TRAINING_KINDS
from yorisoi.domain.resources import KINDS as RESOURCE_KINDS
from yorisoi.domain.resources import SUBKINDS
from yorisoi.domain.staff import QUALIFICATIONS
from yorisoi.infra.console import i18n

_J, _E = "ja", "en"

VOCABULARIES: dict[str, dict[str, tuple[str, str]]] = {
    "staff_role": {
        "specialist": ("利用者支援専門員", "Specialist"),
        "site_manager": ("実施場所の責任者", "Site manager"),
        "assistant": ("補助職員", "Assistant"),
        "municipal_staff": ("市町村職員", "Municipal staff"),
        "other": ("その他", "Other"),
    },
    "qualification": {code: (ja, en) for (code, ja), en in zip(QUALIFICATIONS.items(), (
        "Childcare worker", "Certified social worker", "Psychiatric social worker",
        "Public health nurse", "Nurse", "Midwife", "Teacher", "Childcare support worker",
        "Other"), strict=True)},
    "training": {code: (ja, en) for (code, ja), en in zip(TRAINING_KINDS.items(), (
        "Childcare support worker basic training",
        "Childcare support worker specialist training (user support)",
        "Privacy and confidentiality training"), strict=True)},
    "assignment": {"dedicated": ("専任", "Dedicated"), "assisting": ("兼任", "Assisting")},
    "weekday": {"mon": ("月曜日", "Monday"), "tue": ("火曜日", "Tuesday"),
                "wed": ("水曜日", "Wednesday"), "thu": ("木曜日", "Thursday"),
                "fri": ("金曜日", "Friday"), "sat": ("土曜日", "Saturday"),
                "sun": ("日曜日", "Sunday")},
    "exception": {"closed": ("休所", "Closed"), "special_opening": ("臨時開所", "Special opening")},
    "operation": {"direct": ("直営", "Run directly"), "contracted": ("委託", "Contracted")},
    "resource_kind": {code: (ja, en) for (code, ja), en in zip(RESOURCE_KINDS.items(), (
        "Education and childcare facilities", "Community childcare",
        "Local child and family support", "Medical", "Health and welfare agencies",
        "Circles and NPOs"), strict=True)},
    "subkind": {code: (ja, code.replace("_", " ").capitalize())
                for subs in SUBKINDS.values() for code, ja in subs.items()},
    "operator": {"public": ("公立", "Public"), "private": ("民間", "Private"),
                 "npo": ("NPO", "NPO"), "other": ("その他", "Other")},
    "form": {"facility": ("施設", "At a facility"), "home_visit": ("訪問", "Home visits"),
             "outreach": ("アウトリーチ", "Outreach")},
    "fee": {"free": ("無料", "Free"), "paid": ("有料", "Paid")},
}

TEXT: dict[str, tuple[str, str]] = {
    "nav": ("管理", "Administration"),
    "home.title": ("管理", "Administration"),
    "home.lead": ("職員、実施場所、アクセス権限、関係機関・社会資源、相談内容の分類を管理します。",
                  "Staff, sites, access grants, agencies and the resource directory, themes."),
    "home.staff": ("{n}人（指摘事項のある職員 {f}人）", "{n} people ({f} with findings)"),
    "home.sites": ("{n}か所（基本情報が未登録 {u}か所、指摘事項のある実施場所 {f}か所）",
                   "{n} sites ({u} without a profile, {f} with findings)"),
    "home.grants": ("有効な付与 {n}件", "{n} active grants"),
    "home.agencies": ("関係機関と、つなぎの受け先になっている社会資源",
                      "Agencies and the entries receiving referrals"),
    "home.resources": ("登録・編集・確認・公開", "Register, edit, verify, publish"),
    "home.themes": ("国の分類と本自治体の分類", "The national list and the municipality's own"),
    "only_admins": ("この画面は市町村の管理者のみ利用できます。",
                    "This page is for the municipality's administrators."),
    "saved": ("保存しました。", "Saved."),
    "none": ("登録されていません。", "Nothing registered yet."),
    "next_page": ("次のページ", "Next page"),
    "back_admin": ("管理に戻る", "Back to administration"),
    "save": ("保存する", "Save"),
    "yes": ("はい", "Yes"),
    "no": ("いいえ", "No"),
    "findings": ("指摘事項", "Findings"),
    "no_findings": ("指摘事項はありません。", "No findings."),
    "severity.warning": ("注意", "Warning"),
    "severity.error": ("要対応", "Action needed"),
    # staff
    "staff.title": ("職員", "Staff"),
    "staff.new": ("職員を登録する", "Register a staff member"),
    "staff.name": ("氏名（表示名）", "Display name"),
    "staff.subject": ("サインインID", "Sign-in ID"),
    "staff.subject_hint": ("所属組織の認証基盤で本人に割り当てられたID（サインイン時に使うもの）。",
                           "The ID the person's own organisation's sign-in service gives them."),
    "staff.organisation": ("所属", "Organisation"),
    "staff.roles": ("職種", "Roles"),
    "staff.qualifications": ("資格", "Qualifications"),
    "staff.assignments": ("配置", "Site assignments"),
    "staff.pledge": ("誓約書", "Confidentiality pledge"),
    "staff.pledge_on_file": ("提出済み（署名日 {day}）", "On file (signed {day})"),
    "staff.pledge_missing": ("未提出", "Not on file"),
    "staff.pledge_download": ("誓約書を開く", "Open the pledge"),
    "staff.pledge_upload": ("誓約書を登録する", "Upload the signed pledge"),
    "staff.pledge_file": ("誓約書のファイル", "The signed pledge"),
    "staff.pledge_hint": ("PDF・PNG・JPEG、10MiBまで。新しい誓約書は前のものに代わります。",
                          "PDF, PNG or JPEG up to 10 MiB. A new pledge replaces the old one."),
    "staff.pledge_missing_file": ("誓約書のファイルを選んでください。", "Choose the pledge's file."),
    "staff.signed_on": ("署名日", "Signed on"),
    "staff.edit": ("氏名・職種・資格を変更する", "Change name, roles or qualifications"),
    "staff.assign": ("実施場所に配置する", "Assign to a site"),
    "staff.site": ("実施場所", "Site"),
    "staff.kind": ("専任・兼任", "Dedicated or assisting"),
    "staff.starts_on": ("開始日", "Starts on"),
    "staff.ends_on": ("終了日", "Ends on"),
    "staff.ends_hint": ("定めがなければ空欄。", "Leave empty when open-ended."),
    "staff.active": ("配置中", "Current"),
    "staff.inactive": ("配置終了・開始前", "Not current"),
    "staff.end": ("この配置を終了する", "End this assignment"),
    "staff.trainings": ("研修記録", "Training records"),
    "staff.training_add": ("研修記録を追加する", "Add a training record"),
    "staff.training_kind": ("研修", "Training"),
    "staff.completed_on": ("受講日", "Completed on"),
    "staff.valid_until": ("有効期限", "Valid until"),
    "staff.valid_hint": ("個人情報保護研修は、空欄なら受講日から1年です。",
                         "Privacy training: a year after completion when left empty."),
    "staff.none_assigned": ("配置はありません。", "No assignments."),
    "staff.no_training": ("研修記録はありません。", "No training records."),
    "staff.unknown_person": ("（職員として未登録の方）", "(not registered as staff)"),
    "staff.count": ("{n}人", "{n} people"),
    "staff.any": ("すべて", "All"),
    "staff.filter": ("絞り込む", "Filter"),
    "staff.choose_site": ("実施場所を選んでください。", "Choose a site."),
    "staff.choose_kind": ("専任か兼任かを選んでください。", "Choose dedicated or assisting."),
    "staff.choose_training": ("研修の種類を選んでください。", "Choose the training."),
    # grants
    "grants.title": ("アクセス権限", "Access grants"),
    "grants.lead": ("所属組織の認証基盤の役割とは別に、本自治体が特定の職員に付与する役割です。"
                    "取り消すと次の操作から無効になります。",
                    "Roles the municipality grants to one person, beside their organisation's "
                    "own. A revoked grant stops on the next request."),
    "grants.new": ("権限を付与する", "Grant a role"),
    "grants.person": ("職員", "Person"),
    "grants.person_hint": ("職員として登録された方から選びます。", "Chosen from the registered staff."),
    "grants.role": ("役割", "Role"),
    "grants.sites": ("実施場所", "Sites"),
    "grants.sites_hint": ("利用者支援専門員・実施場所の責任者には1つ以上選びます。",
                          "Specialists and site managers are granted at one or more sites."),
    "grants.period": ("期間", "Period"),
    "grants.reason": ("理由", "Reason"),
    "grants.reason_hint": ("個人情報は書かないでください（400文字以内）。",
                           "No personal data (at most 400 characters)."),
    "grants.granted_by": ("付与者", "Granted by"),
    "grants.you": ("あなた", "You"),
    "grants.no_staff": ("権限を付与する方を、先に職員として登録してください。",
                        "Register the person as staff first."),
    "grants.status": ("状態", "Status"),
    "grants.active": ("有効", "Active"),
    "grants.revoked": ("取消し（{day}）", "Revoked ({day})"),
    "grants.ended": ("期間外", "Outside its period"),
    "grants.revoke": ("取り消す", "Revoke"),
    "grants.revoke_reason": ("取消しの理由", "Why revoked"),
    "grants.all_sites": ("全域", "Everywhere"),
    "grants.choose_person": ("職員を選んでください。", "Choose a person."),
    "grants.choose_role": ("役割を選んでください。", "Choose a role."),
    "grants.saved": ("権限を付与しました。", "The role was granted."),
    "grants.revoked_saved": ("権限を取り消しました。", "The grant was revoked."),
    # sites
    "sites.title": ("実施場所", "Sites"),
    "sites.name": ("名称", "Name"),
    "sites.type": ("事業類型", "Type"),
    "sites.address": ("所在地", "Address"),
    "sites.operation": ("運営", "Operation"),
    "sites.contract": ("委託契約", "Contract"),
    "sites.contract_hint": ("委託の場合は、この実施場所を対象とする有効な契約（受託事業者）を選びます。",
                            "For a contracted site, the active contract (contractor) covering it."),
    "sites.direct": ("直営（委託しない）", "Run directly (no contract)"),
    "sites.contract_of": ("{name}（{start}〜{end}）", "{name} ({start} to {end})"),
    "sites.no_profile": ("未登録", "No profile yet"),
    "sites.profile": ("基本情報", "Profile"),
    "sites.hours": ("開所時間（毎週）", "Weekly hours"),
    "sites.opens": ("開所", "Opens"),
    "sites.closes": ("閉所", "Closes"),
    "sites.hours_hint": ("開所する曜日だけ時刻（例 09:00）を入れます。空欄の曜日は休所です。",
                         "Times (e.g. 09:00) on open weekdays only; empty weekdays are closed."),
    "sites.holidays": ("祝日は休所", "Closed on public holidays"),
    "sites.open_days": ("開所日数（週）", "Open days a week"),
    "sites.dedicated": ("専任の利用者支援専門員（本日）", "Dedicated specialists today"),
    "sites.exceptions": ("休所日・臨時開所日", "Dated exceptions"),
    "sites.exception_add": ("休所日・臨時開所日を追加する", "Add a dated exception"),
    "sites.on": ("日付", "Date"),
    "sites.exception_kind": ("種類", "Kind"),
    "sites.exception_hint": ("臨時開所は時刻も入れます。", "A special opening needs its hours."),
    "sites.remove": ("削除する", "Remove"),
    "sites.closed": ("休所", "Closed"),
    "sites.none_exceptions": ("休所日・臨時開所日はありません。", "No dated exceptions."),
    "sites.profile_first": ("先に基本情報を保存してください。", "Save the profile first."),
    # agencies and directory
    "dir.title": ("関係機関・社会資源", "Agencies and the resource directory"),
    "agencies.title": ("関係機関", "Agencies"),
    "agencies.new": ("関係機関を登録する", "Register an agency"),
    "agencies.name": ("名称", "Name"),
    "agencies.kind": ("種別", "Kind"),
    "agencies.on_system": ("このシステムの利用者がいる", "Has users of this system"),
    "agencies.on_system_hint": ("いない場合は、情報提供書を期限付きリンクで送ります（連絡先が必要です）。",
                                "Otherwise packets go by an expiring link (give its address)."),
    "agencies.email": ("連絡先メールアドレス（組織）", "The organisation's email address"),
    "agencies.basis": ("守秘義務の根拠", "Confidentiality basis"),
    "agencies.delivery": ("受け取り方", "Receives"),
    "agencies.by_system": ("システムで受け取る", "In the system"),
    "agencies.by_link": ("リンクで受け取る", "By link"),
    "agencies.not_permitted": ("関係機関の登録は、市町村の監督職員が行います（管理者の権限では登録できません）。"
                               "社会資源を「つなぎの受け先」にすると、ここに載ります。",
                               "Agencies are registered by the municipal supervisor (an "
                               "administrator may not). A directory entry made a referral "
                               "recipient is listed here."),
    "agencies.choose_kind": ("種別を選んでください。", "Choose a kind."),
    "agencies.choose_basis": ("守秘義務の根拠は一覧から選んでください。",
                              "Choose the confidentiality basis from the list."),
    "res.referrals": ("つなぎの受け先", "Receiving referrals"),
    "res.referrals_lead": ("この社会資源をつなぎ（紹介）の受け先にすると、関係機関の一覧にも載ります。",
                           "An entry receiving referrals is listed among the agencies too."),
    "res.referrals_save": ("つなぎの受け先として保存する", "Save as a referral recipient"),
    "res.referrals_none": ("つなぎの受け先になっていません。", "Does not receive referrals."),
    "res.title": ("社会資源", "Resource directory"),
    "res.new": ("社会資源を登録する", "Register a directory entry"),
    "res.edit": ("社会資源を編集する", "Edit the entry"),
    "res.name": ("名称", "Name"),
    "res.reading": ("よみがな", "Reading"),
    "res.reading_hint": ("任意。ひらがな・カタカナで入れると、読みで検索できます。",
                         "Optional, in kana: the entry is then found by its reading."),
    "res.kind": ("種別", "Kind"),
    "res.subkind": ("細分類", "Subkind"),
    "res.address": ("所在地", "Address"),
    "res.area": ("地区", "Area"),
    "res.operator": ("運営主体", "Operator"),
    "res.form": ("提供形態", "Form"),
    "res.fee": ("料金", "Fee"),
    "res.monthly": ("月間の予定", "Monthly schedule"),
    "res.content": ("内容", "Content"),
    "res.published": ("公開中", "Published"),
    "res.draft": ("非公開", "Not published"),
    "res.publish": ("公開する", "Publish"),
    "res.unpublish": ("非公開にする", "Unpublish"),
    "res.verified": ("最終確認日", "Last verified"),
    "res.verify": ("確認した日を記録する", "Record a verification"),
    "res.stale": ("1年以上確認されていません", "Not verified for over a year"),
    "res.status": ("公開", "Publication"),
    "res.choose_kind": ("種別を選んでください。", "Choose a kind."),
    "res.none_subkind": ("（指定しない）", "(none)"),
    # themes
    "themes.title": ("相談内容の分類", "Consultation themes"),
    "themes.lead": ("国の分類に、本自治体独自の分類を追加できます。廃止した分類は過去の記録には残り、新しい記録では選べません。",
                    "The national list plus the municipality's own. A retired theme stays on "
                    "old records and cannot be chosen for new ones."),
    "themes.add": ("分類を追加する", "Add a theme"),
    "themes.code": ("コード", "Code"),
    "themes.code_hint": ("半角英小文字・数字・_で2〜40文字、英字で始めます（統計の集計に使います）。",
                         "2–40 of a-z, 0-9 and _, starting with a letter (used in statistics)."),
    "themes.label_ja": ("名称（日本語）", "Name in Japanese"),
    "themes.label_en": ("名称（英語）", "Name in English"),
    "themes.standard": ("国の分類", "National"),
    "themes.own": ("本自治体の分類", "The municipality's"),
    "themes.retired": ("廃止", "Retired"),
    "themes.retire": ("廃止する", "Retire"),
    "themes.in_use": ("使用中", "In use"),
}


# The label of each form field, by the field's name (the error summary names the field).
FIELD_KEYS: dict[str, str] = {
    "displayName": "staff.name", "subject": "staff.subject",
    "organisationId": "staff.organisation", "roles": "staff.roles",
    "qualifications": "staff.qualifications", "siteId": "staff.site", "kind": "staff.kind",
    "startsOn": "staff.starts_on", "endsOn": "staff.ends_on",
    "trainingKind": "staff.training_kind", "completedOn": "staff.completed_on",
    "validUntil": "staff.valid_until", "signedOn": "staff.signed_on",
    "file": "staff.pledge_file", "staffId": "grants.person", "role": "grants.role",
    "siteIds": "grants.sites", "reason": "grants.reason", "revokeReason": "grants.revoke_reason",
    "siteType": "sites.type", "address": "sites.address", "contractId": "sites.contract",
    "on": "sites.on", "exceptionKind": "sites.exception_kind",
    "exceptionOpens": "sites.opens", "exceptionCloses": "sites.closes",
    "name": "res.name", "reading": "res.reading", "subkind": "res.subkind",
    "area": "res.area", "operatorKind": "res.operator", "form": "res.form", "fee": "res.fee",
    "monthlySchedule": "res.monthly", "content": "res.content", "verifiedOn": "res.verified",
    "agencyKind": "agencies.kind", "onSystem": "agencies.on_system",
    "contactEmail": "agencies.email", "confidentialityBasis": "agencies.basis",
    "code": "themes.code", "labelJa": "themes.label_ja", "labelEn": "themes.label_en",
}


def field_label(name: str, lang: str, form: str = "") -> str | None:
    """The label of a form field (None when the field has none of its own)."""
    if name.startswith(("opens.", "closes.")):
        part, day = name.split(".", 1)
        return f"{word('weekday', day, lang)} {text('sites.' + part, lang)}"
    if name.startswith("endsOn-"):
        return text("staff.ends_on", lang)
    if name == "kind" and ("agencies" in form or "resource" in form):
        return text("res.kind", lang)
    key = FIELD_KEYS.get(name)
    return text(key, lang) if key else None


def text(key: str, lang: str, **values: Any) -> str:
    """Screen text of the administrator's pages (the shared catalogue's, if not here)."""
    entry = TEXT.get(key)
    if entry is None:
        return i18n.text(key, lang, **values)
    words = entry[0] if lang == _J else entry[1]
    return words.format(**values) if values else words


def word(kind: str, code: str | None, lang: str) -> str:
    """The name of ``code`` of a vocabulary (the shared catalogue's kinds as well)."""
    if code is None or code == "":
        return "—"
    entry = VOCABULARIES.get(kind, {}).get(code)
    if entry is None:
        return i18n.label(kind, code, lang)
    return entry[0] if lang == _J else entry[1]


def choices(kind: str, lang: str, codes: Any = None) -> list[tuple[str, str]]:
    """(code, name) of a vocabulary in its order (or of ``codes``)."""
    return [(code, word(kind, code, lang)) for code in (codes or VOCABULARIES[kind])]
