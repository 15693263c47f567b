"""A visit follows its case to a successor contract only while it is still to be made."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

from yorisoi.domain.outreach import OutreachVisit

TODAY = date(2025, 6, 15)


def _visit() -> OutreachVisit:
    return OutreachVisit.plan(
        case_id=uuid4(), household_id=uuid4(), site_id="a-hiroba", contract_id="contract-a-npo",
        kind="home_visit", planned_on=TODAY, starts_at=None, ends_at=None,
        visitors=["staff-1"], place="home", place_note=None, purpose="様子を伺う",
        case_opened_on=TODAY - timedelta(days=30), today=TODAY)


def test_a_planned_visit_moves_once_and_says_from_where() -> None:
    visit = _visit()
    assert visit.hand_over(to_contract_id="contract-b") is True
    assert visit.hand_over(to_contract_id="contract-b") is False  # already there: no event
    (moved,) = [e for e in visit.collect_events() if isinstance(e, OutreachVisit.HandedOver)]
    assert (moved.from_contract_id, moved.to_contract_id) == ("contract-a-npo", "contract-b")
    assert visit.contract_id == "contract-b" and visit.status == OutreachVisit.PLANNED


def test_a_visit_made_missed_or_called_off_stays_with_its_contract() -> None:
    made, missed, off = _visit(), _visit(), _visit()
    made.record_done(done_on=TODAY, visitors=None, outcome="consulted", summary="話した",
                     next_step="none", next_step_note=None, follow_up_on=None,
                     follow_up_owner=None, consultation_id=None,
                     case_opened_on=TODAY - timedelta(days=30), today=TODAY)
    missed.record_not_met(attempted_on=TODAY, reason="absent", note=None, next_step="revisit",
                          follow_up_on=None, follow_up_owner=None,
                          case_opened_on=TODAY - timedelta(days=30), today=TODAY)
    off.cancel(reason=None)
    for visit in (made, missed, off):
        assert visit.hand_over(to_contract_id="contract-b") is False
        assert visit.contract_id == "contract-a-npo"
