"""The disclosure as a readable Japanese document (HTML), rendered from the JSON export.

Every value is escaped; codes are shown with their Japanese labels where the
vocabulary has one, and unknown fields keep their own name rather than being
dropped: the document must show everything the JSON holds.
"""

from __future__ import annotations

import html
from typing import Any

from yorisoi.domain.consent import PURPOSES
from yorisoi.domain.referrals import SHAREABLE_FIELDS
from yorisoi.domain.vocabulary import AGENCY_KINDS, CHANNEL_LABELS_JA, LEGAL_BASES, STANDARD_THEMES

KIND_LABELS: dict[str, str] = {
    "household": "世帯（保護者・子ども・妊娠）", "case": "ケース", "consultation": "相談記録",
    "support_note": "支援記録", "consent": "同意", "consent_exception": "同意によらない対応",
    "referral": "つなぎ（関係機関への紹介）", "case_meeting": "ケース会議",
    "outreach_visit": "訪問（アウトリーチ）",
    "complaint": "苦情・要望", "complaint_roles": "苦情解決の体制（担当者・第三者委員）",
    "data_subject_request": "開示等の請求", "other": "その他の記録",
}

EVENT_LABELS: dict[str, str] = {
    "Registered": "登録", "Opened": "開始", "Recorded": "記録", "Corrected": "訂正",
    "Written": "作成", "Given": "同意", "Withdrawn": "撤回", "Drafted": "作成",
    "Sent": "送付", "Acknowledged": "受領確認", "Accepted": "受入れ", "Declined": "受入れ不可",
    "OutcomeRecorded": "結果の記録", "FollowUpScheduled": "見守りの予定",
    "FollowUpCompleted": "見守りの実施", "Closed": "終結", "Reopened": "再開",
    "ConsultationNoted": "相談の追加", "AttachmentAdded": "書類の添付",
    "CouncilCaseMarked": "要保護児童対策地域協議会の対象の記録", "HandedOver": "委託先の引継ぎ",
    "Scheduled": "開催予定", "InternalParticipantAdded": "参加者の追加",
    "ExternalParticipantAdded": "外部参加者の追加", "MinutesRecorded": "会議録",
    "ActionAssigned": "役割分担", "ActionCompleted": "役割の完了", "Cancelled": "中止",
    "Received": "受付", "Started": "対応開始", "DeadlineExtended": "期限の延長",
    "DisclosureExported": "開示のための出力", "CorrectionLinked": "訂正の実施",
    "Answered": "決定", "Refused": "請求に応じない旨の決定", "SuspensionLifted": "利用停止の解除",
    "Reported": "報告", "DiscussionAdded": "話し合い", "OutcomeReported": "結果の報告",
    "SummaryPublished": "概要の公表", "Escalated": "運営適正化委員会への申出",
}

