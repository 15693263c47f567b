"""Offline capture in Chromium (Debian's, driven by Playwright), with the network really cut.

Journey 1: a specialist registers her device, takes a case offline, goes out (network off),
records a consultation and a new family, reloads while offline (the pages come from the
service worker; the drafts wait, sealed and locked), comes back online (the key is released
again, the drafts are sent in order) and sees them on the case; a note whose answer is lost
on the way is sent again under the same key and written once; the device's storage
(IndexedDB, localStorage, Cache Storage) holds no name and no consultation text.

Journey 2: conflicts — a case whose consent was withdrawn meanwhile is refused by the rule and
shown (the draft discarded); a case closed meanwhile is shown with both sides and the draft
attached to another case instead.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from test_browser import sign_in
from world import CITY_A, NPO, consultation_command

from yorisoi.domain.households import Child, Guardian
from yorisoi.infra.clock import japan_today
from yorisoi.services.casework import NewHousehold
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as

pytestmark = pytest.mark.slow
WAIT = 60_000  # ms: a loaded machine is slow, never wrong
NEW_GUARDIAN, NEW_CHILD = "架空 秋子", "架空 こはる"
ASKED_OFFLINE = "夜になると子どもが泣き止まない"
NOTE_BODY = "帰り際に保健師訪問の日程を伝えた"
NPO_STAFF = ActingContext(user_id="npo-seed", role="specialist", organisation_kind="contractor",
                          organisation_id=NPO, contract_id="contract-a-npo", site_id="a-hiroba")
OFFICE = ActingContext(user_id="a-office", role="specialist", organisation_kind="municipality",
                       organisation_id=CITY_A)


def _family(world: Any, guardian: str) -> str:
    """A family with its consent, recorded at the NPO's site: its case id."""
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(NPO_STAFF):
        done = rt.casework.record_consultation(consultation_command(
            household=NewHousehold(guardians=[Guardian(guardian, "母")],
                                   children=[Child("架空 " + uuid.uuid4().hex[:4],
                                                   date(2024, 5, 1))], pregnancy=None),
            consent=NewConsent(given_by=guardian, relationship="母",
                               given_on=japan_today() - timedelta(days=1),
                               scope="相談記録の作成")))
        rt.catch_up()
    return str(done.case_id)


def _count(world: Any, topic: str) -> int:
    with world.services.runtimes.lease(CITY_A) as rt:
        return sum(1 for n in rt.casework.recorder.select_notifications(start=1, limit=100000)
                   if topic in n.topic)


def _plan(world: Any, case_id: str) -> str:
    """A home visit planned for today (the pack page ticks its case)."""
    from yorisoi.services import outreach

    # She plans her own visit (who will go must be her organisation's staff).
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(
            replace(NPO_STAFF, user_id="npo-staff-1")):
        visit = outreach.plan_visit(rt.casework, outreach.PlanVisit(
            case_id=uuid.UUID(case_id), kind="home_visit", planned_on=japan_today(),
            starts_at="10:00", ends_at="11:00", visitors=["npo-staff-1"], place="home",
            place_note=None, purpose="生活の様子を伺う"), writable_contract_ids=None)
        rt.catch_up()
    return str(visit.id)


def _visit_status(world: Any, visit_id: str) -> str:
    from yorisoi.projections.case_queries import CaseScope
    from yorisoi.projections.visit_queries import VisitQueries

    with world.services.runtimes.lease(CITY_A) as rt:
        rt.catch_up()
        return VisitQueries(rt.casework.database, rt.casework.keyring).get(
            CaseScope(contract_ids=None, site_ids=None), visit_id).status


def _ready(page: Any) -> None:
    page.wait_for_selector("[data-ready='1']", state="attached", timeout=WAIT)


