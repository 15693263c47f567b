"""Compliance queries over GraphQL: who saw or changed what, when and why — never what.

A specialist records a family and reads it, a compliance auditor breaks glass
and reads it, a supervisor exports it for a disclosure request; then the
auditor asks for the case's history, the specialist's activity, the
break-glass uses, reads after hours, bulk reads and exports.  The answers
name actors, reasons and field names, and none of the values recorded.  Every
other role is refused.  Runs on SQLite and on the throwaway PostgreSQL cluster.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import pytest
from world import (
    CASES,
    CITY_A,
    CITY_B,
    NPO,
    consultation_command,
    gql,
    npo,
    record,
    run,
    supervisor,
)

from yorisoi.domain.households import Child, Guardian
from yorisoi.domain.retention import RECORD_CLASSES
from yorisoi.infra.access_log_store import AccessEntry, AccessLogStore
from yorisoi.infra.clock import JST, japan_today
from yorisoi.projections.compliance import BusinessHours, ComplianceQueries, window
from yorisoi.services.casework import NewHousehold
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.disposal import Disposal

TODAY = japan_today().isoformat()
# Everything the family told us, and the auditor's justification is not one of them.
PERSONAL = ("架空 花子", "架空 たろう", "二歳の子のことばが遅いのが心配", "相談できる所を知りたい",
            "発達相談の案内", "相談記録の作成", "架空 次郎", "架空 さくら", "夜泣きがひどい")
JUSTIFICATION = "苦情の申し出があり、対応の経過を確認する必要があるため"

VIEW_FIELDS = """entryId at actor role organisationKind organisationId contractId householdId
  recordKind recordId fields channel requestId traceId
  reason { basis breakGlassId reasonCode dataSubjectRequestId }"""
VIEW = f"... on AuditView {{ {VIEW_FIELDS} }}"
CHANGE = """... on AuditChange { at position event recordKind recordId version fields
  personalFields actor role organisationKind organisationId contractId siteId requestId
  traceId caseId householdId }"""
HISTORY = f"""query H($id: ID!, $first: Int!, $after: String) {{
  auditRecordHistory(recordId: $id, first: $first, after: $after) {{
    recordId recordKind householdId totalCount changeCount viewCount
    edges {{ cursor node {{ __typename {CHANGE} {VIEW} }} }}
    pageInfo {{ hasNextPage endCursor }} }} }}"""
ACTIVITY = f"""query A($actor: String!, $since: String, $until: String) {{
  auditPersonActivity(actor: $actor, since: $since, until: $until, first: 100) {{
  actor since until totalCount changeCount viewCount
  edges {{ cursor node {{ __typename {CHANGE} {VIEW} }} }} pageInfo {{ hasNextPage }} }} }}"""
USES = """query { auditBreakGlassUses { totalCount edges { cursor node { breakGlassId caseId
  householdId actor role organisationId reasonCode justification recordedAt expiresAt
  requestId reads records firstReadAt lastReadAt } } pageInfo { hasNextPage } } }"""
AFTER_HOURS = f"""query AH($hours: BusinessHoursInput) {{ auditAfterHours(hours: $hours) {{
  since until totalCount edges {{ cursor node {{ localTime outside read {{ {VIEW_FIELDS} }} }} }}
  pageInfo {{ hasNextPage endCursor }} }} }}"""
BULK = """query B($threshold: Int!) { auditBulkAccess(threshold: $threshold, windowMinutes: 60) {
  totalCount edges { cursor node { actor households reads windowStart windowEnd roles
  organisations householdsInPeriod readsInPeriod } } pageInfo { hasNextPage } } }"""
EXPORTS = """query { auditExports { totalCount exportCount certificateCount edges { cursor node {
  __typename ... on RecordsExported { at startedAt actor role organisationKind organisationId
  requestId records households reason { basis dataSubjectRequestId } }
  ... on DisposalCertificateIssued { batchId at sha256 } } } pageInfo { hasNextPage } } }"""
BREAK_GLASS = """mutation G($input: BreakGlassInput!) { breakGlass(input: $input) { __typename
  ... on BreakGlassRecorded { breakGlassId } ... on UserError { code } } }"""
CASE = """query C($id: ID!) { case(id: $id) { household { guardians { name } }
  consultations { asked } } }"""
ERRORS = "... on UserError { code } ... on ValidationError { fieldErrors { code } }"
RECEIVE = ("mutation M($input: ReceiveDataSubjectRequestInput!) { receiveDataSubjectRequest("
           "input: $input) { __typename ... on DataSubjectRequestChanged { request { id } } "
           + ERRORS + " } }")
START = ("mutation M($input: DataSubjectRequestStepInput!) { startDataSubjectRequest("
         "input: $input) { __typename ... on DataSubjectRequestChanged { request { id } } "
         + ERRORS + " } }")
EXPORT = ("mutation M($input: ExportDisclosureInput!) { exportDisclosure(input: $input) {"
          " __typename ... on DisclosureExported { exportId records accessEntries } "
          + ERRORS + " } }")


def auditor(world: Any, tenant: str = CITY_A) -> dict[str, str]:
    return world.headers("municipality", tenant, subject="a-auditor",
                         roles=("compliance_auditor",))


def ask(client: Any, document: str, headers: dict[str, str], **variables: Any) -> dict:
    """A compliance query's answer (its one field), checked to hold no personal value."""
    body = gql(client, document, variables, headers)
    assert "errors" not in body, body
    text = json.dumps(body, ensure_ascii=False)
    leaked = [value for value in PERSONAL if value in text]
    assert not leaked, leaked
    (answer,) = body["data"].values()
    return answer


