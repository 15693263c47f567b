"""Printable views (A4): what leaves the office on paper or as a PDF from the browser.

- a case record (世帯・同意・相談記録・つなぎ・ケース会議・経過),
- case meeting minutes with the role assignments (役割分担),
- a referral's 情報提供書 exactly as the agency receives it — the sealed packet
  read back, with its link and the link's expiry,
- the disposal certificate (廃棄証明書), from the signed file, with its signature check.

Each is an ordinary console page (the same authorization, and reads of
personal data are logged like any other page), laid out by ``static/print.css``
for A4; the browser's 印刷 or 「PDFに保存」 makes the paper or the PDF.  People
see names, never ids: sites, agencies and staff by name, dates in 和暦.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from yorisoi.domain.disposal import SKIP_REASONS
from yorisoi.domain.referrals import SHAREABLE_FIELDS
from yorisoi.domain.retention import RECORD_CLASSES
from yorisoi.graphql.case_meetings import CaseMeeting
from yorisoi.graphql.referrals import Referral
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import vocabulary
from yorisoi.infra.console.routes_cases import (
    CaseFile,
    case_uuid,
    load_case_file,
    staff_names,
    timeline_detail,
)
from yorisoi.infra.console.web import PREFIX, Console, PageError, console
from yorisoi.infra.referral_packets import (
    PACKET_LINK_SECONDS,
    packet_key,
    packet_secret,
)
from yorisoi.infra.storage import ObjectNotFoundError, make_download_token
from yorisoi.projections.meeting_queries import MeetingQueries
from yorisoi.projections.referral_board import ReferralBoardQueries
from yorisoi.services.referrals import ReferralNotFoundError, packet_aad
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix=PREFIX + "/m/{code}")
Con = Annotated[Console, Depends(console)]

# The print views' own words (Japanese first), kept beside them.
WORDS: dict[str, tuple[str, str]] = {
    "print": ("印刷する", "Print"),
    "staff.other": ("他の職員", "another officer"),
    "print.hint": ("A4 縦で印刷します。PDF にするには、印刷の画面で「PDFに保存」を選びます。",
                   "Prints on A4 portrait. For a PDF, choose “Save as PDF” when printing."),
    "back": ("画面に戻る", "Back"),
    "printed": ("印刷日", "Printed on"),
    "printed_by": ("出力者", "Printed by"),
    "municipality": ("自治体", "Municipality"),
    "personal": ("個人情報を含みます。取扱いに注意し、不要になったら確実に廃棄してください。",
                 "Contains personal data: handle with care and destroy it when no longer needed."),
    "case.heading": ("相談記録票", "Case record"),
    "case.consents_none": ("同意の記録はありません。", "No consent recorded."),
    "case.referrals_none": ("つなぎはありません。", "No referrals."),
    "case.meetings_none": ("ケース会議はありません。", "No case meetings."),
    "case.timeline_more": ("経過は新しい順に {shown} 件を掲載（全 {total} 件）。",
                           "The latest {shown} of {total} timeline entries."),
    "case.agency": ("つなぎ先", "Agency"),
    "case.sent_on": ("送付日", "Sent on"),
    "case.attachments": ("添付書類", "Attachments"),
    "case.attachments_none": ("添付書類はありません。", "No attachments."),
    "case.unavailable": ("世帯の情報は表示できません（廃棄済み、または閲覧の権限がありません）。",
                         "The household cannot be shown (disposed of, or not yours to read)."),
    "meeting.heading": ("ケース会議 記録", "Case meeting minutes"),
    "meeting.case": ("ケース", "Case"),
    "meeting.internal": ("職員", "Staff"),
    "meeting.external": ("関係者（外部）", "Others present"),
    "meeting.no_minutes": ("記録（議事）はまだありません。", "No minutes recorded yet."),
    "meeting.no_actions": ("役割分担はありません。", "No role assignments."),
    "meeting.completed_on": ("完了日", "Completed on"),
    "meeting.sign": ("確認欄", "Checked by"),
    "referral.heading": ("情報提供書", "Information for the receiving agency"),
    "referral.to": ("{agency} 御中", "To: {agency}"),
    "referral.from": ("送付元", "From"),
    "referral.lead": ("下記のとおり、ご本人・ご家族の同意（または法令の定め）に基づき情報を提供します。",
                      "We share the following with the family's consent (or as the law provides)."),
    "referral.sent_on": ("送付日", "Sent on"),
    "referral.urgent": ("緊急の対応をお願いします", "Urgent"),
    "referral.accompanied": ("同行", "Accompanied"),
    "referral.accompanied_yes": ("あり", "Yes"),
    "referral.accompanied_no": ("なし", "No"),
    "referral.shared": ("提供する項目", "Fields shared"),
    "referral.reason": ("つなぐ理由", "Reason for the referral"),
    "referral.consultations": ("相談の内容", "Consultations"),
    "referral.link": ("受け取り用のリンク", "Link to receive it"),
    "referral.link_hint": ("このリンクは貴機関専用です。開くと提供内容の閲覧と受領の確認ができます。",
                           "This link is for your agency: it shows these contents and "
                           "confirms receipt."),
    "referral.expires": ("リンクの有効期限", "The link expires"),
    "referral.expired": ("有効期限を過ぎています。必要なら送付し直してください。",
                         "The link has expired: send the referral again if needed."),
    "referral.not_sent": ("このつなぎはまだ送付されていません。送付すると、関係機関が受け取る内容をここで印刷できます。",
                          "Not sent yet: once sent, what the agency receives can be printed here."),
    "referral.on_system": ("つなぎ先は寄り添いを利用しており、システム上で受け取ります（情報提供書の送付はありません）。",
                           "The agency uses Yorisoi and receives the referral there (no packet)."),
    "referral.gone": ("提供した情報は閲覧できなくなりました（世帯の記録は廃棄済みです）。",
                      "The shared information is no longer available "
                      "(the household was disposed of)."),
    "certificate.heading": ("廃棄証明書", "Disposal certificate"),
    "certificate.lead": ("下記の記録を保存年限表に基づき承認を経て廃棄し、各世帯の暗号鍵を消去したことを証明します。個人情報は記載していません。",
                         "The records below were disposed of under the retention schedule "
                         "after approval, "
                         "and each household's key was destroyed. No personal data is listed."),
    "certificate.schedule": ("適用した保存年限表", "Retention schedule applied"),
    "certificate.schedule_value": ("第{version}版（{since}施行）", "version {version} (from {since})"),
    "certificate.evaluated": ("廃棄対象の判定日", "Evaluated on"),
    "certificate.proposed": ("起案者", "Proposed by"),
    "certificate.approved": ("承認者", "Approved by"),
    "certificate.two_person": ("二人承認", "Two-person approval"),
    "certificate.two_person_yes": ("要（起案者以外が承認）", "required (approved by another officer)"),
    "certificate.two_person_no": ("不要", "not required"),
    "certificate.households": ("廃棄した世帯数", "Households disposed of"),
    "certificate.records": ("廃棄した記録の件数", "Records disposed of"),
    "certificate.skipped": ("対象外とした世帯数", "Households left out"),
    "certificate.issued": ("証明日時", "Issued at"),
    "certificate.by_class": ("記録の種類別件数と保存年限", "Records by kind, with their periods"),
    "certificate.class": ("記録の種類", "Kind of record"),
    "certificate.years": ("保存年限", "Kept for"),
    "certificate.count": ("廃棄件数", "Disposed of"),
    "certificate.forever": ("永年", "permanently"),
    "certificate.n_years": ("{n}年", "{n} years"),
    "certificate.household_list": ("廃棄した世帯", "Households disposed of"),
    "certificate.household": ("世帯（記録上の番号）", "Household (record number)"),
    "certificate.closed_due": ("終結日／廃棄可能日", "Closed / due"),
    "certificate.disposed_at": ("廃棄日時", "Disposed of at"),
    "certificate.record_count": ("記録", "Records"),
    "certificate.key_destroyed": ("暗号鍵", "Key"),
    "certificate.key_destroyed_value": ("消去済み（{at}）", "destroyed ({at})"),
    "certificate.signature": ("署名", "Signature"),
    "certificate.valid": ("署名を検証しました（改ざんはありません）。", "The signature verifies (unaltered)."),
    "certificate.invalid": ("署名を検証できません。この証明書は信頼できません。",
                            "The signature does not verify: do not rely on this certificate."),
    "certificate.digest": ("証明書ファイルの SHA-256", "SHA-256 of the certificate file"),
    "certificate.verify": ("オフラインでの検証: yorisoi disposal verify-certificate",
                           "Verify offline: yorisoi disposal verify-certificate"),
}


def word(key: str, lang: str, **values: Any) -> str:
    ja, en = WORDS[key]
    text = en if lang == "en" else ja
    return text.format(**values) if values else text


def _page(con: Console, template: str, code: str, *, staff: Any, **values: Any) -> HTMLResponse:
    registry = con.services.directory.registry
    municipality = registry.tenant(code)
    return con.page(template, code=code, w=lambda key, **kw: word(key, con.lang, **kw),
                    municipality=municipality.name if municipality else code,
                    printed_on=japan_today(), printed_by=staff(con.principal.subject),
                    staff=staff, **values)


def _namer(con: Console, names: dict[str, str]) -> Any:
    """``name(subject)``: the staff member's name; never the sign-in id."""
    def name(subject: str | None) -> str:
        if not subject:
            return "—"
        if subject in names:
            return names[subject]
        return con.label if subject == con.principal.subject else word("staff.other", con.lang)
    return name


