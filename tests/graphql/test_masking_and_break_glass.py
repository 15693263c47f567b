"""Field-level masking, break-glass, explicit grants and the access log, end to end.

Roles without the need to know read records with personal fields null (the
ciphertext is never opened for them); a compliance auditor who records a
break-glass reason reads one household's fields for a bounded time; every
read of personal fields lands in the municipality's access log by field name,
never by value.
"""

from __future__ import annotations

import json
from typing import Any

from world import CITY_A, CITY_B, NPO, gql, npo, record, supervisor

from yorisoi.infra.access_log_store import AccessLogStore

CASE = """
query Case($id: ID!, $code: String) {
  case(id: $id, municipalityCode: $code) {
    id household { masked disposed guardians { name } children { name } }
    consultations { asked wishes direction }
  }
}
"""
BREAK_GLASS = """
mutation B($input: BreakGlassInput!) {
  breakGlass(input: $input) {
    __typename
    ... on BreakGlassRecorded { breakGlassId caseId expiresAt reasonCode }
    ... on UserError { code message messageJa }
    ... on ValidationError { fieldErrors { field code } }
  }
}
"""
GRANT = """
mutation G($input: GrantAccessInput!) {
  grantAccess(input: $input) {
    __typename
    ... on AccessGranted { grant { id role siteIds active grantedBy } }
    ... on UserError { code message messageJa }
    ... on ValidationError { fieldErrors { field code } }
  }
}
"""
REVOKE = """
mutation R($input: RevokeAccessInput!) {
  revokeAccess(input: $input) {
    __typename ... on AccessRevoked { grant { active revokedOn } } ... on UserError { code }
  }
}
"""
PERSONAL_VALUES = ("架空 花子", "架空 たろう", "ことばが遅い", "相談できる所")


def _case_id(client, world) -> str:
    result = record(client, npo(world))
    assert result["__typename"] == "ConsultationRecorded", result
    return result["case"]["id"]


def _log(world, code: str = CITY_A) -> list[dict[str, Any]]:
    with world.services.runtimes.lease(code) as rt:
        return AccessLogStore(rt.casework.database).rows()


def _has_no_personal_values(body: Any) -> bool:
    text = json.dumps(body, ensure_ascii=False)
    return not any(value in text for value in PERSONAL_VALUES)


def test_roles_without_the_need_read_masked_and_nothing_is_logged(client, world):
    case_id = _case_id(client, world)
    readers = {
        "municipal_admin": world.headers("municipality", CITY_A, subject="a-admin",
                                         roles=("municipal_admin",)),
        "compliance_auditor": world.headers("municipality", CITY_A, subject="a-auditor",
                                            roles=("compliance_auditor",)),
        "contractor_admin": world.headers("contractor", NPO, subject="npo-admin",
                                          roles=("contractor_admin",)),
    }
    before = len(_log(world))
    for role, headers in readers.items():
        body = gql(client, CASE, {"id": case_id, "code": CITY_A}, headers)
        assert "errors" not in body, (role, body)
        case = body["data"]["case"]
        assert case["household"] == {"masked": True, "disposed": False, "guardians": None,
                                     "children": None}, role
        assert case["consultations"] == [{"asked": None, "wishes": None, "direction": None}]
        assert _has_no_personal_values(body), role
    assert len(_log(world)) == before  # nothing personal was read


