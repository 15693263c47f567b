"""The reporting figures as count cells: one function both the live view and a reproduction use.

A *cell* is (month, site, contract, measure, code) → a count, e.g.
``("2026-05", "a-hiroba", "contract-a-npo", "consultations.channel", "outreach") → 3``.
Every figure a report asks for is a sum of cells (by month, site, site type,
direct/entrusted operation, contractor — the last three are the site's and
the contract's, looked up when the report is rendered).  A cell holds codes,
months and counts only: no household id and no personal value.

``cells_of(event, memory)`` says which cells an event adds to.  The live read
model (``report_view.ReportView``) keeps the cells in a table; a report's
reproduction (``services/report_figures.py``) folds the log up to a position
into a ``Counter`` with the same function — so "the figures the view shows"
and "the figures rebuilt from events" cannot drift apart.

Only fields left readable by crypto-shredding are read (events come with their
personal fields withheld), so a disposal changes no cell.  A few events need
what an earlier event of the same aggregate said (a referral sent: its site
and agency kind were on the draft); ``memory`` keeps that, under the
aggregate's own id (never a household's), and forgets it when it cannot be
needed again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Protocol

from yorisoi.domain.case_meetings import CaseMeeting
from yorisoi.domain.complaints import Complaint
from yorisoi.domain.consultations import Consultation
from yorisoi.domain.data_subject_requests import DataSubjectRequest
from yorisoi.domain.outreach import OutreachVisit
from yorisoi.domain.referrals import Referral
from yorisoi.domain.representative_meetings import RepresentativeMeeting
from yorisoi.infra.clock import JST

Cell = tuple[str, str, str, str, str]  # month, site_id, contract_id ("" direct), measure, code

# The measures, in the order the documentation lists them (docs/reports.md).
MEASURES: dict[str, str] = {
    "consultations": "相談件数（延べ）",
    "consultations.channel": "相談方法別",
    "consultations.theme": "相談内容別（1件が内容ごとに数えられる）",
    "consultations.age_band": "子どもの年齢区分別",
    "households": "実人数（その年度に初めて相談した世帯）：新規・継続",
    "referrals.sent": "つないだ件数（関係機関の種別）",
    "referrals.outcome": "つないだ結果",
    "meetings.case": "ケース会議（予定され中止されなかったもの）",
    "meetings.representative": "代表者会議",
    "complaints.received": "苦情の受付（種別）",
    "complaints.resolved": "苦情の解決（結果）",
    "complaints.days_to_resolve": "解決までの日数（合計）",
    "complaints.escalated": "苦情の第三者委員等への申立て",
    "requests.received": "開示等の請求（種別）",
    "requests.decided": "開示等の請求の決定（期限内・期限後）",
    "outreach.done": "訪問（実施）",
}

# Municipality-wide figures (representative meetings, data-subject requests) have no site.
NO_SITE = ""


class Memory(Protocol):
    """What earlier events of an aggregate said, under that aggregate's own id."""

    def recall(self, kind: str, item_id: str) -> dict[str, Any] | None: ...

    def remember(self, kind: str, item_id: str, value: dict[str, Any]) -> None: ...

    def forget(self, kind: str, item_id: str) -> None: ...