def _story(client: Any, world: Any) -> dict[str, str]:
    """Record two families, read them, break glass, read again, export one for disclosure."""
    first = record(client, npo(world))
    assert first["__typename"] == "ConsultationRecorded", first
    second = record(client, npo(world), asked="夜泣きがひどい", household={
        "guardians": [{"name": "架空 次郎", "relationship": "父"}],
        "children": [{"name": "架空 さくら", "birthDate": "2025-01-01"}]})
    assert second["__typename"] == "ConsultationRecorded", second
    case_id = first["case"]["id"]
    listed = gql(client, CASES, {"code": CITY_A, "first": 10}, npo(world))
    assert "架空 花子" in json.dumps(listed, ensure_ascii=False)  # the specialist read it
    glass = run(client, BREAK_GLASS, auditor(world), caseId=case_id,
                reasonCode="complaint_investigation", justification=JUSTIFICATION, minutes=30)
    assert glass["__typename"] == "BreakGlassRecorded", glass
    seen = gql(client, CASE, {"id": case_id}, auditor(world))
    assert "架空 花子" in json.dumps(seen, ensure_ascii=False)  # unmasked under break-glass
    request = run(client, RECEIVE, supervisor(world), caseId=case_id, kind="disclosure",
                  identificationMethod="counter_photo_id", requesterRelationship="self",
                  receivedOn=TODAY)
    assert request["__typename"] == "DataSubjectRequestChanged", request
    request_id = request["request"]["id"]
    started = run(client, START, supervisor(world), requestId=request_id, on=TODAY)
    assert started["__typename"] == "DataSubjectRequestChanged", started
    exported = run(client, EXPORT, supervisor(world), requestId=request_id)
    assert exported["__typename"] == "DisclosureExported", exported
    return {"case": case_id, "consultation": first["consultation"]["id"],
            "other_case": second["case"]["id"], "break_glass": glass["breakGlassId"],
            "request": request_id}


def _nodes(answer: dict) -> list[dict]:
    return [edge["node"] for edge in answer["edges"]]