def _site_name(con: Console, code: str, site_id: str | None) -> str:
    if not site_id:
        return "—"
    site = con.services.directory.registry.site(code, site_id)
    return site.name if site else "—"


# --------------------------------------------------------------------------- a case record


@dataclass
class PrintedCase:
    file: CaseFile
    agencies: dict[str, str]
    names: dict[str, str]


@router.get("/cases/{case_id}/print", response_class=HTMLResponse)
async def print_case(con: Con, code: str, case_id: str) -> HTMLResponse:
    cid = case_uuid(case_id)

    def load(rt: TenantRuntime, grant: Grant) -> PrintedCase:
        file = load_case_file(rt, grant, cid)
        board = ReferralBoardQueries(rt.casework.database, rt.casework.keyring)
        return PrintedCase(file, {a.agency_id: a.name for a in board.agencies()}, file.staff)

    printed = await con.read("case.read", code, load)
    # The case page's own words: timeline kinds and details, documents as 同意書.pdf（45 KB）.
    return _page(con, "print_case.html", code, file=printed.file, agencies=printed.agencies,
                 staff=_namer(con, printed.names),
                 site_name=_site_name(con, code, printed.file.case.site_id),
                 detail=lambda r: timeline_detail(r, con.lang),
                 kind_name=lambda kind: vocabulary.timeline_kind(kind, con.lang),
                 document=lambda a: vocabulary.attachment_name(
                     a["kind"], a.get("content_type"), a.get("size"), con.lang))