class DictMemory:
    """``Memory`` in a dict: a reproduction's fold."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def recall(self, kind: str, item_id: str) -> dict[str, Any] | None:
        return self.items.get((kind, item_id))

    def remember(self, kind: str, item_id: str, value: dict[str, Any]) -> None:
        self.items[(kind, item_id)] = value

    def forget(self, kind: str, item_id: str) -> None:
        self.items.pop((kind, item_id), None)


HANDLED: tuple[type, ...] = (
    Consultation.Recorded,
    Referral.Drafted, Referral.Sent, Referral.Accepted, Referral.Declined,
    Referral.OutcomeRecorded, Referral.Closed,
    CaseMeeting.Scheduled, CaseMeeting.Cancelled,
    RepresentativeMeeting.Recorded,
    Complaint.Received, Complaint.OutcomeRecorded, Complaint.Escalated,
    DataSubjectRequest.Received, DataSubjectRequest.DeadlineExtended,  # type: ignore[attr-defined]
    DataSubjectRequest.Answered, DataSubjectRequest.Refused,  # type: ignore[attr-defined]
    OutreachVisit.Planned, OutreachVisit.Done, OutreachVisit.NotMet, OutreachVisit.Cancelled,
    OutreachVisit.HandedOver,
)


def month_of(day: date | datetime) -> str:
    if isinstance(day, datetime):
        day = day.astimezone(JST).date() if day.tzinfo is not None else day.date()
    return day.isoformat()[:7]


def _where(memory: Memory, kind: str, item_id: str) -> dict[str, Any] | None:
    return memory.recall(kind, item_id)


def cells_of(event: Any, memory: Memory) -> Iterable[tuple[Cell, int]]:
    """The cells ``event`` adds to (or, for a cancellation, takes from)."""
    if isinstance(event, Consultation.Recorded):
        month, site, contract = month_of(event.occurred_on), event.site_id, event.contract_id or ""
        yield (month, site, contract, "consultations", ""), 1
        yield (month, site, contract, "consultations.channel", event.channel), 1
        for theme in dict.fromkeys(event.themes):  # a theme counts once per consultation
            yield (month, site, contract, "consultations.theme", theme), 1
        yield (month, site, contract, "consultations.age_band", event.age_band or "unknown"), 1
        if event.first_in_fiscal_year:
            kind = "new" if event.case_new_in_fiscal_year else "continuing"
            yield (month, site, contract, "households", kind), 1
        return
    item = str(event.originator_id)  # (not for consultations: ~1 µs each, the most events)
    if isinstance(event, Referral.Drafted):
        memory.remember("referral", item, {"site": event.site_id,
                                           "contract": event.contract_id or "",
                                           "kind": event.agency_kind})
    elif isinstance(event, Referral.Sent | Referral.Accepted | Referral.Declined
                    | Referral.OutcomeRecorded):
        held = _where(memory, "referral", item)
        if held is None:  # cannot happen: a referral is drafted first
            raise LookupError("a referral's step that the reports have not seen drafted")
        if isinstance(event, Referral.Sent):
            yield (month_of(event.sent_on), held["site"], held["contract"], "referrals.sent",
                   held["kind"]), 1
        elif isinstance(event, Referral.Accepted):
            yield (month_of(event.accepted_on), held["site"], held["contract"],
                   "referrals.outcome", "accepted"), 1
        elif isinstance(event, Referral.Declined):
            yield (month_of(event.declined_on), held["site"], held["contract"],
                   "referrals.outcome", "declined"), 1
        else:
            yield (month_of(event.recorded_on), held["site"], held["contract"],
                   "referrals.outcome", event.outcome), 1
    elif isinstance(event, Referral.Closed):
        memory.forget("referral", item)
    elif isinstance(event, CaseMeeting.Scheduled):
        cell = (month_of(event.starts_at), event.site_id, event.contract_id or "",
                "meetings.case", "")
        memory.remember("meeting", item, {"cell": list(cell)})
        yield cell, 1
    elif isinstance(event, CaseMeeting.Cancelled):
        held = _where(memory, "meeting", item)
        if held is not None:
            yield tuple(held["cell"]), -1  # type: ignore[misc]
            memory.forget("meeting", item)
    elif isinstance(event, RepresentativeMeeting.Recorded):
        yield (month_of(event.held_on), NO_SITE, "", "meetings.representative", ""), 1
    elif isinstance(event, Complaint.Received):
        memory.remember("complaint", item, {"site": event.site_id,
                                            "contract": event.contract_id or "",
                                            "received_on": event.received_on.isoformat()})
        yield (month_of(event.received_on), event.site_id, event.contract_id or "",
               "complaints.received", event.kind), 1
    elif isinstance(event, Complaint.OutcomeRecorded | Complaint.Escalated):
        held = _where(memory, "complaint", item)
        if held is None:
            raise LookupError("a complaint's step that the reports have not seen received")
        if isinstance(event, Complaint.Escalated):
            yield (month_of(event.escalated_on), held["site"], held["contract"],
                   "complaints.escalated", ""), 1
        else:
            month = month_of(event.decided_on)
            days = (event.decided_on - date.fromisoformat(held["received_on"])).days
            yield (month, held["site"], held["contract"], "complaints.resolved", event.outcome), 1
            yield (month, held["site"], held["contract"], "complaints.days_to_resolve", ""), days
    elif isinstance(event, DataSubjectRequest.Received):  # type: ignore[attr-defined]
        memory.remember("request", item, {"due_on": event.due_on.isoformat()})
        yield (month_of(event.received_on), NO_SITE, "", "requests.received", event.kind), 1
    elif isinstance(event, DataSubjectRequest.DeadlineExtended):  # type: ignore[attr-defined]
        memory.remember("request", item, {"due_on": event.due_on.isoformat()})
    elif isinstance(event, DataSubjectRequest.Answered | DataSubjectRequest.Refused):  # type: ignore[attr-defined]
        held = _where(memory, "request", item)
        decided = getattr(event, "answered_on", None) or event.refused_on
        if held is not None:
            timely = "in_time" if decided <= date.fromisoformat(held["due_on"]) else "late"
            yield (month_of(decided), NO_SITE, "", "requests.decided", timely), 1
            memory.forget("request", item)
    elif isinstance(event, OutreachVisit.Planned):
        memory.remember("visit", item, {"site": event.site_id,
                                        "contract": event.contract_id or ""})
    elif isinstance(event, OutreachVisit.HandedOver):
        # A planned visit moved with its case: counted for the contract that makes it.
        held = _where(memory, "visit", item)
        if held is not None:
            memory.remember("visit", item, {**held, "contract": event.to_contract_id})
    elif isinstance(event, OutreachVisit.Done):
        held = _where(memory, "visit", item)
        if held is not None:
            yield (month_of(event.done_on), held["site"], held["contract"], "outreach.done", ""), 1
            memory.forget("visit", item)
    elif isinstance(event, OutreachVisit.Cancelled | OutreachVisit.NotMet):
        memory.forget("visit", item)