def test_the_auditor_sees_who_changed_and_read_a_case_and_why_but_no_values(client, world):
    story = _story(client, world)
    history = ask(client, HISTORY, auditor(world), id=story["case"], first=100)
    assert history["recordKind"] == "case" and history["householdId"]
    nodes = _nodes(history)
    assert history["totalCount"] == len(nodes) == history["changeCount"] + history["viewCount"]
    changes = [n for n in nodes if n["__typename"] == "AuditChange"]
    views = [n for n in nodes if n["__typename"] == "AuditView"]
    # Newest first, changes and views merged by time.
    times = [n["at"] for n in nodes]
    assert times == sorted(times, reverse=True)
    events = {c["event"] for c in changes}
    assert {"Household.Registered", "Case.Opened", "Consultation.Recorded", "Consent.Given",
            "BreakGlass.Recorded"} <= events
    recorded = next(c for c in changes if c["event"] == "Consultation.Recorded")
    assert recorded["recordId"] == story["consultation"]
    assert (recorded["actor"], recorded["role"], recorded["organisationKind"],
            recorded["organisationId"]) == ("npo-staff-1", "specialist", "contractor", NPO)
    assert {"asked", "wishes", "direction"} <= set(recorded["personalFields"])
    assert set(recorded["personalFields"]) <= set(recorded["fields"])
    glass = next(c for c in changes if c["event"] == "BreakGlass.Recorded")
    assert glass["actor"] == "a-auditor" and glass["role"] == "compliance_auditor"
    # The other family's records are not this case's history.
    assert all(c["caseId"] in (None, story["case"]) for c in changes)
    assert story["other_case"] not in {c["recordId"] for c in changes}

    by_basis = {(v["actor"], v["reason"]["basis"], v["channel"]) for v in views}
    assert ("npo-staff-1", "grant", "graphql") in by_basis
    assert ("a-auditor", "break_glass", "graphql") in by_basis
    assert ("a-supervisor", "grant", "export") in by_basis
    under_glass = [v for v in views if v["reason"]["basis"] == "break_glass"]
    assert all(v["reason"]["breakGlassId"] == story["break_glass"]
               and v["reason"]["reasonCode"] == "complaint_investigation" for v in under_glass)
    disclosed = [v for v in views if v["channel"] == "export"]
    assert all(v["reason"]["dataSubjectRequestId"] == story["request"] for v in disclosed)
    assert any("guardians" in v["fields"] for v in views)  # field names, never values
    assert all(v["householdId"] == history["householdId"] for v in views)

    # The household's history holds the case's changes and the same reads.
    household = ask(client, HISTORY, auditor(world), id=history["householdId"], first=100)
    assert household["recordKind"] == "household"
    assert household["viewCount"] == history["viewCount"]
    assert {"Case.Opened", "Consultation.Recorded"} <= {
        n["event"] for n in _nodes(household) if n["__typename"] == "AuditChange"}
    # A consultation's own history: its event and the reads of that record only.
    own = ask(client, HISTORY, auditor(world), id=story["consultation"], first=100)
    assert own["recordKind"] == "consultation"
    assert {n["recordId"] for n in _nodes(own)} == {story["consultation"]}


def test_history_pages_follow_one_another_without_gaps_or_repeats(client, world):
    story = _story(client, world)
    whole = _nodes(ask(client, HISTORY, auditor(world), id=story["case"], first=100))
    seen, after = [], None
    while True:
        page = ask(client, HISTORY, auditor(world), id=story["case"], first=3, after=after)
        seen += _nodes(page)
        assert page["totalCount"] == len(whole)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == whole and len(whole) > 6
    bad = gql(client, HISTORY, {"id": story["case"], "first": 3, "after": "bm90LWEtY3Vyc29y"},
              auditor(world))
    assert bad["errors"][0]["extensions"]["code"] == "cursor_invalid"
    unknown = gql(client, HISTORY, {"id": str(UUID(int=7)), "first": 3}, auditor(world))
    assert unknown["errors"][0]["extensions"]["code"] == "record_not_found"


