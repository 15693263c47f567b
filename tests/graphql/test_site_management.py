"""Site profiles end to end over GraphQL, on SQLite and PostgreSQL.

A municipal supervisor saves a site's type, address and operator, its weekly
schedule and dated exceptions; the answers carry the site findings.  Every
refusal is typed and writes nothing.
"""

from __future__ import annotations

from typing import Any

from world import CITY_A, CITY_B, NPO, gql

from yorisoi.projections.organisation_view import ORGANISATION_TABLES, OrganisationView
from yorisoi.projections.runner import Projector

RESULT = """
  __typename
  ... on SiteProfileSaved { site { siteId siteType siteTypeJa address operation contractorId
      contractId openDays closedOnPublicHolidays dedicatedSpecialists version
      weekly { weekday opens closes } exceptions { on kind opens closes }
      findings { code severity message messageJa } } }
  ... on UserError { code message messageJa }
  ... on ValidationError { fieldErrors { field code messageJa } }
"""
SAVE = "mutation($input: SaveSiteProfileInput!) { saveSiteProfile(input: $input) {" + RESULT + "} }"
SCHEDULE = ("mutation($input: SetSiteScheduleInput!) { setSiteSchedule(input: $input) {"
            + RESULT + "} }")
ADD_EXCEPTION = ("mutation($input: AddSiteScheduleExceptionInput!) {"
                 " addSiteScheduleException(input: $input) {" + RESULT + "} }")
REMOVE_EXCEPTION = ("mutation($input: RemoveSiteScheduleExceptionInput!) {"
                    " removeSiteScheduleException(input: $input) {" + RESULT + "} }")
SITES = """
query($code: String) { siteProfiles(municipalityCode: $code) {
  totalCount nodes { siteId siteType operation openDays findings { code } } } }
"""
WEEKDAYS = [{"weekday": d, "opens": "09:00", "closes": "17:00"}
            for d in ("mon", "tue", "wed", "thu", "fri")]


def supervisor(world: Any, city: str = CITY_A) -> dict[str, str]:
    return world.headers("municipality", city, subject="sv-1", roles=("municipal_supervisor",))


def mutate(client: Any, doc: str, name: str, headers: dict[str, str], **fields: Any) -> dict:
    body = gql(client, doc, {"input": {"municipalityCode": CITY_A, "siteId": "a-hiroba",
                                       **fields}}, headers)
    assert "errors" not in body, body
    return body["data"][name]


def save(client: Any, headers: dict[str, str], **fields: Any) -> dict:
    data = {"siteType": "kihon", "address": "東京都千代田区九段南1-2-1",
            "contractId": "contract-a-npo", **fields}
    return mutate(client, SAVE, "saveSiteProfile", headers, **data)


def position(world: Any) -> int:
    with world.services.runtimes.lease(CITY_A) as rt:
        return rt.casework.recorder.max_notification_id() or 0


def test_a_supervisor_saves_a_contracted_site_and_sees_its_findings(client, world):
    result = save(client, supervisor(world))
    assert result["__typename"] == "SiteProfileSaved"
    site = result["site"]
    assert (site["siteType"], site["siteTypeJa"], site["operation"], site["contractorId"]) == (
        "kihon", "基本型", "contracted", NPO)
    assert [f["code"] for f in site["findings"]] == ["open_fewer_than_half_the_week",
                                                     "no_dedicated_specialist"]
    assert all(f["messageJa"] for f in site["findings"])


def test_a_five_day_schedule_clears_the_opening_finding(client, world):
    save(client, supervisor(world))
    result = mutate(client, SCHEDULE, "setSiteSchedule", supervisor(world), weekly=WEEKDAYS,
                    closedOnPublicHolidays=False)
    site = result["site"]
    assert site["openDays"] == 5 and site["closedOnPublicHolidays"] is False
    assert [w["weekday"] for w in site["weekly"]] == ["mon", "tue", "wed", "thu", "fri"]
    assert [f["code"] for f in site["findings"]] == ["no_dedicated_specialist"]


def test_a_three_day_schedule_keeps_the_opening_finding(client, world):
    save(client, supervisor(world))
    site = mutate(client, SCHEDULE, "setSiteSchedule", supervisor(world),
                  weekly=WEEKDAYS[:3])["site"]
    assert "open_fewer_than_half_the_week" in [f["code"] for f in site["findings"]]


