"""Records governance over GraphQL: schedules, holds, the due list, batches, certificates."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from world import CITY_A, NPO, gql

from yorisoi.domain.households import Child, Guardian
from yorisoi.domain.retention import RECORD_CLASSES
from yorisoi.infra.certificates import verify_certificate
from yorisoi.infra.clock import japan_today
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as

GUARDIAN = "廃棄GQL 花子"
ERRORS = """
    ... on ValidationError { code message messageJa fieldErrors { field code messageJa } }
    ... on NotAuthorizedError { code messageJa }
    ... on NotFoundError { code messageJa }
"""
SET_SCHEDULE = """
mutation S($input: SetRetentionScheduleInput!) { setRetentionSchedule(input: $input) {
  __typename ... on RetentionScheduleChanged { schedule { inEffect { version twoPersonApproval
    classes { recordClass years permanent } } } } %s } }
""" % ERRORS.replace("... on NotFoundError { code messageJa }", "")
PLACE_HOLD = """
mutation H($input: PlaceHoldInput!) { placeHold(input: $input) {
  __typename ... on HoldChanged { hold { id reason owner active } } %s } }
""" % ERRORS
RELEASE_HOLD = """
mutation R($input: ReleaseHoldInput!) { releaseHold(input: $input) {
  __typename ... on HoldChanged { hold { id active releasedBy } } %s } }
""" % ERRORS
DUE = """
query D($code: String) { disposalDue(municipalityCode: $code) { scheduleVersion totalCount
  households { householdId closedOn dueOn recordCounts { recordClass count } } } }
"""
BATCH = "batch { id version status approvedBy certificateSha256 households { householdId status" \
        " stepsDone recordsDisposed skipReason } }"
PROPOSE = """
mutation P($input: ProposeDisposalBatchInput!) { proposeDisposalBatch(input: $input) {
  __typename ... on DisposalBatchChanged { %s } %s } }
""" % (BATCH, ERRORS)
APPROVE = """
mutation A($input: DisposalBatchInput!) { approveDisposalBatch(input: $input) {
  __typename ... on DisposalBatchChanged { %s } %s } }
""" % (BATCH, ERRORS)
RUN = """
mutation X($input: DisposalBatchInput!) { runDisposalBatch(input: $input) {
  __typename ... on DisposalBatchChanged { %s } %s } }
