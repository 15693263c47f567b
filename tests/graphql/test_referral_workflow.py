"""Referrals end to end on SQLite and PostgreSQL: the workflow, its refusals, the board, packets.

Tokens are real JWTs of the development issuer; packets go to the real local
object store; the agency's side is plain HTTP against the packet routes.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import timedelta
from typing import Any

from world import CITY_A, NPO, gql, head, record

from yorisoi.infra.access_log_store import AccessLogStore
from yorisoi.infra.clock import japan_today
from yorisoi.infra.referral_packets import packet_key, packet_secret
from yorisoi.infra.storage import make_download_token
from yorisoi.projections.referral_board import REFERRAL_BOARD_TABLES, follow_up_aad, referral_aad
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.event_mapper import event_metadata

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
TODAY = japan_today().isoformat()

REFERRAL_FIELDS = """
  id caseId agencyId agencyKind status urgent sentOn nextFollowUpOn followUpOwner contractId
  siteId version disposed reason sharedFields accompanied confidentialityBasis consentId
  exceptionLegalBasis exceptionReason acknowledgedVia outcome outcomeNote declineNote
  closureReason followUps { id dueOn ownerUserId completedOn note }
"""
ERRORS = """
  ... on UserError { code message messageJa }
  ... on ValidationError { fieldErrors { field code message messageJa } }