def test_a_persons_activity_break_glass_uses_and_exports(client, world):
    story = _story(client, world)
    activity = ask(client, ACTIVITY, auditor(world), actor="npo-staff-1")
    nodes = _nodes(activity)
    assert activity["changeCount"] > 0 and activity["viewCount"] > 0
    assert activity["totalCount"] == len(nodes)
    assert all(n["actor"] == "npo-staff-1" for n in nodes)
    assert {n["event"] for n in nodes if n["__typename"] == "AuditChange"} >= {
        "Consultation.Recorded", "Case.Opened"}
    assert not ask(client, ACTIVITY, auditor(world), actor="nobody-at-all")["edges"]
    # A period before any of it: nothing (the event store is searched by time, not scanned).
    past = ask(client, ACTIVITY, auditor(world), actor="npo-staff-1", since="2026-01-01",
               until="2026-01-31")
    assert (past["totalCount"], past["since"]) == (0, "2025-12-31T15:00:00+00:00")

    uses = ask(client, USES, auditor(world))
    (use,) = _nodes(uses)
    assert (use["breakGlassId"], use["caseId"], use["actor"], use["reasonCode"]) == (
        story["break_glass"], story["case"], "a-auditor", "complaint_investigation")
    assert use["justification"] == JUSTIFICATION
    assert use["reads"] >= 2 and use["records"] >= 2  # the household and its consultation
    assert use["firstReadAt"] <= use["lastReadAt"]

    exports = ask(client, EXPORTS, auditor(world))
    (made,) = _nodes(exports)
    assert made["__typename"] == "RecordsExported"
    assert (made["actor"], made["role"], made["reason"]["dataSubjectRequestId"]) == (
        "a-supervisor", "municipal_supervisor", story["request"])
    assert made["records"] >= 3 and made["households"] == 1
    assert exports["exportCount"] == 1 and exports["certificateCount"] == 0


def test_after_hours_and_bulk_reads(client, world):
    _story(client, world)
    always_open = {"start": "00:00", "end": "24:00", "weekendsClosed": False}
    assert ask(client, AFTER_HOURS, auditor(world), hours=always_open)["totalCount"] == 0
    # Today (and yesterday, should the test cross midnight) declared a closed day.
    days = [japan_today().isoformat(), (japan_today() - timedelta(days=1)).isoformat()]
    closed = ask(client, AFTER_HOURS, auditor(world), hours={**always_open, "holidays": days})
    reads = _nodes(closed)
    assert closed["totalCount"] == len(reads) > 0
    assert {r["outside"] for r in reads} == {"holiday"}
    assert {r["read"]["actor"] for r in reads} >= {"npo-staff-1", "a-auditor", "a-supervisor"}
    invalid = gql(client, AFTER_HOURS, {"hours": {"start": "18:00", "end": "09:00"}},
                  auditor(world))
    assert invalid["errors"][0]["extensions"]["code"] == "invalid_input"

    # The specialist read two households within the hour.
    flagged = ask(client, BULK, auditor(world), threshold=1)
    mine = next(n for n in _nodes(flagged) if n["actor"] == "npo-staff-1")
    assert mine["households"] == 2 and mine["roles"] == ["specialist"]
    assert mine["organisations"] == [f"contractor:{NPO}"]
    assert "npo-staff-1" not in {n["actor"] for n in _nodes(
        ask(client, BULK, auditor(world), threshold=2))}


# Each query, minimal, naming CITY_A (a contractor must name it; a stranger names it).
REFUSED = {name: f"query Q($code: String) {{ {name}(municipalityCode: $code{args}) {{ totalCount }} }}"
           for name, args in (("auditRecordHistory", f', recordId: "{UUID(int=1)}"'),
                              ("auditPersonActivity", ', actor: "npo-staff-1"'),
                              ("auditBreakGlassUses", ""), ("auditAfterHours", ""),
                              ("auditBulkAccess", ", threshold: 1"), ("auditExports", ""))}


@pytest.mark.parametrize("caller, headers, codes", [
    ("specialist", lambda w: w.headers("municipality", CITY_A, roles=("specialist",)),
     {"role_not_permitted"}),
    ("supervisor", supervisor, {"role_not_permitted"}),
    ("admin", lambda w: w.headers("municipality", CITY_A, roles=("municipal_admin",)),
     {"role_not_permitted"}),
    ("contractor roles", lambda w: w.headers(
        "contractor", NPO, roles=("specialist", "site_manager", "contractor_admin",
                                  "complaint_intake_officer", "compliance_auditor"),
        sites=("a-hiroba",)), {"role_not_permitted", "municipality_only"}),
    ("another municipality's auditor", lambda w: auditor(w, CITY_B),
     {"municipality_not_permitted"}),
])
def test_every_other_role_is_refused(client, world, caller, headers, codes):
    _story(client, world)
    assert ask(client, REFUSED["auditExports"], auditor(world), code=CITY_A)["totalCount"] == 1
    for name, document in REFUSED.items():
        body = gql(client, document, {"code": CITY_A}, headers(world))
        assert body.get("data") is None, (caller, name, body)
        assert body["errors"][0]["extensions"]["code"] in codes, (caller, name, body)
        assert not any(value in json.dumps(body, ensure_ascii=False) for value in PERSONAL)