def _take_offline(page: Any, base: str, guardians: list[str],
                  label: str = "訪問用タブレット") -> None:
    """The pack page: register this device, tick the cases, take them; then the offline
    pages, open with the cases."""
    page.goto(f"{base}/console/m/{CITY_A}/offline")
    _ready(page)
    page.get_by_label("この端末の名前").fill(label)
    page.get_by_role("button", name="この端末を登録する").click()
    page.wait_for_function("document.getElementById('device-state').textContent"
                           f".includes('{label}')", timeout=WAIT)
    for guardian in guardians:
        page.get_by_label(re.compile(re.escape(guardian))).check()
    page.get_by_role("button", name="選んだケースを持ち出す").click()
    page.wait_for_function("document.getElementById('pack-state').textContent"
                           ".includes('持ち出しました')", timeout=WAIT)
    _open_offline_pages(page)


def _open_offline_pages(page: Any) -> None:
    page.get_by_role("link", name="オフライン画面を開く").click()
    _ready(page)
    # The service worker controls the page once it has cached the shell.
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=WAIT)
    page.wait_for_selector("#cases article", timeout=WAIT)


def _go_offline(page: Any) -> None:
    """Out of signal (Playwright's offline mode), and the page knows it."""
    page.context.set_offline(True)
    page.wait_for_function("!navigator.onLine", timeout=WAIT)


def _new_family_draft(page: Any, guardian: str, child: str, *, born: str, asked: str) -> None:
    """A new family (the guardian, her child, her consent, what she asked) kept as a draft."""
    page.get_by_role("button", name="新しい世帯を登録（同意あり）").click()
    page.get_by_label("保護者の氏名").fill(guardian)
    page.get_by_label("続柄", exact=True).fill("母")
    page.get_by_label("子どもの氏名").fill(child)
    page.get_by_label("子どもの生年月日").fill(born)
    page.get_by_label("同意した人", exact=True).fill(guardian)
    page.get_by_label("同意した人の続柄").fill("母")
    page.get_by_label("相談内容（主訴）").fill(asked)
    page.locator("#capture-form").get_by_label("発達").check()
    page.get_by_role("button", name="下書きを保存").click()


def _queue_text(page: Any) -> str:
    return page.locator("#queue").inner_text()


def _held(page: Any) -> int:
    """Rows the device's store holds: its registration, the sealed pack, the drafts."""
    return page.evaluate("""async () => {
      const db = await new Promise((ok) => { const r = indexedDB.open('yorisoi-offline'); r.onsuccess = () => ok(r.result); });
      const count = (name) => new Promise((ok) => { const r = db.transaction(name).objectStore(name).count(); r.onsuccess = () => ok(r.result); });
      const device = await new Promise((ok) => { const r = db.transaction('device').objectStore('device').get('device'); r.onsuccess = () => ok(r.result); });
      return (device ? 1 : 0) + (await count('vault')) + (await count('drafts'));
    }""")


def _stored_text(page: Any) -> str:
    """Everything the origin keeps on the device, as text (bytes as Latin-1 and UTF-8)."""
    return page.evaluate("""async () => {
      const out = [];
      const dump = (v) => {
        if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
          const bytes = new Uint8Array(v.buffer ? v.buffer : v);
          out.push(new TextDecoder('utf-8', {fatal: false}).decode(bytes));
          out.push(Array.from(bytes, (b) => String.fromCharCode(b)).join(''));
        } else if (v && typeof v === 'object' && !(v instanceof CryptoKey)) {
          Object.values(v).forEach(dump);
        } else if (v instanceof CryptoKey) {
          out.push('CryptoKey extractable=' + v.extractable);
        } else { out.push(String(v)); }
      };
      for (const info of await indexedDB.databases()) {
        const db = await new Promise((ok, ko) => { const r = indexedDB.open(info.name); r.onsuccess = () => ok(r.result); r.onerror = ko; });
        for (const name of db.objectStoreNames) {
          const rows = await new Promise((ok) => { const r = db.transaction(name).objectStore(name).getAll(); r.onsuccess = () => ok(r.result); });
          rows.forEach(dump);
        }
        db.close();
      }
      for (let i = 0; i < localStorage.length; i++) out.push(localStorage.key(i), localStorage.getItem(localStorage.key(i)));
      for (let i = 0; i < sessionStorage.length; i++) out.push(sessionStorage.key(i), sessionStorage.getItem(sessionStorage.key(i)));
      for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        for (const request of await cache.keys()) {
          out.push(request.url, await (await cache.match(request)).text());
        }
      }
      return out.join('\\n');
    }""")


