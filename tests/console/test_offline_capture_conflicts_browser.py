"""Offline capture in Chromium: the conflict kinds the first journeys do not meet, each made on
the server while the device is really offline (Playwright's offline mode), then resolved on the
device as the rules allow — and what landed on the server checked.

- A contractor's specialist: a case **handed over to another contract** leaves her reach
  (``out_of_reach``: the rule's words, no "record anyway"); her consultation is attached to
  another case and written there once, nothing on the case that left.  A consultation
  **corrected** meanwhile: both sides (the corrected text beside her draft), recorded anyway
  with a reason (the note and the reason, once each).
- A municipal specialist (every contract is within her reach): a case **handed over** meanwhile
  is shown as such and recorded anyway with a reason (written on the case under its new
  contract); a household **disposed of** meanwhile is refused with the rule's words, offers no
  "record anyway", and is discarded: nothing written.  The device's store holds no plaintext.
- Visits: a visit a colleague **recorded meanwhile** (``visit_not_planned``: the rule's words,
  only discard, nothing written) and a visit **moved meanwhile** (recorded anyway with a
  reason: done once); a new family that **may already be registered** (``duplicate``:
  registered anyway with a reason, one household).

Its own module (its own world): disposal needs a retention schedule for the whole municipality.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from records_steps import RECORDS_OFFICER, old_family, schedule
from test_browser import sign_in
from test_offline_capture_browser import (
    NPO_STAFF,
    OFFICE,
    WAIT,
    _count,
    _family,
    _go_offline,
    _new_family_draft,
    _plan,
    _visit_status,
    _stored_text,
    _take_offline,
)
from world import CITY_A, IDLE_NPO, NPO, consultation_command

from yorisoi.domain.households import Child, Guardian
from yorisoi.infra.clock import japan_today
from yorisoi.infra.wiring.bootstrap import OPERATOR
from yorisoi.services.casework import NewHousehold
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import acting_as

pytestmark = pytest.mark.slow
SUCCESSOR = "contract-a-kaze-2"


@pytest.fixture(scope="module", autouse=True)
def _successor(live_console: Any) -> None:
    """An active contract the NPO's cases can be handed over to (another contractor's)."""
    today = japan_today()
    with acting_as(OPERATOR):
        live_console.world.services.directory.sign_contract(
            contract_id=SUCCESSOR, municipality_code=CITY_A, contractor_id=IDLE_NPO,
            site_ids=["a-hiroba"], starts_on=today - timedelta(days=1),
            ends_on=today + timedelta(days=365))


def _hand_over(world: Any, case_id: str) -> None:
    """The municipality moves one of the NPO's cases to the successor contract (the NPO's
    contract suspended for the hand-over, as the rule requires, then resumed)."""
    directory = world.services.directory
    with acting_as(OPERATOR):
        directory.suspend_contract(contract_id="contract-a-npo", suspended_on=japan_today(),
                                   reason="audit_finding")
    try:
        with world.services.runtimes.lease(CITY_A) as rt, acting_as(OFFICE):
            moved = rt.casework.hand_over_cases(
                [uuid.UUID(case_id)], municipality_code=CITY_A,
                predecessor=directory.registry.contract("contract-a-npo"),
                successor=directory.registry.contract(SUCCESSOR), on=japan_today())
            rt.catch_up()
        assert moved == [uuid.UUID(case_id)]
    finally:
        with acting_as(OPERATOR):
            directory.resume_contract(contract_id="contract-a-npo", resumed_on=japan_today())


def _dispose(world: Any, case_id: str, household_id: str) -> None:
    """The case closed years ago (as recorded), its period run, the household disposed of."""
    from yorisoi.services.disposal import Disposal

    with world.services.runtimes.lease(CITY_A) as rt, acting_as(OFFICE):
        rt.casework.close_case(uuid.UUID(case_id), closed_on=date(2019, 6, 1),
                               reason="support_completed", expected_version=None,
                               writable_contract_ids=None)
    schedule(world, years=1, two_person=False)
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(RECORDS_OFFICER):
        rt.catch_up()
        disposal = Disposal(rt, world.services.objects, world.services.signer)
        batch = disposal.propose([household_id])
        rt.casework.approve_disposal(batch.id, expected_version=None)
        disposal.run(uuid.UUID(str(batch.id)))
        rt.catch_up()


def _consultations(world: Any, case_id: str) -> list[str]:
    """What was asked in each of the case's consultations (the projection, as the case page)."""
    with world.services.runtimes.lease(CITY_A) as rt:
        rt.catch_up()
        return [c.asked for c in rt.cases.consultations([case_id])[case_id]]


def _contract_of(world: Any, case_id: str) -> str:
    with world.services.runtimes.lease(CITY_A) as rt:
        return rt.casework.repository.get(uuid.UUID(case_id)).contract_id


