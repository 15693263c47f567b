"""Complaints (苦情・要望) end to end through GraphQL, on SQLite and PostgreSQL.

Intake at a contracted site, report, discussion, outcome, report to the
complainant, the anonymised public summary, closure; refusals typed with
nothing written; deadlines and overdue flags; escalation; crypto-shredding of
one complaint; rebuild equals live; contractors see their contracts' sites only.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID

from world import CITY_A, CITY_B, NPO, gql, head
from key_destruction import destroy_key

from yorisoi.domain.cases import Case
from yorisoi.domain.households import Guardian, Household
from yorisoi.infra.clock import japan_today
from yorisoi.projections.complaints_view import ComplaintsView, complaint_aad
from yorisoi.projections.runner import Projector
from yorisoi.services.context import ActingContext, acting_as

COMPLAINT = """
  __typename
  ... on ComplaintChanged { complaint { id step siteId contractId contractorId receivedOn dueOn
      overdue escalated escalatedOn anonymous summaryPublished outcome version disposed
      complainantName complainantContact content wishes discussions { heldOn note }
      outcomeDetail escalationReason } }
  ... on UserError { code message messageJa }
  ... on ValidationError { fieldErrors { field code message messageJa } }
"""
MUTATIONS = {name: f"mutation($input: {kind}!) {{ {name}(input: $input) {{{COMPLAINT}}} }}"
             for name, kind in (
                 ("receiveComplaint", "ReceiveComplaintInput"),
                 ("reportComplaint", "ReportComplaintInput"),
                 ("addComplaintDiscussion", "AddComplaintDiscussionInput"),
                 ("recordComplaintOutcome", "RecordComplaintOutcomeInput"),
                 ("reportComplaintOutcome", "ReportComplaintOutcomeInput"),
                 ("publishComplaintSummary", "PublishComplaintSummaryInput"),
                 ("escalateComplaint", "EscalateComplaintInput"),
                 ("closeComplaint", "ComplaintStepInput"))}
ROLES = """mutation($input: AssignComplaintRolesInput!) { assignComplaintRoles(input: $input) {
  __typename
  ... on ComplaintRolesAssigned { scopeKind scopeId intakeOfficer resolutionOfficer
      thirdPartyMembers { kind ref } findings version }
  ... on ValidationError { fieldErrors { field code message messageJa } }
  ... on UserError { code messageJa } } }"""
DEADLINES = """mutation($input: SetComplaintDeadlinesInput!) { setComplaintDeadlines(input: $input) {
  __typename
  ... on ComplaintDeadlinesSet { deadlines { step days } version }
  ... on ValidationError { fieldErrors { field code message messageJa } }
  ... on UserError { code messageJa } } }"""
BOARD = """query($code: String, $step: String, $overdue: Boolean!, $first: Int!, $after: String) {
  complaintsBoard(municipalityCode: $code, step: $step, overdueOnly: $overdue, first: $first,
                  after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id step siteId dueOn overdue escalated disposed complainantName
                          content discussions { note } } } } }"""
PUBLISHED = """query($code: String!, $first: Int!, $after: String) {
  publishedComplaintSummaries(municipalityCode: $code, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { summary monthReceived channel outcome } } } }"""

NAME, CONTACT = "架空 一郎", "090-1111-2222"


def days_ago(n: int) -> str:
    return (japan_today() - timedelta(days=n)).isoformat()


def supervisor(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="a-supervisor",
                         roles=("municipal_supervisor",))


def npo(world: Any, role: str = "complaint_resolution_officer") -> dict[str, str]:
    return world.headers("contractor", NPO, subject="npo-officer",
                         roles=("complaint_intake_officer", role), sites=("a-hiroba",))


def run(client: Any, name: str, headers: dict[str, str], **input: Any) -> dict[str, Any]:
    body = gql(client, MUTATIONS.get(name, name), {"input": {"municipalityCode": CITY_A, **input}},
               headers)
    assert "errors" not in body, body
    (result,) = body["data"].values()
    return result


def receive(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    fields = {"siteId": "a-hiroba", "channel": "phone", "receivedOn": days_ago(3),
              "content": "職員の説明が分かりにくかった", "wishes": "丁寧に説明してほしい",
              "complainantName": NAME, "complainantContact": CONTACT,
              "involveThirdParty": True}
    result = run(client, "receiveComplaint", headers, **{**fields, **overrides})
    return result


def step(client: Any, headers: dict[str, str], name: str, complaint: dict[str, Any],
         **input: Any) -> dict[str, Any]:
    result = run(client, name, headers, complaintId=complaint["id"],
                 expectedVersion=complaint["version"], **{"on": days_ago(1), **input})
    assert result["__typename"] == "ComplaintChanged", result
    return result["complaint"]


def through_outcome_reported(client: Any, headers: dict[str, str],
                             complaint: dict[str, Any]) -> dict[str, Any]:
    c = step(client, headers, "reportComplaint", complaint, thirdPartyInformed=True)
    c = step(client, headers, "addComplaintDiscussion", c, note=f"{NAME}さんと面談")
    c = step(client, headers, "recordComplaintOutcome", c, outcome="resolved",
             detail="説明資料を改善")
    return step(client, headers, "reportComplaintOutcome", c, method="phone")


def refused(result: dict[str, Any], code: str, kind: str = "ValidationError") -> None:
    assert result["__typename"] == kind, result
    if kind == "ValidationError":
        assert [e["code"] for e in result["fieldErrors"]] == [code], result
        assert all(e["messageJa"] and e["message"] for e in result["fieldErrors"])
    else:
        assert result["code"] == code and result["messageJa"], result


def board(client: Any, headers: dict[str, str] | None, **variables: Any) -> dict[str, Any]:
    body = gql(client, BOARD, {"code": CITY_A, "overdue": False, "first": 20, **variables},
               headers)
    assert "errors" not in body, body
    return body["data"]["complaintsBoard"]


def published(client: Any, code: str = CITY_A, **variables: Any) -> dict[str, Any]:
    body = gql(client, PUBLISHED, {"code": code, "first": 20, **variables})
    assert "errors" not in body, body
    return body["data"]["publishedComplaintSummaries"]


def view_rows(world: Any) -> list[dict[str, Any]]:
    with world.services.runtimes.lease(CITY_A) as rt, rt.casework.database.transaction(
            write=False) as cur:
        rows = {t: cur.execute(f"SELECT * FROM {{s}}{t} ORDER BY 1").fetchall()
                for t in ComplaintsView.tables}
        # Sealed blobs carry fresh nonces: compare what they open to (None once shredded).
        return [{k: (rt.casework.keyring.open_json(UUID(row["complaint_id"]), v,
                                                   complaint_aad(row["complaint_id"]))
                     if k == "sealed" else v) for k, v in row.items()}
                for t in sorted(rows) for row in rows[t]]


# --------------------------------------------------------------------------- scenarios


def test_a_complaint_goes_from_intake_to_a_published_anonymous_summary(client, world):
    roles = run(client, ROLES, supervisor(world), scopeKind="contractor", scopeId=NPO,
                intakeOfficer="npo-intake", resolutionOfficer="npo-head",
                thirdPartyMembers=[{"kind": "external", "ref": "外部 委員"}])
    assert roles["__typename"] == "ComplaintRolesAssigned", roles
    assert roles["findings"] == ["third_party_members_fewer_than_two"]
    roles = run(client, ROLES, supervisor(world), scopeKind="contractor", scopeId=NPO,
                intakeOfficer="npo-intake", resolutionOfficer="npo-head", expectedVersion=2,
                thirdPartyMembers=[{"kind": "external", "ref": "外部 委員"},
                                   {"kind": "user", "ref": "a-ombuds"}])
    assert roles["findings"] == [] and roles["version"] == 3, roles

    received = receive(client, npo(world))
    assert received["__typename"] == "ComplaintChanged", received
    c = received["complaint"]
    assert (c["step"], c["siteId"], c["contractId"], c["contractorId"]) == (
        "received", "a-hiroba", "contract-a-npo", NPO)
    assert (c["complainantName"], c["complainantContact"], c["wishes"]) == (
        NAME, CONTACT, "丁寧に説明してほしい")
    assert c["dueOn"] == (japan_today() + timedelta(days=4)).isoformat()

    c = through_outcome_reported(client, npo(world), c)
    assert c["step"] == "outcome_reported" and c["outcome"] == "resolved"
    assert c["discussions"] == [{"heldOn": days_ago(1), "note": f"{NAME}さんと面談"}]
    c = step(client, npo(world), "publishComplaintSummary", c,
             summary="説明が分かりにくいとのご意見を受け、説明資料を改善しました。")
    assert c["summaryPublished"] and c["step"] == "published"
    c = step(client, npo(world), "closeComplaint", c)
    assert (c["step"], c["dueOn"], c["version"]) == ("closed", None, 7)

    public = published(client)
    assert public["totalCount"] == 1
    (edge,) = public["edges"]
    assert edge["node"] == {"summary": "説明が分かりにくいとのご意見を受け、説明資料を改善しました。",
                            "monthReceived": days_ago(3)[:7], "channel": "phone",
                            "outcome": "resolved"}
    # Nothing personal anywhere in the public answer, cursor included.
    text = json.dumps(public, ensure_ascii=False)
    for personal in (NAME, "架空", CONTACT, "職員の説明", "丁寧に", "面談", "説明資料を改善\"",
                     c["id"]):
        assert personal not in text, personal


def test_anonymous_intake_stores_no_identity_and_reports_only_by_notice(client, world):
    result = receive(client, supervisor(world), anonymous=True, complainantName=None,
                     complainantContact=None, involveThirdParty=False)
    c = result["complaint"]
    assert c["anonymous"] and c["complainantName"] is None and c["complainantContact"] is None
    with world.services.runtimes.lease(CITY_A) as rt:
        complaint = rt.casework.readable_complaint(UUID(c["id"]), None)
        assert complaint.complainant_name is None and complaint.complainant_contact is None
    c = step(client, supervisor(world), "reportComplaint", c)
    c = step(client, supervisor(world), "addComplaintDiscussion", c, note="対応を協議")
    c = step(client, supervisor(world), "recordComplaintOutcome", c, outcome="resolved",
             detail="掲示で回答")
    before = head(world)
    refused(run(client, "reportComplaintOutcome", supervisor(world), complaintId=c["id"],
                on=days_ago(1), method="phone"), "complaint_anonymous_report")
    assert head(world) == before
    assert step(client, supervisor(world), "reportComplaintOutcome", c,
                method="public_notice")["step"] == "outcome_reported"


def test_every_refusal_is_typed_and_writes_nothing(client, world):
    sup = supervisor(world)
    c = receive(client, sup)["complaint"]
    before = head(world)
    cid = c["id"]
    cases = [
        (receive(client, sup, channel="fax"), "complaint_channel_unknown"),
        (receive(client, sup, content="  "), "complaint_content_missing"),
        (receive(client, sup, complainantName=None), "complaint_complainant_missing"),
        (receive(client, sup, anonymous=True), "complaint_anonymous_identity"),
        (receive(client, sup, receivedOn=days_ago(-2)), "complaint_date_invalid"),
        (receive(client, sup, receivedOn="2025-W01-1"), "invalid_input"),
        (run(client, "addComplaintDiscussion", sup, complaintId=cid, on=days_ago(1),
             note="早すぎる"), "complaint_step_out_of_order"),
        (run(client, "reportComplaint", sup, complaintId=cid, on=days_ago(1)),
         "complaint_third_party_not_informed"),
        (run(client, "reportComplaint", sup, complaintId=cid, on=days_ago(5),
             thirdPartyInformed=True), "complaint_date_invalid"),
        (run(client, "reportComplaint", sup, complaintId=cid, on=days_ago(1),
             thirdPartyInformed=True, expectedVersion=7), "stale_version"),
        (run(client, "closeComplaint", sup, complaintId=cid, on=days_ago(1)),
         "complaint_step_out_of_order"),
        (run(client, "escalateComplaint", sup, complaintId=cid, on=days_ago(1), reason=" "),
         "complaint_escalation_reason_missing"),
        (run(client, ROLES, sup, scopeKind="site", scopeId="a-hiroba", intakeOfficer="x",
             resolutionOfficer="y", thirdPartyMembers=[{"kind": "user", "ref": "x"}]),
         "complaint_third_party_not_independent"),
        (run(client, ROLES, sup, scopeKind="site", scopeId="nowhere", intakeOfficer="x",
             resolutionOfficer="y", thirdPartyMembers=[]), "complaint_role_scope_unknown"),
        (run(client, DEADLINES, sup, deadlines=[{"step": "received", "days": 0}]),
         "complaint_deadline_invalid"),
    ]
    for result, code in cases:
        # A stale expectedVersion is the one retryable conflict, not a field error.
        refused(result, code, "ConflictError" if code == "stale_version" else "ValidationError")
    refused(run(client, "reportComplaint", sup, complaintId=str(UUID(int=1)), on=days_ago(1)),
            "complaint_not_found", "NotFoundError")
    # Roles are checked before anything: a specialist may not take complaint steps.
    refused(run(client, "reportComplaint", world.headers("municipality", CITY_A),
                complaintId=cid, on=days_ago(1)), "role_not_permitted", "NotAuthorizedError")
    assert head(world) == before


def test_publishing_a_summary_that_names_the_complainant_or_family_is_refused(client, world):
    staff = ActingContext(user_id="seed", role="specialist", organisation_kind="municipality",
                          organisation_id=CITY_A, site_id="a-counter")
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        household = Household.register(guardians=[Guardian("架空 花子", "母")], children=[],
                                       pregnancy=None, today=japan_today(),
                                       outside_target_reason="祖母からの相談")
        case = Case(household_id=household.id, municipality_code=CITY_A, site_id="a-counter",
                    contract_id=None, opened_on=japan_today() - timedelta(days=9))
        rt.casework.save(household, case)
    sup = supervisor(world)
    c = receive(client, sup, siteId="a-counter", caseId=str(case.id))["complaint"]
    c = through_outcome_reported(client, sup, c)
    before = head(world)
    for summary in ("架空一郎様からのご意見", "架空　一郎 様", "０９０－１１１１－２２２２まで",
                    "連絡先 09011112222 へ回答", "一郎さんへ回答済み", "花子さんの件"):
        refused(run(client, "publishComplaintSummary", sup, complaintId=c["id"], on=days_ago(1),
                    summary=summary), "complaint_summary_not_anonymous")
    assert head(world) == before
    assert published(client)["totalCount"] == 0


def test_overdue_flags_follow_the_municipalitys_deadlines(client, world):
    sup = supervisor(world)
    fresh = receive(client, sup, receivedOn=days_ago(1))["complaint"]
    old = receive(client, sup, receivedOn=days_ago(10))["complaint"]
    assert not fresh["overdue"] and old["overdue"]
    assert old["dueOn"] == days_ago(3)
    page = board(client, sup, overdue=True)
    assert [e["node"]["id"] for e in page["edges"]] == [old["id"]] and page["totalCount"] == 1

    set_ = run(client, DEADLINES, sup, deadlines=[{"step": "received", "days": 30}])
    assert set_["__typename"] == "ComplaintDeadlinesSet", set_
    assert {"step": "received", "days": 30} in set_["deadlines"]
    assert board(client, sup, overdue=True)["totalCount"] == 0
    set_ = run(client, DEADLINES, sup, deadlines=[{"step": "received", "days": 1}],
               expectedVersion=set_["version"])
    page = board(client, sup, overdue=True)
    assert page["totalCount"] == 1 and page["edges"][0]["node"]["dueOn"] == days_ago(9)
    # A closed complaint is never overdue, however old (close one so this checks something).
    done = through_outcome_reported(client, sup, receive(client, sup, receivedOn=days_ago(20))[
        "complaint"])
    done = step(client, sup, "publishComplaintSummary", done, summary="説明資料を改善しました。")
    done = step(client, sup, "closeComplaint", done)
    closed = board(client, sup, step="closed")["edges"]
    assert [(e["node"]["id"], e["node"]["overdue"]) for e in closed] == [(done["id"], False)]
    # A contractor may not change a municipality's deadlines.
    refused(run(client, DEADLINES, npo(world), deadlines=[{"step": "received", "days": 9}]),
            "role_not_permitted", "NotAuthorizedError")


def test_escalation_is_recorded_once_at_an_open_step(client, world):
    sup = supervisor(world)
    c = receive(client, sup)["complaint"]
    c = step(client, sup, "escalateComplaint", c, reason="対応に納得できないとのこと")
    assert (c["escalated"], c["escalatedOn"], c["escalationReason"], c["step"]) == (
        True, days_ago(1), "対応に納得できないとのこと", "received")
    before = head(world)
    refused(run(client, "escalateComplaint", sup, complaintId=c["id"], on=days_ago(1),
                reason="再度"), "complaint_already_escalated")
    assert head(world) == before
    assert board(client, sup)["edges"][0]["node"]["escalated"] is True


def test_shredding_one_complaint_leaves_the_board_readable_and_rebuild_equals_live(client, world):
    sup = supervisor(world)
    kept = receive(client, sup, complainantName="架空 次郎")["complaint"]
    gone = receive(client, sup)["complaint"]
    gone = step(client, sup, "reportComplaint", gone, thirdPartyInformed=True)
    gone = step(client, sup, "addComplaintDiscussion", gone, note="話し合い")
    with world.services.runtimes.lease(CITY_A) as rt:
        assert destroy_key(rt, UUID(gone["id"]))
    nodes = {e["node"]["id"]: e["node"] for e in board(client, sup)["edges"]}
    assert nodes[gone["id"]]["disposed"] and nodes[gone["id"]]["complainantName"] is None
    assert nodes[gone["id"]]["content"] is None and nodes[gone["id"]]["discussions"] == []
    assert nodes[gone["id"]]["step"] == "in_discussion"
    assert nodes[kept["id"]]["complainantName"] == "架空 次郎"
    # Steps without personal fields still go on; personal ones are refused.
    refused(run(client, "addComplaintDiscussion", sup, complaintId=gone["id"], on=days_ago(1),
                note="追記"), "household_disposed", "NotAuthorizedError")

    live = view_rows(world)
    with world.services.runtimes.lease(CITY_A) as rt:
        view = ComplaintsView(rt.casework.keyring)
        Projector(rt.casework.database, rt.casework.mapper, view).rebuild()
    assert view_rows(world) == live


def test_a_contractor_sees_only_complaints_of_its_contracts_sites(client, world):
    sup = supervisor(world)
    own = receive(client, npo(world))["complaint"]
    direct = receive(client, sup, siteId="a-counter")["complaint"]
    # Intake at a site outside the contract is refused before anything is written.
    before = head(world)
    refused(receive(client, npo(world), siteId="a-counter"), "contract_not_active",
            "NotAuthorizedError")
    assert head(world) == before

    seen = board(client, npo(world))
    assert [e["node"]["id"] for e in seen["edges"]] == [own["id"]]
    assert {e["node"]["id"] for e in board(client, sup)["edges"]} == {own["id"], direct["id"]}
    refused(run(client, "reportComplaint", npo(world), complaintId=direct["id"], on=days_ago(1)),
            "complaint_not_found", "NotFoundError")
    body = gql(client, "query($id: ID!) { complaint(id: $id, municipalityCode: \"131016\") { id } }",
               {"id": direct["id"]}, npo(world))
    assert body["data"]["complaint"] is None
    # Another municipality's board is out of reach, and nothing but summaries is public.
    other = gql(client, BOARD, {"code": CITY_B, "overdue": False, "first": 5}, npo(world))
    assert other["errors"][0]["extensions"]["code"] == "contract_not_active"
    anonymous = gql(client, BOARD, {"code": CITY_A, "overdue": False, "first": 5})
    assert anonymous["errors"][0]["extensions"]["code"] == "token_missing"
    assert run(client, "reportComplaint", {}, complaintId=own["id"],
               on=days_ago(1))["code"] == "token_missing"
    assert published(client, CITY_B)["totalCount"] == 0
    unknown = gql(client, PUBLISHED, {"code": "999999", "first": 5})
    assert unknown["errors"][0]["extensions"]["code"] == "municipality_unknown"


def test_board_pages_by_keyset_with_a_total_count(client, world):
    sup = supervisor(world)
    ids = [receive(client, sup, receivedOn=days_ago(n))["complaint"]["id"] for n in (1, 2, 3)]
    first = board(client, sup, first=2)
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = board(client, sup, first=2, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in first["edges"] + rest["edges"]] == ids
    assert not rest["pageInfo"]["hasNextPage"]
    bad = gql(client, BOARD, {"code": CITY_A, "overdue": False, "first": 2, "after": "x"}, sup)
    assert bad["errors"][0]["extensions"]["code"] == "cursor_invalid"


def test_the_intake_officer_reports_to_the_resolution_officer_but_goes_no_further(client,
                                                                                  world):
    """§6(2): intake reports the complaint to the resolution officer; the rest is not theirs."""
    intake = world.headers("municipality", CITY_A, subject="a-intake",
                           roles=("complaint_intake_officer",))
    c = receive(client, supervisor(world))["complaint"]
    c = step(client, intake, "reportComplaint", c, thirdPartyInformed=True)
    assert c["version"] > 1
    denied = run(client, "addComplaintDiscussion", intake, complaintId=c["id"],
                 expectedVersion=c["version"], on=days_ago(1), note="協議")
    assert denied["__typename"] == "NotAuthorizedError", denied
