"""What each reported event counts (report_cells.cells_of): referrals, meetings, complaints,
data-subject requests and outreach visits, with the memory a later step needs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from uuid import uuid4

from yorisoi.domain.case_meetings import CaseMeeting
from yorisoi.domain.complaints import Complaint
from yorisoi.domain.data_subject_requests import DataSubjectRequest
from yorisoi.domain.outreach import OutreachVisit
from yorisoi.domain.referrals import Referral
from yorisoi.domain.representative_meetings import RepresentativeMeeting
from yorisoi.projections.report_cells import HANDLED, DictMemory, cells_of


def ev(cls: type, originator_id, **fields):  # noqa: ANN001, ANN201
    """An event as the mapper builds it (personal fields withheld: absent here)."""
    event = object.__new__(cls)
    object.__setattr__(event, "__dict__", {"originator_id": originator_id,
                                           "originator_version": 1, **fields})
    return event


def fold(events: list) -> tuple[Counter, DictMemory]:  # noqa: ANN001
    memory, cells = DictMemory(), Counter()
    for event in events:
        for cell, n in cells_of(event, memory):
            cells[cell] += n
    return Counter({c: n for c, n in cells.items() if n}), memory


def test_a_referral_counts_when_sent_and_its_outcome_and_is_forgotten_when_closed() -> None:
    r = uuid4()
    cells, memory = fold([
        ev(Referral.Drafted, r, site_id="s1", contract_id=None, agency_kind="health_center",
           drafted_on=date(2026, 4, 30)),
        ev(Referral.Sent, r, sent_on=date(2026, 5, 1)),
        ev(Referral.Accepted, r, accepted_on=date(2026, 5, 2)),
        ev(Referral.OutcomeRecorded, r, recorded_on=date(2026, 6, 1), outcome="service_started"),
        ev(Referral.Closed, r, closed_on=date(2026, 6, 2), reason="completed"),
    ])
    assert cells == Counter({
        ("2026-05", "s1", "", "referrals.sent", "health_center"): 1,
        ("2026-05", "s1", "", "referrals.outcome", "accepted"): 1,
        ("2026-06", "s1", "", "referrals.outcome", "service_started"): 1})
    assert memory.items == {}  # nothing kept once it cannot be needed


def test_a_cancelled_meeting_is_not_counted_and_representative_meetings_are_municipal() -> None:
    kept, cancelled = uuid4(), uuid4()
    start = datetime(2026, 7, 31, 16, 0, tzinfo=UTC)  # 1 August in Japan
    cells, _ = fold([
        ev(CaseMeeting.Scheduled, kept, site_id="s1", contract_id="c1", starts_at=start),
        ev(CaseMeeting.Scheduled, cancelled, site_id="s1", contract_id="c1", starts_at=start),
        ev(CaseMeeting.Cancelled, cancelled),
        ev(RepresentativeMeeting.Recorded, uuid4(), held_on=date(2026, 9, 1)),
    ])
    assert cells == Counter({("2026-08", "s1", "c1", "meetings.case", ""): 1,
                             ("2026-09", "", "", "meetings.representative", ""): 1})


def test_complaints_count_received_resolved_days_and_escalations() -> None:
    c = uuid4()
    cells, _ = fold([
        ev(Complaint.Received, c, site_id="s1", contract_id="c1", kind="complaint",
           received_on=date(2026, 4, 10)),
        ev(Complaint.Escalated, c, escalated_on=date(2026, 4, 20)),
        ev(Complaint.OutcomeRecorded, c, decided_on=date(2026, 5, 5), outcome="resolved"),
    ])
    assert cells == Counter({
        ("2026-04", "s1", "c1", "complaints.received", "complaint"): 1,
        ("2026-04", "s1", "c1", "complaints.escalated", ""): 1,
        ("2026-05", "s1", "c1", "complaints.resolved", "resolved"): 1,
        ("2026-05", "s1", "c1", "complaints.days_to_resolve", ""): 25})


def test_requests_are_decided_in_time_against_the_extended_deadline() -> None:
    a, b = uuid4(), uuid4()
    cells, _ = fold([
        ev(DataSubjectRequest.Received, a, kind="disclosure", received_on=date(2026, 4, 1),  # type: ignore[attr-defined]
           due_on=date(2026, 5, 1)),
        ev(DataSubjectRequest.DeadlineExtended, a, due_on=date(2026, 5, 31)),  # type: ignore[attr-defined]
        ev(DataSubjectRequest.Answered, a, answered_on=date(2026, 5, 20)),  # type: ignore[attr-defined]
        ev(DataSubjectRequest.Received, b, kind="correction", received_on=date(2026, 4, 1),  # type: ignore[attr-defined]
           due_on=date(2026, 5, 1)),
        ev(DataSubjectRequest.Refused, b, refused_on=date(2026, 5, 2)),  # type: ignore[attr-defined]
    ])
    assert cells[("2026-05", "", "", "requests.decided", "in_time")] == 1
    assert cells[("2026-05", "", "", "requests.decided", "late")] == 1
    assert cells[("2026-04", "", "", "requests.received", "disclosure")] == 1


def test_outreach_visits_count_when_done_at_their_site() -> None:
    done, missed = uuid4(), uuid4()
    cells, memory = fold([
        ev(OutreachVisit.Planned, done, site_id="s1", contract_id=None),
        ev(OutreachVisit.Done, done, done_on=date(2026, 10, 3)),
        ev(OutreachVisit.Planned, missed, site_id="s1", contract_id=None),
        ev(OutreachVisit.NotMet, missed, attempted_on=date(2026, 10, 4)),
    ])
    assert cells == Counter({("2026-10", "s1", "", "outreach.done", ""): 1})
    assert memory.items == {}


def test_every_handled_event_is_one_the_view_routes_to_it() -> None:
    from yorisoi.projections.report_view import ReportView

    assert all(ReportView.handles(cls) for cls in HANDLED)
    assert not ReportView.handles(Referral.FollowUpScheduled)
