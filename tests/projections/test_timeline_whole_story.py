"""The case timeline tells the whole story (issue 16, item 6): consents given and withdrawn,
documents kept, referral steps, meeting steps, closure and reopening — in order, and a
rebuild gives exactly the live rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from yorisoi.domain.case_meetings import CaseMeeting
from yorisoi.domain.cases import Case
from yorisoi.domain.consent import Consent, ConsentException
from yorisoi.domain.households import Child, Guardian, Household
from yorisoi.domain.referrals import Referral
from yorisoi.infra.clock import JST, japan_today
from yorisoi.projections.timeline import TimelineQueries, TimelineView, timeline_aad
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.tenants.runtime import TenantRuntime

CITY_A = "131016"
STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
SUPERVISOR = ActingContext(user_id="sup-1", role="municipal_supervisor",
                           organisation_kind="municipality", organisation_id=CITY_A,
                           site_id="a-counter")


def ago(days: int):
    return japan_today() - timedelta(days=days)


def queries(rt: TenantRuntime) -> TimelineQueries:
    return TimelineQueries(rt.casework.database, rt.casework.keyring)


def rows(rt: TenantRuntime) -> list[dict]:
    """Every timeline row, sealed summaries opened (ciphertext differs at every sealing)."""
    with rt.casework.database.transaction(write=False) as cur:
        found = cur.execute("SELECT * FROM {s}timeline_view ORDER BY entry_id").fetchall()
    for row in found:
        row["summary_sealed"] = rt.casework.keyring.open_json(
            UUID(row["household_id"]), row["summary_sealed"], timeline_aad(row["entry_id"]))
        row["corrected"] = bool(row["corrected"])
    return found


def timeline_projector(rt: TenantRuntime):
    (projector,) = [p for p in rt.projectors if isinstance(p.view, TimelineView)]
    return projector


@pytest.fixture
def rt(world):
    with world.services.runtimes.lease(CITY_A) as runtime:
        yield runtime


def whole_story(rt: TenantRuntime) -> tuple[UUID, dict[str, object]]:
    today = japan_today()
    with acting_as(STAFF):
        household = Household.register(guardians=[Guardian("架空 花子", "母")],
                                       children=[Child("架空 たろう", ago(400))],
                                       pregnancy=None, today=today)
        case = Case(household_id=household.id, municipality_code=CITY_A, site_id="a-counter",
                    contract_id=None, opened_on=ago(20))
        consent = Consent.give(household_id=household.id, case_id=case.id,
                               purpose="create_records", given_by="架空 花子", relationship="母",
                               given_on=ago(20), scope="", today=today)
        sharing = ConsentException.record(household_id=household.id, case_id=case.id,
                                          purpose="share", agency_kind="health_center",
                                          legal_basis="child_welfare_act_25",
                                          reason="緊急のため", taken_on=ago(18), today=today)
        case.attach(attachment_id=uuid4(), kind="consent_form", content_type="application/pdf",
                    size=45 * 1024, sha256="0" * 64)
        referral = Referral.draft(
            case_id=case.id, household_id=household.id, agency_id=uuid4(),
            agency_kind="health_center", site_id="a-counter", contract_id=None,
            reason="産後の支援者がいない", urgent=False, accompanied=False, shared_fields=[],
            today=today)
        referral.send(sent_on=today, today=today, confidentiality_basis="public_servant",
                      consent_covered=True, consent_id=str(consent.id))
        referral.acknowledge(acknowledged_on=today, today=today)
        referral.accept(accepted_on=today, today=today)
        referral.record_outcome(outcome="service_started", note="訪問が始まった",
                                recorded_on=today, today=today)
        starts = datetime.combine(ago(10), datetime.min.time(), JST).replace(hour=10)
        meeting = CaseMeeting.schedule(
            case_id=case.id, household_id=household.id, site_id="a-counter", contract_id=None,
            starts_at=starts, ends_at=starts + timedelta(hours=1), place="相談室",
            agenda="支援の確認", internal=[("staff-1", "specialist")], external=[],
            council_case=False, council_decision=None)
        meeting.record_minutes(wishes="", state_and_issues="様子を見る", support_goals="",
                               concrete_support="", now=datetime.now(JST))
        action = meeting.assign_action(owner_user_id="staff-1", what="電話で様子を聞く",
                                       due_on=today)
        meeting.complete_action(action_id=action, completed_on=ago(1))
        consent.withdraw(withdrawn_on=ago(5), reason="転居のため", today=today)
        rt.casework.save(household, case, consent, sharing, referral, meeting)
    with acting_as(SUPERVISOR):
        rt.casework.close_case(case.id, closed_on=ago(3), reason="moved_away",
                               expected_version=None, writable_contract_ids=None)
        rt.casework.reopen_case(case.id, reopened_on=ago(2), expected_version=None,
                                writable_contract_ids=None)
    rt.catch_up()
    return case.id, {"consent": consent.id, "referral": referral.id, "meeting": meeting.id}


def test_the_timeline_tells_the_whole_story_in_order(rt) -> None:
    case_id, _ = whole_story(rt)
    page = queries(rt).page(str(case_id), first=100)
    kinds = [e.kind for e in reversed(page.entries)]  # oldest first
    for kind in ("case_opened", "consent_given", "consent_exception", "attachment_added",
                 "referral_drafted", "referral_sent", "referral_acknowledged",
                 "referral_accepted", "referral_outcome", "case_meeting_scheduled",
                 "case_meeting_held", "case_meeting_action_assigned",
                 "case_meeting_action_completed", "consent_withdrawn", "case_closed",
                 "case_reopened"):
        assert kind in kinds, kind
    dated = [(e.occurred_on, e.kind) for e in reversed(page.entries)]
    assert dated == sorted(dated, key=lambda d: d[0])
    by_kind = {e.kind: e for e in page.entries}
    attached = by_kind["attachment_added"].detail
    assert attached == {"attachment_kind": "consent_form", "content_type": "application/pdf",
                        "size": 45 * 1024}
    assert by_kind["consent_withdrawn"].summary == "転居のため"
    assert by_kind["referral_outcome"].detail == {"outcome": "service_started"}
    assert by_kind["referral_outcome"].summary == "訪問が始まった"
    assert by_kind["consent_given"].summary is None  # who consented stays off the timeline
    assert by_kind["case_meeting_action_assigned"].summary == "電話で様子を聞く"


def test_rebuilding_the_whole_story_gives_exactly_the_live_rows(rt) -> None:
    whole_story(rt)
    whole_story(rt)
    live = rows(rt)
    assert len(live) == 2 * 16
    projector = timeline_projector(rt)
    assert projector.rebuild() > 0
    assert rows(rt) == live
    with rt.casework.database.transaction(write=False) as cur:
        raw = cur.execute("SELECT summary_sealed FROM {s}timeline_view"
                          " WHERE kind = 'consent_withdrawn'").fetchall()
    assert all("転居".encode() not in bytes(r["summary_sealed"]) for r in raw)
