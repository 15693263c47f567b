"""Data-subject requests over GraphQL: disclosure, correction, suspension of use, deadlines.

Every scenario runs on SQLite and on the throwaway PostgreSQL cluster, with
real tokens; the disclosure's files are fetched through their links.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from uuid import UUID

from world import CITY_A, NPO, gql, head, npo, record, run, supervisor
from key_destruction import destroy_key

from yorisoi.infra.clock import japan_today
from yorisoi.services.complaints import NewComplaint
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.disclosure_document import render_html

TODAY = japan_today().isoformat()
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
ASKED = "二歳の子のことばが遅いのが心配"
GUARDIAN = "架空 花子"
NOTE = "祖母が送迎を手伝っている"
REASON = "保育園でのあざについて通告"
COMPLAINT = "窓口の対応が冷たかった"

ERRORS = """
  ... on UserError { code message messageJa }
  ... on ValidationError { fieldErrors { field code message messageJa } }
"""
REQUEST = """id householdId kind status receivedOn dueOn deadlineDays overdue outcome
  refusalReason suspensionActive version exports { exportId records accessEntries }
  corrections { recordKind recordId recordVersion changedFields }"""


def _mutation(name: str, input_type: str) -> str:
    return (f"mutation M($input: {input_type}!) {{ {name}(input: $input) {{ __typename"
            f" ... on DataSubjectRequestChanged {{ request {{ {REQUEST} }} }} {ERRORS} }} }}")


RECEIVE = _mutation("receiveDataSubjectRequest", "ReceiveDataSubjectRequestInput")
START = _mutation("startDataSubjectRequest", "DataSubjectRequestStepInput")
ANSWER = _mutation("answerDataSubjectRequest", "DataSubjectRequestStepInput")
REFUSE = _mutation("refuseDataSubjectRequest", "DataSubjectRequestStepInput")
LIFT = _mutation("liftSuspensionOfUse", "DataSubjectRequestStepInput")
CLOSE = _mutation("closeDataSubjectRequest", "DataSubjectRequestStepInput")
CORRECT = _mutation("correctConsultationForRequest", "CorrectConsultationForRequestInput")
CORRECT_NOTE = _mutation("correctSupportNoteForRequest", "CorrectSupportNoteForRequestInput")
EXPORT = f"""mutation M($input: ExportDisclosureInput!) {{ exportDisclosure(input: $input) {{
  __typename ... on DisclosureExported {{ exportId records accessEntries jsonUrl htmlUrl expiresAt
  request {{ {REQUEST} }} }} {ERRORS} }} }}"""
DEADLINES = f"""mutation M($input: SetDataSubjectRequestDeadlinesInput!) {{
  setDataSubjectRequestDeadlines(input: $input) {{ __typename
  ... on DataSubjectRequestDeadlinesSet {{ deadlines {{ kind days }} version }} {ERRORS} }} }}"""
LIST = f"""query L($code: String!, $overdue: Boolean!) {{
  dataSubjectRequests(municipalityCode: $code, overdueOnly: $overdue) {{
  nodes {{ {REQUEST} }} }} }}"""
WRITE_NOTE = ("mutation($input: WriteSupportNoteInput!) { writeSupportNote(input: $input) {"
              " __typename ... on SupportNoteSaved { note { id version } } " + ERRORS + " } }")
RECORD = ("mutation($input: RecordConsultationInput!) { recordConsultation(input: $input) {"
          " __typename ... on ConsultationRecorded { consultation { id } } " + ERRORS + " } }")
EXCEPT = ("mutation($input: RecordConsentExceptionInput!) { recordConsentException(input: $input)"
          " { __typename ... on ConsentExceptionRecorded { exception { id } } " + ERRORS + " } }")
AGENCY = ("mutation($input: RegisterAgencyInput!) { registerAgency(input: $input) { __typename"
          " ... on AgencyRegistered { agency { id } } " + ERRORS + " } }")
DRAFT = ("mutation($input: DraftReferralInput!) { draftReferral(input: $input) { __typename"
         " ... on ReferralChanged { referral { id } } " + ERRORS + " } }")


def _new_case(client: Any, world: Any) -> tuple[str, str]:
    """(case id, consultation id) of a family the NPO recorded, with a support note."""
    result = record(client, npo(world), asked=ASKED)
    assert result["__typename"] == "ConsultationRecorded", result
    case_id = result["case"]["id"]
    note = run(client, WRITE_NOTE, npo(world), caseId=case_id, writtenOn=TODAY,
               kind="progress", body=NOTE)
    assert note["__typename"] == "SupportNoteSaved", note
    return case_id, result["consultation"]["id"]


def _receive(client: Any, world: Any, case_id: str, kind: str, **fields: Any) -> dict:
    result = run(client, RECEIVE, supervisor(world), caseId=case_id, kind=kind,
                 identificationMethod="counter_photo_id", requesterRelationship="self",
                 receivedOn=fields.pop("receivedOn", TODAY), **fields)
    assert result["__typename"] == "DataSubjectRequestChanged", result
    return result["request"]


def _step(client: Any, world: Any, document: str, request: dict, **fields: Any) -> dict:
    result = run(client, document, supervisor(world), requestId=request["id"],
                 on=fields.pop("on", TODAY), **fields)
    assert result["__typename"] == "DataSubjectRequestChanged", result
    return result["request"]


def _refused(result: dict[str, Any], code: str) -> None:
    assert result["__typename"] in ("ValidationError", "NotAuthorizedError",
                                    "NotFoundError"), result
    codes = [result["code"], *(e["code"] for e in result.get("fieldErrors", []))]
    assert code in codes, result
    assert JAPANESE.search(result["messageJa"])
    for text in (result["message"], result["messageJa"],
                 *(e["message"] + e["messageJa"] for e in result.get("fieldErrors", []))):
        assert ASKED not in text and GUARDIAN not in text and NOTE not in text


def _household(world: Any, case_id: str) -> UUID:
    with world.services.runtimes.lease(CITY_A) as rt:
        return rt.casework.repository.get(UUID(case_id)).household_id


# ------------------------------------------------------------------ disclosure


def _complaint_about(world: Any, case_id: str) -> str:
    staff = ActingContext(user_id="a-intake", role="complaint_intake_officer",
                          organisation_kind="municipality", organisation_id=CITY_A)
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        complaint = rt.casework.receive_complaint(NewComplaint(
            site_id="a-hiroba", contract_id="contract-a-npo", contractor_id=NPO,
            kind="complaint", channel="phone", received_on=japan_today(), anonymous=False,
            content=COMPLAINT, complainant_name=GUARDIAN, case_id=UUID(case_id)),
            writable_contract_ids=None)
    return str(complaint.id)


def test_disclosure_exports_everything_held_logs_the_read_and_links_sealed_files(client, world):
    case_id, consultation_id = _new_case(client, world)
    household_id = _household(world, case_id)
    jido = run(client, AGENCY, supervisor(world), name="児童相談所", kind="child_guidance_center",
               onSystem=True, confidentialityBasis="public_servant")["agency"]["id"]
    referral = run(client, DRAFT, npo(world), caseId=case_id, agencyId=jido, reason=REASON)
    complaint_id = _complaint_about(world, case_id)
    request = _receive(client, world, case_id, "disclosure")
    assert request["dueOn"] == (japan_today() + timedelta(days=30)).isoformat()
    request = _step(client, world, START, request)

    result = run(client, EXPORT, supervisor(world), requestId=request["id"])
    assert result["__typename"] == "DisclosureExported", result
    assert result["request"]["exports"][0]["exportId"] == result["exportId"]
    # household, case, consultation, note, consent, referral, complaint, the request itself
    assert result["records"] == 8 and result["accessEntries"] == 6

    document = client.get(result["jsonUrl"])
    assert document.status_code == 200 and document.headers["cache-control"] == "no-store"
    exported = document.json()
    kinds = [r["kind"] for r in exported["records"]]
    assert kinds == ["household", "case", "consultation", "support_note", "consent",
                     "referral", "complaint", "data_subject_request"]
    text = json.dumps(exported, ensure_ascii=False)
    assert all(value in text for value in (GUARDIAN, ASKED, NOTE, REASON, COMPLAINT))
    assert exported["records"][5]["id"] == referral["referral"]["id"]
    assert exported["records"][5]["recipient"] == {"agencyName": "児童相談所",
                                                   "agencyKind": "child_guidance_center"}
    assert exported["records"][6]["id"] == complaint_id
    consultation = exported["records"][2]
    assert consultation["id"] == consultation_id
    assert consultation["events"][0]["recordedBy"]["organisation_id"] == NPO
    # The export's own reads are in the access log it discloses.
    exports = [r for r in exported["accessLog"] if r["channel"] == "export"]
    assert {r["record_kind"] for r in exports} == {"household", "consultation", "support_note",
                                                   "consent", "referral", "complaint"}
    assert all(r["actor"] == "a-supervisor" for r in exports)

    page = client.get(result["htmlUrl"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "保有個人情報の開示" in page.text and "相談記録" in page.text and ASKED in page.text

    with world.services.runtimes.lease(CITY_A) as rt:
        with rt.casework.database.transaction(write=False) as cur:
            logged = cur.execute("SELECT * FROM {s}access_log WHERE household_id = %s"
                                 " AND channel = 'export'", (str(household_id),)).fetchall()
        assert len(logged) == 6 and all(r["basis_ref"] == f"dsr:{request['id']}" for r in logged)
        # Stored under the household's prefix, sealed: the files hold no plaintext.
        prefix = f"{rt.space}/households/{household_id}/disclosures/{result['exportId']}"
        for fmt in ("json", "html"):
            sealed, _ = world.services.objects.get(f"{prefix}.{fmt}")
            assert ASKED.encode() not in sealed and GUARDIAN.encode() not in sealed
        destroy_key(rt, household_id)  # disposal
    gone = client.get(result["jsonUrl"])
    assert gone.status_code == 410

    answered = _step(client, world, ANSWER, result["request"], outcome="disclosed")
    assert answered["status"] == "answered"
    assert _step(client, world, CLOSE, answered)["status"] == "closed"


def test_a_tampered_or_foreign_disclosure_link_opens_nothing(client, world):
    case_id, _ = _new_case(client, world)
    request = _step(client, world, START, _receive(client, world, case_id, "disclosure"))
    result = run(client, EXPORT, supervisor(world), requestId=request["id"])
    token = result["jsonUrl"].removeprefix("/disclosures/")
    payload, signature = token.split(".")
    assert client.get(f"/disclosures/{payload}.{signature[:-2]}AA").status_code == 403
    # A file link of the attachment store is not a disclosure link.
    assert client.get(f"/files/{token}").status_code == 403


def test_the_document_escapes_every_value():
    document = {"municipalityName": "<b>区</b>", "requestId": "r", "exportId": "e",
                "householdId": "h", "generatedAt": "2026-05-01T00:00:00", "accessLog": [],
                "records": [{"kind": "consultation", "id": "c", "personalFields": ["asked"],
                             "events": [{"event": "Consultation.Recorded", "version": 1,
                                         "recordedAt": "2026-05-01T00:00:00",
                                         "recordedBy": {"role": "specialist"},
                                         "data": {"asked": "<script>alert(1)</script>",
                                                  "channel": "phone"},
                                         "shredded": False}]}]}
    page = render_html(document)
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>区" not in page
    assert "電話" in page and "相談内容（主訴）" in page


def test_a_disposed_household_is_not_exported(client, world):
    case_id, _ = _new_case(client, world)
    request = _step(client, world, START, _receive(client, world, case_id, "disclosure"))
    with world.services.runtimes.lease(CITY_A) as rt:
        destroy_key(rt, _household(world, case_id))
    _refused(run(client, EXPORT, supervisor(world), requestId=request["id"]),
             "household_disposed")
    refused = _step(client, world, REFUSE, request, reason="no_data_held")
    assert refused["refusalReason"] == "no_data_held"


def test_only_a_started_disclosure_request_is_exported_and_nothing_is_logged_otherwise(
        client, world):
    case_id, _ = _new_case(client, world)
    request = _receive(client, world, case_id, "disclosure")
    _refused(run(client, EXPORT, supervisor(world), requestId=request["id"]),
             "data_subject_request_step_invalid")
    correction = _step(client, world, START, _receive(client, world, case_id, "correction"))
    _refused(run(client, EXPORT, supervisor(world), requestId=correction["id"]),
             "data_subject_request_kind_mismatch")
    _refused(run(client, ANSWER, supervisor(world), requestId=correction["id"], on=TODAY,
                 outcome="corrected"), "data_subject_request_nothing_done")
    with world.services.runtimes.lease(CITY_A) as rt, \
            rt.casework.database.transaction(write=False) as cur:
        assert cur.execute("SELECT COUNT(*) AS n FROM {s}access_log"
                           " WHERE channel = 'export'").fetchone()["n"] == 0


# ------------------------------------------------------------------ correction


def test_a_correction_is_a_new_event_linked_to_the_request_and_keeps_the_original(client, world):
    case_id, consultation_id = _new_case(client, world)
    request = _step(client, world, START, _receive(client, world, case_id, "correction"))
    corrected = run(client, CORRECT, supervisor(world), requestId=request["id"],
                    consultationId=consultation_id, asked="三歳の子のことばが心配",
                    reason="本人からの訂正請求（年齢の誤り）")
    assert corrected["__typename"] == "DataSubjectRequestChanged", corrected
    link = corrected["request"]["corrections"][0]
    assert link == {"recordKind": "consultation", "recordId": consultation_id,
                    "recordVersion": 2, "changedFields": ["asked"]}
    with world.services.runtimes.lease(CITY_A) as rt:
        events = list(rt.casework.events.get(UUID(consultation_id)))
    assert [type(e).__qualname__ for e in events] == ["Consultation.Recorded",
                                                      "Consultation.Corrected"]
    assert events[0].asked == ASKED and events[1].changes == {"asked": "三歳の子のことばが心配"}
    answered = _step(client, world, ANSWER, corrected["request"], outcome="corrected")
    assert answered["outcome"] == "corrected"


def test_a_record_of_another_household_cannot_be_corrected_for_a_request(client, world):
    case_id, _ = _new_case(client, world)
    _, other_consultation = _new_case(client, world)
    request = _step(client, world, START, _receive(client, world, case_id, "correction"))
    before = head(world)
    _refused(run(client, CORRECT, supervisor(world), requestId=request["id"],
                 consultationId=other_consultation, asked="…", reason="…"),
             "consultation_not_found")
    _refused(run(client, CORRECT_NOTE, supervisor(world), requestId=request["id"],
                 noteId=str(UUID(int=7)), body="…", reason="…"), "support_note_not_found")
    assert head(world) == before


# ------------------------------------------------------------------ suspension of use


def test_a_suspension_refuses_processing_except_legal_duties_until_lifted(client, world):
    case_id, _ = _new_case(client, world)
    request = _step(client, world, START, _receive(client, world, case_id, "suspension_of_use"))
    request = _step(client, world, ANSWER, request, outcome="suspended")
    assert request["suspensionActive"]
    before = head(world)

    again = {"caseId": case_id, "household": None, "consent": None, "asked": "追加の相談"}
    _refused(record(client, npo(world), **again), "processing_suspended")
    _refused(run(client, WRITE_NOTE, npo(world), caseId=case_id, writtenOn=TODAY,
                 kind="progress", body="…"), "processing_suspended")
    health = run(client, AGENCY, supervisor(world), name="保健センター", kind="health_center",
                 onSystem=True, confidentialityBasis="public_servant")["agency"]["id"]
    after_agency = head(world)
    _refused(run(client, DRAFT, npo(world), caseId=case_id, agencyId=health, reason="…"),
             "processing_suspended")
    assert head(world) == after_agency and after_agency == before + 1  # only the agency

    # Legal duties go through: a report to the child guidance centre, and a
    # consultation recorded together with its duty-to-report exception.
    jido = run(client, AGENCY, supervisor(world), name="児童相談所", kind="child_guidance_center",
               onSystem=True, confidentialityBasis="public_servant")["agency"]["id"]
    assert run(client, DRAFT, npo(world), caseId=case_id, agencyId=jido,
               reason="虐待の疑い")["__typename"] == "ReferralChanged"
    duty = record(client, npo(world), **{**again, "noConsentException": {
        "reason": "腕にあざ。通告した", "legalBasis": "child_abuse_report"}})
    assert duty["__typename"] == "ConsultationRecorded", duty
    assert run(client, EXCEPT, npo(world), caseId=case_id, purpose="share",
               legalBasis="child_welfare_act_25", reason="要保護児童の通告", takenOn=TODAY,
               agencyKind="child_guidance_center")["__typename"] == "ConsentExceptionRecorded"

    listed = gql(client, LIST, {"code": CITY_A, "overdue": False}, supervisor(world))
    assert listed["data"]["dataSubjectRequests"]["nodes"][0]["suspensionActive"]
    lifted = _step(client, world, LIFT, request, reason="requested_by_data_subject")
    assert not lifted["suspensionActive"]
    assert record(client, npo(world), **again)["__typename"] == "ConsultationRecorded"


# ------------------------------------------------------------------ deadlines, lists, access


def test_overdue_requests_are_listed_and_the_municipality_sets_its_own_deadline(client, world):
    case_id, _ = _new_case(client, world)
    late = _receive(client, world, case_id, "disclosure",
                    receivedOn=(japan_today() - timedelta(days=31)).isoformat())
    assert late["overdue"] and late["deadlineDays"] == 30
    set_ = run(client, DEADLINES, supervisor(world),
               deadlines=[{"kind": "disclosure", "days": 14}])
    assert set_["__typename"] == "DataSubjectRequestDeadlinesSet", set_
    _refused(run(client, DEADLINES, supervisor(world),
                 deadlines=[{"kind": "correction", "days": 45}]),
             "data_subject_request_deadline_invalid")
    fresh = _receive(client, world, case_id, "disclosure")
    assert fresh["deadlineDays"] == 14 and not fresh["overdue"]
    overdue = gql(client, LIST, {"code": CITY_A, "overdue": True}, supervisor(world))
    assert [r["id"] for r in overdue["data"]["dataSubjectRequests"]["nodes"]] == [late["id"]]
    refused = _step(client, world, REFUSE, late, reason="identity_not_confirmed")
    assert refused["status"] == "refused" and not refused["overdue"]


def test_only_the_municipalitys_supervisors_and_admins_handle_requests(client, world):
    case_id, _ = _new_case(client, world)
    before = head(world)
    contractor = run(client, RECEIVE, npo(world), caseId=case_id, kind="disclosure",
                     identificationMethod="counter_photo_id", requesterRelationship="self",
                     receivedOn=TODAY)
    _refused(contractor, "role_not_permitted")
    specialist = world.headers("municipality", CITY_A, subject="a-staff", roles=("specialist",))
    _refused(run(client, RECEIVE, specialist, caseId=case_id, kind="disclosure",
                 identificationMethod="counter_photo_id", requesterRelationship="self",
                 receivedOn=TODAY), "role_not_permitted")
    listed = gql(client, LIST, {"code": CITY_A, "overdue": False}, specialist)
    assert listed["errors"][0]["extensions"]["code"] == "role_not_permitted"
    assert head(world) == before


def test_invalid_requests_are_refused_field_by_field_and_nothing_is_written(client, world):
    case_id, _ = _new_case(client, world)
    before = head(world)
    bad = run(client, RECEIVE, supervisor(world), caseId=case_id, kind="erasure",
              identificationMethod="counter_photo_id", requesterRelationship="self",
              receivedOn="2026-13-01")
    _refused(bad, "invalid_input")
    _refused(run(client, RECEIVE, supervisor(world), caseId=case_id, kind="erasure",
                 identificationMethod="counter_photo_id", requesterRelationship="self",
                 receivedOn=TODAY), "data_subject_request_kind_unknown")
    _refused(run(client, RECEIVE, supervisor(world), kind="disclosure",
                 identificationMethod="counter_photo_id", requesterRelationship="self",
                 receivedOn=TODAY), "invalid_input")
    _refused(run(client, RECEIVE, supervisor(world), caseId=str(UUID(int=3)),
                 kind="disclosure", identificationMethod="counter_photo_id",
                 requesterRelationship="self", receivedOn=TODAY), "case_not_found")
    assert head(world) == before


PAGE = """query P($code: String!, $first: Int, $after: String) {
  dataSubjectRequests(municipalityCode: $code, first: $first, after: $after) {
  totalCount nodes { id receivedOn } pageInfo { hasNextPage endCursor } } }"""


def test_requests_are_listed_in_keyset_pages_oldest_received_first(client, world):
    case_id, _ = _new_case(client, world)
    received = [_receive(client, world, case_id, kind, receivedOn=(
        japan_today() - timedelta(days=days)).isoformat())["id"]
        for kind, days in (("disclosure", 1), ("correction", 3), ("disclosure", 2))]
    page = gql(client, PAGE, {"code": CITY_A, "first": 2}, supervisor(world))
    first = page["data"]["dataSubjectRequests"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    assert [r["id"] for r in first["nodes"]] == [received[1], received[2]]
    page = gql(client, PAGE, {"code": CITY_A, "first": 2,
                              "after": first["pageInfo"]["endCursor"]}, supervisor(world))
    second = page["data"]["dataSubjectRequests"]
    assert [r["id"] for r in second["nodes"]] == [received[0]]
    assert second["totalCount"] == 3 and not second["pageInfo"]["hasNextPage"]
    bad = gql(client, PAGE, {"code": CITY_A, "after": "not-a-cursor"}, supervisor(world))
    assert bad["errors"][0]["extensions"]["code"] == "cursor_invalid"