def _drafts(page: Any, n: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('#queue li').length === {n}",
                           timeout=WAIT)


def _note(page: Any, guardian: str, body: str) -> None:
    page.locator("#cases article", has_text=guardian).get_by_role(
        "button", name="支援記録を書く").click()
    page.get_by_label("記録の内容").fill(body)
    page.get_by_role("button", name="下書きを保存").click()


def _consultation(page: Any, guardian: str, asked: str) -> None:
    page.locator("#cases article", has_text=guardian).get_by_role(
        "button", name="相談を記録").click()
    page.get_by_label("相談内容（主訴）").fill(asked)
    page.locator("#capture-form").get_by_label("発達").check()
    page.get_by_role("button", name="下書きを保存").click()


def _sent(page: Any, n: int) -> None:
    page.wait_for_function("document.getElementById('app-message').textContent"
                           f".includes('{n}件を送信しました')", timeout=WAIT)


def _quiet(page: Any) -> None:
    page.evaluate("document.getElementById('app-message').textContent = ''")


def test_a_contractors_case_handed_over_or_corrected_meanwhile(live_console, chromium) -> None:
    base, world = live_console.url, live_console.world
    leaving, staying, fixed = ("架空 " + uuid.uuid4().hex[:5] for _ in range(3))
    ids = {name: _family(world, name) for name in (leaving, staying, fixed)}
    page = sign_in(chromium, base, "委託事業者", NPO, "npo-staff-4", "specialist", "a-hiroba")
    context = page.context
    _take_offline(page, base, [leaving, staying, fixed])

    _go_offline(page)
    _consultation(page, leaving, "引継ぎ前に聞いた相談")
    _note(page, fixed, "訂正前の記録を見て書いた記録")
    _drafts(page, 2)
    stored = _stored_text(page)
    for secret in (leaving, fixed, "引継ぎ前に聞いた相談", "訂正前の記録を見て書いた記録"):
        assert secret not in stored

    # Meanwhile at the office: one case handed over to another contractor, a record corrected.
    _hand_over(world, ids[leaving])
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(NPO_STAFF):
        case = rt.casework.readable_case(uuid.UUID(ids[fixed]), None)
        rt.casework.correct_consultation(uuid.UUID(ids[fixed]), case.consultation_ids[0],
                                         changes={"asked": "訂正後の主訴（聞き違い）"},
                                         reason="聞き違い", expected_version=None,
                                         writable_contract_ids=None)
        rt.catch_up()
    events_before = _count(world, "")

    context.set_offline(False)
    page.locator("#conflicts article").nth(1).wait_for(timeout=WAIT)
    assert _count(world, "") == events_before  # nothing applied blindly

    # Handed over: out of her reach; the rule's words; no "record anyway"; attached elsewhere.
    gone = page.locator("#conflicts article", has_text="引継ぎ前に聞いた相談")
    text = gone.inner_text()
    assert "このケースはあなたの担当範囲から外れました（引継ぎまたは廃棄）。" in text
    assert "指定されたケースが見つかりません。" in text  # the rule's own words
    assert "あなたの下書き" in text and "現在のケース" in text
    assert gone.get_by_role("button", name="このまま記録する").count() == 0
    assert SUCCESSOR not in text and "kaze" not in text  # no internal ids
    gone.get_by_label("記録先のケース").select_option(value=ids[staying])
    _quiet(page)
    gone.get_by_role("button", name="別のケースに記録する").click()
    _sent(page, 1)
    assert _consultations(world, ids[staying]).count("引継ぎ前に聞いた相談") == 1
    assert "引継ぎ前に聞いた相談" not in _consultations(world, ids[leaving])
    assert _contract_of(world, ids[leaving]) == SUCCESSOR

    # Corrected: her draft beside the corrected record; recorded anyway with a reason.
    corrected = page.locator("#conflicts article", has_text="訂正前の記録を見て書いた記録")
    text = corrected.inner_text()
    assert "その後、ケースの記録が訂正されました。" in text
    assert "訂正後の主訴（聞き違い）" in text  # the other side
    notes_before = _count(world, "SupportNote")
    corrected.get_by_label("このまま記録する理由").fill("訂正内容を確認し、訪問の記録は変わらないため")
    _quiet(page)
    corrected.get_by_role("button", name="このまま記録する").click()
    _sent(page, 1)
    assert page.locator("#conflicts article").count() == 0
    assert _count(world, "SupportNote") == notes_before + 2  # the note and its reason, once
    page.goto(f"{base}/console/m/{CITY_A}/cases/{ids[fixed]}")
    main = page.locator("main").inner_text()
    assert "訂正前の記録を見て書いた記録" in main and "訂正内容を確認し" in main
    context.close()


