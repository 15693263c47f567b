"""Break-glass: a compliance auditor's recorded reason to see one case's personal fields.

Compliance auditors read records with personal fields masked.  When an
investigation needs the content (a complaint about how a family was treated,
a disclosure request, an incident), the auditor records why — a reason code
and a short justification — and for a bounded time reads that one household's
personal fields.  The record itself is an event in the municipality's log
(and so in its audit ledger); every read made under it is logged with its id.

The justification is shown to compliance staff and the municipality; it must
not contain personal data (the form says so; it is not sealed).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError

REASONS = {
    "complaint_investigation": ("Investigating a complaint", "苦情の調査"),
    "disclosure_request": ("Answering a disclosure request", "開示請求への対応"),
    "incident_investigation": ("Investigating a suspected incident or leak", "事故・漏えいの調査"),
    "legal_request": ("A request under law (court, police, 児童相談所)", "法令に基づく照会"),
    "records_audit": ("A records audit of this case", "記録の監査"),
}
MAX_JUSTIFICATION = 400
MAX_MINUTES = 240
DEFAULT_MINUTES = 30


class BreakGlassReasonUnknownError(DomainError):
    code = "break_glass_reason_unknown"
    message = "Choose one of the break-glass reasons: " + ", ".join(REASONS) + "."
    message_ja = "閲覧理由を一覧から選んでください。"


class BreakGlassJustificationRequiredError(DomainError):
    code = "break_glass_justification_required"
    message = (f"Explain why the personal fields are needed (10–{MAX_JUSTIFICATION} characters, "
               "without personal data).")
    message_ja = (f"個人情報の閲覧が必要な理由を10〜{MAX_JUSTIFICATION}文字で入力してください"
                  "（個人情報は書かないでください）。")


class BreakGlassDurationInvalidError(DomainError):
    code = "break_glass_duration_invalid"
    message = f"Break-glass access lasts 5–{MAX_MINUTES} minutes."
    message_ja = f"閲覧期間は5〜{MAX_MINUTES}分の範囲で指定してください。"


class BreakGlass(Aggregate):
    """One recorded break-glass use: who, which case, why, until when."""

    @classmethod
    def record(cls, *, case_id: UUID, household_id: UUID, reason_code: str,
               justification: str, minutes: int, now: datetime) -> BreakGlass:
        if reason_code not in REASONS:
            raise BreakGlassReasonUnknownError(field="reasonCode")
        text = justification.strip()
        if not 10 <= len(text) <= MAX_JUSTIFICATION:
            raise BreakGlassJustificationRequiredError(field="justification")
        if not 5 <= minutes <= MAX_MINUTES:
            raise BreakGlassDurationInvalidError(field="minutes")
        return cls(break_glass_id=uuid4(), case_id=case_id, household_id=household_id,
                   reason_code=reason_code, justification=text,
                   expires_at=now + timedelta(minutes=minutes))

    @staticmethod
    def create_id(break_glass_id: UUID) -> UUID:
        return break_glass_id

    @event("Recorded")
    def __init__(self, break_glass_id: UUID, case_id: UUID, household_id: UUID,
                 reason_code: str, justification: str, expires_at: datetime) -> None:
        self.case_id = case_id
        self.household_id = household_id
        self.reason_code = reason_code
        self.justification = justification
        self.expires_at = expires_at