def test_a_visit_with_the_network_off_reaches_the_case_once(live_console, chromium) -> None:
    base, world = live_console.url, live_console.world
    guardian = "架空 " + uuid.uuid4().hex[:5]
    case_id = _family(world, guardian)
    visit_id = _plan(world, case_id)
    page = sign_in(chromium, base, "委託事業者", NPO, "npo-staff-1", "specialist", "a-hiroba")
    context = page.context
    _take_offline(page, base, [guardian])
    assert guardian in page.locator("#cases").inner_text()

    # Out of signal: a consultation on the case and a new family, both kept as drafts.
    households_before = _count(world, "Household.Registered")
    _go_offline(page)
    page.locator("#cases article", has_text=guardian).get_by_role(
        "button", name="相談を記録").click()
    page.get_by_label("相談内容（主訴）").fill(ASKED_OFFLINE)
    page.locator("#capture-form").get_by_label("発達").check()
    page.get_by_role("button", name="下書きを保存").click()
    _new_family_draft(page, NEW_GUARDIAN, NEW_CHILD, born="令和6年6月1日",
                      asked="引っ越してきたばかりで相談先がない")
    # The planned home visit: the family was out.
    page.locator("#cases article", has_text=guardian).get_by_role(
        "button", name="訪問の結果を記録").click()
    page.get_by_label("結果", exact=True).select_option("not_met")
    page.get_by_label("会えなかった理由（会えなかった場合）").select_option("absent")
    page.get_by_label("次の対応", exact=True).select_option("revisit")
    page.get_by_role("button", name="下書きを保存").click()
    page.wait_for_function("document.querySelectorAll('#queue li').length === 3", timeout=WAIT)
    assert "新しい世帯" in _queue_text(page) and "訪問" in _queue_text(page)

    # Nothing readable on the device: names and texts are sealed, the local key unusable alone.
    stored = _stored_text(page)
    for secret in (guardian, NEW_GUARDIAN, NEW_CHILD, ASKED_OFFLINE, "泣き止まない", "秋子"):
        assert secret not in stored
    assert "CryptoKey extractable=false" in stored

    # A reload while offline: the service worker answers; the drafts wait, locked.
    page.reload()
    _ready(page)
    assert "ロック中" in page.locator("#app-state").inner_text()
    assert page.locator("#queue li").count() == 3
    assert guardian not in page.locator("main").inner_text()

    # Back online: the key comes again for this session, the drafts go in order.
    context.set_offline(False)
    page.wait_for_function("document.getElementById('app-message').textContent"
                           ".includes('3件を送信しました')", timeout=WAIT)
    assert "送信待ちの下書きはありません" in _queue_text(page)
    assert _visit_status(world, visit_id) == "not_met"

    # A note whose answer is lost on the way back: sent again under the same key, written once.
    notes_before = _count(world, "SupportNote")
    lost: list[int] = []

    def lose_the_answer(route: Any) -> None:
        route.fetch()  # the server writes and answers ...
        lost.append(1)
        route.abort()  # ... and the answer never reaches the device

    page.route("**/offline/sync", lose_the_answer)
    page.locator("#cases article", has_text=guardian).get_by_role(
        "button", name="支援記録を書く").click()
    page.get_by_label("記録の内容").fill(NOTE_BODY)
    page.get_by_role("button", name="下書きを保存").click()
    page.wait_for_function("document.getElementById('app-message').textContent"
                           ".includes('サーバーに接続できませんでした')", timeout=WAIT)
    assert lost and page.locator("#queue li").count() == 1
    page.unroute("**/offline/sync")
    page.get_by_role("button", name="下書きを今すぐ送信").click()
    page.wait_for_function("document.getElementById('app-message').textContent"
                           ".includes('1件を送信しました')", timeout=WAIT)
    assert _count(world, "SupportNote") == notes_before + 1

    # On the case: the consultation recorded offline; the new family is registered.
    page.goto(f"{base}/console/m/{CITY_A}/cases/{case_id}")
    assert ASKED_OFFLINE in page.locator("main").inner_text()
    assert _count(world, "Household.Registered") == households_before + 1
    context.close()