def test_a_specialists_reads_are_logged_by_field_name_with_request_and_grant(client, world):
    case_id = _case_id(client, world)
    headers = {**npo(world), "X-Request-ID": "req-read-1"}
    body = gql(client, CASE, {"id": case_id, "code": CITY_A}, headers)
    assert body["data"]["case"]["household"]["guardians"] == [{"name": "架空 花子"}]
    rows = [r for r in _log(world) if r["request_id"] == "req-read-1"]
    kinds = {r["record_kind"] for r in rows}
    assert kinds == {"household", "consultation"}
    household = next(r for r in rows if r["record_kind"] == "household")
    assert json.loads(household["fields"]) == ["children", "guardians", "outside_target_reason",
                                               "pregnancy_due_date"]
    assert (household["actor"], household["role"], household["organisation_id"]) == (
        "npo-staff-1", "specialist", NPO)
    # A read is not bound to one site, so no single contract is recorded (tenants/access.py
    # _contractor_grant with site_id None); the organisation above says who read.
    assert household["contract_id"] is None
    assert (household["basis"], household["channel"]) == ("grant", "graphql")
    assert _has_no_personal_values(rows)


def test_break_glass_unmasks_one_household_for_the_auditor_and_is_recorded(client, world):
    case_id = _case_id(client, world)
    other_case = _case_id(client, world)
    auditor = world.headers("municipality", CITY_A, subject="a-auditor",
                            roles=("compliance_auditor",))
    # Bad input: typed errors, nothing recorded.
    refused = gql(client, BREAK_GLASS, {"input": {
        "municipalityCode": CITY_A, "caseId": case_id, "reasonCode": "curiosity",
        "justification": "short"}}, auditor)["data"]["breakGlass"]
    assert (refused["__typename"], refused["fieldErrors"]) == (
        "ValidationError", [{"field": "reasonCode", "code": "break_glass_reason_unknown"}]), refused
    assert gql(client, CASE, {"id": case_id, "code": CITY_A},
               auditor)["data"]["case"]["household"]["masked"] is True
    # A specialist cannot break glass.
    denied = gql(client, BREAK_GLASS, {"input": {
        "municipalityCode": CITY_A, "caseId": case_id, "reasonCode": "complaint_investigation",
        "justification": "苦情番号に関する記録の確認のため"}}, npo(world))["data"]["breakGlass"]
    assert denied["code"] == "role_not_permitted", denied
    recorded = gql(client, BREAK_GLASS, {"input": {
        "municipalityCode": CITY_A, "caseId": case_id, "reasonCode": "complaint_investigation",
        "justification": "苦情番号に関する記録の確認のため", "minutes": 15}},
        {**auditor, "X-Request-ID": "req-glass"})["data"]["breakGlass"]
    assert recorded["__typename"] == "BreakGlassRecorded", recorded
    body = gql(client, CASE, {"id": case_id, "code": CITY_A},
               {**auditor, "X-Request-ID": "req-glass-read"})
    assert body["data"]["case"]["household"]["guardians"] == [{"name": "架空 花子"}]
    # Only that household: another case stays masked.
    other = gql(client, CASE, {"id": other_case, "code": CITY_A}, auditor)
    assert other["data"]["case"]["household"]["masked"] is True
    rows = [r for r in _log(world) if r["request_id"] == "req-glass-read"]
    assert rows and {(r["basis"], r["basis_ref"]) for r in rows} == {
        ("break_glass", recorded["breakGlassId"])}
    # The use itself is an event of the municipality, with its actor.
    with world.services.runtimes.lease(CITY_A) as rt:
        from yorisoi.projections.break_glass_view import BreakGlassQueries
        (use,) = BreakGlassQueries(rt.casework.database).uses(case_id=case_id)
    assert (use.actor, use.reason_code, use.request_id) == (
        "a-auditor", "complaint_investigation", "req-glass")


def test_break_glass_of_another_municipality_does_not_reach(client, world):
    case_id = _case_id(client, world)
    b_auditor = world.headers("municipality", CITY_B, subject="b-auditor",
                              roles=("compliance_auditor",))
    body = gql(client, BREAK_GLASS, {"input": {
        "municipalityCode": CITY_A, "caseId": case_id, "reasonCode": "records_audit",
        "justification": "年次監査のための確認です"}}, b_auditor)
    assert body["data"]["breakGlass"]["code"] == "municipality_not_permitted"


