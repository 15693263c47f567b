"""List queries issue a bounded number of SQL statements, whatever the page holds.

Each list query is asked twice, for a world with 3 and with 30 cases (each with
its household, consultation, referral, case meeting with tasks, complaint and
staff record), and the SQL statements of the request are counted from the
``SQL …`` spans of the request's trace (infra/db.Cursor.execute opens one per
statement; the in-memory exporter collects them).  The count must not grow
with N: every per-item lookup goes through a DataLoader or a batched query.

Counted twice per query: with the tenant's household-key cache warm (the usual
case) and cold (a fresh process, or keys past their cache lifetime), where the
household keys of the page are loaded in one statement too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from world import CITY_A, NPO, gql, record

from yorisoi.infra.clock import japan_today
from yorisoi.infra.telemetry import in_memory_exporter

TODAY = japan_today()
SMALL, LARGE = 3, 30
PAGE = 50  # larger than LARGE: the whole list is on one page

CASES = """query($first: Int!) { cases(municipalityCode: "131016", first: $first) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id status themes
    household { id disposed guardians { name relationship } children { name birthDate } }
    consultations { id asked wishes direction corrections { fields } } } } } }"""
CASES_WITH_TIMELINE = """query($first: Int!) { cases(municipalityCode: "131016", first: $first) {
  edges { node { id timeline(first: 5) { totalCount edges { node { kind } } } } } } }"""
REFERRAL_BOARD = """query($first: Int!) { referralBoard(municipalityCode: "131016", first: $first) {
  totalCount edges { node { id caseId status reason sharedFields
    followUps { id dueOn ownerUserId note } } } } }"""
MY_TASKS = """query($first: Int!) { myTasks(municipalityCode: "131016", first: $first) {
  totalCount edges { node { id kind caseId title dueOn overdue } } } }"""
CALENDAR = """query($from: String!, $to: String!) {
  meetingCalendar(municipalityCode: "131016", siteId: "a-hiroba", from: $from, to: $to) {
    id caseId place agenda internalParticipants { userId }
    externalParticipants { name } minutes { wishes } actions { id title } } }"""
COMPLAINTS = """query($first: Int!) { complaintsBoard(municipalityCode: "131016", first: $first) {
  totalCount edges { node { id step complainantName content discussions { note } } } } }"""
STAFF = """query($first: Int!) { staffMembers(municipalityCode: "131016", first: $first) {
  totalCount edges { node { id displayName roles assignments { siteId } trainings { kind }
    findings { code } } } } }"""
CONTRACT_WORK = """query($first: Int!) { myContractWork(first: $first) {
  municipalityCode openCaseCount openReferralCount myOpenTaskCount
  cases { totalCount edges { node { id household { guardians { name } }
    consultations { asked } } } } } }"""

ERRORS = " ... on UserError { code message } ... on ValidationError { fieldErrors { field code } }"
AGENCY = ("mutation($input: RegisterAgencyInput!) { registerAgency(input: $input) {"
          " __typename ... on AgencyRegistered { agency { id } }" + ERRORS + " } }")
DRAFT = ("mutation($input: DraftReferralInput!) { draftReferral(input: $input) {"
         " __typename ... on ReferralChanged { referral { id version } }" + ERRORS + " } }")
SEND = ("mutation($input: SendReferralInput!) { sendReferral(input: $input) {"
        " __typename ... on ReferralSent { referral { id version } }" + ERRORS + " } }")
ACKNOWLEDGE, ACCEPT = (
    f"mutation($input: ReferralStepInput!) {{ {name}(input: $input) {{"
    " __typename ... on ReferralChanged { referral { id version } }" + ERRORS + " } }"
    for name in ("acknowledgeReferral", "acceptReferral"))
FOLLOW_UP = ("mutation($input: ScheduleReferralFollowUpInput!) {"
             " scheduleReferralFollowUp(input: $input) {"
             " __typename ... on ReferralChanged { referral { id version } }" + ERRORS + " } }")
MEETING = ("mutation($input: ScheduleCaseMeetingInput!) { scheduleCaseMeeting(input: $input) {"
           " __typename ... on CaseMeetingChanged { meeting { id version } }" + ERRORS + " } }")
MINUTES = ("mutation($input: RecordMeetingMinutesInput!) { recordMeetingMinutes(input: $input) {"
           " __typename ... on CaseMeetingChanged { meeting { id version } }" + ERRORS + " } }")
ROLES = ("mutation($input: AssignComplaintRolesInput!) { assignComplaintRoles(input: $input) {"
         " __typename" + ERRORS + " } }")
COMPLAINT = ("mutation($input: ReceiveComplaintInput!) { receiveComplaint(input: $input) {"
             " __typename" + ERRORS + " } }")
STAFF_MEMBER = ("mutation($input: RegisterStaffMemberInput!) { registerStaffMember(input: $input)"
                " { __typename" + ERRORS + " } }")


@pytest.fixture(scope="module")
def exporter() -> Any:
    # One exporter per worker process: each call attaches another processor.
    return in_memory_exporter()


def npo(world: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, subject="npo-staff-1",
                         roles=("specialist", "complaint_intake_officer"), sites=("a-hiroba",))


def supervisor(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="a-supervisor",
                         roles=("municipal_supervisor",))


def mutate(client: Any, document: str, headers: dict[str, str], **input: Any) -> dict[str, Any]:
    body = gql(client, document, {"input": {"municipalityCode": CITY_A, **input}}, headers)
    assert "errors" not in body, body
    (result,) = body["data"].values()
    assert result["__typename"] not in ("ValidationError", "NotAuthorizedError",
                                        "NotFoundError", "ConflictError"), result
    return result


class Seeder:
    """Adds cases, each with everything the list queries show, through the API."""

    def __init__(self, client: Any, world: Any) -> None:
        self.client, self.world, self.count = client, world, 0
        self.headers = npo(world)
        self.agency = mutate(client, AGENCY, self.headers, name="架空 保健センター",
                             kind="health_center", onSystem=False,
                             contactEmail="hoken@city.example.jp",
                             confidentialityBasis="public_servant")["agency"]["id"]
        mutate(client, ROLES, supervisor(world), scopeKind="contractor", scopeId=NPO,
               intakeOfficer="npo-staff-1", resolutionOfficer="npo-head",
               thirdPartyMembers=[{"kind": "external", "ref": "外部 委員"},
                                  {"kind": "user", "ref": "a-ombuds"}])

    def grow_to(self, n: int) -> None:
        while self.count < n:
            self.count += 1
            self._one(self.count)
        with self.world.services.runtimes.lease(CITY_A) as rt:
            rt.catch_up()

    def _one(self, i: int) -> None:
        client, headers = self.client, self.headers
        recorded = record(client, headers)
        assert recorded["__typename"] == "ConsultationRecorded", recorded
        case_id = recorded["case"]["id"]
        referral = mutate(client, DRAFT, headers, caseId=case_id, agencyId=self.agency,
                          reason="発達相談につなぐ", accompanied=False,
                          sharedFields=["household.children"])["referral"]
        referral = mutate(client, SEND, headers, referralId=referral["id"],
                          expectedVersion=referral["version"], sentOn=TODAY.isoformat(),
                          exception={"reason": "架空の緊急事由",
                                     "legalBasis": "child_abuse_report"})["referral"]
        for step in (ACKNOWLEDGE, ACCEPT):
            referral = mutate(client, step, headers, referralId=referral["id"],
                              expectedVersion=referral["version"], on=TODAY.isoformat()
                              )["referral"]
        mutate(client, FOLLOW_UP, headers, referralId=referral["id"],
               expectedVersion=referral["version"], ownerUserId="npo-staff-1",
               dueOn=(TODAY + timedelta(days=i % 7)).isoformat())
        day = (TODAY - timedelta(days=1 + i % 5)).isoformat()
        meeting = mutate(client, MEETING, headers, caseId=case_id, startsAt=f"{day}T10:00",
                         endsAt=f"{day}T11:00", place="相談室", agenda="支援方針",
                         internalParticipants=[{"userId": "npo-staff-1", "role": "specialist"}],
                         externalParticipants=[{"name": "架空 保健師", "organisation": "保健センター",
                                                "confidentialityBasis": "public_servant"}]
                         )["meeting"]
        mutate(client, MINUTES, headers, meetingId=meeting["id"],
               expectedVersion=meeting["version"], wishes="入所したい", stateAndIssues="疲れ",
               supportGoals="入所", concreteSupport="同行",
               actions=[{"ownerUserId": "npo-staff-1", "what": "見学に同行",
                         "dueOn": (TODAY + timedelta(days=i % 3)).isoformat()}])
        mutate(client, COMPLAINT, headers, siteId="a-hiroba", channel="phone",
               receivedOn=(TODAY - timedelta(days=1)).isoformat(), content="説明が分かりにくい",
               wishes="丁寧に", complainantName="架空 一郎", complainantContact="090-0000-0000",
               involveThirdParty=False)
        mutate(client, STAFF_MEMBER, supervisor(self.world), subject=f"staff-{i}",
               displayName=f"架空 職員{i}", roles=["specialist"], qualifications=["hoikushi"])


@pytest.fixture
def seeded(client: Any, world: Any) -> Iterator[Seeder]:
    yield Seeder(client, world)


def forget_household_keys(world: Any) -> None:
    """As after a restart: the tenant's unwrapped household keys are no longer cached."""
    with world.services.runtimes.lease(CITY_A) as rt:
        rt.casework.keyring._cache.clear()