FIELD_LABELS: dict[str, str] = {
    "guardians": "保護者", "children": "子ども", "name": "氏名", "relationship": "続柄",
    "reading": "フリガナ", "phone": "電話番号", "reception_number": "受付番号",
    "new_household_reason": "新しい世帯として登録した理由", "fields": "訂正した項目",
    "birth_date": "生年月日", "pregnancy_due_date": "出産予定日",
    "outside_target_reason": "対象外の世帯を支援する理由", "occurred_on": "相談日",
    "age_band": "相談時の子どもの年齢区分", "first_in_fiscal_year": "年度内の初回相談",
    "case_new_in_fiscal_year": "年度内に開始した相談",
    "channel": "相談方法", "themes": "相談内容の分類", "asked": "相談内容（主訴）",
    "wishes": "本人・家族の意向・希望", "direction": "支援の方向性",
    "outer_situation": "外的状況", "inner_situation": "内的状況",
    "child_rearing_situation": "子育ての状況", "changes": "訂正後の内容",
    "changed_fields": "訂正した項目", "reason": "理由", "written_on": "記録日", "kind": "種類",
    "body": "内容", "purpose": "目的", "given_by": "同意した方", "given_on": "同意日",
    "scope": "範囲", "withdrawn_on": "撤回日", "legal_basis": "法的根拠", "taken_on": "対応日",
    "agency_kind": "機関の種別", "site_id": "実施場所", "contract_id": "委託契約",
    "opened_on": "開始日", "closed_on": "終結日", "reopened_on": "再開日",
    "drafted_on": "作成日", "sent_on": "送付日", "shared_fields": "提供した項目",
    "confidentiality_basis": "提供先の守秘義務の根拠", "note": "記録", "outcome": "結果",
    "planned_on": "訪問予定日", "visitors": "訪問した職員", "place_note": "訪問先の補足",
    "done_on": "訪問日", "attempted_on": "訪問を試みた日", "next_step": "次の対応",
    "next_step_note": "次の対応の内容", "follow_up_on": "次回対応日",
    "follow_up_owner": "次回対応の担当",
    "place": "場所", "agenda": "議題", "starts_at": "開始日時", "ends_at": "終了日時",
    "state_and_issues": "状態・課題", "support_goals": "支援目標",
    "concrete_support": "具体的な支援内容", "what": "内容", "due_on": "期限",
    "received_on": "受付日", "complainant_name": "申出人", "complainant_contact": "連絡先",
    "content": "内容", "detail": "詳細", "urgent": "緊急", "accompanied": "同行",
    "council_case": "要保護児童対策地域協議会の対象", "council_decision": "別に開催する判断",
    "content_type": "書類の形式", "size": "大きさ", "sha256": "ハッシュ値",
    "handed_over_on": "引継ぎ日", "exception_legal_basis": "同意によらない提供の法的根拠",
    "exception_reason": "同意によらない提供の理由", "packet_expires_at": "提供資料の閲覧期限",
    "acknowledged_on": "受領確認日", "acknowledged_via": "受領確認の方法",
    "accepted_on": "受入れ日", "declined_on": "受入れ不可の日", "recorded_on": "記録日",
    "completed_on": "完了日", "internal_participants": "内部の参加者",
    "external_participants": "外部参加者", "external_people": "外部参加者の氏名・所属",
    "role": "役割", "basis": "守秘義務の根拠", "organisation": "所属",
    "identification_method": "本人確認の方法", "requester_relationship": "請求者の区分",
    "deadline_days": "期限の日数", "started_on": "対応開始日", "extended_by": "延長日数",
    "exported_on": "出力日", "records": "記録の件数", "access_entries": "閲覧記録の件数",
    "sealed_sha256": "出力ファイルのハッシュ値", "record_kind": "記録の種類",
    "record_version": "記録の版", "answered_on": "決定日", "refused_on": "決定日",
    "lifted_on": "解除日", "anonymous": "匿名", "involve_third_party": "第三者委員の関与",
    "held_on": "話し合いの日", "decided_on": "決定日", "escalated_on": "申立ての日",
    "reported_on": "報告日", "third_party_informed": "第三者委員への報告", "method": "方法",
    "published_on": "公表日", "summary": "公表する概要", "intake_officer": "苦情受付担当者",
    "resolution_officer": "苦情解決責任者", "third_party_members": "第三者委員",
    "scope_kind": "対象の区分", "days": "日数", "municipality_code": "市町村コード",
}

_VALUE_LABELS: dict[str, dict[str, str]] = {
    "channel": {c.value: label for c, label in CHANNEL_LABELS_JA.items()},
    "themes": STANDARD_THEMES, "agency_kind": AGENCY_KINDS, "legal_basis": LEGAL_BASES,
    "exception_legal_basis": LEGAL_BASES, "changed_fields": FIELD_LABELS,
    "shared_fields": SHAREABLE_FIELDS, "purpose": PURPOSES,
}
_ROLE_LABELS = {"specialist": "利用者支援専門員", "site_manager": "実施場所の責任者",
                "municipal_supervisor": "市町村の管理監督者", "municipal_admin": "市町村の管理者",
                "compliance_auditor": "監査担当者", "agency": "関係機関"}
_NOTICE = ("この文書には、記録に登場する職員・関係機関・第三者に関する情報が含まれることがあります。"
           "本人に交付する前に、不開示情報（個人情報の保護に関する法律第78条）に当たる部分がないか"
           "確認してください。")
_STYLE = ("body{font-family:sans-serif;margin:2em;line-height:1.6}table{border-collapse:collapse;"
          "width:100%;margin-bottom:1em}th,td{border:1px solid #999;padding:4px;"
          "vertical-align:top;text-align:left}h2{border-bottom:2px solid #333}"
          ".id{color:#666;font-size:small}.notice{border:1px solid #c00;padding:1em}")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _value(key: str, value: Any) -> str:
    labels = _VALUE_LABELS.get(key, {})
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, list):
        items = "".join(f"<li>{_value(key, v)}</li>" for v in value)
        return f"<ul>{items}</ul>" if value else "—"
    if isinstance(value, dict):
        rows = "".join(f"<li>{_e(FIELD_LABELS.get(str(k), k))}: {_value(str(k), v)}</li>"
                       for k, v in value.items())
        return f"<ul>{rows}</ul>"
    return _e(labels.get(value, value) if isinstance(value, str) else value)