# --------------------------------------------------------------------------- meeting minutes


@router.get("/meetings/{meeting_id}/print", response_class=HTMLResponse)
async def print_meeting(con: Con, code: str, meeting_id: str) -> HTMLResponse:
    mid = _uuid(meeting_id, "No such case meeting.", "指定されたケース会議が見つかりません。",
                "meeting_not_found")

    def load(rt: TenantRuntime, grant: Grant) -> tuple[CaseMeeting, Any, dict[str, str]]:
        record = MeetingQueries(rt.casework.database, rt.casework.keyring).get(
            grant.scope, str(mid))
        if record is None:
            raise PageError(404, "No such case meeting.",
                            "指定されたケース会議が見つかりません。", "meeting_not_found")
        meeting = CaseMeeting.from_record(record)
        case = rt.cases.get(grant.scope, meeting.case_id)
        return meeting, case, staff_names(rt)

    meeting, case, names = await con.read("case.read", code, load)
    return _page(con, "print_meeting.html", code, m=meeting,
                 reception_number=getattr(case, "reception_number", None),
                 staff=_namer(con, names), site_name=_site_name(con, code, meeting.site_id))


# --------------------------------------------------------------------------- 情報提供書


@dataclass
class PrintedReferral:
    referral: Referral
    agency_name: str
    on_system: bool
    packet: dict[str, Any] | None  # what the agency reads through its link
    link: str | None
    expires_at: datetime | None
    gone: bool