def test_an_explicit_grant_assigns_a_site_and_revoking_it_ends_access_at_once(client, world):
    case_id = _case_id(client, world)  # at a-hiroba
    person = world.headers("municipality", CITY_A, subject="a-newcomer", roles=("specialist",),
                           sites=())
    assert gql(client, CASE, {"id": case_id, "code": CITY_A},
               person)["errors"][0]["extensions"]["code"] == "site_not_assigned"
    admin = world.headers("municipality", CITY_A, subject="a-admin", roles=("municipal_admin",))
    grant_input = {"municipalityCode": CITY_A, "subjectKind": "municipality",
                   "subjectOrganisation": CITY_A, "subject": "a-newcomer", "role": "specialist",
                   "siteIds": ["a-hiroba"], "reason": "4月からひろば担当"}
    # Only administrators grant; a supervisor is refused, a bad role is a typed error.
    assert gql(client, GRANT, {"input": grant_input},
               supervisor(world))["data"]["grantAccess"]["code"] == "role_not_permitted"
    bad = gql(client, GRANT, {"input": {**grant_input, "role": "municipal_admin",
                                        "subjectKind": "contractor",
                                        "subjectOrganisation": NPO}}, admin)["data"]["grantAccess"]
    assert [(e["field"], e["code"]) for e in bad["fieldErrors"]] == [
        ("role", "grant_role_not_for_organisation")]
    granted = gql(client, GRANT, {"input": grant_input}, admin)["data"]["grantAccess"]
    assert granted["__typename"] == "AccessGranted", granted
    assert granted["grant"]["active"] and granted["grant"]["grantedBy"] == "a-admin"
    body = gql(client, CASE, {"id": case_id, "code": CITY_A}, person)
    assert body["data"]["case"]["household"]["guardians"] == [{"name": "架空 花子"}]
    revoked = gql(client, REVOKE, {"input": {"municipalityCode": CITY_A,
                                             "grantId": granted["grant"]["id"],
                                             "reason": "異動"}}, admin)["data"]["revokeAccess"]
    assert revoked["grant"]["active"] is False
    assert gql(client, CASE, {"id": case_id, "code": CITY_A},
               person)["errors"][0]["extensions"]["code"] == "site_not_assigned"


def test_specialists_see_only_their_sites_cases(client, world):
    case_id = _case_id(client, world)  # at a-hiroba
    counter_only = world.headers("municipality", CITY_A, subject="a-counter-staff",
                                 roles=("specialist",), sites=("a-counter",))
    assert gql(client, CASE, {"id": case_id, "code": CITY_A},
               counter_only)["data"]["case"] is None
    cases = gql(client, "{ cases(first: 10) { totalCount } }", {}, counter_only)
    assert cases["data"]["cases"]["totalCount"] == 0


def test_platform_operators_never_reach_a_case(client, world):
    case_id = _case_id(client, world)
    operator = world.headers("platform", "platform", subject="op-1", roles=("platform_operator",))
    body = gql(client, CASE, {"id": case_id, "code": CITY_A}, operator)
    assert body["errors"][0]["extensions"]["code"] == "role_not_permitted"
    assert _has_no_personal_values(body)


def test_attachment_links_are_refused_to_roles_without_the_need(client, world):
    case_id = _case_id(client, world)
    upload = client.post(f"/api/municipalities/{CITY_A}/cases/{case_id}/attachments",
                         files={"file": ("consent.pdf", b"%PDF-1.4 consent", "application/pdf")},
                         data={"kind": "consent_form"}, headers=npo(world))
    assert upload.status_code == 201, upload.text
    attachment_id = upload.json()["id"]
    path = f"/api/municipalities/{CITY_A}/cases/{case_id}/attachments/{attachment_id}"
    admin = world.headers("contractor", NPO, subject="npo-admin", roles=("contractor_admin",))
    refused = client.get(path, headers=admin)
    assert refused.status_code == 403 and refused.json()["detail"]["code"] == "personal_data_masked"
    allowed = client.get(path, headers={**npo(world), "X-Request-ID": "req-link"})
    assert allowed.status_code == 200
    (row,) = [r for r in _log(world) if r["request_id"] == "req-link"]
    assert (row["record_kind"], row["record_id"], row["channel"]) == (
        "attachment", attachment_id, "rest")