"""
REGISTER = ("""
mutation R($input: RegisterAgencyInput!) { registerAgency(input: $input) {
  __typename ... on AgencyRegistered { agency { id name kind onSystem contactEmail
  confidentialityBasis } } """ + ERRORS + " } }")
BOARD = """
query B($code: String, $status: String, $agencyId: ID, $first: Int!, $after: String) {
  referralBoard(municipalityCode: $code, status: $status, agencyId: $agencyId, first: $first,
                after: $after) {
    totalCount edges { cursor node { id urgent status caseId } }
    pageInfo { hasNextPage endCursor } } }
"""
REFERRALS = ("query C($code: String, $caseId: ID!) {"
             " referrals(municipalityCode: $code, caseId: $caseId) {" + REFERRAL_FIELDS + "} }")
AGENCIES = "query A($code: String) { agencies(municipalityCode: $code) { nodes { id name kind } } }"


def _mutation(name: str, input_type: str, payload: str = "ReferralChanged") -> str:
    extra = " packetLink { url expiresAt }" if payload == "ReferralSent" else ""
    return (f"mutation M($input: {input_type}!) {{ {name}(input: $input) {{ __typename"
            f" ... on {payload} {{ referral {{ {REFERRAL_FIELDS} }}{extra} }} {ERRORS} }} }}")


DRAFT = _mutation("draftReferral", "DraftReferralInput")
SEND = _mutation("sendReferral", "SendReferralInput", "ReferralSent")
ACKNOWLEDGE = _mutation("acknowledgeReferral", "ReferralStepInput")
ACCEPT = _mutation("acceptReferral", "ReferralStepInput")
DECLINE = _mutation("declineReferral", "ReferralStepInput")
OUTCOME = _mutation("recordReferralOutcome", "RecordReferralOutcomeInput")
SCHEDULE = _mutation("scheduleReferralFollowUp", "ScheduleReferralFollowUpInput")
COMPLETE = _mutation("completeReferralFollowUp", "CompleteReferralFollowUpInput")
CLOSE = _mutation("closeReferral", "CloseReferralInput")

ABUSE_EXCEPTION = {"reason": "腕に複数のあざ、本人が叩かれたと話した",
                   "legalBasis": "child_abuse_report"}


# --------------------------------------------------------------------------- helpers


def npo(world: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, subject="npo-staff-1", roles=("specialist",),
                         sites=("a-hiroba",))


def city(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="a-staff", roles=("specialist",))


def run(client: Any, document: str, input: dict[str, Any], headers: dict[str, str]) -> dict:
    body = gql(client, document, {"input": input}, headers)
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["__typename"] in ("ReferralChanged", "ReferralSent"), result
    return result["referral"]


def agency(client: Any, headers: dict[str, str], **overrides: Any) -> str:
    data = {"municipalityCode": CITY_A, "name": "千代田区保健センター", "kind": "health_center",
            "onSystem": False, "contactEmail": "hoken@city.example.jp",
            "confidentialityBasis": "public_servant"}
    data.update(overrides)
    result = run(client, REGISTER, data, headers)
    assert result["__typename"] == "AgencyRegistered", result
    return result["agency"]["id"]


def new_case(client: Any, headers: dict[str, str], **overrides: Any) -> str:
    result = record(client, headers, **overrides)
    assert result["__typename"] == "ConsultationRecorded", result
    return result["case"]["id"]


def draft(client: Any, headers: dict[str, str], case_id: str, agency_id: str,
          **overrides: Any) -> dict[str, Any]:
    data = {"municipalityCode": CITY_A, "caseId": case_id, "agencyId": agency_id,
            "reason": "ことばの遅れについて専門の発達相談につなぐ", "accompanied": True,
            "sharedFields": ["household.children", "consultation.asked"]}
    data.update(overrides)
    return ok(run(client, DRAFT, data, headers))


def step(referral: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"municipalityCode": CITY_A, "referralId": referral["id"],
            "expectedVersion": referral["version"], **fields}


def refused(result: dict[str, Any], code: str, typename: str = "ValidationError") -> None:
    assert result["__typename"] == typename, result
    codes = [result["code"], *(e["code"] for e in result.get("fieldErrors", []))]
    assert code in codes, result
    assert JAPANESE.search(result["messageJa"]) and result["message"], result
    for error in result.get("fieldErrors", []):
        assert JAPANESE.search(error["messageJa"]), error


def sent_packet(client: Any, world: Any, **draft_overrides: Any) -> tuple[dict, str]:
    headers = npo(world)
    referral = draft(client, headers, new_case(client, headers), agency(client, headers),
                     **draft_overrides)
    result = run(client, SEND, step(referral, sentOn=TODAY, exception=ABUSE_EXCEPTION), headers)
    assert result["__typename"] == "ReferralSent", result
    url = result["packetLink"]["url"]
    return result["referral"], url.split("/agency-packets/", 1)[1]


# --------------------------------------------------------------------------- the workflow


def test_referral_runs_from_draft_to_closure_with_a_recorded_exception(client, world):
    headers = npo(world)
    case_id = new_case(client, headers)
    agency_id = agency(client, headers, name="児童相談所", kind="child_guidance_center",
                       onSystem=True, contactEmail=None)
    referral = draft(client, headers, case_id, agency_id, urgent=True)
    assert (referral["status"], referral["urgent"], referral["accompanied"]) == ("draft", True, True)
    assert referral["contractId"] == "contract-a-npo" and referral["siteId"] == "a-hiroba"
    assert referral["reason"].startswith("ことばの遅れ")

    sent = run(client, SEND, step(referral, sentOn=TODAY, exception=ABUSE_EXCEPTION), headers)
    assert sent["packetLink"] is None  # an on-system agency gets no packet
    referral = ok(sent)
    assert (referral["status"], referral["sentOn"]) == ("sent", TODAY)
    assert referral["confidentialityBasis"] == "public_servant"  # the agency's default
    assert referral["exceptionLegalBasis"] == "child_abuse_report"
    assert referral["exceptionReason"] == ABUSE_EXCEPTION["reason"]
    assert referral["consentId"] is None

    referral = ok(run(client, ACKNOWLEDGE, step(referral, on=TODAY), headers))
    assert (referral["status"], referral["acknowledgedVia"]) == ("acknowledged", "staff")
    referral = ok(run(client, ACCEPT, step(referral, on=TODAY), headers))
    assert referral["status"] == "accepted"
    referral = ok(run(client, OUTCOME, step(referral, outcome="assessment_done",
                                            note="一時保護には至らず在宅支援",
                                            recordedOn=TODAY), headers))
    assert (referral["status"], referral["outcome"]) == ("outcome_recorded", "assessment_done")
    due = (japan_today() + timedelta(days=14)).isoformat()
    referral = ok(run(client, SCHEDULE, step(referral, dueOn=due, ownerUserId="npo-staff-1"),
                      headers))
    assert (referral["nextFollowUpOn"], referral["followUpOwner"]) == (due, "npo-staff-1")
    [follow_up] = referral["followUps"]
    referral = ok(run(client, COMPLETE, step(referral, followUpId=follow_up["id"],
                                             completedOn=TODAY, note="登園を確認"), headers))
    assert referral["nextFollowUpOn"] is None and referral["followUpOwner"] is None
    assert referral["followUps"][0]["note"] == "登園を確認"
    referral = ok(run(client, CLOSE, step(referral, closedOn=TODAY, reason="completed"), headers))
    assert (referral["status"], referral["closureReason"]) == ("closed", "completed")
    assert referral["version"] == 8

    # The municipality reads the same referral on the case and on its board.
    [listed] = gql(client, REFERRALS, {"caseId": case_id}, city(world))["data"]["referrals"]
    assert listed == referral
    board = gql(client, BOARD, {"first": 10, "status": "closed"}, city(world))["data"]
    assert board["referralBoard"]["totalCount"] == 1

    # The exception is a consent record too, and every event names its actor and contract.
    with world.services.runtimes.lease(CITY_A) as rt:
        stored = rt.casework.repository.get(uuid.UUID(referral["id"]))
        records = rt.casework.household_consents(stored.household_id)
        assert [(e.purpose, e.legal_basis) for e in records.exceptions] == [
            ("share", "child_abuse_report")]
        events = list(rt.casework.repository.event_store.get(stored.id))
    assert {event_metadata(e)["contract_id"] for e in events} == {"contract-a-npo"}
    assert {event_metadata(e)["user_id"] for e in events} == {"npo-staff-1"}


def test_sending_with_the_familys_share_consent_records_which_consent(client, world):
    headers = npo(world)
    case_id = new_case(client, headers)
    agency_id = agency(client, headers)
    referral = draft(client, headers, case_id, agency_id)
    staff = ActingContext(user_id="npo-staff-1", role="specialist", organisation_kind="contractor",
                          organisation_id=NPO, contract_id="contract-a-npo", site_id="a-hiroba")
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        consent = rt.casework.give_consent(
            uuid.UUID(case_id), purpose="share", given_by="架空 花子", relationship="母",
            given_on=japan_today(), scope="保健センターへの情報提供", agency_kind="health_center",
            writable_contract_ids=None)
    result = run(client, SEND, step(referral, sentOn=TODAY), headers)
    assert result["__typename"] == "ReferralSent", result
    assert result["referral"]["consentId"] == str(consent.id)
    assert result["referral"]["exceptionLegalBasis"] is None


# --------------------------------------------------------------------------- refusals


def test_sending_without_a_confidentiality_basis_is_refused_and_nothing_written(client, world):
    headers = npo(world)
    agency_id = agency(client, headers, confidentialityBasis=None)
    referral = draft(client, headers, new_case(client, headers), agency_id)
    before = head(world)
    result = run(client, SEND, step(referral, sentOn=TODAY, exception=ABUSE_EXCEPTION), headers)
    refused(result, "referral_confidentiality_basis_missing")
    assert head(world) == before
    with world.services.runtimes.lease(CITY_A) as rt:
        stored = rt.casework.repository.get(uuid.UUID(referral["id"]))
        key = packet_key(rt.space, stored.household_id, stored.id)
    assert not world.services.objects.exists(key)  # no packet left behind either
    # Naming the basis at sending is enough.
    result = run(client, SEND, step(referral, sentOn=TODAY, exception=ABUSE_EXCEPTION,
                                    confidentialityBasis="contract_clause"), headers)
    assert ok(result)["confidentialityBasis"] == "contract_clause"
    assert world.services.objects.exists(key)


def test_sending_without_consent_or_exception_is_refused_and_nothing_written(client, world):
    headers = npo(world)
    referral = draft(client, headers, new_case(client, headers), agency(client, headers))
    before = head(world)
    refused(run(client, SEND, step(referral, sentOn=TODAY), headers), "referral_consent_missing")
    refused(run(client, SEND, step(referral, sentOn=TODAY,
                                   exception={"reason": "通告", "legalBasis": "because"}),
                headers), "referral_exception_incomplete")
    assert head(world) == before


def test_steps_out_of_order_stale_versions_and_unknown_referrals_are_refused(client, world):
    headers = npo(world)
    referral = draft(client, headers, new_case(client, headers), agency(client, headers))
    before = head(world)
    refused(run(client, ACCEPT, step(referral, on=TODAY), headers), "referral_step_out_of_order")
    refused(run(client, SCHEDULE, step(referral, dueOn=TODAY, ownerUserId="x"), headers),
            "referral_follow_up_not_allowed")
    refused(run(client, SEND, step(referral, sentOn=TODAY, exception=ABUSE_EXCEPTION,
                                   expectedVersion=7), headers), "stale_version",
            "ConflictError")
    refused(run(client, ACKNOWLEDGE, step(referral, on=TODAY, referralId=str(uuid.uuid4())),
                headers), "referral_not_found", "NotFoundError")
    refused(run(client, ACKNOWLEDGE, step(referral, on="15/06/2025", referralId="nope"),
                headers), "invalid_input")
    refused(run(client, DRAFT, {"municipalityCode": CITY_A, "caseId": referral["caseId"],
                                "agencyId": str(uuid.uuid4()), "reason": "x"}, headers),
            "agency_not_found", "NotFoundError")
    refused(run(client, DRAFT, {"municipalityCode": CITY_A, "caseId": referral["caseId"],
                                "agencyId": referral["agencyId"], "reason": "x",
                                "sharedFields": ["household.address"]}, headers),
            "referral_field_not_shareable")
    refused(run(client, REGISTER, {"municipalityCode": CITY_A, "name": "", "kind": "medical"},
                headers), "invalid_input")
    assert head(world) == before
    sent = ok(run(client, SEND, step(referral, sentOn=TODAY, exception=ABUSE_EXCEPTION), headers))
    refused(run(client, SEND, step(sent, sentOn=TODAY, exception=ABUSE_EXCEPTION), headers),
            "referral_already_sent")
    closed = ok(run(client, DECLINE, step(ok(run(client, ACKNOWLEDGE, step(sent, on=TODAY),
                                                 headers)), on=TODAY, note="対象外"), headers))
    closed = ok(run(client, CLOSE, step(closed, closedOn=TODAY, reason="declined_by_agency"),
                    headers))
    after_close = head(world)
    refused(run(client, OUTCOME, step(closed, outcome="other", recordedOn=TODAY), headers),
            "referral_closed")
    assert head(world) == after_close


# --------------------------------------------------------------------------- the board


def test_urgent_referrals_surface_first_and_the_board_pages_by_keyset(client, world):
    headers = npo(world)
    agency_id = agency(client, headers)
    other_agency = agency(client, headers, name="こども発達センター", kind="child_development_center")
    case_id = new_case(client, headers)
    made = [draft(client, headers, case_id, agency_id)["id"],
            draft(client, headers, case_id, agency_id, urgent=True)["id"],
            draft(client, headers, case_id, other_agency)["id"],
            draft(client, headers, case_id, agency_id)["id"]]
    seen, after = [], None
    while True:
        page = gql(client, BOARD, {"code": CITY_A, "first": 2, "after": after},
                   city(world))["data"]["referralBoard"]
        assert page["totalCount"] == 4
        seen += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [n["id"] for n in seen] == [made[1], made[3], made[2], made[0]]  # urgent, then newest
    assert seen[0]["urgent"] is True

    filtered = gql(client, BOARD, {"first": 10, "agencyId": other_agency}, city(world))
    assert [e["node"]["id"] for e in filtered["data"]["referralBoard"]["edges"]] == [made[2]]
    drafts = gql(client, BOARD, {"first": 10, "status": "sent"}, city(world))
    assert drafts["data"]["referralBoard"]["totalCount"] == 0
    bad = client.post("/graphql", json={"query": BOARD, "variables": {"first": 2, "after": "x"}},
                      headers=city(world)).json()
    assert bad["errors"][0]["extensions"]["code"] == "cursor_invalid"


def test_a_contractor_sees_only_referrals_of_its_contracts_cases(client, world):
    headers = npo(world)
    agency_id = agency(client, headers)
    mine = draft(client, headers, new_case(client, headers), agency_id)
    city_case = new_case(client, city(world), siteId="a-counter")
    theirs = draft(client, city(world), city_case, agency_id)
    assert theirs["contractId"] is None

    board = gql(client, BOARD, {"code": CITY_A, "first": 10}, headers)["data"]["referralBoard"]
    assert [e["node"]["id"] for e in board["edges"]] == [mine["id"]]
    assert board["totalCount"] == 1
    listed = gql(client, REFERRALS, {"code": CITY_A, "caseId": city_case}, headers)
    assert listed["data"]["referrals"] == []
    before = head(world)
    refused(run(client, SEND, step(theirs, sentOn=TODAY, exception=ABUSE_EXCEPTION), headers),
            "referral_not_found", "NotFoundError")
    refused(run(client, DRAFT, {"municipalityCode": CITY_A, "caseId": city_case,
                                "agencyId": agency_id, "reason": "x"}, headers),
            "case_not_found", "NotFoundError")
    assert head(world) == before
    everything = gql(client, BOARD, {"first": 10}, city(world))["data"]["referralBoard"]
    assert everything["totalCount"] == 2
    names = gql(client, AGENCIES, {"code": CITY_A}, headers)["data"]["agencies"]["nodes"]
    assert [a["name"] for a in names] == ["千代田区保健センター"]


def test_rebuilding_the_board_gives_exactly_the_live_rows(client, world):
    headers = npo(world)
    referral, _token = sent_packet(client, world, urgent=True)
    referral = ok(run(client, ACKNOWLEDGE, step(referral, on=TODAY), headers))
    referral = ok(run(client, ACCEPT, step(referral, on=TODAY), headers))
    ok(run(client, SCHEDULE, step(referral, dueOn=TODAY, ownerUserId="npo-staff-1"), headers))
    draft(client, headers, referral["caseId"], referral["agencyId"])
    with world.services.runtimes.lease(CITY_A) as rt:
        [projector] = [p for p in rt.projectors if p.view.name == "referral_board"]
        live = _rows(rt)
        assert len(live["referral_view"]) == 2 and len(live["referral_follow_up_view"]) == 1
        projector.rebuild()
        assert _rows(rt) == live


def _rows(rt: Any) -> dict[str, list[dict[str, Any]]]:
    keys = {"referral_view": "referral_id", "referral_follow_up_view": "follow_up_id",
            "agency_view": "agency_id"}
    keyring = rt.casework.keyring
    with rt.casework.database.transaction(write=False) as cur:
        rows = {t: cur.execute(f"SELECT * FROM {{s}}{t} ORDER BY {keys[t]}").fetchall()
                for t in REFERRAL_BOARD_TABLES}
    # Fresh nonces at every sealing: compare what the sealed values say.
    for row in rows["referral_view"]:
        row["sealed"] = keyring.open_json(uuid.UUID(row["household_id"]), row["sealed"],
                                          referral_aad(row["referral_id"]))
    for row in rows["referral_follow_up_view"]:
        row["sealed"] = keyring.open_json(uuid.UUID(row["household_id"]), row["sealed"],
                                          follow_up_aad(row["follow_up_id"]))
    return rows


# --------------------------------------------------------------------------- packets


def test_packet_link_shows_only_the_chosen_fields_and_records_the_acknowledgement(client, world):
    referral, token = sent_packet(client, world)
    with world.services.runtimes.lease(CITY_A) as rt:
        stored = rt.casework.repository.get(uuid.UUID(referral["id"]))
        key = packet_key(rt.space, stored.household_id, stored.id)
        space = rt.space
    # Under the household's prefix (disposal deletes it), and sealed.
    assert key.startswith(f"{space}/households/{stored.household_id}/referrals/")
    raw, _ = world.services.objects.get(key)
    assert "たろう".encode() not in raw

    response = client.get(f"/agency-packets/{token}")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    packet = response.json()
    assert packet["household"] == {"children": [{"name": "架空 たろう", "birthDate": "2024-05-01"}]}
    assert packet["consultations"] == [{"occurredOn": packet["consultations"][0]["occurredOn"],
                                        "asked": "二歳の子のことばが遅いのが心配"}]
    text = json.dumps(packet, ensure_ascii=False)
    for withheld in ("架空 花子", "相談できる所を知りたい", "発達相談の案内", "ことばの遅れについて",
                     ABUSE_EXCEPTION["reason"]):
        assert withheld not in text
    # The agency's read is in the access log: who (the agency), what (field names), never values.
    with world.services.runtimes.lease(CITY_A) as rt:
        (row,) = [r for r in AccessLogStore(rt.casework.database).rows()
                  if r["record_kind"] == "referral_packet"]
    assert (row["record_id"], row["role"], row["channel"]) == (referral["id"], "agency", "rest")
    assert row["actor"].startswith("agency:") and "架空" not in json.dumps(row, ensure_ascii=False)

    before = head(world)
    answer = client.post(f"/agency-packets/{token}/acknowledge")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"referralId": referral["id"], "status": "acknowledged"}
    assert head(world) == before + 1
    again = client.post(f"/agency-packets/{token}/acknowledge")  # a second click changes nothing
    assert again.json()["status"] == "acknowledged" and head(world) == before + 1
    [listed] = gql(client, REFERRALS, {"caseId": referral["caseId"]}, city(world))["data"][
        "referrals"]
    assert (listed["status"], listed["acknowledgedVia"]) == ("acknowledged", "packet_link")
    with world.services.runtimes.lease(CITY_A) as rt:
        last = list(rt.casework.repository.event_store.get(stored.id))[-1]
    meta = event_metadata(last)
    assert (meta["organisation_kind"], meta["contract_id"]) == ("agency", "contract-a-npo")


def test_an_expired_or_tampered_packet_link_is_refused(client, world):
    referral, token = sent_packet(client, world)
    payload, signature = token.split(".")
    tampered = f"{payload}.{('A' if signature[0] != 'A' else 'B')}{signature[1:]}"
    with world.services.runtimes.lease(CITY_A) as rt:
        stored = rt.casework.repository.get(uuid.UUID(referral["id"]))
        key = packet_key(rt.space, stored.household_id, stored.id)
    expired = make_download_token(key, packet_secret(world.services), expires_in=60,
                                  now=time.time() - 120)
    before = head(world)
    for bad, status, code in ((tampered, 403, "packet_link_invalid"),
                              ("not-a-token", 403, "packet_link_invalid"),
                              (expired, 410, "packet_link_expired")):
        for response in (client.get(f"/agency-packets/{bad}"),
                         client.post(f"/agency-packets/{bad}/acknowledge")):
            assert response.status_code == status, response.text
            detail = response.json()["detail"]
            assert detail["code"] == code and JAPANESE.search(detail["messageJa"])
            assert "たろう" not in response.text
    # A packet link is not a file link: it opens nothing under /files/.
    assert client.get(f"/files/{token}").status_code == 403
    assert head(world) == before


def test_a_closed_referrals_packet_is_withdrawn(client, world):
    headers = npo(world)
    referral, token = sent_packet(client, world)
    referral = ok(run(client, ACKNOWLEDGE, step(referral, on=TODAY), headers))
    referral = ok(run(client, DECLINE, step(referral, on=TODAY), headers))
    ok(run(client, CLOSE, step(referral, closedOn=TODAY, reason="declined_by_agency"), headers))
    response = client.get(f"/agency-packets/{token}")
    assert response.status_code == 410 and response.json()["detail"]["code"] == "packet_withdrawn"


AGENCY_PAGE = """query A($first: Int, $after: String) { agencies(first: $first, after: $after) {
  totalCount nodes { id name kind } pageInfo { hasNextPage endCursor } } }"""


def test_agencies_are_listed_in_keyset_pages_by_kind_and_name(client, world):
    headers = city(world)
    ids = {name: agency(client, headers, name=name, kind=kind) for name, kind in (
        ("B保健センター", "health_center"), ("A保健センター", "health_center"),
        ("中央児童相談所", "child_guidance_center"))}
    page = gql(client, AGENCY_PAGE, {"first": 2}, headers)["data"]["agencies"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]
    assert [a["id"] for a in page["nodes"]] == [ids["中央児童相談所"], ids["A保健センター"]]
    rest = gql(client, AGENCY_PAGE, {"first": 2, "after": page["pageInfo"]["endCursor"]},
               headers)["data"]["agencies"]
    assert [a["id"] for a in rest["nodes"]] == [ids["B保健センター"]]
    assert rest["totalCount"] == 3 and not rest["pageInfo"]["hasNextPage"]
    bad = gql(client, AGENCY_PAGE, {"after": "WyJhIiwgMSwgImIiXQ=="}, headers)  # ["a", 1, "b"]
    assert bad["errors"][0]["extensions"]["code"] == "cursor_invalid"
