"""The case timeline view, on SQLite and PostgreSQL.

A case's life is written through the real casework application (aggregates
saved as the application saves them; support notes and lifecycle through its
commands); the timeline is read through ``TimelineQueries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

import pytest
from key_destruction import destroy_key

from yorisoi.domain.cases import Case
from yorisoi.domain.consultations import Consultation
from yorisoi.domain.households import Child, Guardian, Household
from yorisoi.domain.vocabulary import STANDARD_THEMES
from yorisoi.infra.clock import japan_today
from yorisoi.projections.case_queries import CursorInvalidError
from yorisoi.projections.timeline import TimelineQueries, TimelineView, timeline_aad
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.tenants.runtime import TenantRuntime

CITY_A = "131016"
STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
SUPERVISOR = ActingContext(user_id="sup-1", role="municipal_supervisor",
                           organisation_kind="municipality", organisation_id=CITY_A,
                           site_id="a-counter")
ASKED = "二歳の子のことばが遅いのが心配"
NOTE = "保育園の見学に同行した"


def ago(days: int) -> date:
    return japan_today() - timedelta(days=days)


@dataclass
class Life:
    case_id: UUID
    household_id: UUID
    consultation_id: UUID
    note_id: UUID


def live_a_case(rt: TenantRuntime) -> Life:
    """Opened 10 days ago, consulted 8, noted 5, flagged by the council, closed 2 days ago."""
    with acting_as(STAFF):
        household = Household.register(guardians=[Guardian("架空 花子", "母")],
                                       children=[Child("架空 たろう", date(2024, 5, 1))],
                                       pregnancy=None, today=japan_today())
        case = Case(household_id=household.id, municipality_code=CITY_A, site_id="a-counter",
                    contract_id=None, opened_on=ago(10))
        consultation = Consultation.record(
            case_id=case.id, household_id=household.id, site_id="a-counter", contract_id=None,
            occurred_on=ago(8), channel="phone", themes=["development"], asked=ASKED,
            wishes="", direction="", today=japan_today(), allowed_themes=STANDARD_THEMES.keys())
        case.note_consultation(consultation.id)
        rt.casework.save(household, case, consultation)
        note = rt.casework.write_support_note(case.id, written_on=ago(5), kind="follow_up",
                                              body=NOTE, writable_contract_ids=None)
    with acting_as(SUPERVISOR):
        rt.casework.mark_council_case(case.id, council_case=True, expected_version=None,
                                      writable_contract_ids=None)
        rt.casework.close_case(case.id, closed_on=ago(2), reason="moved_away",
                               expected_version=None, writable_contract_ids=None)
    rt.catch_up()
    return Life(case.id, household.id, consultation.id, note.id)


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


def test_timeline_lists_the_case_newest_first_with_actors_and_decrypted_summaries(rt):
    life = live_a_case(rt)
    page = queries(rt).page(str(life.case_id), first=20)
    assert page.total_count == 5 and not page.has_next_page
    # The council flag carries no date of its own: it is dated when it was recorded (today).
    assert [(e.kind, e.occurred_on) for e in page.entries] == [
        ("council_case_marked", ago(0).isoformat()),
        ("case_closed", ago(2).isoformat()),
        ("support_note", ago(5).isoformat()),
        ("consultation", ago(8).isoformat()),
        ("case_opened", ago(10).isoformat()),
    ]
    by_kind = {e.kind: e for e in page.entries}
    assert by_kind["consultation"].summary == ASKED
    assert by_kind["consultation"].detail == {"channel": "phone", "themes": ["development"]}
    assert by_kind["support_note"].summary == NOTE
    assert by_kind["support_note"].detail == {"note_kind": "follow_up", "version": 1}
    assert by_kind["case_closed"].detail == {"closure_reason": "moved_away"}
    assert by_kind["council_case_marked"].detail == {"council_case": True}
    assert by_kind["case_opened"].summary is None
    assert (by_kind["support_note"].actor, by_kind["support_note"].actor_role) == (
        "staff-1", "specialist")
    assert (by_kind["case_closed"].actor, by_kind["case_closed"].actor_role) == (
        "sup-1", "municipal_supervisor")
    assert by_kind["consultation"].entry_id == str(life.consultation_id)
    assert by_kind["support_note"].entry_id == str(life.note_id)


def test_keyset_pages_cover_the_timeline_once_and_a_bad_cursor_is_refused(rt):
    life = live_a_case(rt)
    seen, after = [], None
    while True:
        page = queries(rt).page(str(life.case_id), first=2, after=after)
        assert page.total_count == 5
        seen += [e.entry_id for e in page.entries]
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert seen == [e.entry_id for e in queries(rt).page(str(life.case_id), first=10).entries]
    assert len(set(seen)) == 5
    with pytest.raises(CursorInvalidError):
        queries(rt).page(str(life.case_id), first=2, after="not-a-cursor")


def test_correction_marks_the_entry_and_keeps_the_original_event(rt):
    life = live_a_case(rt)
    with acting_as(SUPERVISOR):
        rt.casework.reopen_case(life.case_id, reopened_on=ago(1), expected_version=None,
                                writable_contract_ids=None)
    with acting_as(STAFF):
        rt.casework.correct_support_note(life.note_id, case_id=life.case_id,
                                         body="保育園二か所の見学に同行した", reason="見学先の数",
                                         expected_version=1, writable_contract_ids=None)
    rt.catch_up()
    entries = {e.entry_id: e for e in queries(rt).page(str(life.case_id), first=10).entries}
    note = entries[str(life.note_id)]
    assert note.corrected and note.summary == "保育園二か所の見学に同行した"
    assert note.detail["version"] == 2
    assert note.actor == "staff-1"  # still who wrote it; the correction's actor is in the log
    assert not entries[str(life.consultation_id)].corrected
    assert entries[f"{life.case_id}:5"].kind == "case_reopened"

    events = list(rt.casework.recorder.select_events(life.note_id))
    assert [e.topic.rsplit(".", 1)[-1] for e in events] == ["Written", "Corrected"]
    original = rt.casework.mapper.to_domain_event(events[0])
    assert original.body == NOTE


def test_rebuilding_the_timeline_gives_exactly_the_live_rows(rt):
    first = live_a_case(rt)
    live_a_case(rt)
    with acting_as(SUPERVISOR):
        rt.casework.reopen_case(first.case_id, reopened_on=ago(0), expected_version=None,
                                writable_contract_ids=None)
    with acting_as(STAFF):
        rt.casework.correct_support_note(first.note_id, case_id=first.case_id, body="訂正後",
                                         reason="誤記", expected_version=None,
                                         writable_contract_ids=None)
    rt.catch_up()
    live = rows(rt)
    assert len(live) == 2 * 5 + 1
    projector = timeline_projector(rt)
    assert projector.rebuild() > 0
    assert rows(rt) == live
    status = projector.status()
    assert status.position == status.head and status.lag == 0


def test_disposed_households_summaries_read_as_null_and_rebuild_still_works(rt):
    disposed, kept = live_a_case(rt), live_a_case(rt)
    assert destroy_key(rt, disposed.household_id)
    page = queries(rt).page(str(disposed.case_id), first=10)
    assert page.total_count == 5
    assert all(e.summary is None for e in page.entries)
    assert {e.kind for e in page.entries} >= {"consultation", "support_note", "case_closed"}
    assert queries(rt).page(str(kept.case_id), first=10).entries[2].summary == NOTE

    timeline_projector(rt).rebuild()
    assert all(e.summary is None
               for e in queries(rt).page(str(disposed.case_id), first=10).entries)
    assert [e.summary for e in queries(rt).page(str(kept.case_id), first=10).entries
            if e.summary] == [NOTE, ASKED]


def test_timeline_rows_hold_no_plaintext_of_what_the_family_said(rt):
    live_a_case(rt)
    with rt.casework.database.transaction(write=False) as cur:
        found = cur.execute("SELECT * FROM {s}timeline_view").fetchall()
    blob = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                    for row in found for v in row.values())
    for secret in (ASKED, NOTE, "ことば", "見学"):
        assert secret.encode() not in blob


def test_consultation_correction_marks_its_entry_and_changes_the_summary_only_if_asked(rt):
    life = live_a_case(rt)
    with acting_as(SUPERVISOR):
        rt.casework.reopen_case(life.case_id, reopened_on=ago(1), expected_version=None,
                                writable_contract_ids=None)
    with acting_as(STAFF):
        rt.casework.correct_consultation(life.case_id, life.consultation_id,
                                         changes={"wishes": "近くの相談先"}, reason="追記",
                                         expected_version=None, writable_contract_ids=None)
    rt.catch_up()
    entries = {e.entry_id: e for e in queries(rt).page(str(life.case_id), first=10).entries}
    entry = entries[str(life.consultation_id)]
    assert entry.corrected and entry.summary == ASKED
    with acting_as(STAFF):
        rt.casework.correct_consultation(life.case_id, life.consultation_id,
                                         changes={"asked": "ことばの遅れ"}, reason="主訴の訂正",
                                         expected_version=None, writable_contract_ids=None)
    rt.catch_up()
    entries = {e.entry_id: e for e in queries(rt).page(str(life.case_id), first=10).entries}
    assert entries[str(life.consultation_id)].summary == "ことばの遅れ"
    live = rows(rt)
    timeline_projector(rt).rebuild()
    assert rows(rt) == live


def test_referrals_and_case_meetings_appear_on_the_timeline_with_sealed_summaries(rt):
    from datetime import datetime
    from uuid import uuid4

    from yorisoi.domain.case_meetings import CaseMeeting
    from yorisoi.domain.referrals import Referral
    from yorisoi.infra.clock import JST

    with acting_as(STAFF):
        household = Household.register(guardians=[Guardian("架空 花子", "母")], children=[],
                                       pregnancy=None, today=japan_today(),
                                       outside_target_reason="祖母からの相談")
        case = Case(household_id=household.id, municipality_code=CITY_A, site_id="a-counter",
                    contract_id=None, opened_on=ago(10))
        referral = Referral.draft(
            case_id=case.id, household_id=household.id, agency_id=uuid4(),
            agency_kind="health_center", site_id="a-counter", contract_id=None,
            reason="産後の支援者がいない", urgent=True, accompanied=False, shared_fields=[],
            today=japan_today())
        starts = datetime.combine(ago(3), datetime.min.time(), JST).replace(hour=14)
        meeting = CaseMeeting.schedule(
            case_id=case.id, household_id=household.id, site_id="a-counter", contract_id=None,
            starts_at=starts, ends_at=starts.replace(hour=15), place="相談室",
            agenda="今後の支援の確認", internal=[("staff-1", "specialist")], external=[],
            council_case=False, council_decision=None)
        rt.casework.save(household, case, referral, meeting)
    rt.catch_up()
    entries = {r["entry_id"]: r for r in rows(rt)}
    drafted = entries[str(referral.id)]
    assert (drafted["kind"], drafted["summary_sealed"]) == ("referral_drafted", "産後の支援者がいない")
    assert '"urgent": true' in drafted["detail"]
    scheduled = entries[str(meeting.id)]
    assert (scheduled["kind"], scheduled["occurred_on"]) == ("case_meeting_scheduled",
                                                              ago(3).isoformat())
    assert scheduled["summary_sealed"] == "今後の支援の確認"
    with rt.casework.database.transaction(write=False) as cur:
        raw = cur.execute("SELECT summary_sealed FROM {s}timeline_view WHERE entry_id = %s",
                          (str(referral.id),)).fetchone()
    assert "産後".encode() not in bytes(raw["summary_sealed"])


def test_a_household_correction_appears_once_on_each_of_its_cases(rt):
    from yorisoi.services.casework import NewHousehold

    life = live_a_case(rt)  # projected: its case is known to the view from stored rows
    with acting_as(STAFF):
        # A second case of the same family, opened in the batch the correction is in.
        second = Case(household_id=life.household_id, municipality_code=CITY_A,
                      site_id="a-counter", contract_id=None, opened_on=ago(1))
        rt.casework.save(second)
        rt.casework.reopen_case(life.case_id, reopened_on=ago(0), expected_version=None,
                                writable_contract_ids=None)
        rt.casework.correct_household(
            life.case_id, NewHousehold(guardians=[Guardian("架空 花", "母")],
                                       children=[Child("架空 たろう", date(2024, 5, 1))],
                                       pregnancy=None),
            reason="氏名の誤記", expected_version=None, writable_contract_ids=None)
    rt.catch_up()
    for case_id in (life.case_id, second.id):
        entries = [e for e in queries(rt).page(str(case_id), first=20).entries
                   if e.kind == "household_corrected"]
        assert len(entries) == 1, case_id
        (entry,) = entries
        assert entry.summary == "氏名の誤記" and entry.detail == {"fields": ["guardians"]}
        assert entry.occurred_on == ago(0).isoformat() and entry.actor == "staff-1"
    # Rebuilt in one batch (case and correction together): the same rows.
    live = rows(rt)
    timeline_projector(rt).rebuild()
    assert rows(rt) == live
    # Disposal: the entries stay, the reason is gone.
    assert destroy_key(rt, life.household_id)
    assert [e.summary for e in queries(rt).page(str(second.id), first=20).entries
            if e.kind == "household_corrected"] == [None]