def test_conflicts_are_shown_with_both_sides_and_resolved_on_the_device(
        live_console, chromium) -> None:
    base, world = live_console.url, live_console.world
    withdrawn, closing, other, busy = ("架空 " + uuid.uuid4().hex[:5] for _ in range(4))
    ids = {name: _family(world, name) for name in (withdrawn, closing, other, busy)}
    page = sign_in(chromium, base, "委託事業者", NPO, "npo-staff-2", "specialist", "a-hiroba")
    context = page.context
    _take_offline(page, base, [withdrawn, closing, other, busy])

    _go_offline(page)
    page.locator("#cases article", has_text=withdrawn).get_by_role(
        "button", name="相談を記録").click()
    page.get_by_label("相談内容（主訴）").fill("撤回後の相談")
    page.locator("#capture-form").get_by_label("発達").check()
    page.get_by_role("button", name="下書きを保存").click()
    page.locator("#cases article", has_text=closing).get_by_role(
        "button", name="支援記録を書く").click()
    page.get_by_label("記録の内容").fill("終結後に書いた記録")
    page.get_by_role("button", name="下書きを保存").click()
    page.locator("#cases article", has_text=busy).get_by_role(
        "button", name="支援記録を書く").click()
    page.get_by_label("記録の内容").fill("訪問先で聞いた近況")
    page.get_by_role("button", name="下書きを保存").click()
    page.wait_for_function("document.querySelectorAll('#queue li').length === 3", timeout=WAIT)

    # Meanwhile at the office: the consent is withdrawn, a case closed, one recorded on.
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(OFFICE):
        case = uuid.UUID(ids[withdrawn])
        consent = rt.casework.case_consents(case, None).consents[0]
        rt.casework.withdraw_consent(case, consent.id, withdrawn_on=japan_today(), reason="",
                                     writable_contract_ids=None)
        rt.casework.close_case(uuid.UUID(ids[closing]), closed_on=japan_today(),
                               reason="support_completed", expected_version=None,
                               writable_contract_ids=None)
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(NPO_STAFF):
        rt.casework.record_consultation(consultation_command(
            case_id=uuid.UUID(ids[busy]), household=None, consent=None,
            asked="同僚が電話で聞いた内容", occurred_on=japan_today()))
        rt.catch_up()
    events_before = _count(world, "")

    context.set_offline(False)
    cards = page.locator("#conflicts article")
    cards.nth(2).wait_for(timeout=WAIT)
    assert _count(world, "") == events_before  # nothing applied blindly

    refused = page.locator("#conflicts article", has_text="撤回後の相談")
    text = refused.inner_text()
    assert "その後、家族が同意を撤回しました。" in text
    assert "この操作を対象とする同意は撤回されています" in text  # the rule's own words
    assert "記録の作成についての同意: なし" in text  # the case now
    assert refused.get_by_role("button", name="このまま記録する").count() == 0
    refused.get_by_role("button", name="下書きを破棄する").click()
    page.wait_for_function("document.getElementById('app-message').textContent"
                           ".includes('下書きを破棄しました')", timeout=WAIT)

    closed = page.locator("#conflicts article", has_text="終結後に書いた記録")
    text = closed.inner_text()
    assert "その後、ケースが終結しました。" in text
    assert "あなたの下書き" in text and "現在のケース" in text and "終結" in text
    closed.get_by_label("記録先のケース").select_option(value=ids[other])
    notes_before = _count(world, "SupportNote")
    page.evaluate("document.getElementById('app-message').textContent = ''")
    closed.get_by_role("button", name="別のケースに記録する").click()
    page.wait_for_function("document.getElementById('app-message').textContent"
                           ".includes('1件を送信しました')", timeout=WAIT)
    assert _count(world, "SupportNote") == notes_before + 1

    # Someone recorded on the case meanwhile: both sides shown, recorded anyway with a reason.
    changed = page.locator("#conflicts article", has_text="訪問先で聞いた近況")
    text = changed.inner_text()
    assert "その後、ほかの職員がケースに記録しました。" in text
    assert "同僚が電話で聞いた内容" in text  # their side
    changed.get_by_label("このまま記録する理由").fill("同僚の記録とは別の訪問のため")
    page.evaluate("document.getElementById('app-message').textContent = ''")
    changed.get_by_role("button", name="このまま記録する").click()
    page.wait_for_function("document.getElementById('app-message').textContent"
                           ".includes('1件を送信しました')", timeout=WAIT)
    assert page.locator("#conflicts article").count() == 0
    assert _count(world, "SupportNote") == notes_before + 3  # the note and its reason
    page.goto(f"{base}/console/m/{CITY_A}/cases/{ids[other]}")
    assert "支援記録" in page.locator("main").inner_text()

    # The device is revoked: it gets no key any more, and its store is emptied.
    page.goto(f"{base}/console/m/{CITY_A}/offline")
    _ready(page)
    page.get_by_role("button", name="登録を取り消す: 訪問用タブレット").click()
    assert "この端末にはもう鍵が渡されません" in page.locator("main").inner_text()
    _ready(page)
    assert "登録は取り消されています" in page.locator("#device-state").inner_text()
    page.goto(f"{base}/console/offline")
    _ready(page)
    assert "登録は取り消されています" in page.locator("#app-state").inner_text()
    assert other not in _stored_text(page)
    assert _held(page) == 0
    context.close()