def _event_row(entry: dict[str, Any], personal: set[str]) -> str:
    name = entry["event"].split(".")[-1]
    by = entry["recordedBy"]
    who = " / ".join(_e(x) for x in (_ROLE_LABELS.get(by.get("role"), by.get("role")),
                                       by.get("organisation_id"), by.get("user_id")) if x)
    fields = []
    for key, value in entry["data"].items():
        if key.endswith("_id") or key == "household_id":
            continue  # identifiers: listed once per record, not per event
        shown = ("（廃棄済みのため読み出せません）" if entry["shredded"] and key in personal
                 else _value(key, value))
        fields.append(f"<li><b>{_e(FIELD_LABELS.get(key, key))}</b>: {shown}</li>")
    return (f"<tr><td>{_e(entry['recordedAt'][:19].replace('T', ' '))}</td>"
            f"<td>{_e(EVENT_LABELS.get(name, name))}</td><td>{who}</td>"
            f"<td><ul>{''.join(fields)}</ul></td></tr>")


def _record(record: dict[str, Any]) -> str:
    personal = set(record["personalFields"])
    rows = "".join(_event_row(e, personal) for e in record["events"])
    recipient = record.get("recipient")
    to = (f"<p>提供先: {_e(recipient['agencyName'])}（{_e(AGENCY_KINDS.get(recipient['agencyKind'], recipient['agencyKind']))}）</p>"
          if recipient else "")
    return (f"<h3>{_e(KIND_LABELS.get(record['kind'], record['kind']))}"
            f" <span class=\"id\">{_e(record['id'])}</span></h3>{to}"
            "<table><tr><th>日時（UTC）</th><th>出来事</th><th>記録した人</th><th>内容</th></tr>"
            f"{rows}</table>")


def _access_log(rows: list[dict[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{_e(r['recorded_at'][:19].replace('T', ' '))}</td><td>{_e(r['actor'])}</td>"
        f"<td>{_e(_ROLE_LABELS.get(r['role'], r['role']))}</td><td>{_e(r['organisation_id'])}</td>"
        f"<td>{_e(KIND_LABELS.get(r['record_kind'], r['record_kind']))}</td>"
        f"<td>{_e('、'.join(FIELD_LABELS.get(f, f) for f in r['fields']))}</td>"
        f"<td>{_e(r['basis'])}</td><td>{_e(r['channel'])}</td></tr>" for r in rows)
    return ("<table><tr><th>日時（UTC）</th><th>閲覧者</th><th>役割</th><th>所属</th>"
            "<th>記録</th><th>項目</th><th>根拠</th><th>経路</th></tr>"
            f"{body}</table>" if rows else "<p>閲覧の記録はありません。</p>")


def render_html(document: dict[str, Any]) -> str:
    """The export as one self-contained HTML page (no scripts, no external resources)."""
    sections: dict[str, list[str]] = {}
    for record in document["records"]:
        sections.setdefault(record["kind"], []).append(_record(record))
    body = "".join(f"<h2>{_e(KIND_LABELS.get(kind, kind))}</h2>{''.join(parts)}"
                   for kind, parts in sections.items())
    return (
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\">"
        "<title>保有個人情報の開示</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>保有個人情報の開示（{_e(document['municipalityName'])}）</h1>"
        "<table>"
        f"<tr><th>請求番号</th><td>{_e(document['requestId'])}</td></tr>"
        f"<tr><th>出力番号</th><td>{_e(document['exportId'])}</td></tr>"
        f"<tr><th>世帯番号</th><td>{_e(document['householdId'])}</td></tr>"
        f"<tr><th>作成日時（UTC）</th><td>{_e(document['generatedAt'][:19].replace('T', ' '))}</td></tr>"
        f"<tr><th>記録の件数</th><td>{len(document['records'])}</td></tr></table>"
        f"<p class=\"notice\">{_e(_NOTICE)}</p>{body}"
        f"<h2>閲覧の記録（アクセスログ）</h2>{_access_log(document['accessLog'])}"
        "</body></html>")