def test_dated_exceptions_are_added_and_removed(client, world):
    save(client, supervisor(world))
    mutate(client, ADD_EXCEPTION, "addSiteScheduleException", supervisor(world),
           on="2026-12-29", kind="closed")
    site = mutate(client, ADD_EXCEPTION, "addSiteScheduleException", supervisor(world),
                  on="2027-01-09", kind="special_opening", opens="10:00", closes="12:00")["site"]
    assert [(e["on"], e["kind"], e["opens"]) for e in site["exceptions"]] == [
        ("2026-12-29", "closed", None), ("2027-01-09", "special_opening", "10:00")]
    site = mutate(client, REMOVE_EXCEPTION, "removeSiteScheduleException", supervisor(world),
                  on="2026-12-29")["site"]
    assert [e["on"] for e in site["exceptions"]] == ["2027-01-09"]


def test_a_site_becomes_directly_run_and_changes_type(client, world):
    first = save(client, supervisor(world))["site"]
    site = save(client, supervisor(world), siteType="kodomo_katei_center", contractId=None,
                expectedVersion=first["version"])["site"]
    assert (site["operation"], site["contractorId"], site["siteType"]) == (
        "direct", None, "kodomo_katei_center")


def test_the_site_list_shows_every_profile_with_findings(client, world):
    save(client, supervisor(world))
    save(client, supervisor(world), siteId="a-counter", siteType="tokutei", contractId=None)
    body = gql(client, SITES, {"code": CITY_A}, supervisor(world))
    assert [(s["siteId"], s["operation"]) for s in body["data"]["siteProfiles"]["nodes"]] == [
        ("a-counter", "direct"), ("a-hiroba", "contracted")]


# ------------------------------------------------------------------ refusals


REFUSALS = [
    ("specialist", lambda w: w.headers("municipality", CITY_A, roles=("specialist",)),
     {}, "NotAuthorizedError", "role_not_permitted"),
    ("contractor admin", lambda w: w.headers("contractor", NPO, roles=("contractor_admin",)),
     {}, "NotAuthorizedError", "role_not_permitted"),
    ("other city", lambda w: supervisor(w, CITY_B), {}, "NotAuthorizedError",
     "municipality_not_permitted"),
    ("unknown site", supervisor, {"siteId": "nowhere"}, "NotAuthorizedError", "site_unknown"),
    ("unknown type", supervisor, {"siteType": "mega"}, "ValidationError", "validation_failed"),
    ("blank address", supervisor, {"address": " "}, "ValidationError", "validation_failed"),
    ("ended contract", supervisor, {"contractId": "contract-a-kaze"}, "ValidationError",
     "validation_failed"),
    ("contract of another site", supervisor, {"siteId": "a-counter"}, "ValidationError",
     "validation_failed"),
]


def test_a_refused_profile_is_typed_and_writes_nothing(client, world):
    before = position(world)
    for who, headers, fields, typename, code in REFUSALS:
        result = save(client, headers(world), **fields)
        assert (result["__typename"], result["code"]) == (typename, code), who
        assert result["messageJa"], who
    assert position(world) == before


def test_refused_schedules_and_exceptions_write_nothing(client, world):
    first = save(client, supervisor(world))["site"]
    before = position(world)
    cases = [
        (SCHEDULE, "setSiteSchedule", {"weekly": [{"weekday": "mon", "opens": "17:00",
                                                   "closes": "09:00"}]}, "site_hours_invalid"),
        (SCHEDULE, "setSiteSchedule", {"weekly": WEEKDAYS + WEEKDAYS[:1]}, "invalid_input"),
        (SCHEDULE, "setSiteSchedule", {"weekly": [{"weekday": "xyz", "opens": "09:00",
                                                   "closes": "10:00"}]}, "site_weekday_unknown"),
        (SCHEDULE, "setSiteSchedule", {"weekly": WEEKDAYS,
                                       "expectedVersion": first["version"] + 5}, "stale_version"),
        (ADD_EXCEPTION, "addSiteScheduleException", {"on": "2026-13-01", "kind": "closed"},
         "invalid_input"),
        (ADD_EXCEPTION, "addSiteScheduleException", {"on": "2026-12-01", "kind": "party"},
         "site_exception_kind_unknown"),
        (ADD_EXCEPTION, "addSiteScheduleException", {"on": "2026-12-01",
                                                     "kind": "special_opening"},
         "site_hours_invalid"),
        (REMOVE_EXCEPTION, "removeSiteScheduleException", {"on": "2026-12-01"},
         "site_exception_not_found"),
    ]
    for doc, name, fields, code in cases:
        result = mutate(client, doc, name, supervisor(world), **fields)
        if code == "stale_version":  # the one retryable conflict, not a field error
            assert (result["__typename"], result["code"]) == ("ConflictError", code), result
            continue
        assert result["__typename"] == "ValidationError", (name, fields)
        assert result["fieldErrors"][0]["code"] == code, (name, fields)
    assert position(world) == before


