"""Municipal oversight over GraphQL: findings and counts per contractor and site, no personal data.

The scenario is built through the real mutations (sites, staff, consultations,
a referral with a follow-up, a case meeting with an action); the oversight is
then read "five days later" (the clock of the oversight module moves on), so
the follow-up and the action are overdue.  A walk over every returned value
checks that nothing personal comes back.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from world import CITY_A, CITY_B, NPO, gql, record

from yorisoi.domain.findings import site_findings, staff_findings
from yorisoi.infra.clock import japan_today

OVERSIGHT = """
query($code: String!, $fy: Int!) { oversight(municipalityCode: $code, fiscalYear: $fy) {
  municipalityCode fiscalYear asOf complaintsAvailable
  contractors { contractorId operation
    staffFindings { code severity trainingKind message messageJa count }
    sites { siteId siteType openDays dedicatedSpecialists
      findings { code severity message messageJa trainingKind }
      staffFindings { code severity trainingKind message messageJa count }
      consultations consultationsByMonth { month count }
      referrals referralsByMonth { month count }
      overdueFollowUps overdueTasks openComplaints { step open overdue } } } } }
"""
SAVE_SITE = """mutation($input: SaveSiteProfileInput!) { saveSiteProfile(input: $input) { __typename } }"""
SCHEDULE = """mutation($input: SetSiteScheduleInput!) { setSiteSchedule(input: $input) { __typename } }"""
REGISTER = """mutation($input: RegisterStaffMemberInput!) { registerStaffMember(input: $input) {
  __typename ... on StaffMemberSaved { staffMember { id } } } }"""
ASSIGN = """mutation($input: AssignStaffToSiteInput!) { assignStaffToSite(input: $input) { __typename } }"""
AGENCY = """mutation($input: RegisterAgencyInput!) { registerAgency(input: $input) {
  __typename ... on AgencyRegistered { agency { id } } } }"""
REFERRAL = "__typename ... on {t} {{ referral {{ id version }} }} ... on UserError {{ code }}"
DRAFT = ("mutation($input: DraftReferralInput!) { draftReferral(input: $input) {"
         + REFERRAL.format(t="ReferralChanged") + "} }")
SEND = ("mutation($input: SendReferralInput!) { sendReferral(input: $input) {"
        + REFERRAL.format(t="ReferralSent") + "} }")
ACKNOWLEDGE = ("mutation($input: ReferralStepInput!) { acknowledgeReferral(input: $input) {"
               + REFERRAL.format(t="ReferralChanged") + "} }")
ACCEPT = ("mutation($input: ReferralStepInput!) { acceptReferral(input: $input) {"
          + REFERRAL.format(t="ReferralChanged") + "} }")
FOLLOW_UP = ("mutation($input: ScheduleReferralFollowUpInput!) {"
             " scheduleReferralFollowUp(input: $input) {"
             + REFERRAL.format(t="ReferralChanged") + "} }")
MEETING = """mutation($input: ScheduleCaseMeetingInput!) { scheduleCaseMeeting(input: $input) {
  __typename ... on CaseMeetingChanged { meeting { id version } } } }"""
COMPLAINT = """mutation($input: ReceiveComplaintInput!) { receiveComplaint(input: $input) {
  __typename ... on UserError { code } } }"""
MINUTES = """mutation($input: RecordMeetingMinutesInput!) { recordMeetingMinutes(input: $input) {
  __typename } }"""

STAFF_NAMES = ("架空 専門員 花代", "架空 窓口 次郎")
MEETING_TEXT = ("ひろば相談室", "入所に向けた支援方針", "架空 保健師 一郎", "4月から保育園", "保育園見学に同行")
REFERRAL_REASON = "ことばの遅れについて専門の発達相談につなぐ"
COMPLAINT_TEXT = "架空の苦情：職員の説明がわかりにくかった"


def supervisor(world: Any, city: str = CITY_A) -> dict[str, str]:
    return world.headers("municipality", city, subject="sv-1", roles=("municipal_supervisor",))


def npo(world: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, subject="npo-staff-1", roles=("specialist",),
                         sites=("a-hiroba",))


def ok(client: Any, doc: str, headers: dict[str, str], **fields: Any) -> dict:
    body = gql(client, doc, {"input": {"municipalityCode": CITY_A, **fields}}, headers)
    assert "errors" not in body, body
    result = next(iter(body["data"].values()))
    assert "code" not in result and result["__typename"] not in (
        "ValidationError", "NotAuthorizedError", "NotFoundError"), result
    return result


def fiscal_year_of_yesterday() -> int:
    day = japan_today() - timedelta(days=1)
    return day.year if day.month >= 4 else day.year - 1


@pytest.fixture
def scenario(client, world, monkeypatch) -> dict[str, Any]:
    """Two sites, two staff, three consultations, a referral and a meeting action; +5 days."""
    today = japan_today()
    sv = supervisor(world)
    ok(client, SAVE_SITE, sv, siteId="a-hiroba", siteType="kihon", address="千代田区九段南",
       contractId="contract-a-npo")
    ok(client, SCHEDULE, sv, siteId="a-hiroba", weekly=[
        {"weekday": d, "opens": "10:00", "closes": "15:00"} for d in ("mon", "wed", "fri")])
    ok(client, SAVE_SITE, sv, siteId="a-counter", siteType="tokutei", address="千代田区役所")
    specialist = ok(client, REGISTER, sv, subject="npo-staff-1", displayName=STAFF_NAMES[0],
                    organisationId=NPO, roles=["specialist"])["staffMember"]["id"]
    ok(client, ASSIGN, sv, staffId=specialist, siteId="a-hiroba", kind="dedicated",
       startsOn=today.isoformat())
    ok(client, REGISTER, sv, subject="a-staff", displayName=STAFF_NAMES[1],
       roles=["assistant"])

    cases = [record(client, npo(world))["case"]["id"] for _ in range(2)]
    city_staff = world.headers("municipality", CITY_A, subject="a-staff", roles=("specialist",))
    record(client, city_staff, siteId="a-counter")

    agency = ok(client, AGENCY, npo(world), name="千代田区保健センター", kind="health_center",
                contactEmail="hoken@city.example.jp",
                confidentialityBasis="public_servant")["agency"]["id"]
    referral = ok(client, DRAFT, npo(world), caseId=cases[0], agencyId=agency,
                  reason=REFERRAL_REASON, sharedFields=["household.children"])["referral"]
    for doc, fields in ((SEND, {"sentOn": today.isoformat(), "exception": {
            "reason": "腕にあざ", "legalBasis": "child_abuse_report"}}),
                        (ACKNOWLEDGE, {"on": today.isoformat()}),
                        (ACCEPT, {"on": today.isoformat()}),
                        (FOLLOW_UP, {"dueOn": today.isoformat(), "ownerUserId": "npo-staff-1"})):
        referral = ok(client, doc, npo(world), referralId=referral["id"],
                      expectedVersion=referral["version"], **fields)["referral"]

    def at(days: int, hour: int) -> str:
        return f"{(today + timedelta(days=days)).isoformat()}T{hour:02d}:00"

    meeting = ok(client, MEETING, npo(world), caseId=cases[1], startsAt=at(-1, 10),
                 endsAt=at(-1, 11), place=MEETING_TEXT[0], agenda=MEETING_TEXT[1],
                 internalParticipants=[{"userId": "npo-staff-1", "role": "specialist"}],
                 externalParticipants=[{"name": MEETING_TEXT[2], "organisation": "保健センター",
                                        "confidentialityBasis": "public_servant"}])["meeting"]
    ok(client, MINUTES, npo(world), meetingId=meeting["id"], expectedVersion=meeting["version"],
       wishes=MEETING_TEXT[3], actions=[{"ownerUserId": "npo-staff-1", "what": MEETING_TEXT[4],
                                        "dueOn": today.isoformat()}])
    ok(client, COMPLAINT, sv, siteId="a-hiroba", channel="phone",
       receivedOn=today.isoformat(), content=COMPLAINT_TEXT, anonymous=True)
    # Five days pass for the oversight: the follow-up and the action are now overdue.
    monkeypatch.setattr("yorisoi.graphql.oversight.japan_today",
                        lambda: today + timedelta(days=5))
    return {"fy": fiscal_year_of_yesterday()}


def oversight(client: Any, headers: dict[str, str], fy: int, code: str = CITY_A) -> dict:
    return gql(client, OVERSIGHT, {"code": code, "fy": fy}, headers)


def test_oversight_groups_findings_and_counts_by_contractor_and_site(client, world, scenario):
    body = oversight(client, supervisor(world), scenario["fy"])
    assert "errors" not in body, body
    report = body["data"]["oversight"]
    assert [(c["contractorId"], c["operation"], [s["siteId"] for s in c["sites"]])
            for c in report["contractors"]] == [(None, "direct", ["a-counter"]),
                                                (NPO, "contracted", ["a-hiroba"])]
    direct, contracted = report["contractors"]
    hiroba, counter = contracted["sites"][0], direct["sites"][0]

    assert (hiroba["siteType"], hiroba["openDays"], hiroba["dedicatedSpecialists"]) == (
        "kihon", 3, 1)
    assert [f["code"] for f in hiroba["findings"]] == ["open_fewer_than_half_the_week"]
    assert [f["code"] for f in counter["findings"]] == ["open_fewer_than_half_the_week",
                                                        "no_dedicated_specialist"]
    assert [(f["code"], f["trainingKind"], f["count"]) for f in hiroba["staffFindings"]] == [
        ("pledge_missing", None, 1),
        ("training_missing", "kosodate_shienin_kihon", 1),
        ("training_missing", "kosodate_shienin_senmon", 1),
        ("training_missing", "privacy_confidentiality", 1)]
    assert [(f["code"], f["count"]) for f in direct["staffFindings"]] == [
        ("pledge_missing", 1), ("training_missing", 1)]

    month = (japan_today() - timedelta(days=1)).strftime("%Y-%m")
    assert (hiroba["consultations"], counter["consultations"]) == (2, 1)
    assert len(hiroba["consultationsByMonth"]) == 12
    assert {m["month"]: m["count"] for m in hiroba["consultationsByMonth"]}[month] == 2
    sent_month = japan_today().strftime("%Y-%m")
    referral_months = {m["month"]: m["count"] for m in hiroba["referralsByMonth"]}
    assert hiroba["referrals"] == (1 if sent_month in referral_months else 0)
    assert (hiroba["overdueFollowUps"], hiroba["overdueTasks"]) == (1, 1)
    assert (counter["referrals"], counter["overdueFollowUps"], counter["overdueTasks"]) == (0, 0, 0)
    assert report["complaintsAvailable"] is True
    assert [(c["step"], c["open"]) for c in hiroba["openComplaints"]] == [("received", 1)]
    assert counter["openComplaints"] == []


def leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every scalar in a GraphQL result, with its path."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in leaves(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, f"{path}[{i}]")]
    return [(path, value)]


_CODE_LIKE = re.compile(r"[A-Za-z0-9_\-]+|\d{4}-\d{2}(-\d{2})?")


def test_every_returned_field_of_the_oversight_is_free_of_personal_data(client, world, scenario):
    report = oversight(client, supervisor(world), scenario["fy"])["data"]["oversight"]
    fixed_texts = {text for f in (*site_findings({}, 0), *staff_findings(
        ["specialist"], [], False, japan_today())) for text in (f.message, f.message_ja)}
    personal = (*STAFF_NAMES, *MEETING_TEXT, REFERRAL_REASON, "架空 花子", "架空 たろう",
                "二歳の子のことばが遅いのが心配", "相談できる所を知りたい", "発達相談の案内",
                "腕にあざ", COMPLAINT_TEXT, "npo-staff-1", "a-staff", "sv-1", "hoken@city.example.jp")
    walked = leaves(report)
    assert len(walked) > 100
    for path, value in walked:
        if value is None or isinstance(value, (bool, int)):
            continue
        assert isinstance(value, str), path
        # Only codes, ids, dates and months — or a finding's fixed message.
        assert _CODE_LIKE.fullmatch(value) or value in fixed_texts, (path, value)
        assert not any(p in value for p in personal), path


def test_oversight_is_refused_outside_municipal_oversight_roles(client, world):
    fy = fiscal_year_of_yesterday()
    for headers, code in (
        (world.headers("municipality", CITY_A, roles=("specialist",)), "role_not_permitted"),
        (world.headers("contractor", NPO, roles=("contractor_admin",)), "role_not_permitted"),
        (supervisor(world, CITY_B), "municipality_not_permitted"),
    ):
        body = oversight(client, headers, fy)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == code
        assert body["errors"][0]["extensions"]["messageJa"]
    body = oversight(client, supervisor(world), 1899)
    assert body["errors"][0]["extensions"]["code"] == "invalid_input"


def test_oversight_of_an_empty_municipality_is_an_empty_report(client, world):
    report = oversight(client, world.headers("municipality", CITY_A, roles=("municipal_admin",)),
                       2025)["data"]["oversight"]
    assert (report["municipalityCode"], report["fiscalYear"], report["contractors"]) == (
        CITY_A, 2025, [])
