"""Staff records end to end: registration, assignments, training, the pledge, findings.

On SQLite and PostgreSQL, with development-issuer tokens.  A municipal
supervisor manages every staff record; the contractor's administrator only
its own staff, at the sites its active contract covers.  Refusals are typed
and write nothing.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from world import CITY_A, CITY_B, IDLE_NPO, NPO, gql

from yorisoi.infra.clock import japan_today

STAFF = """
  staffMember { id subject displayName organisationKind organisationId roles qualifications
    hasPledge pledgeSignedOn version
    assignments { id siteId kind startsOn endsOn active }
    trainings { kind kindJa completedOn validUntil }
    findings { code severity trainingKind messageJa } }
"""
RESULT = ("__typename ... on StaffMemberSaved { assignmentId " + STAFF + " }"
          " ... on UserError { code message messageJa }"
          " ... on ValidationError { fieldErrors { field code messageJa } }")
REGISTER = ("mutation($input: RegisterStaffMemberInput!) { registerStaffMember(input: $input) {"
            + RESULT + "} }")
UPDATE = ("mutation($input: UpdateStaffMemberInput!) { updateStaffMember(input: $input) {"
          + RESULT + "} }")
ASSIGN = ("mutation($input: AssignStaffToSiteInput!) { assignStaffToSite(input: $input) {"
          + RESULT + "} }")
END = ("mutation($input: EndStaffAssignmentInput!) { endStaffAssignment(input: $input) {"
       + RESULT + "} }")
TRAIN = ("mutation($input: RecordStaffTrainingInput!) { recordStaffTraining(input: $input) {"
         + RESULT + "} }")
SAVE_SITE = """
mutation($input: SaveSiteProfileInput!) { saveSiteProfile(input: $input) {
  __typename ... on SiteProfileSaved { site { dedicatedSpecialists findings { code } } } } }
"""
SITES = "query { siteProfiles(municipalityCode: \"131016\") { nodes { siteId dedicatedSpecialists findings { code } } } }"
LIST = """
query($first: Int!, $after: String) { staffMembers(municipalityCode: "131016", first: $first,
  after: $after) { totalCount edges { cursor node { id organisationId } }
  pageInfo { hasNextPage endCursor } } }