def test_a_schedule_before_the_profile_is_not_found_and_writes_nothing(client, world):
    before = position(world)
    result = mutate(client, SCHEDULE, "setSiteSchedule", supervisor(world), weekly=WEEKDAYS)
    assert (result["__typename"], result["code"]) == ("NotFoundError", "site_profile_not_found")
    assert position(world) == before


def test_the_site_list_is_refused_to_a_specialist(client, world):
    body = gql(client, SITES, {"code": CITY_A}, world.headers("municipality", CITY_A))
    assert body["errors"][0]["extensions"]["code"] == "role_not_permitted"


# ------------------------------------------------------------------ rebuild


def organisation_rows(rt: Any) -> dict[str, list[dict[str, Any]]]:
    with rt.casework.database.transaction(write=False) as cur:
        return {t: cur.execute(f"SELECT * FROM {{s}}{t} ORDER BY 1").fetchall()
                for t in ORGANISATION_TABLES}


def test_rebuilding_the_organisation_view_equals_the_live_view(client, world):
    first = save(client, supervisor(world))["site"]
    mutate(client, SCHEDULE, "setSiteSchedule", supervisor(world), weekly=WEEKDAYS)
    mutate(client, ADD_EXCEPTION, "addSiteScheduleException", supervisor(world),
           on="2026-12-29", kind="closed")
    mutate(client, ADD_EXCEPTION, "addSiteScheduleException", supervisor(world),
           on="2026-12-30", kind="closed")
    mutate(client, REMOVE_EXCEPTION, "removeSiteScheduleException", supervisor(world),
           on="2026-12-29")
    save(client, supervisor(world), address="東京都千代田区一番町", expectedVersion=first["version"] + 4)
    with world.services.runtimes.lease(CITY_A) as rt:
        live = organisation_rows(rt)
        assert len(live["site_profile_view"]) == 1
        projector = Projector(rt.casework.database, rt.casework.mapper,
                              OrganisationView(rt.casework.keyring))
        assert projector.rebuild() > 0
        assert organisation_rows(rt) == live


SITE_PAGE = """query($first: Int, $after: String) { siteProfiles(first: $first, after: $after) {
  totalCount nodes { siteId findings { code } } pageInfo { hasNextPage endCursor } } }"""


def test_site_profiles_are_listed_in_keyset_pages_by_site_id(client, world):
    save(client, supervisor(world))
    save(client, supervisor(world), siteId="a-counter", siteType="tokutei", contractId=None)
    first = gql(client, SITE_PAGE, {"first": 1}, supervisor(world))["data"]["siteProfiles"]
    assert [s["siteId"] for s in first["nodes"]] == ["a-counter"]
    assert first["totalCount"] == 2 and first["pageInfo"]["hasNextPage"]
    rest = gql(client, SITE_PAGE, {"first": 1, "after": first["pageInfo"]["endCursor"]},
               supervisor(world))["data"]["siteProfiles"]
    assert [s["siteId"] for s in rest["nodes"]] == ["a-hiroba"] and rest["nodes"][0]["findings"]
    assert rest["totalCount"] == 2 and not rest["pageInfo"]["hasNextPage"]
    bad = gql(client, SITE_PAGE, {"after": "%%%"}, supervisor(world))
    assert bad["errors"][0]["extensions"]["code"] == "cursor_invalid"