# ------------------------------------------------------------- the patterns, on given times


def _read(at: datetime, actor: str, household: str) -> AccessEntry:
    return AccessEntry(at.astimezone(UTC).isoformat(), actor, "specialist", "contractor", NPO,
                       "contract-a-npo", household, "household", household, ("guardians",),
                       "grant", None, None, None, "graphql")


def test_business_hours_in_japan_time():
    hours = BusinessHours(start=time(8, 30), end=time(17, 15), weekends_closed=True,
                          holidays=frozenset({date(2026, 11, 3)}))
    wednesday = date(2026, 11, 4)

    def at(day: date, hh: int, mm: int) -> datetime:
        return datetime(day.year, day.month, day.day, hh, mm, tzinfo=JST).astimezone(UTC)

    assert hours.outside(at(wednesday, 8, 29)) == "before_hours"
    assert hours.outside(at(wednesday, 8, 30)) is None
    assert hours.outside(at(wednesday, 17, 14)) is None
    assert hours.outside(at(wednesday, 17, 15)) == "after_hours"
    assert hours.outside(at(date(2026, 11, 7), 10, 0)) == "weekend"
    assert hours.outside(at(date(2026, 11, 3), 10, 0)) == "holiday"


def test_the_database_finds_the_same_reads_outside_hours_and_the_busiest_window(world):
    """Reads written at chosen times: the SQL tests agree with the rules, on both backends."""
    day = date(2026, 11, 4)  # a Wednesday
    base = datetime(day.year, day.month, day.day, tzinfo=JST)
    times = {"early": base + timedelta(hours=7, minutes=59), "noon": base + timedelta(hours=12),
             "late": base + timedelta(hours=21, minutes=5),
             "saturday": base + timedelta(days=3, hours=11),
             "holiday": base - timedelta(days=1) + timedelta(hours=11)}
    # Bulk: five households from 10:50 to 11:10 (across an hour's boundary), one per read.
    burst = [base + timedelta(hours=10, minutes=50 + 5 * i) for i in range(5)]
    hours = BusinessHours(holidays=frozenset({day - timedelta(days=1)}))
    with world.services.runtimes.lease(CITY_A) as rt:
        AccessLogStore(rt.casework.database).append(
            [_read(t, "x-clock", f"h-{name}") for name, t in times.items()]
            + [_read(t, "x-burst", f"b-{i}") for i, t in enumerate(burst)]
            + [_read(base + timedelta(hours=15, minutes=i), "x-calm", "c-1") for i in range(9)])
        queries = ComplianceQueries(rt.casework.database)
        period = window((day - timedelta(days=2)).isoformat(),
                        (day + timedelta(days=4)).isoformat(), default_days=7, max_days=92)
        page = queries.after_hours(period, hours, first=100, after=None)
        found = {r.view.household_id: r.outside for r in page.items}
        assert found == {"h-early": "before_hours", "h-late": "after_hours",
                         "h-saturday": "weekend", "h-holiday": "holiday"}
        assert page.total_count == 4
        # Two at a time: the same reads, in the same order.
        pages, after = [], None
        while True:
            part = queries.after_hours(period, hours, first=2, after=after)
            pages += [r.view.entry_id for r in part.items]
            if not part.has_next_page:
                break
            after = part.end_cursor
        assert pages == [r.view.entry_id for r in page.items]

        bulk = queries.bulk_access(period, threshold=4, window_minutes=60, first=10, after=None)
        (busy,) = bulk.items
        assert (busy.actor, busy.households, busy.reads) == ("x-burst", 5, 5)
        assert busy.window_start == burst[0].astimezone(UTC).isoformat(timespec="microseconds")
        assert busy.window_end == burst[-1].astimezone(UTC).isoformat(timespec="microseconds")
        # Within eleven minutes, at most three of them.
        assert not queries.bulk_access(period, threshold=3, window_minutes=11, first=10,
                                       after=None).items
        assert [b.households for b in queries.bulk_access(
            period, threshold=2, window_minutes=11, first=10, after=None).items] == [3]


