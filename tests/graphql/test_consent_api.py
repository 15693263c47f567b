"""Consent over GraphQL: given, withdrawn, excepted, enforced; consultations corrected.

Every scenario runs on SQLite and on the throwaway PostgreSQL cluster.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from world import CITY_A, NPO, consultation_input, gql, head, record

from yorisoi.infra.clock import japan_today

TODAY = japan_today().isoformat()
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
ABUSE = {"reason": "腕にあざ。虐待の疑いで児童相談所へ通告。", "legalBasis": "child_abuse_report"}

ERRORS = """
    ... on UserError { code message messageJa }
    ... on ValidationError { fieldErrors { field code message messageJa } }
"""
GIVE = """mutation($input: GiveConsentInput!) { giveConsent(input: $input) { __typename
    ... on ConsentGiven { consent { id purpose agencyId agencyKind status givenBy } } ERRORS } }
""".replace("ERRORS", ERRORS)
WITHDRAW = """mutation($input: WithdrawConsentInput!) { withdrawConsent(input: $input) {
    __typename ... on ConsentWithdrawn { consent { id status withdrawnOn withdrawalReason } }
    ERRORS } }""".replace("ERRORS", ERRORS)
EXCEPT = """mutation($input: RecordConsentExceptionInput!) {
    recordConsentException(input: $input) { __typename
    ... on ConsentExceptionRecorded { exception { id purpose legalBasis agencyKind reason } }
    ERRORS } }""".replace("ERRORS", ERRORS)
CONSENTS = """query($caseId: ID!, $code: String) { consents(caseId: $caseId, municipalityCode: $code) {
    consents { id caseId purpose agencyId agencyKind status givenOn givenBy relationship scope
               withdrawnOn withdrawalReason }
    exceptions { id purpose legalBasis takenOn recordId reason } } }"""
CORRECT = """mutation($input: CorrectConsultationInput!) { correctConsultation(input: $input) {
    __typename ... on ConsultationCorrected { consultation { id asked innerSituation
        outerSituation childRearingSituation version correctionCount
        corrections { fields reason correctedBy correctedRole correctedAt } } }
    ERRORS } }""".replace("ERRORS", ERRORS)
RECORD_FULL = """mutation($input: RecordConsultationInput!) { recordConsultation(input: $input) {
    __typename ... on ConsultationRecorded { case { id } consultation { id outerSituation
        innerSituation childRearingSituation version correctionCount } }
    ERRORS } }""".replace("ERRORS", ERRORS)


def npo(world: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, subject="npo-staff-1", roles=("specialist",),
                         sites=("a-hiroba",))


def city_b(world: Any) -> dict[str, str]:
    return world.headers("municipality", "141003", subject="b-staff",
                         roles=("municipal_supervisor",))


def new_case(client: Any, world: Any, **overrides: Any) -> dict[str, Any]:
    result = record(client, npo(world), **overrides)
    assert result["__typename"] == "ConsultationRecorded", result
    return result


def mutate(client: Any, world: Any, query: str, name: str, **fields: Any) -> dict[str, Any]:
    body = gql(client, query, {"input": {"municipalityCode": CITY_A, **fields}}, npo(world))
    assert "errors" not in body, body
    return body["data"][name]


def consents(client: Any, world: Any, case_id: str, headers: dict[str, str] | None = None,
             code: str | None = CITY_A) -> Any:
    body = gql(client, CONSENTS, {"caseId": case_id, "code": code}, headers or npo(world))
    assert "errors" not in body, body
    return body["data"]["consents"]


def assert_refused(result: dict[str, Any], field: str, code: str) -> None:
    assert result["__typename"] == "ValidationError", result
    assert JAPANESE.search(result["messageJa"])
    codes = {(e["field"], e["code"]) for e in result["fieldErrors"]}
    assert (field, code) in codes, codes
    assert all(JAPANESE.search(e["messageJa"]) for e in result["fieldErrors"])


def test_recording_for_a_new_household_without_consent_is_refused_and_writes_nothing(
        client, world):
    before = head(world)
    result = record(client, npo(world), consent=None)
    assert_refused(result, "consent", "consent_missing")
    assert head(world) == before
    assert "架空" not in str(result)


def test_consent_and_exception_together_are_refused_at_the_edge(client, world):
    before = head(world)
    result = record(client, npo(world), noConsentException=ABUSE)
    assert_refused(result, "noConsentException", "invalid_input")
    result = record(client, npo(world), consent=None,
                    noConsentException={"reason": " ", "legalBasis": "because"})
    assert_refused(result, "noConsentException.reason", "invalid_input")
    assert head(world) == before


def test_recording_with_an_exception_shows_it_with_its_legal_basis(client, world):
    result = new_case(client, world, consent=None, noConsentException=ABUSE)
    listed = consents(client, world, result["case"]["id"])
    assert listed["consents"] == []
    (exception,) = listed["exceptions"]
    assert (exception["purpose"], exception["legalBasis"], exception["reason"]) == (
        "create_records", "child_abuse_report", ABUSE["reason"])
    assert exception["recordId"] == result["consultation"]["id"]
    assert exception["takenOn"] == TODAY


def test_unknown_legal_basis_is_refused_with_a_typed_error(client, world):
    before = head(world)
    result = record(client, npo(world), consent=None,
                    noConsentException={"reason": "緊急", "legalBasis": "convenience"})
    assert_refused(result, "noConsentException.legalBasis", "consent_legal_basis_unknown")
    assert head(world) == before


def test_consent_given_withdrawn_and_the_next_record_refused(client, world):
    case_id = new_case(client, world)["case"]["id"]
    (consent,) = consents(client, world, case_id)["consents"]
    assert (consent["purpose"], consent["status"], consent["givenBy"], consent["relationship"]) \
        == ("create_records", "given", "架空 花子", "母")

    withdrawn = mutate(client, world, WITHDRAW, "withdrawConsent", caseId=case_id,
                       consentId=consent["id"], withdrawnOn=TODAY, reason="記録をやめたい")
    assert withdrawn["__typename"] == "ConsentWithdrawn", withdrawn
    assert withdrawn["consent"]["status"] == "withdrawn"
    assert withdrawn["consent"]["withdrawalReason"] == "記録をやめたい"

    before = head(world)
    result = record(client, npo(world), household=None, caseId=case_id, consent=None)
    assert_refused(result, "consent", "consent_withdrawn")
    assert head(world) == before

    again = mutate(client, world, WITHDRAW, "withdrawConsent", caseId=case_id,
                   consentId=consent["id"], withdrawnOn=TODAY)
    assert_refused(again, "consentId", "consent_already_withdrawn")
    assert head(world) == before


def test_consent_to_share_with_an_agency_kind_and_an_exception_for_a_report(client, world):
    case_id = new_case(client, world)["case"]["id"]
    given = mutate(client, world, GIVE, "giveConsent", caseId=case_id, purpose="share",
                   agencyKind="health_center", givenBy="架空 花子", relationship="母",
                   givenOn=TODAY, scope="発達の経過")
    assert given["__typename"] == "ConsentGiven", given
    assert (given["consent"]["agencyKind"], given["consent"]["agencyId"]) == (
        "health_center", None)
    with world.services.runtimes.lease(CITY_A) as rt:
        household = rt.casework.readable_case(uuid.UUID(case_id), None).household_id
        assert rt.casework.consent_covers(household, purpose="share", agency_id="ag-1",
                                          agency_kind="health_center", on=japan_today())
        assert not rt.casework.consent_covers(household, purpose="share",
                                              agency_kind="child_guidance_center",
                                              on=japan_today())
    excepted = mutate(client, world, EXCEPT, "recordConsentException", caseId=case_id,
                      purpose="share", agencyKind="child_guidance_center", takenOn=TODAY,
                      **ABUSE)
    assert excepted["__typename"] == "ConsentExceptionRecorded", excepted
    assert excepted["exception"]["legalBasis"] == "child_abuse_report"
    listed = consents(client, world, case_id)
    assert [c["purpose"] for c in listed["consents"]] == ["create_records", "share"]
    assert [e["legalBasis"] for e in listed["exceptions"]] == ["child_abuse_report"]


def test_bad_consent_inputs_are_refused_with_typed_errors_and_nothing_is_written(client, world):
    case_id = new_case(client, world)["case"]["id"]
    base = {"caseId": case_id, "givenBy": "架空 花子", "relationship": "母", "givenOn": TODAY}
    before = head(world)
    rows = [
        ({**base, "purpose": "marketing"}, "purpose", "consent_purpose_unknown"),
        ({**base, "purpose": "share"}, "agencyId", "consent_agency_invalid"),
        ({**base, "purpose": "view", "agencyId": "ag-1"}, "agencyId", "consent_agency_invalid"),
        ({**base, "purpose": "view", "givenOn": "2999-01-01"}, "givenOn", "consent_date_invalid"),
        ({**base, "purpose": "view", "givenOn": "tomorrow"}, "givenOn", "invalid_input"),
        ({**base, "purpose": "view", "givenBy": " "}, "givenBy", "invalid_input"),
        ({**base, "purpose": "view", "evidenceAttachmentId": str(uuid.uuid4())},
         "evidenceAttachmentId", "consent_evidence_unknown"),
    ]
    for fields, field, code in rows:
        assert_refused(mutate(client, world, GIVE, "giveConsent", **fields), field, code)
    assert head(world) == before


def test_consents_of_a_case_outside_the_callers_reach_read_as_null(client, world):
    case_id = new_case(client, world)["case"]["id"]
    assert consents(client, world, case_id, city_b(world), code=None) is None
    assert consents(client, world, str(uuid.uuid4())) is None
    unknown = gql(client, WITHDRAW, {"input": {
        "municipalityCode": CITY_A, "caseId": str(uuid.uuid4()), "consentId": str(uuid.uuid4()),
        "withdrawnOn": TODAY}}, npo(world))["data"]["withdrawConsent"]
    assert unknown["__typename"] == "NotFoundError"


def test_situations_are_recorded_and_a_correction_keeps_the_original(client, world):
    result = gql(client, RECORD_FULL, {"input": {**consultation_input(), "outerSituation": "転居したばかり",
                                                 "innerSituation": "不安が強い"}},
                 npo(world))["data"]["recordConsultation"]
    assert result["__typename"] == "ConsultationRecorded", result
    consultation = result["consultation"]
    assert (consultation["outerSituation"], consultation["innerSituation"],
            consultation["childRearingSituation"]) == ("転居したばかり", "不安が強い", None)
    assert (consultation["version"], consultation["correctionCount"]) == (1, 0)
    case_id, consultation_id = result["case"]["id"], consultation["id"]
    fields = {"caseId": case_id, "consultationId": consultation_id}

    corrected = mutate(client, world, CORRECT, "correctConsultation", **fields,
                       innerSituation="落ち着いている", childRearingSituation="祖母が手伝う",
                       reason="聞き取りの誤り", expectedVersion=1)
    assert corrected["__typename"] == "ConsultationCorrected", corrected
    now = corrected["consultation"]
    assert (now["innerSituation"], now["childRearingSituation"], now["outerSituation"]) == (
        "落ち着いている", "祖母が手伝う", "転居したばかり")
    assert (now["version"], now["correctionCount"]) == (2, 1)
    (history,) = now["corrections"]
    assert history["fields"] == ["child_rearing_situation", "inner_situation"]
    assert (history["reason"], history["correctedBy"]) == ("聞き取りの誤り", "npo-staff-1")

    before = head(world)
    stale = mutate(client, world, CORRECT, "correctConsultation", **fields, asked="別",
                   reason="再訂正", expectedVersion=1)
    assert (stale["__typename"], stale["code"]) == ("ConflictError", "stale_version"), stale
    no_reason = mutate(client, world, CORRECT, "correctConsultation", **fields, asked="別",
                       reason=" ")
    assert_refused(no_reason, "reason", "invalid_input")
    nothing = mutate(client, world, CORRECT, "correctConsultation", **fields,
                     innerSituation="落ち着いている", reason="確認")
    assert_refused(nothing, "changes", "consultation_correction_empty")
    foreign = mutate(client, world, CORRECT, "correctConsultation", caseId=case_id,
                     consultationId=str(uuid.uuid4()), asked="別", reason="誤記")
    assert (foreign["__typename"], foreign["code"]) == ("NotFoundError", "consultation_not_found")
    assert head(world) == before
    with world.services.runtimes.lease(CITY_A) as rt:
        events = list(rt.casework.events.get(uuid.UUID(consultation_id)))
    assert [type(e).__qualname__ for e in events] == [
        "Consultation.Recorded", "Consultation.Corrected"]
    assert events[0].inner_situation == "不安が強い"


CLOSE = """mutation($input: CloseCaseInput!) { closeCase(input: $input) { __typename ERRORS } }
""".replace("ERRORS", ERRORS)


def test_a_closed_cases_consultation_cannot_be_corrected_until_it_is_reopened(client, world):
    recorded = new_case(client, world)
    case_id, consultation_id = recorded["case"]["id"], recorded["consultation"]["id"]
    closed = mutate(client, world, CLOSE, "closeCase", caseId=case_id, closedOn=TODAY,
                    reason="support_completed")
    assert closed["__typename"] == "CaseChanged", closed
    before = head(world)
    refused = mutate(client, world, CORRECT, "correctConsultation", caseId=case_id,
                     consultationId=consultation_id, asked="別の相談", reason="誤記")
    assert_refused(refused, "caseId", "case_closed")
    assert head(world) == before


def test_consent_of_another_household_reads_as_not_found(client, world):
    mine = new_case(client, world)["case"]["id"]
    theirs = new_case(client, world)["case"]["id"]
    (their_consent,) = consents(client, world, theirs)["consents"]
    before = head(world)
    result = mutate(client, world, WITHDRAW, "withdrawConsent", caseId=mine,
                    consentId=their_consent["id"], withdrawnOn=TODAY)
    assert (result["__typename"], result["code"]) == ("NotFoundError", "consent_not_found")
    assert JAPANESE.search(result["messageJa"])
    assert head(world) == before
