"""Tenant isolation through the GraphQL API: municipalities, contracts, tokens.

Scenarios run on SQLite and on the throwaway PostgreSQL cluster.  Every token
is a real JWT: from the development issuer, or signed with keys generated
here (which the platform must refuse).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from world import (
    CASES,
    CITY_A,
    CITY_B,
    IDLE_NPO,
    NPO,
    RECORD,
    consultation_input,
    gql,
    head,
    record,
)

from yorisoi.infra.clock import japan_today
from yorisoi.infra.wiring.bootstrap import OPERATOR
from yorisoi.services.context import acting_as

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

CASE = """
query Case($id: ID!, $code: String) {
  case(id: $id, municipalityCode: $code) { id contractId household { guardians { name } } }
}
"""


# --------------------------------------------------------------------------- helpers


def npo(world: Any, **kwargs: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, **{"roles": ("specialist",),
                                                "sites": ("a-hiroba",), **kwargs})


def city(world: Any, code: str, *roles: str) -> dict[str, str]:
    return world.headers("municipality", code, subject=f"staff-{code}",
                         roles=roles or ("municipal_supervisor",))


def recorded_case(client: Any, headers: dict[str, str], **overrides: Any) -> str:
    result = record(client, headers, **overrides)
    assert result["__typename"] == "ConsultationRecorded", result
    return result["case"]["id"]


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("data") is None or all(v is None for v in body["data"].values()), body
    [error] = body["errors"]
    assert JAPANESE.search(error["extensions"]["messageJa"]), error
    return error


def refused(result: dict[str, Any], code: str) -> None:
    assert result["__typename"] == "NotAuthorizedError", result
    assert result["code"] == code, result
    assert JAPANESE.search(result["messageJa"]), result


def end_npo_contract(world: Any) -> None:
    with acting_as(OPERATOR):
        world.services.directory.end_contract(
            contract_id="contract-a-npo", ended_on=japan_today() - timedelta(days=1),
            reason="test")


# --------------------------------------------------------------------------- municipalities


def test_other_municipality_cannot_list_or_read_city_a_cases(client, world):
    case_id = recorded_case(client, npo(world))
    city_b = city(world, CITY_B)

    error = only_error(gql(client, CASES, {"code": CITY_A, "first": 10}, city_b))
    assert error["extensions"]["code"] == "municipality_not_permitted"

    error = only_error(gql(client, CASE, {"id": case_id, "code": CITY_A}, city_b))
    assert error["extensions"]["code"] == "municipality_not_permitted"
    assert "架空" not in str(error)

    # In its own space, B sees nothing of A: no cases, and A's id is not there.
    own = gql(client, CASES, {"first": 10}, city_b)
    assert "errors" not in own, own
    assert own["data"]["cases"]["totalCount"] == 0
    assert own["data"]["cases"]["edges"] == []
    assert gql(client, CASE, {"id": case_id}, city_b) == {"data": {"case": None}}

    # Control: A's supervisor does see it.
    mine = gql(client, CASE, {"id": case_id}, city(world, CITY_A))
    assert mine["data"]["case"]["household"]["guardians"] == [{"name": "架空 花子"}]


def test_unknown_and_foreign_municipality_answer_alike(client, world):
    city_b = city(world, CITY_B)
    foreign = only_error(gql(client, CASES, {"code": CITY_A, "first": 1}, city_b))
    unknown = only_error(gql(client, CASES, {"code": "999999", "first": 1}, city_b))
    assert foreign == {**unknown, "locations": foreign["locations"], "path": foreign["path"]}


def test_municipality_cannot_record_into_another_municipality(client, world):
    before = head(world)
    result = record(client, city(world, CITY_B, "specialist"), siteId="a-counter")
    refused(result, "municipality_not_permitted")
    assert head(world) == before


# --------------------------------------------------------------------------- contracts


def test_contractor_without_active_contract_cannot_record(client, world):
    before = head(world)
    result = record(client, world.headers("contractor", IDLE_NPO, roles=("specialist",),
                                          sites=("a-hiroba",)))
    refused(result, "contract_not_active")
    assert head(world) == before


def test_contractor_without_active_contract_cannot_list(client, world):
    recorded_case(client, npo(world))
    idle = world.headers("contractor", IDLE_NPO, roles=("contractor_admin",))
    error = only_error(gql(client, CASES, {"code": CITY_A, "first": 10}, idle))
    assert error["extensions"]["code"] == "contract_not_active"


def test_contractor_cannot_record_at_a_site_outside_its_contract(client, world):
    before = head(world)
    refused(record(client, npo(world), siteId="a-counter"), "contract_not_active")
    assert head(world) == before


def test_contractor_cannot_record_in_a_municipality_it_has_no_contract_with(client, world):
    before = head(world, CITY_B)
    result = record(client, npo(world), municipalityCode=CITY_B, siteId="b-hiroba")
    assert result["__typename"] == "NotAuthorizedError", result
    assert result["code"] == "contract_not_active", result
    assert head(world, CITY_B) == before


def test_staff_assigned_to_other_sites_cannot_record_here(client, world):
    before = head(world)
    elsewhere = world.headers("contractor", NPO, roles=("specialist",), sites=("a-counter",))
    refused(record(client, elsewhere), "site_not_assigned")
    counter_staff = world.headers("municipality", CITY_A, roles=("specialist",),
                                  sites=("a-counter",))
    refused(record(client, counter_staff), "site_not_assigned")
    assert head(world) == before
    # Assigned to the site, the same people may record there.
    recorded_case(client, npo(world, sites=("a-hiroba",)))
    recorded_case(client, counter_staff, siteId="a-counter")


def test_contractor_sees_only_cases_under_its_contract(client, world):
    mine = recorded_case(client, npo(world))
    direct = recorded_case(client, city(world, CITY_A, "specialist"), siteId="a-counter")

    listing = gql(client, CASES, {"code": CITY_A, "first": 10}, npo(world))
    assert "errors" not in listing, listing
    assert listing["data"]["cases"]["totalCount"] == 1
    assert [e["node"]["id"] for e in listing["data"]["cases"]["edges"]] == [mine]

    assert gql(client, CASE, {"id": direct, "code": CITY_A}, npo(world)) == {
        "data": {"case": None}}
    assert gql(client, CASE, {"id": mine, "code": CITY_A}, npo(world))["data"]["case"]["id"] == mine

    # The municipality sees both; the direct one has no contract.
    everything = gql(client, CASES, {"first": 10}, city(world, CITY_A))["data"]["cases"]
    assert everything["totalCount"] == 2
    by_id = {e["node"]["id"]: e["node"]["contractId"] for e in everything["edges"]}
    assert by_id == {mine: "contract-a-npo", direct: None}


def test_contractor_cannot_add_to_a_case_outside_its_contract(client, world):
    direct = recorded_case(client, city(world, CITY_A, "specialist"), siteId="a-counter")
    before = head(world)
    result = record(client, npo(world), household=None, caseId=direct)
    # Reported as absent, so the case's existence is not disclosed.
    assert result["__typename"] == "NotFoundError", result
    assert result["code"] == "case_not_found"
    assert head(world) == before


def test_contractor_must_name_the_municipality_to_list(client, world):
    error = only_error(gql(client, CASES, {"first": 10}, npo(world)))
    assert error["extensions"]["code"]


def test_ending_the_contract_removes_access_at_once_for_tokens_already_issued(client, world):
    headers = npo(world)  # minted before the contract ends
    case_id = recorded_case(client, headers)
    assert gql(client, CASES, {"code": CITY_A, "first": 10},
               headers)["data"]["cases"]["totalCount"] == 1

    end_npo_contract(world)
    before = head(world)

    refused(record(client, headers), "contract_not_active")
    refused(record(client, headers, household=None, caseId=case_id), "contract_not_active")
    error = only_error(gql(client, CASES, {"code": CITY_A, "first": 10}, headers))
    assert error["extensions"]["code"] == "contract_not_active"
    error = only_error(gql(client, CASE, {"id": case_id, "code": CITY_A}, headers))
    assert error["extensions"]["code"] == "contract_not_active"
    assert head(world) == before

    # The records stay with the municipality.
    kept = gql(client, CASES, {"first": 10}, city(world, CITY_A))["data"]["cases"]
    assert kept["totalCount"] == 1
    assert kept["edges"][0]["node"]["contractId"] == "contract-a-npo"
    assert kept["edges"][0]["node"]["household"]["guardians"] == [{"name": "架空 花子"}]


def test_contract_that_starts_in_the_future_grants_nothing_yet(client, world):
    with acting_as(OPERATOR):
        world.services.directory.sign_contract(
            contract_id="contract-b-npo", municipality_code=CITY_B, contractor_id=NPO,
            site_ids=["b-hiroba"], starts_on=japan_today() + timedelta(days=1),
            ends_on=japan_today() + timedelta(days=365))
    result = record(client, npo(world), municipalityCode=CITY_B, siteId="b-hiroba")
    refused(result, "contract_not_active")


def test_contract_with_a_second_municipality_keeps_the_spaces_apart(client, world):
    with acting_as(OPERATOR):
        world.services.directory.sign_contract(
            contract_id="contract-b-npo", municipality_code=CITY_B, contractor_id=NPO,
            site_ids=["b-hiroba"], starts_on=japan_today() - timedelta(days=1),
            ends_on=japan_today() + timedelta(days=365))
    both = npo(world, sites=("a-hiroba", "b-hiroba"))
    in_a = recorded_case(client, both)
    in_b = recorded_case(client, both, municipalityCode=CITY_B, siteId="b-hiroba")

    a = gql(client, CASES, {"code": CITY_A, "first": 10}, both)["data"]["cases"]
    b = gql(client, CASES, {"code": CITY_B, "first": 10}, both)["data"]["cases"]
    assert [e["node"]["id"] for e in a["edges"]] == [in_a]
    assert [e["node"]["id"] for e in b["edges"]] == [in_b]
    assert b["edges"][0]["node"]["contractId"] == "contract-b-npo"
    # A case id of one municipality means nothing in another's space.
    assert gql(client, CASE, {"id": in_a, "code": CITY_B}, both) == {"data": {"case": None}}
    # Nor may the NPO add to A's case while acting in B.
    result = record(client, both, municipalityCode=CITY_B, siteId="b-hiroba",
                    household=None, caseId=in_a)
    assert result["__typename"] == "NotFoundError", result


def test_contractor_without_contract_cannot_probe_which_sites_exist(client, world):
    existing = record(client, npo(world), municipalityCode=CITY_B, siteId="b-hiroba")
    made_up = record(client, npo(world), municipalityCode=CITY_B, siteId="b-nowhere")
    assert existing["__typename"] == made_up["__typename"] == "NotAuthorizedError"
    assert existing["code"] == made_up["code"]


def test_contractor_cannot_probe_which_municipalities_are_registered(client, world):
    registered = record(client, npo(world), municipalityCode=CITY_B, siteId="b-hiroba")
    unknown = record(client, npo(world), municipalityCode="999999", siteId="b-hiroba")
    assert registered["code"] == unknown["code"]


# --------------------------------------------------------------------------- tokens


def _claims(world: Any, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": world.services.dev_issuer.issuer_for("contractor", NPO), "aud": "yorisoi",
            "sub": "intruder", "iat": now, "exp": now + 600, "roles": ["specialist"],
            "sites": ["a-hiroba"], **overrides}


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _bad_tokens(world: Any) -> dict[str, tuple[str, str]]:
    """name -> (Authorization header value, expected error code)."""
    dev = world.services.dev_issuer
    own_key = _rsa_key()
    unsigned = jwt.encode(_claims(world), key=None, algorithm="none")
    hmac_with_public_key = jwt.encode(
        _claims(world), key=str(dev.jwks()["keys"][0]["n"]), algorithm="HS256",
        headers={"kid": dev.kid})
    return {
        "alg none": (f"Bearer {unsigned}", "algorithm_not_allowed"),
        "alg none, no signature part": (f"Bearer {unsigned.rstrip('.')}", "token_malformed"),
        "HS256 keyed with the public JWKS": (f"Bearer {hmac_with_public_key}",
                                             "algorithm_not_allowed"),
        "expired": (f"Bearer {world.token('contractor', NPO, expires_in=-120)}",
                    "token_expired"),
        "wrong audience": ("Bearer " + dev.mint("contractor", NPO, "user-1",
                                                roles=["specialist"], audience="other-app"),
                           "audience_mismatch"),
        "dev key, unregistered tenant": (
            "Bearer " + dev.mint("contractor", "npo-unregistered", "user-1",
                                 roles=["specialist"]), "issuer_unknown"),
        "own key, unknown issuer": (
            "Bearer " + jwt.encode(_claims(world, iss="https://idp.example.invalid/x"),
                                   own_key, algorithm="RS256", headers={"kid": "k1"}),
            "issuer_unknown"),
        "own key, registered issuer and its kid": (
            "Bearer " + jwt.encode(_claims(world), own_key, algorithm="RS256",
                                   headers={"kid": dev.kid}), "signature_invalid"),
        "own key, registered issuer, unknown kid": (
            "Bearer " + jwt.encode(_claims(world), own_key, algorithm="RS256",
                                   headers={"kid": "not-the-dev-key"}), "key_unknown"),
        "own EC key, registered issuer": (
            "Bearer " + jwt.encode(_claims(world), ec.generate_private_key(ec.SECP256R1()),
                                   algorithm="ES256", headers={"kid": dev.kid}),
            "algorithm_not_allowed"),
        "municipality token reissued as the contractor's": (
            "Bearer " + jwt.encode(
                {**jwt.decode(world.token("municipality", CITY_A),
                              options={"verify_signature": False}),
                 "iss": dev.issuer_for("contractor", NPO)},
                own_key, algorithm="RS256", headers={"kid": dev.kid}),
            "signature_invalid"),
        "garbage": ("Bearer !!!not a token!!!", "token_malformed"),
        "three garbage segments": ("Bearer aaa.bbb.ccc", "token_malformed"),
        "basic auth": ("Basic dXNlcjpwYXNzd29yZA==", "token_malformed"),
        "bearer without token": ("Bearer ", "token_missing"),
        "oversized": ("Bearer " + "a" * 20000, "token_malformed"),
    }


TOKEN_CASES = ["alg none", "alg none, no signature part", "HS256 keyed with the public JWKS",
               "expired", "wrong audience", "dev key, unregistered tenant",
               "own key, unknown issuer", "own key, registered issuer and its kid",
               "own key, registered issuer, unknown kid", "own EC key, registered issuer",
               "municipality token reissued as the contractor's", "garbage",
               "three garbage segments", "basic auth", "bearer without token", "oversized"]


def test_refused_tokens_get_401_with_a_json_code_and_write_nothing(client, world):
    tokens = _bad_tokens(world)
    assert sorted(tokens) == sorted(TOKEN_CASES)
    before = head(world)
    for name in TOKEN_CASES:
        header, code = tokens[name]
        for query, variables in ((RECORD, {"input": consultation_input()}),
                                 (CASES, {"code": CITY_A, "first": 10})):
            response = client.post("/graphql", json={"query": query, "variables": variables},
                                   headers={"Authorization": header})
            assert response.status_code == 401, (name, response.status_code, response.text)
            assert response.headers["content-type"].startswith("application/json"), name
            detail = response.json()["detail"]
            assert detail["code"] == code, (name, detail)
            assert detail["message"] and JAPANESE.search(detail["messageJa"]), (name, detail)
            assert response.headers["www-authenticate"].startswith("Bearer"), name
            assert "架空" not in response.text + json.dumps(response.json(), ensure_ascii=False)
    assert head(world) == before


def test_valid_token_control_for_the_refused_ones(client, world):
    # The same request with a token the platform issued works, so the 401s above
    # are about the tokens, not the requests.
    body = gql(client, CASES, {"code": CITY_A, "first": 10}, npo(world))
    assert body["data"]["cases"]["totalCount"] == 0


def test_token_from_one_tenant_cannot_act_as_another_by_claims(client, world):
    # Claims naming another tenant are ignored: the tenant comes from the issuer.
    dev = world.services.dev_issuer
    token = dev.mint("municipality", CITY_B, "user-b", roles=["municipal_supervisor"],
                     extra_claims={"tenant_id": CITY_A, "tenant_kind": "municipality",
                                   "municipality_code": CITY_A})
    recorded_case(client, npo(world))
    own = gql(client, CASES, {"first": 10}, {"Authorization": f"Bearer {token}"})
    assert own["data"]["cases"]["totalCount"] == 0
    error = only_error(gql(client, CASES, {"code": CITY_A, "first": 10},
                           {"Authorization": f"Bearer {token}"}))
    assert error["extensions"]["code"] == "municipality_not_permitted"


def test_missing_token_is_a_typed_error_not_data(client, world):
    recorded_case(client, npo(world))
    error = only_error(gql(client, CASES, {"code": CITY_A, "first": 10}, {}))
    assert error["extensions"]["code"] == "token_missing"
    refused(record(client, {}), "token_missing")


def test_auditor_lists_cases_with_personal_fields_masked_and_a_roleless_token_cannot(
        client, world):
    recorded_case(client, npo(world))
    auditor = world.headers("municipality", CITY_A, roles=("compliance_auditor",))
    body = gql(client, CASES, {"first": 10}, auditor)
    assert "errors" not in body, body
    (edge,) = body["data"]["cases"]["edges"]
    assert edge["node"]["household"] == {"guardians": None}
    assert edge["node"]["consultations"] == [{"asked": None}]
    assert "架空" not in json.dumps(body, ensure_ascii=False)
    nobody = world.headers("municipality", CITY_A, roles=())
    error = only_error(gql(client, CASES, {"first": 10}, nobody))
    assert error["extensions"]["code"] == "role_not_permitted"


def test_request_ids_do_not_cross_requests(client, world):
    # Two requests, two ids: the acting context does not leak between requests.
    first = f"req-{uuid.uuid4()}"
    second = f"req-{uuid.uuid4()}"
    recorded_case(client, {**npo(world), "X-Request-ID": first})
    recorded_case(client, {**npo(world), "X-Request-ID": second})
    with world.services.runtimes.lease(CITY_A) as rt:
        stored = rt.casework.recorder.select_notifications(start=1, limit=100)
    ids = [json.loads(bytes(n.state))["_meta"]["request_id"] for n in stored]
    # A new household, its case, record and consent, and its reception number (the year's
    # first also starts the counter).
    assert ids == [first] * 9 + [second] * 8