def _packet_link(con: Console, key: str, expires_at: datetime) -> str:
    """The agency's link, exactly as issued at sending (the token is its key and expiry, signed)."""
    issued_at = int(expires_at.timestamp()) - PACKET_LINK_SECONDS
    token = make_download_token(key, packet_secret(con.services),
                                expires_in=PACKET_LINK_SECONDS, now=issued_at)
    return f"{con.services.settings.public_url}/agency-packets/{token}"


@router.get("/referrals/{referral_id}/print", response_class=HTMLResponse)
async def print_referral(con: Con, code: str, referral_id: str) -> HTMLResponse:
    rid = _uuid(referral_id, ReferralNotFoundError.message, ReferralNotFoundError.message_ja,
                ReferralNotFoundError.code)

    def load(rt: TenantRuntime, grant: Grant) -> tuple[PrintedReferral, dict[str, str]]:
        board = ReferralBoardQueries(rt.casework.database, rt.casework.keyring)
        record = board.get(grant.scope, str(rid))
        if record is None:
            raise ReferralNotFoundError(field="referralId")
        referral = Referral.from_record(record)
        agency = next((a for a in board.agencies() if a.agency_id == record.agency_id), None)
        aggregate = rt.casework.readable_referral(rid, grant.scope.contract_ids)
        expires_at = getattr(aggregate, "packet_expires_at", None)
        packet, link, gone = None, None, False
        if expires_at is not None:
            key = packet_key(rt.space, aggregate.household_id, rid)
            try:
                sealed, _ = con.services.objects.get(key)
            except ObjectNotFoundError:
                sealed = None
            if sealed is not None:
                # Read back exactly what the agency reads (logged as a read of the packet).
                packet = rt.casework.keyring.read_json(
                    aggregate.household_id, sealed, packet_aad(rid),
                    record=("referral_packet", str(rid)))
            gone = packet is None
            link = _packet_link(con, key, expires_at)
        return PrintedReferral(referral, agency.name if agency else "—",
                               bool(agency and agency.on_system), packet, link, expires_at,
                               gone), staff_names(rt)

    printed, names = await con.read("case.read", code, load)
    now = datetime.now(tz=printed.expires_at.tzinfo) if printed.expires_at else None
    expired = bool(printed.expires_at and now and now >= printed.expires_at)
    return _page(con, "print_referral.html", code, p=printed, r=printed.referral,
                 expired=expired, link=None if expired or printed.gone else printed.link,
                 shared_names=SHAREABLE_FIELDS, staff=_namer(con, names),
                 site_name=_site_name(con, code, printed.referral.site_id))


# --------------------------------------------------------------------------- 廃棄証明書


@dataclass
class PrintedCertificate:
    doc: dict[str, Any]
    digest: str
    valid: bool


@router.get("/records/disposal/{batch_id}/certificate/print", response_class=HTMLResponse)
async def print_certificate(con: Con, code: str, batch_id: str) -> HTMLResponse:
    bid = _uuid(batch_id, "No certificate.", "廃棄証明がありません。", "certificate_missing")

    def load(rt: TenantRuntime, grant: Grant) -> tuple[PrintedCertificate, dict[str, str]]:
        from yorisoi.infra.certificates import CertificateInvalidError, digest, verify_certificate
        from yorisoi.services.disposal import Disposal

        data = Disposal(rt, con.services.objects, con.services.signer).certificate(bid)
        try:
            verify_certificate(data, con.services.signer.public_pem)
            valid = True
        except CertificateInvalidError:
            valid = False
        return PrintedCertificate(json.loads(data), digest(data), valid), staff_names(rt)

    printed, names = await con.read("records.manage", code, load)
    return _page(con, "print_certificate.html", code, cert=printed.doc["certificate"],
                 signature=printed.doc["signature"], digest=printed.digest,
                 valid=printed.valid, record_classes=RECORD_CLASSES, skip_reasons=SKIP_REASONS,
                 staff=_namer(con, names))


def _uuid(value: str, message: str, message_ja: str, error_code: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PageError(404, message, message_ja, error_code) from None