def test_platform_operators_see_tenant_health_and_nobody_else_does(client, world):
    _case_id(client, world)
    query = ("{ platformTenants(first: 1) { totalCount nodes { municipalityCode name"
             " projections { view lag } } pageInfo { hasNextPage endCursor } } }")
    operator = world.headers("platform", "platform", subject="op-1", roles=("platform_operator",))
    body = gql(client, query, {}, operator)
    assert "errors" not in body, body
    page = body["data"]["platformTenants"]
    assert page["totalCount"] == 2 and page["pageInfo"] == {"hasNextPage": True,
                                                              "endCursor": CITY_A}
    tenants = {t["municipalityCode"]: t for t in page["nodes"]}
    assert set(tenants) == {CITY_A}
    rest = gql(client, query.replace("first: 1", f'first: 5, after: "{CITY_A}"'), {}, operator)
    assert [t["municipalityCode"] for t in rest["data"]["platformTenants"]["nodes"]] == [CITY_B]
    views = {p["view"]: p["lag"] for p in tenants[CITY_A]["projections"]}
    assert "break_glass" in views and all(lag >= 0 for lag in views.values())
    assert _has_no_personal_values(body)
    for headers in (supervisor(world), npo(world),
                    world.headers("platform", "platform", roles=("specialist",))):
        denied = gql(client, query, {}, headers)
        assert denied["errors"][0]["extensions"]["code"] == "role_not_permitted"


def test_contract_work_across_municipalities_masks_as_each_grant_says(client, world):
    _case_id(client, world)
    query = ("{ myContractWork { municipalityCode cases { edges { node {"
             " household { masked guardians { name } } } } } } }")
    specialist = gql(client, query, {}, npo(world))["data"]["myContractWork"]
    (household,) = [e["node"]["household"] for w in specialist for e in w["cases"]["edges"]]
    assert household == {"masked": False, "guardians": [{"name": "架空 花子"}]}
    admin = world.headers("contractor", NPO, subject="npo-admin", roles=("contractor_admin",))
    masked = gql(client, query, {}, admin)
    (household,) = [e["node"]["household"] for w in masked["data"]["myContractWork"]
                    for e in w["cases"]["edges"]]
    assert household == {"masked": True, "guardians": None}


def test_access_grants_list_in_keyset_pages(client, world):
    admin = world.headers("municipality", CITY_A, subject="a-admin", roles=("municipal_admin",))
    for n in range(3):
        granted = gql(client, GRANT, {"input": {
            "municipalityCode": CITY_A, "subjectKind": "municipality",
            "subjectOrganisation": CITY_A, "subject": f"a-staff-{n}", "role": "specialist",
            "siteIds": ["a-counter"], "reason": "窓口担当"}}, admin)["data"]["grantAccess"]
        assert granted["__typename"] == "AccessGranted", granted
    query = ("query($after: String) { accessGrants(first: 2, after: $after) { totalCount"
             " nodes { subject } pageInfo { hasNextPage endCursor } } }")
    first = gql(client, query, {}, admin)["data"]["accessGrants"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = gql(client, query, {"after": first["pageInfo"]["endCursor"]}, admin)["data"][
        "accessGrants"]
    subjects = [n["subject"] for n in first["nodes"] + rest["nodes"]]
    assert sorted(subjects) == ["a-staff-0", "a-staff-1", "a-staff-2"]
    assert rest["pageInfo"]["hasNextPage"] is False
    bad = gql(client, query, {"after": "not-a-cursor"}, admin)
    assert bad["errors"][0]["extensions"]["code"] == "cursor_invalid"