""" % (BATCH, ERRORS)
CERTIFICATE = """
query C($id: ID!) { disposalCertificate(batchId: $id) { batchId sha256 json documentJa } }
"""


def _officer(world, subject: str) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject=subject,
                         roles=("municipal_supervisor",))


def _closed_household(world, closed_on: date = date(2019, 6, 1)) -> str:
    staff = ActingContext(user_id="a-spec", role="specialist", organisation_kind="municipality",
                          organisation_id=CITY_A, site_id="a-counter")
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        recorded = rt.casework.record_consultation(RecordConsultation(
            municipality_code=CITY_A, site_id="a-counter", contract_id=None,
            occurred_on=date(2018, 5, 1), channel="phone", themes=["development"],
            asked="ことばが心配", wishes="相談先", direction="案内",
            household=NewHousehold(guardians=[Guardian(GUARDIAN, "母")],
                                   children=[Child("廃棄GQL たろう", date(2017, 5, 1))],
                                   pregnancy=None),
            consent=NewConsent(GUARDIAN, "母", date(2018, 5, 1), "相談記録の作成")))
        rt.casework.close_case(recorded.case_id, closed_on=closed_on,
                               reason="support_completed", expected_version=None,
                               writable_contract_ids=None)
    return str(recorded.household_id)


def _schedule_input(**overrides):
    data = {"municipalityCode": CITY_A, "effectiveFrom": japan_today().isoformat(),
            "twoPersonApproval": True,
            "classes": [{"recordClass": name, "years": None if name == "access_log" else 1}
                        for name in RECORD_CLASSES]}
    return data | overrides


def _run(client, document, headers, **input):
    body = gql(client, document, {"input": {"municipalityCode": CITY_A, **input}}, headers)
    assert "errors" not in body, body
    (result,) = body["data"].values()
    return result


def test_a_retention_schedule_is_validated_at_the_edge_and_in_the_aggregate(client, world):
    chief = _officer(world, "a-chief")
    bad = [
        ({"effectiveFrom": "2025-13-01"}, "effectiveFrom", "invalid_input"),
        ({"effectiveFrom": (japan_today() - timedelta(days=1)).isoformat()}, "effectiveFrom",
         "retention_schedule_date_invalid"),
        ({"classes": [{"recordClass": "referral", "years": 1}] * 2}, "classes",
         "record_class_repeated"),
        ({"classes": [{"recordClass": "referral", "years": 1}]}, "classes",
         "retention_schedule_incomplete"),
        ({"classes": [{"recordClass": n, "years": 7} for n in RECORD_CLASSES]}, "classes",
         "retention_class_unknown"),
    ]
    for overrides, field, code in bad:
        result = _run(client, SET_SCHEDULE, chief, **_schedule_input(**overrides))
        assert result["__typename"] == "ValidationError", result
        assert (result["fieldErrors"][0]["field"], result["fieldErrors"][0]["code"]) == (
            field, code)
        assert result["fieldErrors"][0]["messageJa"]
    assert gql(client, "{ retentionSchedule { versions { version } } }",
               headers=chief)["data"]["retentionSchedule"] is None  # nothing half written

    result = _run(client, SET_SCHEDULE, chief, **_schedule_input())
    assert result["__typename"] == "RetentionScheduleChanged"
    current = result["schedule"]["inEffect"]
    assert current["version"] == 1 and current["twoPersonApproval"] is True
    assert {"recordClass": "access_log", "years": None, "permanent": True} in current["classes"]

    specialist = world.headers("municipality", CITY_A, subject="a-spec", roles=("specialist",))
    contractor = world.headers("contractor", NPO, subject="npo-admin",
                               roles=("municipal_supervisor", "contractor_admin"))
    for headers in (specialist, contractor):
        assert _run(client, SET_SCHEDULE, headers, **_schedule_input())["__typename"] == (
            "NotAuthorizedError")
        body = gql(client, DUE, {"code": CITY_A}, headers=headers)
        assert body["errors"][0]["extensions"]["code"] == "role_not_permitted", body


def test_holds_batches_and_certificates_over_graphql(client, world):
    proposer, approver = _officer(world, "a-proposer"), _officer(world, "a-approver")
    household_id = _closed_household(world)
    body = gql(client, DUE, headers=proposer)
    assert body["errors"][0]["extensions"]["code"] == "retention_schedule_missing"
    assert _run(client, SET_SCHEDULE, approver, **_schedule_input())["__typename"] == (
        "RetentionScheduleChanged")

    due = gql(client, DUE, headers=proposer)["data"]["disposalDue"]
    assert [h["householdId"] for h in due["households"]] == [household_id]
    assert due["households"][0]["dueOn"] == "2021-04-01"

    hold = _run(client, PLACE_HOLD, proposer, householdId=household_id, reason="litigation",
                startsOn=japan_today().isoformat())
    assert hold["__typename"] == "HoldChanged" and hold["hold"]["owner"] == "a-proposer"
    assert hold["hold"]["active"] is True
    assert gql(client, DUE, headers=proposer)["data"]["disposalDue"]["totalCount"] == 0
    refused = _run(client, PROPOSE, proposer, householdIds=[household_id])
    assert (refused["__typename"], refused["fieldErrors"][0]["code"]) == (
        "ValidationError", "household_not_due")
    unknown = _run(client, PLACE_HOLD, proposer, householdId=str(uuid.uuid4()),
                   reason="legal_hold", startsOn=japan_today().isoformat())
    assert (unknown["__typename"], unknown["code"]) == ("NotFoundError", "household_not_found")
    released = _run(client, RELEASE_HOLD, approver, holdId=hold["hold"]["id"],
                    releasedOn=japan_today().isoformat())
    assert released["hold"] == {"id": hold["hold"]["id"], "active": False,
                                "releasedBy": "a-approver"}

    proposed = _run(client, PROPOSE, proposer, householdIds=[household_id])
    batch = proposed["batch"]
    assert batch["status"] == "proposed"
    same = _run(client, APPROVE, proposer, batchId=batch["id"])
    assert (same["__typename"], same["fieldErrors"][0]["code"]) == (
        "ValidationError", "disposal_approver_same_as_proposer")
    assert "起案者以外" in same["fieldErrors"][0]["messageJa"]
    early = _run(client, RUN, approver, batchId=batch["id"])
    assert early["fieldErrors"][0]["code"] == "disposal_batch_state"
    approved = _run(client, APPROVE, approver, batchId=batch["id"],
                    expectedVersion=batch["version"])
    assert approved["batch"]["approvedBy"] == "a-approver"

    done = _run(client, RUN, approver, batchId=batch["id"])["batch"]
    assert done["status"] == "completed" and done["certificateSha256"]
    (entry,) = done["households"]
    assert entry["status"] == "disposed" and entry["recordsDisposed"] == 5
    assert entry["stepsDone"] == ["key_destroyed", "read_models_purged", "objects_deleted"]
    assert gql(client, DUE, headers=proposer)["data"]["disposalDue"]["totalCount"] == 0

    certificate = gql(client, CERTIFICATE, {"id": batch["id"]},
                      headers=proposer)["data"]["disposalCertificate"]
    data = certificate["json"].encode()
    document = verify_certificate(data, world.services.signer.public_pem)
    assert document["households"][0]["householdId"] == household_id
    assert certificate["sha256"] == done["certificateSha256"]
    assert "廃棄証明書" in certificate["documentJa"]
    assert GUARDIAN not in certificate["json"] and GUARDIAN not in certificate["documentJa"]
    batches = gql(client, "{ disposalBatches { nodes { id status } } }", headers=proposer)
    assert batches["data"]["disposalBatches"]["nodes"] == [{"id": batch["id"], "status": "completed"}]
    missing = gql(client, CERTIFICATE, {"id": "00000000-0000-0000-0000-000000000000"},
                  headers=proposer)
    assert missing["errors"][0]["extensions"]["code"] == "disposal_batch_not_found"


HOLDS = """query H($first: Int, $after: String, $household: ID) {
  recordHolds(first: $first, after: $after, householdId: $household) {
  totalCount nodes { id startsOn } pageInfo { hasNextPage endCursor } } }"""
BATCHES = """query B($first: Int, $after: String) { disposalBatches(first: $first, after: $after) {
  totalCount nodes { id } pageInfo { hasNextPage endCursor } } }"""


def _pages(client, document, field, headers, **variables):
    """Every page of two, in order, and the totalCount each page reported."""
    nodes, totals, after = [], set(), None
    while True:
        body = gql(client, document, {"first": 2, "after": after, **variables}, headers)
        assert "errors" not in body, body
        page = body["data"][field]
        nodes += [n["id"] for n in page["nodes"]]
        totals.add(page["totalCount"])
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, totals
        after = page["pageInfo"]["endCursor"]


def test_holds_are_listed_in_keyset_pages_by_start_day(client, world):
    officer = _officer(world, "a-proposer")
    household_id = _closed_household(world)
    placed = [_run(client, PLACE_HOLD, officer, householdId=household_id, reason="litigation",
                   startsOn=(japan_today() - timedelta(days=days)).isoformat())["hold"]["id"]
              for days in (0, 2, 1)]
    nodes, totals = _pages(client, HOLDS, "recordHolds", officer)
    assert nodes == [placed[1], placed[2], placed[0]] and totals == {3}
    other, totals = _pages(client, HOLDS, "recordHolds", officer, household=str(uuid.uuid4()))
    assert other == [] and totals == {0}
    bad = gql(client, HOLDS, {"after": "bm90IGEga2V5"}, officer)
    assert bad["errors"][0]["extensions"]["code"] == "cursor_invalid"


def test_disposal_batches_are_listed_in_keyset_pages_newest_first(client, world):
    proposer, approver = _officer(world, "a-proposer"), _officer(world, "a-approver")
    households = [_closed_household(world) for _ in range(3)]
    assert _run(client, SET_SCHEDULE, approver, **_schedule_input())["__typename"] == (
        "RetentionScheduleChanged")
    proposed = [_run(client, PROPOSE, proposer, householdIds=[h])["batch"]["id"]
                for h in households]
    nodes, totals = _pages(client, BATCHES, "disposalBatches", proposer)
    assert nodes == proposed[::-1] and totals == {3}
    bad = gql(client, BATCHES, {"after": "WyJ4Il0="}, proposer)  # ["x"]: one key part of two
    assert bad["errors"][0]["extensions"]["code"] == "cursor_invalid"