def statements(exporter: Any, client: Any, query: str, variables: dict[str, Any],
               headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The SQL statements one request issued (spans of its own trace), and its data."""
    exporter.clear()
    body = gql(client, query, variables, headers)
    assert "errors" not in body, body
    spans = list(exporter.get_finished_spans())
    (http,) = [s for s in spans if s.name == "HTTP POST"]
    trace_id = http.context.trace_id
    count = sum(1 for s in spans if s.name.startswith("SQL ") and s.context.trace_id == trace_id)
    return count, body["data"]


def edges(field: str) -> Any:
    return lambda data: len(data[field]["edges"])


# name -> (document, variables, who asks, how many items the answer holds for N cases)
LISTS: dict[str, tuple[str, dict[str, Any], Any, Any, int]] = {
    "cases": (CASES, {"first": PAGE}, supervisor, edges("cases"), 1),
    "cases.timeline": (CASES_WITH_TIMELINE, {"first": PAGE}, supervisor, edges("cases"), 1),
    "referralBoard": (REFERRAL_BOARD, {"first": PAGE}, supervisor, edges("referralBoard"), 1),
    # A meeting action and a referral follow-up per case.
    "myTasks": (MY_TASKS, {"first": 2 * PAGE}, npo, edges("myTasks"), 2),
    "meetingCalendar": (CALENDAR, {"from": (TODAY - timedelta(days=10)).isoformat(),
                                   "to": TODAY.isoformat()}, supervisor,
                        lambda data: len(data["meetingCalendar"]), 1),
    "complaintsBoard": (COMPLAINTS, {"first": PAGE}, supervisor, edges("complaintsBoard"), 1),
    "staffMembers": (STAFF, {"first": PAGE}, supervisor, edges("staffMembers"), 1),
    "myContractWork": (CONTRACT_WORK, {"first": PAGE}, npo,
                       lambda data: len(data["myContractWork"][0]["cases"]["edges"]), 1),
}

# The lists whose readers here open sealed personal data (staff records hold none).
OPENS_PERSONAL_DATA = ("cases", "cases.timeline", "referralBoard", "myTasks", "meetingCalendar",
                       "complaintsBoard", "myContractWork")

# With a cold key cache, a page's two DataLoaders (households, consultations) run in
# parallel threads; the keyring serialises their preloads, but which of them reads the
# keys first may still change the count by one.
COLD_SLACK = 1


def test_list_queries_issue_a_bounded_number_of_statements(exporter, client, world, seeded):
    counts: dict[str, dict[tuple[int, str], int]] = {name: {} for name in LISTS}
    for n in (SMALL, LARGE):
        seeded.grow_to(n)
        for name, (query, variables, who, size, per_case) in LISTS.items():
            gql(client, query, variables, who(world))  # warms the key cache
            counts[name][(n, "warm")], data = statements(exporter, client, query, variables,
                                                         who(world))
            assert size(data) == per_case * n, (name, n, data)  # the whole list, one page
            forget_household_keys(world)
            counts[name][(n, "cold")], _ = statements(exporter, client, query, variables,
                                                      who(world))
    grows = {name: c for name, c in counts.items()
             if c[(LARGE, "warm")] > c[(SMALL, "warm")]
             or c[(LARGE, "cold")] > c[(SMALL, "cold")] + COLD_SLACK}
    assert not grows, grows
    # The cold runs did read household keys (else they would prove nothing about them).
    unexercised = {name: counts[name] for name in OPENS_PERSONAL_DATA
                   if counts[name][(LARGE, "cold")] <= counts[name][(LARGE, "warm")]}
    assert not unexercised, unexercised


def test_batched_timelines_equal_one_case_at_a_time(client, world, seeded):
    from yorisoi.projections.timeline import TimelineQueries

    seeded.grow_to(SMALL)
    with world.services.runtimes.lease(CITY_A) as rt:
        queries = TimelineQueries(rt.casework.database, rt.casework.keyring)
        with rt.casework.database.transaction(write=False) as cur:
            case_ids = [r["case_id"] for r in cur.execute(
                "SELECT case_id FROM {s}case_view ORDER BY case_id").fetchall()]
        assert len(case_ids) == SMALL
        single = {cid: queries.page(cid, first=2) for cid in case_ids}
        assert all(p.total_count >= 3 and p.has_next_page for p in single.values()), single
        assert queries.pages([*case_ids, "no-such-case"], first=2) == {
            **single, "no-such-case": queries.page("no-such-case", first=2)}
        cursor = single[case_ids[0]].end_cursor
        assert queries.pages(case_ids, first=2, after=cursor) == {
            cid: queries.page(cid, first=2, after=cursor) for cid in case_ids}
    # Through the API, each case shows its own timeline.
    body = gql(client, CASES_WITH_TIMELINE.replace("{ kind }", "{ kind occurredOn }"),
               {"first": PAGE}, supervisor(world))
    assert "errors" not in body, body
    for edge in body["data"]["cases"]["edges"]:
        timeline = edge["node"]["timeline"]
        expected = single[edge["node"]["id"]]
        assert timeline["totalCount"] == expected.total_count
        assert sorted(e["node"]["kind"] for e in timeline["edges"]) == sorted(
            e.kind for e in queries.page(edge["node"]["id"], first=5).entries)