def test_a_municipal_specialist_meets_a_hand_over_and_a_disposal(live_console, chromium) -> None:
    base, world = live_console.url, live_console.world
    moved = "架空 " + uuid.uuid4().hex[:5]
    moved_id = _family(world, moved)  # at the NPO's site, under its contract
    old_guardian = "架空 " + uuid.uuid4().hex[:5]
    old = old_family(world, guardian=old_guardian, closed_on=None)  # served since 2019, open
    page = sign_in(chromium, base, "市町村", CITY_A, "a-office-5", "specialist",
                   "a-hiroba,a-counter")
    context = page.context
    _take_offline(page, base, [moved, old_guardian])

    _go_offline(page)
    _note(page, moved, "引継ぎの日に聞いた近況")
    _consultation(page, old_guardian, "廃棄された世帯への相談")
    _drafts(page, 2)

    _hand_over(world, moved_id)
    _dispose(world, old.case_id, old.household_id)
    events_before, notes_before = _count(world, ""), _count(world, "SupportNote")

    context.set_offline(False)
    page.locator("#conflicts article").nth(1).wait_for(timeout=WAIT)
    assert _count(world, "") == events_before

    # Disposed: the rule refuses; no "record anyway"; discarded, nothing written.
    disposed = page.locator("#conflicts article", has_text="廃棄された世帯への相談")
    text = disposed.inner_text()
    assert "その後、世帯の記録が廃棄されました。" in text
    assert "指定されたケースが見つかりません。" in text
    assert "あなたの下書き" in text and "現在のケース" in text
    assert disposed.get_by_role("button", name="このまま記録する").count() == 0
    disposed.get_by_role("button", name="下書きを破棄する").click()
    page.wait_for_function("document.getElementById('app-message').textContent"
                           ".includes('下書きを破棄しました')", timeout=WAIT)
    assert _count(world, "") == events_before

    # Handed over, still within her reach: shown as such, recorded anyway with a reason.
    handed = page.locator("#conflicts article", has_text="引継ぎの日に聞いた近況")
    text = handed.inner_text()
    assert "その後、ケースが別の委託契約に引き継がれました。" in text
    assert "あなたの下書き" in text and "現在のケース" in text
    assert SUCCESSOR not in text and "contract-a-npo" not in text
    handed.get_by_label("このまま記録する理由").fill("引継ぎ先にも伝わるよう記録する")
    _quiet(page)
    handed.get_by_role("button", name="このまま記録する").click()
    _sent(page, 1)
    assert page.locator("#conflicts article").count() == 0
    assert _count(world, "SupportNote") == notes_before + 2
    assert _contract_of(world, moved_id) == SUCCESSOR
    page.goto(f"{base}/console/m/{CITY_A}/cases/{moved_id}")
    assert "引継ぎの日に聞いた近況" in page.locator("main").inner_text()
    page.goto(f"{base}/console/offline")
    page.wait_for_selector("[data-ready='1']", state="attached", timeout=WAIT)

    # The device holds no plaintext of either family, nor of what was written.
    stored = _stored_text(page)
    for secret in (moved, old_guardian, "引継ぎの日に聞いた近況", "廃棄された世帯への相談",
                   "引継ぎ先にも伝わるよう記録する"):
        assert secret not in stored
    context.close()



def _visit_events(world: Any, visit_id: str) -> int:
    with world.services.runtimes.lease(CITY_A) as rt:
        return len(list(rt.casework.recorder.select_events(uuid.UUID(visit_id))))


def _outcome(page: Any, guardian: str, result: str) -> None:
    page.locator("#cases article", has_text=guardian).get_by_role(
        "button", name="訪問の結果を記録").click()
    page.get_by_label("結果", exact=True).select_option(result)
    if result == "done":
        page.get_by_label("訪問の記録（訪問できた場合）").fill("玄関先で子どもの様子を見た")
    else:
        page.get_by_label("会えなかった理由（会えなかった場合）").select_option("absent")
    page.get_by_label("次の対応", exact=True).select_option("revisit")
    page.get_by_role("button", name="下書きを保存").click()