"""
PDF = b"%PDF-1.4 signed pledge"


def supervisor(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="sv-1", roles=("municipal_supervisor",))


def npo_admin(world: Any, contractor: str = NPO) -> dict[str, str]:
    return world.headers("contractor", contractor, subject="npo-admin", roles=("contractor_admin",))


def days_ago(n: int) -> str:
    return (japan_today() - timedelta(days=n)).isoformat()


def mutate(client: Any, doc: str, name: str, headers: dict[str, str], **fields: Any) -> dict:
    body = gql(client, doc, {"input": {"municipalityCode": CITY_A, **fields}}, headers)
    assert "errors" not in body, body
    return body["data"][name]


def register(client: Any, headers: dict[str, str], **fields: Any) -> dict:
    data = {"subject": "npo-staff-1", "displayName": "架空 職員", "roles": ["specialist"],
            "qualifications": ["hoikushi"], **fields}
    return mutate(client, REGISTER, "registerStaffMember", headers, **data)


def position(world: Any) -> int:
    with world.services.runtimes.lease(CITY_A) as rt:
        return rt.casework.recorder.max_notification_id() or 0


def codes(member: dict) -> list[tuple[str, str | None]]:
    return [(f["code"], f["trainingKind"]) for f in member["findings"]]


def test_a_new_specialist_shows_missing_training_and_pledge(client, world):
    result = register(client, supervisor(world), organisationId=NPO)
    member = result["staffMember"]
    assert (member["organisationKind"], member["organisationId"]) == ("contractor", NPO)
    assert codes(member) == [("training_missing", "kosodate_shienin_kihon"),
                             ("training_missing", "kosodate_shienin_senmon"),
                             ("training_missing", "privacy_confidentiality"),
                             ("pledge_missing", None)]


def test_training_clears_findings_and_a_lapsed_privacy_training_is_found(client, world):
    staff_id = register(client, supervisor(world), organisationId=CITY_A,
                        subject="city-staff")["staffMember"]["id"]
    for kind, completed in (("kosodate_shienin_kihon", 900), ("kosodate_shienin_senmon", 800),
                            ("privacy_confidentiality", 400)):
        member = mutate(client, TRAIN, "recordStaffTraining", supervisor(world), staffId=staff_id,
                        kind=kind, completedOn=days_ago(completed))["staffMember"]
    assert codes(member) == [("training_lapsed", "privacy_confidentiality"),
                             ("pledge_missing", None)]
    assert member["organisationKind"] == "municipality"
    member = mutate(client, TRAIN, "recordStaffTraining", supervisor(world), staffId=staff_id,
                    kind="privacy_confidentiality", completedOn=days_ago(5))["staffMember"]
    assert codes(member) == [("pledge_missing", None)]
    renewed = next(t for t in member["trainings"] if t["completedOn"] == days_ago(5))
    assert renewed["validUntil"] == (japan_today() + timedelta(days=360)).isoformat()


def test_a_dedicated_specialist_clears_the_site_finding_until_the_assignment_ends(client, world):
    gql(client, SAVE_SITE, {"input": {"municipalityCode": CITY_A, "siteId": "a-hiroba",
                                      "siteType": "kihon", "address": "千代田区",
                                      "contractId": "contract-a-npo"}}, supervisor(world))
    staff_id = register(client, npo_admin(world))["staffMember"]["id"]
    result = mutate(client, ASSIGN, "assignStaffToSite", npo_admin(world), staffId=staff_id,
                    siteId="a-hiroba", kind="dedicated", startsOn=days_ago(10))
    assert result["assignmentId"] and result["staffMember"]["assignments"][0]["active"]
    site = gql(client, SITES, None, supervisor(world))["data"]["siteProfiles"]["nodes"][0]
    assert site["dedicatedSpecialists"] == 1
    assert "no_dedicated_specialist" not in [f["code"] for f in site["findings"]]
    mutate(client, END, "endStaffAssignment", npo_admin(world), staffId=staff_id,
           assignmentId=result["assignmentId"], endsOn=days_ago(1))
    site = gql(client, SITES, None, supervisor(world))["data"]["siteProfiles"]["nodes"][0]
    assert "no_dedicated_specialist" in [f["code"] for f in site["findings"]]


def test_the_contractor_admin_manages_only_its_own_staff(client, world):
    own = register(client, npo_admin(world))["staffMember"]
    assert own["organisationId"] == NPO
    city = register(client, supervisor(world), subject="city-1", organisationId=CITY_A)
    city_id = city["staffMember"]["id"]
    listed = gql(client, LIST, {"first": 10}, npo_admin(world))["data"]["staffMembers"]
    assert [e["node"]["id"] for e in listed["edges"]] == [own["id"]]
    assert listed["totalCount"] == 1

    before = position(world)
    refusals = [
        (REGISTER, "registerStaffMember", {"subject": "x", "displayName": "架空", "roles":
                                           ["specialist"], "organisationId": CITY_A},
         "NotAuthorizedError", "organisation_not_permitted"),
        (UPDATE, "updateStaffMember", {"staffId": city_id, "displayName": "架空",
                                       "roles": ["assistant"]},
         "NotFoundError", "staff_member_not_found"),
        (TRAIN, "recordStaffTraining", {"staffId": city_id, "kind": "privacy_confidentiality",
                                        "completedOn": days_ago(1)},
         "NotFoundError", "staff_member_not_found"),
        (ASSIGN, "assignStaffToSite", {"staffId": own["id"], "siteId": "a-counter",
                                       "kind": "dedicated", "startsOn": days_ago(1)},
         "NotFoundError", "staff_site_not_assignable"),
    ]
    for doc, name, fields, typename, code in refusals:
        result = mutate(client, doc, name, npo_admin(world), **fields)
        assert (result["__typename"], result["code"]) == (typename, code), name
        assert result["messageJa"] and "架空" not in result["message"]
    assert position(world) == before


def test_refusals_by_role_tenant_and_contract_write_nothing(client, world):
    before = position(world)
    for headers, code in (
        (world.headers("municipality", CITY_A, roles=("specialist",)), "role_not_permitted"),
        (world.headers("contractor", NPO, roles=("specialist",)), "role_not_permitted"),
        (npo_admin(world, IDLE_NPO), "contract_not_active"),
        (world.headers("municipality", CITY_B, roles=("municipal_supervisor",)),
         "municipality_not_permitted"),
    ):
        result = register(client, headers)
        assert (result["__typename"], result["code"]) == ("NotAuthorizedError", code)
    body = gql(client, LIST, {"first": 5}, world.headers("municipality", CITY_A))
    assert body["errors"][0]["extensions"]["code"] == "role_not_permitted"
    assert position(world) == before


def test_invalid_staff_input_is_refused_with_field_errors_and_writes_nothing(client, world):
    staff_id = register(client, supervisor(world), organisationId=NPO)["staffMember"]["id"]
    before = position(world)
    cases = [
        (REGISTER, "registerStaffMember", {"subject": "npo-staff-1", "displayName": "架空",
                                           "roles": ["specialist"], "organisationId": NPO},
         "staff_already_registered"),
        (REGISTER, "registerStaffMember", {"subject": "s2", "displayName": "架空",
                                           "roles": ["specialist"], "organisationId": "npo-x"},
         "staff_organisation_unknown"),
        (REGISTER, "registerStaffMember", {"subject": "s3", "displayName": " ",
                                           "roles": ["specialist"]}, "invalid_input"),
        (REGISTER, "registerStaffMember", {"subject": "s4", "displayName": "架空",
                                           "roles": ["wizard"]}, "staff_role_unknown"),
        (UPDATE, "updateStaffMember", {"staffId": staff_id, "displayName": "架空",
                                       "roles": ["specialist"], "expectedVersion": 9},
         "stale_version"),
        (ASSIGN, "assignStaffToSite", {"staffId": "not-a-uuid", "siteId": "a-hiroba",
                                       "kind": "dedicated", "startsOn": days_ago(1)},
         "invalid_input"),
        (ASSIGN, "assignStaffToSite", {"staffId": staff_id, "siteId": "a-hiroba",
                                       "kind": "full_time", "startsOn": days_ago(1)},
         "staff_assignment_invalid"),
        (TRAIN, "recordStaffTraining", {"staffId": staff_id, "kind": "cooking",
                                        "completedOn": days_ago(1)}, "staff_training_invalid"),
        (TRAIN, "recordStaffTraining", {"staffId": staff_id, "kind": "privacy_confidentiality",
                                        "completedOn": "2025-02-30"}, "invalid_input"),
    ]
    for doc, name, fields, code in cases:
        result = mutate(client, doc, name, supervisor(world), **fields)
        if code == "stale_version":  # the one retryable conflict, not a field error
            assert (result["__typename"], result["code"]) == ("ConflictError", code), result
            continue
        assert result["__typename"] == "ValidationError", (name, fields, result)
        assert result["fieldErrors"][0]["code"] == code, (name, fields, result)
    result = mutate(client, ASSIGN, "assignStaffToSite", supervisor(world), staffId=staff_id,
                    siteId="nowhere", kind="dedicated", startsOn=days_ago(1))
    assert (result["__typename"], result["code"]) == ("NotAuthorizedError", "site_unknown")
    assert position(world) == before


def test_staff_pages_are_keyset_paginated_with_a_total(client, world):
    for n in range(3):
        register(client, supervisor(world), subject=f"s{n}", organisationId=CITY_A)
    first = gql(client, LIST, {"first": 2}, supervisor(world))["data"]["staffMembers"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = gql(client, LIST, {"first": 2, "after": first["pageInfo"]["endCursor"]},
               supervisor(world))["data"]["staffMembers"]
    assert not rest["pageInfo"]["hasNextPage"]
    ids = [e["node"]["id"] for e in first["edges"] + rest["edges"]]
    assert len(set(ids)) == 3 and ids == sorted(ids)


# ------------------------------------------------------------------ the pledge (REST)


def pledge_url(staff_id: str) -> str:
    return f"/api/municipalities/{CITY_A}/staff/{staff_id}/pledge"


def upload(client: Any, staff_id: str, headers: dict[str, str], *, signed_on: str | None = None,
           content_type: str = "application/pdf") -> Any:
    return client.post(pledge_url(staff_id), headers=headers,
                       files={"file": ("架空職員_誓約書.pdf", PDF, content_type)},
                       data={"signedOn": signed_on or days_ago(1)})


def test_the_contractor_admin_uploads_a_pledge_and_the_finding_clears(client, world):
    staff_id = register(client, npo_admin(world))["staffMember"]["id"]
    response = upload(client, staff_id, npo_admin(world))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    stored = [p for p in world.services.settings.objects_dir.rglob("*") if p.is_file()
              and body["id"] in str(p)]
    assert len(stored) == 1 and f"/staff/{staff_id}/pledge/{body['id']}" in str(stored[0])
    assert "誓約書" not in str(stored[0])
    member = gql(client, "query($id: ID!) { staffMember(id: $id, municipalityCode: \"131016\")"
                         " { hasPledge pledgeSignedOn findings { code } } }",
                 {"id": staff_id}, supervisor(world))["data"]["staffMember"]
    assert member["hasPledge"] and member["pledgeSignedOn"] == days_ago(1)
    assert "pledge_missing" not in [f["code"] for f in member["findings"]]
    link = client.get(pledge_url(staff_id), headers=supervisor(world))
    assert link.status_code == 200, link.text
    assert client.get(link.json()["url"]).content == PDF


def test_refused_pledges_write_nothing(client, world):
    staff_id = register(client, supervisor(world), organisationId=CITY_A)["staffMember"]["id"]
    files_before = sorted(world.services.settings.objects_dir.rglob("*"))
    before = position(world)
    assert upload(client, staff_id, npo_admin(world)).status_code == 404  # not its staff
    assert upload(client, staff_id, world.headers("municipality", CITY_A)).status_code == 403
    assert upload(client, staff_id, supervisor(world),
                  content_type="text/plain").status_code == 415
    future = upload(client, staff_id, supervisor(world), signed_on=days_ago(-3))
    assert (future.status_code, future.json()["detail"]["code"]) == (422, "staff_pledge_invalid")
    assert upload(client, staff_id, supervisor(world), signed_on="tomorrow").status_code == 422
    assert upload(client, "not-a-uuid", supervisor(world)).status_code == 404
    assert client.get(pledge_url(staff_id), headers=supervisor(world)).status_code == 404
    assert position(world) == before
    assert sorted(world.services.settings.objects_dir.rglob("*")) == files_before


# ------------------------------------------------------------------ staff names stay out of traces


def test_staff_names_reach_no_span_and_no_log(client, world, caplog):
    from yorisoi.infra.telemetry import in_memory_exporter

    exporter = in_memory_exporter()
    exporter.clear()
    name, new_name = "架空 秘匿 さくら", "架空 秘匿 もみじ"
    with caplog.at_level("DEBUG"):
        staff_id = register(client, supervisor(world), displayName=name,
                            organisationId=NPO)["staffMember"]["id"]
        mutate(client, UPDATE, "updateStaffMember", supervisor(world), staffId=staff_id,
               displayName=new_name, roles=["specialist"])
        refused = register(client, supervisor(world), displayName=name, organisationId=NPO)
        assert refused["__typename"] == "ValidationError"
        gql(client, LIST, {"first": 5}, supervisor(world))
    texts = [str(v) for s in exporter.get_finished_spans()
             for v in (s.name, *(s.attributes or {}).keys(), *(s.attributes or {}).values(),
                       *(str(e.attributes) for e in s.events), s.status.description or "")]
    assert texts, "the requests produced spans"
    for needle in (name, new_name, "秘匿", "さくら", "もみじ"):
        assert not [t for t in texts if needle in t], needle
        assert needle not in caplog.text
        assert needle not in str(refused)
    exporter.clear()
