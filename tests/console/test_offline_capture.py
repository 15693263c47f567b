"""Offline capture, the server's side: devices and their keys, the pack (logged), drafts synced
exactly once with the capture time and device in the events' metadata, and conflicts answered
with both sides instead of being written.  (The browser's side: test_offline_capture_browser.py.)
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_steps import csrf_of, sign_in
from world import CITY_A, NPO, head

from yorisoi.infra.clock import japan_today
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.event_mapper import event_metadata

GUARDIAN, CHILD, ASKED = "架空 夏子", "架空 みのる", "夜泣きが続いて眠れない"
BASE = f"/console/m/{CITY_A}/offline"
H = {"X-Yorisoi-Offline": "1"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from world import build_world

    from yorisoi.infra.settings import Settings

    built = build_world(Settings(backend="sqlite", data_dir=tmp_path_factory.mktemp("offline"),
                                 environment="test"))
    yield built
    built.services.close()


@pytest.fixture(scope="module")
def app(world: Any) -> Any:
    from yorisoi.infra.http.app import create_app

    return create_app(world.services.settings, world.services)


def _client(app: Any, subject: str = "npo-staff-1", role: str = "specialist",
            kind: str = "contractor", org: str = NPO) -> Any:
    from fastapi.testclient import TestClient

    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    sign_in(client, kind, org, subject, role, ("a-hiroba",) if role == "specialist" else ())
    client.csrf = csrf_of(client.get(BASE).text)
    return client


def _post(client: Any, path: str, body: dict[str, Any]) -> Any:
    return client.post(BASE + path, content=json.dumps(body),
                       headers={**H, "X-CSRF-Token": client.csrf,
                                "Content-Type": "application/json"})


def _device(client: Any, label: str = "訪問用タブレット") -> str:
    answer = _post(client, "/devices", {"label": label})
    assert answer.status_code == 200, answer.text
    return answer.json()["deviceId"]


@pytest.fixture(scope="module")
def specialist(app: Any) -> Any:
    client = _client(app)
    client.device = _device(client)
    yield client
    client.close()


def _new_case_draft(**fields: Any) -> dict[str, Any]:
    today = japan_today().isoformat()
    return {"key": str(uuid.uuid4()), "kind": "new_case", "caseId": None, "base": None,
            "capturedAt": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
            "resolution": None,
            "fields": {"siteId": "a-hiroba", "occurredOn": today, "channel": "visit",
                       "themes": ["development"], "asked": ASKED, "wishes": "", "direction": "",
                       "household.guardians.0.name": GUARDIAN,
                       "household.guardians.0.relationship": "母",
                       "household.children.0.name": CHILD,
                       "household.children.0.birthDate": "令和6年4月1日",
                       "consent.givenBy": GUARDIAN, "consent.relationship": "母",
                       "consent.givenOn": today, "consent.scope": "相談記録の作成", **fields}}


def _sync(client: Any, draft: dict[str, Any]) -> Any:
    return _post(client, "/sync", {"deviceId": client.device, "draft": draft})


def _pack(client: Any, case_id: str) -> dict[str, Any]:
    answer = _post(client, "/pack", {"deviceId": client.device, "caseIds": [case_id]})
    assert answer.status_code == 200, answer.text
    (case,) = answer.json()["cases"]
    return case


def _opened(client: Any) -> str:
    """A new family registered offline (its consent given), synced: its case id."""
    answer = _sync(client, _new_case_draft(**{
        "household.guardians.0.name": f"架空 {uuid.uuid4().hex[:6]}",
        "household.children.0.name": f"架空 {uuid.uuid4().hex[:6]}"}))
    assert answer.status_code == 200, answer.text
    return answer.json()["caseId"]


def _note(case: dict[str, Any], body: str = "玄関先で様子を聞いた") -> dict[str, Any]:
    return {"key": str(uuid.uuid4()), "kind": "note", "caseId": case["caseId"],
            "base": case["base"], "capturedAt": datetime.now(UTC).isoformat(),
            "resolution": None, "fields": {"writtenOn": japan_today().isoformat(),
                                           "kind": "progress", "body": body}}


def _consultation(case: dict[str, Any], asked: str = "離乳食の進め方") -> dict[str, Any]:
    return {"key": str(uuid.uuid4()), "kind": "consultation", "caseId": case["caseId"],
            "base": case["base"], "capturedAt": datetime.now(UTC).isoformat(),
            "resolution": None, "fields": {"occurredOn": japan_today().isoformat(),
                                           "channel": "visit", "themes": ["development"],
                                           "asked": asked}}


def _events(world: Any, after: int) -> list[Any]:
    with world.services.runtimes.lease(CITY_A) as rt:
        notes = rt.casework.recorder.select_notifications(start=after + 1, limit=1000)
        return [rt.casework.mapper.to_domain_event(n) for n in notes]


# --------------------------------------------------------------------------- devices and keys


def test_the_key_goes_to_a_live_session_of_the_owner_only_and_never_after_revocation(
        app: Any, world: Any) -> None:
    owner = _client(app)
    device = _device(owner)
    first = _post(owner, "/key", {"deviceId": device})
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    key = first.json()["key"]
    assert len(__import__("base64").b64decode(key)) == 32
    # Another session of the same person on this device gets the same key (queued
    # drafts survive a new sign-in); another person gets nothing, not even "exists".
    again = _client(app)
    assert _post(again, "/key", {"deviceId": device}).json()["key"] == key
    other = _client(app, subject="npo-staff-2")
    refused = _post(other, "/key", {"deviceId": device})
    assert refused.status_code == 404 and refused.json()["code"] == "offline_device_not_found"
    # Without the offline header (a form posted from another site): refused.
    bare = owner.post(BASE + "/key", content=json.dumps({"deviceId": device}),
                      headers={"Content-Type": "application/json"})
    assert bare.status_code == 403
    # The owner revokes it on the pack page: no key any more, for any session.
    page = owner.get(BASE)
    assert "訪問用タブレット" in page.text and "npo-staff-1" not in page.text
    revoked = owner.post(f"{BASE}/devices/{device}/revoke", data={"csrf": owner.csrf})
    assert revoked.status_code == 303
    for client in (owner, again):
        gone = _post(client, "/key", {"deviceId": device})
        assert gone.status_code == 403 and gone.json()["code"] == "offline_device_revoked"
        assert "key" not in gone.json()
    assert _post(owner, "/sync", {"deviceId": device,
                                  "draft": _new_case_draft()}).status_code == 403


def test_a_device_needs_a_name(specialist: Any) -> None:
    refused = _post(specialist, "/devices", {"label": "   "})
    assert refused.status_code == 400
    assert refused.json()["code"] == "offline_device_label_invalid"
    assert refused.json()["messageJa"] == "端末の名前を1〜60文字で入力してください。"


def test_an_administrator_revokes_a_specialists_device(app: Any) -> None:
    owner = _client(app, kind="municipality", org=CITY_A, subject="a-staff-9")
    device = _device(owner, "窓口のノートPC")
    admin = _client(app, kind="municipality", org=CITY_A, subject="a-admin",
                    role="municipal_admin")
    page = admin.get(BASE)
    assert page.status_code == 200 and "窓口のノートPC" in page.text
    assert admin.post(f"{BASE}/devices/{device}/revoke",
                      data={"csrf": admin.csrf}).status_code == 303
    assert _post(owner, "/key", {"deviceId": device}).status_code == 403
    # Another specialist cannot revoke someone else's device (it reads as absent).
    mine = _device(owner, "予備")
    other = _client(app, kind="municipality", org=CITY_A, subject="a-staff-8")
    assert other.post(f"{BASE}/devices/{mine}/revoke",
                      data={"csrf": other.csrf}).status_code == 404
    assert _post(owner, "/key", {"deviceId": mine}).status_code == 200


def test_a_contractors_administrator_revokes_its_own_staffs_devices_only(
        app: Any, world: Any) -> None:
    from world import IDLE_NPO

    from yorisoi.infra.wiring.bootstrap import OPERATOR

    today = japan_today()
    with acting_as(OPERATOR):  # the other contractor works at the site again
        world.services.directory.sign_contract(
            contract_id="contract-a-kaze-3", municipality_code=CITY_A, contractor_id=IDLE_NPO,
            site_ids=["a-hiroba"], starts_on=today - timedelta(days=1),
            ends_on=today + timedelta(days=365))
    staff = _client(app, subject="npo-staff-7")
    own = _device(staff, "ひだまりの訪問用端末")
    neighbour = _client(app, subject="kaze-staff-1", org=IDLE_NPO)
    theirs = _device(neighbour, "かぜの訪問用端末")
    city = _client(app, kind="municipality", org=CITY_A, subject="a-staff-7")
    public = _device(city, "市の訪問用端末")
    admin = _client(app, subject="npo-admin", role="contractor_admin")

    # The pack page lists the contractor's own staff's devices, no one else's.
    page = admin.get(BASE)
    assert page.status_code == 200, page.text
    assert "ひだまりの訪問用端末" in page.text
    assert "かぜの訪問用端末" not in page.text and "市の訪問用端末" not in page.text
    assert "npo-staff-7" not in page.text  # the owner by name, never by subject

    # Another contractor's device, or the municipality's: absent to it, and still live.
    for device, owner in ((theirs, neighbour), (public, city)):
        refused = admin.post(f"{BASE}/devices/{device}/revoke", data={"csrf": admin.csrf})
        assert refused.status_code == 404
        assert _post(owner, "/key", {"deviceId": device}).status_code == 200

    # Its own staff member's device: revoked; no session of hers gets the key again.
    before = _post(staff, "/key", {"deviceId": own})
    assert before.status_code == 200
    done = admin.post(f"{BASE}/devices/{own}/revoke", data={"csrf": admin.csrf})
    assert done.status_code == 303, done.text
    for session in (staff, _client(app, subject="npo-staff-7")):
        gone = _post(session, "/key", {"deviceId": own})
        assert gone.status_code == 403 and gone.json()["code"] == "offline_device_revoked"
        assert "key" not in gone.json()
    assert _post(staff, "/sync", {"deviceId": own, "draft": _new_case_draft()}).status_code == 403
    listed = admin.get(BASE).text
    assert "ひだまりの訪問用端末" in listed and "取消済み" in listed


# --------------------------------------------------------------------------- pack and sync


def test_a_new_family_syncs_exactly_once_with_its_capture_time_and_device(
        specialist: Any, world: Any) -> None:
    draft = _new_case_draft()
    before = head(world)
    first = _sync(specialist, draft)
    assert first.status_code == 200, first.text
    applied = first.json()
    assert applied["status"] == "applied" and applied["receptionNumber"]
    after = head(world)
    # The answer was lost: the device sends the same draft under the same key.
    again = _sync(specialist, draft)
    assert again.status_code == 200 and again.json()["caseId"] == applied["caseId"]
    assert head(world) == after
    # The same key with another draft (a device bug): refused, nothing written.
    reused = _sync(specialist, {**draft, "fields": {**draft["fields"], "asked": "別の内容"}})
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert head(world) == after
    events = _events(world, before)
    assert events
    for event in events:
        meta = event_metadata(event)
        assert meta["device_id"] == specialist.device
        assert meta["captured_at"] == datetime.fromisoformat(
            draft["capturedAt"]).astimezone(UTC).isoformat(timespec="seconds")
        assert meta["user_id"] == "npo-staff-1"
    # The case page shows the family and the consultation, consent in force.
    page = specialist.get(f"/console/m/{CITY_A}/cases/{applied['caseId']}").text
    assert GUARDIAN in page and ASKED in page and "令和6年4月1日" in page


def test_events_of_other_commands_carry_no_offline_metadata(world: Any) -> None:
    from world import open_case

    before = head(world)
    open_case(world)  # an ordinary command, no device
    events = _events(world, before)
    assert events
    for event in events:
        assert not {"device_id", "captured_at"} & set(event_metadata(event))


def test_taking_cases_offline_is_in_the_access_log(specialist: Any, world: Any) -> None:
    from yorisoi.infra.access_log_store import AccessLogStore

    case_id = _opened(specialist)
    with world.services.runtimes.lease(CITY_A) as rt:
        before = len(AccessLogStore(rt.casework.database).rows(limit=100000))
    case = _pack(specialist, case_id)
    assert case["guardians"][0]["name"].startswith("架空")
    assert case["base"]["consentInForce"] is True and case["base"]["version"] >= 1
    with world.services.runtimes.lease(CITY_A) as rt:
        rows = AccessLogStore(rt.casework.database).rows(limit=100000)[before:]
    assert rows and {r["channel"] for r in rows} == {"console"}
    assert all(r["actor"] == "npo-staff-1" for r in rows if "actor" in r)
    # A device that is not the caller's own cannot take a pack.
    other = _client(specialist.app, subject="npo-staff-3")
    refused = _post(other, "/pack", {"deviceId": specialist.device, "caseIds": [case_id]})
    assert refused.status_code == 404


def test_drafts_of_one_case_in_order_and_a_change_by_someone_else_is_a_conflict(
        specialist: Any, world: Any, app: Any) -> None:
    case = _pack(specialist, _opened(specialist))
    first = _sync(specialist, _consultation(case, "一件目"))
    assert first.status_code == 200, first.text
    # The device follows its own write: the next draft is captured against the new stamp.
    followed = {**case, "base": first.json()["stamp"]}
    assert _sync(specialist, _note(followed)).status_code == 200
    # Meanwhile a colleague records on the case: the old stamp is now a conflict.
    colleague = _client(app, subject="npo-staff-4")
    colleague.device = _device(colleague)
    assert _sync(colleague, _consultation(_pack(colleague, case["caseId"]),
                                         "同僚が記録した相談")).status_code == 200
    before = head(world)
    stale = _consultation(followed, "三件目")
    conflict = _sync(specialist, stale)
    assert conflict.status_code == 409, conflict.text
    body = conflict.json()
    assert body["kinds"] == ["added"] and body["choices"][0] == "record_anyway"
    assert [c["asked"] for c in body["current"]["consultations"]] == ["同僚が記録した相談"]
    assert head(world) == before  # nothing written
    # Record anyway needs a reason; with one, the consultation and the reason are kept.
    bare = _sync(specialist, {**stale, "key": str(uuid.uuid4()),
                              "resolution": {"choice": "record_anyway"}})
    assert bare.status_code == 400 and bare.json()["code"] == "offline_conflict_reason_missing"
    anyway = _sync(specialist, {**stale, "key": str(uuid.uuid4()), "resolution": {
        "choice": "record_anyway", "reason": "同僚の記録と別の訪問のため"}})
    assert anyway.status_code == 200, anyway.text
    page = specialist.get(f"/console/m/{CITY_A}/cases/{case['caseId']}").text
    assert "三件目" in page and "同僚の記録と別の訪問のため" in page


def test_consent_withdrawn_is_refused_by_the_rule_and_a_closed_case_offers_no_record_anyway(
        specialist: Any, world: Any) -> None:
    case = _pack(specialist, _opened(specialist))
    with world.services.runtimes.lease(CITY_A) as rt:
        consents = rt.casework.case_consents(uuid.UUID(case["caseId"]), None).consents
        staff = ActingContext(user_id="a-sup", role="specialist", organisation_kind="municipality",
                              organisation_id=CITY_A)
        with acting_as(staff):
            rt.casework.withdraw_consent(uuid.UUID(case["caseId"]), consents[0].id,
                                         withdrawn_on=japan_today(), reason="",
                                         writable_contract_ids=None)
        rt.catch_up()
    draft = _consultation(case)
    conflict = _sync(specialist, draft)
    assert conflict.status_code == 409
    body = conflict.json()
    assert "consent_withdrawn" in body["kinds"] and "record_anyway" not in body["choices"]
    assert body["rule"]["messageJa"].startswith("この操作を対象とする同意は撤回されています")
    assert body["current"]["consentInForce"] is False
    # Even sent with "record anyway", the command's own rule refuses it; nothing is written.
    before = head(world)
    forced = _sync(specialist, {**draft, "key": str(uuid.uuid4()), "resolution": {
        "choice": "record_anyway", "reason": "どうしても"}})
    assert forced.status_code == 422 and forced.json()["code"] == "consent_withdrawn"
    assert head(world) == before
    # Attached to another case of the pack instead: recorded there.
    other = _pack(specialist, _opened(specialist))
    moved = _sync(specialist, {**draft, "key": str(uuid.uuid4()), "caseId": other["caseId"],
                               "base": other["base"], "resolution": {"choice": "attach"}})
    assert moved.status_code == 200 and moved.json()["caseId"] == other["caseId"]

    closing = _pack(specialist, _opened(specialist))
    with world.services.runtimes.lease(CITY_A) as rt:
        staff = ActingContext(user_id="a-sup", role="specialist", organisation_kind="municipality",
                              organisation_id=CITY_A)
        with acting_as(staff):
            rt.casework.close_case(uuid.UUID(closing["caseId"]), closed_on=japan_today(),
                                   reason="support_completed", expected_version=None,
                                   writable_contract_ids=None)
        rt.catch_up()
    closed = _sync(specialist, _note(closing))
    assert closed.status_code == 409
    assert "closed" in closed.json()["kinds"]
    assert closed.json()["choices"] == ["attach", "discard"]
    assert closed.json()["current"]["status"] == "closed"


def test_a_malformed_draft_is_a_typed_refusal(specialist: Any) -> None:
    case = {"caseId": str(uuid.uuid4()), "base": None}
    for draft in ({"kind": "nothing"}, {**_new_case_draft(), "capturedAt": "yesterday"},
                  {**_new_case_draft(), "fields": "not a form"},
                  {**_note(case), "base": ["a list"]},
                  {**_note(case), "base": {"records": "x"}},
                  {**_note(case), "base": {"records": {"a": "1"}}},
                  {**_note(case), "base": {"visits": {"a": 3}}},
                  {**_new_case_draft(), "fields": {"asked": {"nested": 1}}}):
        answer = _sync(specialist, draft)
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "offline_draft_invalid" and answer.json()["messageJa"]
    unknown = _sync(specialist, {**_note(case), "resolution": "anything"})
    assert unknown.status_code == 409 and unknown.json()["kinds"] == ["out_of_reach"]
    invalid = _sync(specialist, _new_case_draft(**{"household.children.0.birthDate": "いつか"}))
    assert invalid.status_code == 422
    assert invalid.json()["status"] == "refused" and invalid.json()["fields"]


# --------------------------------------------------------------------------- visit outcomes


def _plan(world: Any, case_id: str, visitor: str = "npo-staff-1") -> str:
    from yorisoi.services import outreach

    # The visitor plans her own visit (who will go must be the organisation's staff).
    staff = ActingContext(user_id=visitor, role="specialist", organisation_kind="contractor",
                          organisation_id=NPO, contract_id="contract-a-npo", site_id="a-hiroba")
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        visit = outreach.plan_visit(rt.casework, outreach.PlanVisit(
            case_id=uuid.UUID(case_id), kind="home_visit", planned_on=japan_today(),
            starts_at="10:00", ends_at="11:00", visitors=[visitor], place="home",
            place_note=None, purpose="生活の様子を伺う"), writable_contract_ids=None)
        rt.catch_up()
    return str(visit.id)


def _outcome(case: dict[str, Any], visit_id: str, **fields: Any) -> dict[str, Any]:
    return {"key": str(uuid.uuid4()), "kind": "visit_outcome", "caseId": case["caseId"],
            "base": case["base"], "capturedAt": datetime.now(UTC).isoformat(),
            "resolution": None,
            "fields": {"visitId": visit_id, "result": "done", "on": "令和" + str(
                japan_today().year - 2018) + f"年{japan_today().month}月{japan_today().day}日",
                       "outcome": "consulted", "summary": "母と面談した", "nextStep": "revisit",
                       "followUpOn": "", "asked": "保育園の入り方", "themes": ["development"],
                       **fields}}


def test_a_visit_outcome_recorded_offline_with_its_consultation_once(
        specialist: Any, world: Any) -> None:
    from yorisoi.projections.visit_queries import VisitQueries

    case_id = _opened(specialist)
    visit_id = _plan(world, case_id)
    # The day's visits come first on the pack page, ticked.
    assert f'value="{case_id}" checked' in specialist.get(BASE).text
    case = _pack(specialist, case_id)
    assert [v["visitId"] for v in case["visits"]] == [visit_id]
    assert case["visits"][0]["purpose"] == "生活の様子を伺う"
    draft = _outcome(case, visit_id)
    before = head(world)
    first = _sync(specialist, draft)
    assert first.status_code == 200, first.text
    after = head(world)
    assert _sync(specialist, draft).json()["recordId"] == visit_id  # the lost answer again
    assert head(world) == after
    events = _events(world, before)
    kinds = {type(e).__qualname__ for e in events}
    assert "OutreachVisit.Done" in kinds and any("Consultation" in k for k in kinds)
    assert all(event_metadata(e)["device_id"] == specialist.device for e in events)
    with world.services.runtimes.lease(CITY_A) as rt:
        rt.catch_up()
        scope_all = __import__("yorisoi.projections.case_queries",
                               fromlist=["CaseScope"]).CaseScope(contract_ids=None,
                                                                 site_ids=None)
        visit = VisitQueries(rt.casework.database, rt.casework.keyring).get(scope_all, visit_id)
    assert visit.status == "done" and visit.consultation_id

    # The same visit from an older capture (another device's draft): no longer planned.
    again = _sync(specialist, {**_outcome(case, visit_id, result="not_met", reason="absent")})
    assert again.status_code == 409
    body = again.json()
    assert "visit_not_planned" in body["kinds"] and body["choices"] == ["discard"]
    assert body["current"]["visit"]["status"] == "done"
    assert body["rule"]["messageJa"]


def test_a_family_that_may_already_be_registered_is_a_conflict_until_confirmed(
        specialist: Any, world: Any) -> None:
    child = f"架空 {uuid.uuid4().hex[:6]}"
    assert _sync(specialist, _new_case_draft(**{
        "household.children.0.name": child})).status_code == 200
    before = head(world)
    twin = _new_case_draft(**{"household.children.0.name": child})
    found = _sync(specialist, twin)
    assert found.status_code == 409, found.text
    assert found.json()["kinds"] == ["duplicate"] and found.json()["duplicates"] >= 1
    assert found.json()["choices"] == ["record_anyway", "discard"]
    assert head(world) == before
    confirmed = _sync(specialist, {**twin, "key": str(uuid.uuid4()), "resolution": {
        "choice": "record_anyway", "reason": "同姓同名の別の家族と確認した"}})
    assert confirmed.status_code == 200, confirmed.text


def test_a_correction_meanwhile_is_a_conflict_and_a_clean_sync_reads_nothing_personal(
        specialist: Any, world: Any) -> None:
    from yorisoi.infra.access_log_store import AccessLogStore

    case = _pack(specialist, _opened(specialist))

    def logged() -> int:
        with world.services.runtimes.lease(CITY_A) as rt:
            return len(AccessLogStore(rt.casework.database).rows(limit=100000))

    before = logged()
    applied = _sync(specialist, _note(case))
    assert applied.status_code == 200
    assert logged() == before  # the stamps are versions and states: nothing opened
    followed = {**case, "base": applied.json()["stamp"]}
    (consultation_id,) = followed["base"]["records"]
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(ActingContext(
            user_id="a-sup", role="specialist", organisation_kind="municipality",
            organisation_id=CITY_A)):
        rt.casework.correct_consultation(uuid.UUID(case["caseId"]), uuid.UUID(consultation_id),
                                         changes={"asked": "訂正後の主訴"}, reason="聞き違い",
                                         expected_version=None, writable_contract_ids=None)
        rt.catch_up()
    conflict = _sync(specialist, _note(followed))
    assert conflict.status_code == 409
    assert conflict.json()["kinds"] == ["corrected"]
    assert [c["asked"] for c in conflict.json()["current"]["consultations"]] == ["訂正後の主訴"]


def test_the_app_files_come_from_this_origin_and_the_shell_holds_nothing_personal(
        specialist: Any) -> None:
    worker = specialist.get("/console/sw.js")
    assert worker.status_code == 200 and worker.headers["service-worker-allowed"] == "/console/"
    manifest = specialist.get("/console/manifest.webmanifest").json()
    assert manifest["start_url"] == "/console/offline" and manifest["scope"] == "/console/"
    script = specialist.get("/console/static/offline/offline.js").text
    for text in (worker.text, script):
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
    # The shell is the same for anyone (cached on the device): no name, no case, no token.
    from fastapi.testclient import TestClient

    with TestClient(specialist.app, base_url="http://127.0.0.1") as anonymous:
        shell = anonymous.get("/console/offline")
    assert shell.status_code == 200 and "offline.js" in shell.text
    assert "架空" not in shell.text and specialist.csrf not in shell.text
    assert 'rel="manifest"' in specialist.get(BASE).text