def test_visits_recorded_or_moved_and_a_family_already_registered(live_console, chromium) -> None:
    from yorisoi.services import outreach

    base, world = live_console.url, live_console.world
    recorded, moved = ("架空 " + uuid.uuid4().hex[:5] for _ in range(2))
    ids = {name: _family(world, name) for name in (recorded, moved)}
    visits = {name: _plan(world, ids[name]) for name in (recorded, moved)}
    twin_guardian, twin_child = "架空 " + uuid.uuid4().hex[:5], "架空 " + uuid.uuid4().hex[:5]
    _family_of(world, twin_guardian, twin_child)
    page = sign_in(chromium, base, "委託事業者", NPO, "npo-staff-6", "specialist", "a-hiroba")
    context = page.context
    _take_offline(page, base, [recorded, moved])

    _go_offline(page)
    _outcome(page, recorded, "not_met")
    _outcome(page, moved, "done")
    _new_family_draft(page, twin_guardian, twin_child, born="令和6年5月1日",
                      asked="転入したばかりで相談先を探している")
    _drafts(page, 3)

    # Meanwhile: the colleague the first visit was planned for records it as not met, and
    # she moves the second to tomorrow (who tried and who goes are checked against their
    # organisation's staff: each is herself).
    with world.services.runtimes.lease(CITY_A) as rt:
        with acting_as(replace(NPO_STAFF, user_id="npo-staff-1")):
            outreach.record_visit_not_met(rt.casework, uuid.UUID(visits[recorded]),
                                          outreach.VisitOutcome(on=japan_today(),
                                                                next_step="revisit",
                                                                reason="declined"),
                                          expected_version=None, writable_contract_ids=None)
        with acting_as(replace(NPO_STAFF, user_id="npo-staff-6")):
            outreach.reschedule_visit(rt.casework, uuid.UUID(visits[moved]),
                                      planned_on=japan_today() + timedelta(days=1),
                                      starts_at="14:00", ends_at="15:00",
                                      visitors=["npo-staff-6"], expected_version=None,
                                      writable_contract_ids=None)
        rt.catch_up()
    events_before = _count(world, "")
    households_before = _count(world, "Household.Registered")
    done_before = _count(world, "OutreachVisit.Done")

    context.set_offline(False)
    page.locator("#conflicts article").nth(2).wait_for(timeout=WAIT)
    assert _count(world, "") == events_before

    # Recorded meanwhile: the rule's words, her outcome beside theirs; only discard.
    taken = page.locator("#conflicts article", has_text=recorded)
    text = taken.inner_text()
    assert "その後、この訪問は記録済みか中止になりました。" in text
    assert "訪問: 会えなかった" in text  # the case now
    assert "会えなかった理由" in text and "不在" in text  # her draft
    assert taken.get_by_role("button", name="このまま記録する").count() == 0
    assert taken.get_by_role("button", name="別のケースに記録する").count() == 0
    before = _visit_events(world, visits[recorded])
    taken.get_by_role("button", name="下書きを破棄する").click()
    page.wait_for_function("document.getElementById('app-message').textContent"
                           ".includes('下書きを破棄しました')", timeout=WAIT)
    assert _visit_events(world, visits[recorded]) == before
    assert _count(world, "") == events_before

    # Moved meanwhile: recorded anyway with a reason — the visit done once, the reason kept.
    rescheduled = page.locator("#conflicts article", has_text=moved)
    assert "その後、この訪問の予定が変更されました。" in rescheduled.inner_text()
    notes_before = _count(world, "SupportNote")
    rescheduled.get_by_label("このまま記録する理由").fill("予定変更の連絡前に訪問していた")
    _quiet(page)
    rescheduled.get_by_role("button", name="このまま記録する").click()
    _sent(page, 1)
    assert _visit_status(world, visits[moved]) == "done"
    assert _count(world, "OutreachVisit.Done") == done_before + 1
    assert _count(world, "SupportNote") == notes_before + 1  # the reason

    # The family may already be registered: both sides, registered anyway with a reason.
    twin = page.locator("#conflicts article", has_text="新しい世帯")
    text = twin.inner_text()
    assert "この世帯はすでに登録されている可能性があります（候補1件）。" in text
    assert twin_guardian in text  # her draft (sealed on the device, shown to her)
    assert twin.get_by_role("button", name="別のケースに記録する").count() == 0
    twin.get_by_label("このまま記録する理由").fill("同姓同名の別の家族と確認した")
    _quiet(page)
    twin.get_by_role("button", name="このまま記録する").click()
    _sent(page, 1)
    assert page.locator("#conflicts article").count() == 0
    assert _count(world, "Household.Registered") == households_before + 1
    stored = _stored_text(page)
    for secret in (recorded, moved, twin_guardian, twin_child, "予定変更の連絡前に訪問していた"):
        assert secret not in stored
    context.close()


def _family_of(world: Any, guardian: str, child: str) -> None:
    """A family already registered (the NPO's site): the same guardian and child."""
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(NPO_STAFF):
        rt.casework.record_consultation(consultation_command(
            household=NewHousehold(guardians=[Guardian(guardian, "母")],
                                   children=[Child(child, date(2024, 5, 1))], pregnancy=None),
            consent=NewConsent(given_by=guardian, relationship="母",
                               given_on=japan_today() - timedelta(days=1),
                               scope="相談記録の作成")))
        rt.catch_up()