def test_a_contractors_administrator_revokes_a_device_of_its_staff(live_console, chromium) -> None:
    """The device is out with a draft waiting when the NPO's administrator revokes it: back
    online it gets no key, says so, and drops everything it held."""
    base, world = live_console.url, live_console.world
    guardian = "架空 " + uuid.uuid4().hex[:5]
    _family(world, guardian)
    page = sign_in(chromium, base, "委託事業者", NPO, "npo-staff-8", "specialist", "a-hiroba")
    _take_offline(page, base, [guardian], label="ひだまり8号の端末")
    _go_offline(page)
    page.locator("#cases article", has_text=guardian).get_by_role(
        "button", name="支援記録を書く").click()
    page.get_by_label("記録の内容").fill("取消の前に書いた記録")
    page.get_by_role("button", name="下書きを保存").click()
    page.wait_for_function("document.querySelectorAll('#queue li').length === 1", timeout=WAIT)
    assert _held(page) == 3

    admin = sign_in(chromium, base, "委託事業者", NPO, "npo-admin", "contractor_admin")
    admin.goto(f"{base}/console/m/{CITY_A}/offline")
    _ready(admin)
    row = admin.locator("#devices-h ~ * tr", has_text="ひだまり8号の端末")
    assert "npo-staff-8" not in admin.locator("main").inner_text()  # a name, never a subject
    notes_before = _count(world, "SupportNote")
    row.get_by_role("button", name="登録を取り消す: ひだまり8号の端末").click()
    assert "この端末にはもう鍵が渡されません" in admin.locator("main").inner_text()
    assert "取消済み" in admin.locator("#devices-h ~ * tr",
                                     has_text="ひだまり8号の端末").inner_text()
    admin.context.close()

    page.context.set_offline(False)
    page.wait_for_function("document.getElementById('app-state').textContent"
                           ".includes('登録は取り消されています')", timeout=WAIT)
    assert _held(page) == 0
    assert guardian not in _stored_text(page) and guardian not in page.locator(
        "main").inner_text()
    assert _count(world, "SupportNote") == notes_before  # the draft was not sent
    page.context.close()


def test_the_key_is_forgotten_after_idle_minutes(live_console, chromium) -> None:
    base, world = live_console.url, live_console.world
    guardian = "架空 " + uuid.uuid4().hex[:5]
    _family(world, guardian)
    page = sign_in(chromium, base, "委託事業者", NPO, "npo-staff-3", "specialist", "a-hiroba")
    page.clock.install()
    _take_offline(page, base, [guardian])
    assert guardian in page.locator("#cases").inner_text()
    # A device left somewhere: 31 minutes without a key press or a touch.
    page.clock.run_for("31:00")
    assert "ロック中" in page.locator("#app-state").inner_text()
    assert guardian not in page.locator("main").inner_text()
    page.context.close()