def test_a_persons_changes_in_a_window_are_found_by_time(world):
    """The event store has no index by time: the window is found by bisecting ids on time."""
    staff = ActingContext(user_id="a-specialist", role="specialist",
                          organisation_kind="municipality", organisation_id=CITY_A,
                          site_id="a-counter")
    with world.services.runtimes.lease(CITY_A) as rt:
        with acting_as(staff):
            for _ in range(4):
                rt.casework.record_consultation(consultation_command(site_id="a-counter",
                                                                     contract_id=None))
        queries = ComplianceQueries(rt.casework.database)
        every = queries.events.by_actor("a-specialist", datetime(2020, 1, 1, tzinfo=UTC),
                                        datetime.now(UTC) + timedelta(minutes=1))
        assert len(every) >= 4 * 7 and all(c.actor == "a-specialist" for c in every)
        middle = every[len(every) // 2]
        since = datetime.fromisoformat(middle.at)
        later = queries.events.by_actor("a-specialist", since,
                                        datetime.now(UTC) + timedelta(minutes=1))
        assert later == [c for c in every if c.at >= middle.at]
        assert queries.events.by_actor("a-specialist", datetime(2020, 1, 1, tzinfo=UTC),
                                       since) == [c for c in every if c.at < middle.at]


def test_a_disposal_certificate_is_an_export_and_the_history_outlives_the_family(world):
    staff = ActingContext(user_id="a-specialist", role="specialist",
                          organisation_kind="municipality", organisation_id=CITY_A,
                          site_id="a-counter")
    officer = ActingContext(user_id="a-records-officer", role="municipal_supervisor",
                            organisation_kind="municipality", organisation_id=CITY_A)
    long_ago = date(2018, 5, 1)
    with world.services.runtimes.lease(CITY_A) as rt:
        with acting_as(staff):
            # A family of 2018: its child born before (a consultation cannot predate a
            # pregnancy of the oldest child).
            recorded = rt.casework.record_consultation(consultation_command(
                site_id="a-counter", contract_id=None, occurred_on=long_ago,
                household=NewHousehold(guardians=[Guardian("架空 花子", "母")],
                                       children=[Child("架空 たろう", date(2017, 5, 1))],
                                       pregnancy=None),
                consent=NewConsent("架空 花子", "母", long_ago, "相談記録の作成")))
            rt.casework.close_case(recorded.case_id, closed_on=date(2019, 6, 1),
                                   reason="support_completed", expected_version=None,
                                   writable_contract_ids=None)
        with acting_as(officer):
            rt.casework.set_retention_schedule(
                effective_from=japan_today(), two_person_approval=False,
                years={name: 1 for name in RECORD_CLASSES})
            rt.catch_up()
            disposal = Disposal(rt, world.services.objects, world.services.signer)
            batch = disposal.propose([str(recorded.household_id)])
            rt.casework.approve_disposal(batch.id, expected_version=None)
            disposal.run(batch.id)
        queries = ComplianceQueries(rt.casework.database)
        exports = queries.exports(window(None, None, default_days=1, max_days=2), first=10,
                                  after=None)
        (certificate,) = exports.items
        assert (certificate.kind, certificate.batch_id, certificate.disposed) == (
            "disposal_certificate", str(batch.id), 1)
        assert certificate.sha256 and exports.counts == {"exports": 0, "certificates": 1}
        # The family is gone (its key destroyed); who did what to its records is not.
        history = queries.record_history(recorded.case_id, first=100)
        assert history is not None
        changes = {c.event: c for c in history.page.items if c.kind == "change"}
        assert {"Household.Registered", "Consultation.Recorded", "Case.Closed"} <= set(changes)
        assert changes["Consultation.Recorded"].actor == "a-specialist"
        assert "asked" in changes["Consultation.Recorded"].personal_fields
        text = repr(history)
        assert not [value for value in PERSONAL if value in text]
