"""Contracts drive access: suspension and resumption, and handing cases over to a successor."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from world import CASES, CITY_A, CITY_B, IDLE_NPO, NPO, gql, head, record

from yorisoi.domain.cases import Case
from yorisoi.infra.clock import japan_today
from yorisoi.infra.wiring.bootstrap import OPERATOR
from yorisoi.projections.case_view import CASE_VIEW_TABLES, CaseView
from yorisoi.projections.runner import Projector
from yorisoi.services.context import acting_as
from yorisoi.services.event_mapper import event_metadata

CASE = """
query Case($id: ID!, $code: String) { case(id: $id, municipalityCode: $code) { id contractId } }
"""

HAND_OVER = """
mutation HandOver($input: HandOverCasesInput!) {
  handOverCases(input: $input) {
    __typename
    ... on CasesHandedOver { fromContractId toContractId handedOverCount }
    ... on UserError { code message messageJa }
    ... on ValidationError { fieldErrors { field code } }
  }
}
"""

SUCCESSOR = "contract-a-kaze-2"


def npo(world: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, roles=("specialist",), sites=("a-hiroba",))


def kaze(world: Any) -> dict[str, str]:
    return world.headers("contractor", IDLE_NPO, roles=("specialist",), sites=("a-hiroba",))


def city_specialist(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, roles=("specialist",))


def supervisor(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="supervisor-1",
                         roles=("municipal_supervisor",))


def new_case(client: Any, headers: dict[str, str], **overrides: Any) -> str:
    result = record(client, headers, **overrides)
    assert result["__typename"] == "ConsultationRecorded", result
    return result["case"]["id"]


def sign(world: Any, contract_id: str, *, municipality: str = CITY_A, contractor: str = IDLE_NPO,
         sites: tuple[str, ...] = ("a-hiroba",)) -> None:
    today = japan_today()
    with acting_as(OPERATOR):
        world.services.directory.sign_contract(
            contract_id=contract_id, municipality_code=municipality, contractor_id=contractor,
            site_ids=list(sites), starts_on=today - timedelta(days=1),
            ends_on=today + timedelta(days=365))


def suspend_npo(world: Any) -> None:
    with acting_as(OPERATOR):
        world.services.directory.suspend_contract(
            contract_id="contract-a-npo", suspended_on=japan_today(), reason="audit_finding")


def resume_npo(world: Any) -> None:
    with acting_as(OPERATOR):
        world.services.directory.resume_contract(contract_id="contract-a-npo",
                                                 resumed_on=japan_today())


def hand_over(client: Any, headers: dict[str, str], from_id: str = "contract-a-npo",
              to_id: str = SUCCESSOR) -> dict[str, Any]:
    body = gql(client, HAND_OVER, {"input": {"municipalityCode": CITY_A, "fromContractId": from_id,
                                             "toContractId": to_id}}, headers)
    assert "errors" not in body, body
    return body["data"]["handOverCases"]


def case_ids(client: Any, headers: dict[str, str]) -> set[str]:
    body = gql(client, CASES, {"code": CITY_A, "first": 50}, headers)
    assert "errors" not in body, body
    return {edge["node"]["id"] for edge in body["data"]["cases"]["edges"]}


def field_code(result: dict[str, Any]) -> str:
    assert result["__typename"] == "ValidationError", result
    [error] = result["fieldErrors"]
    return error["code"]


# --------------------------------------------------------------------------- suspension


def test_suspension_stops_an_issued_token_at_once_and_resumption_restores_it(client, world):
    headers = npo(world)  # minted before the suspension
    case_id = new_case(client, headers)

    suspend_npo(world)
    body = gql(client, CASES, {"code": CITY_A, "first": 10}, headers)
    assert body["errors"][0]["extensions"]["code"] == "contract_not_active", body
    refused = record(client, headers)
    assert (refused["__typename"], refused["code"]) == ("NotAuthorizedError", "contract_not_active")
    assert world.services.directory.registry.contract("contract-a-npo").status == "suspended"

    resume_npo(world)
    assert case_ids(client, headers) == {case_id}
    assert record(client, headers)["__typename"] == "ConsultationRecorded"


# --------------------------------------------------------------------------- hand-over


def test_hand_over_moves_the_cases_to_the_successor_and_records_who_did_it(client, world):
    moved = {new_case(client, npo(world)), new_case(client, npo(world))}
    direct = new_case(client, city_specialist(world), siteId="a-counter")
    sign(world, SUCCESSOR)
    suspend_npo(world)

    result = hand_over(client, supervisor(world))
    assert result == {"__typename": "CasesHandedOver", "fromContractId": "contract-a-npo",
                      "toContractId": SUCCESSOR, "handedOverCount": 2}

    # The successor sees exactly the handed cases; the old contractor, back in
    # service, no longer sees them; the municipality's own case stays its own.
    assert case_ids(client, kaze(world)) == moved
    resume_npo(world)
    assert case_ids(client, npo(world)) == set()
    for case_id in moved:
        assert gql(client, CASE, {"id": case_id, "code": CITY_A}, npo(world)) == {
            "data": {"case": None}}
        shown = gql(client, CASE, {"id": case_id, "code": CITY_A}, kaze(world))
        assert shown["data"]["case"]["contractId"] == SUCCESSOR
    assert gql(client, CASE, {"id": direct, "code": CITY_A}, supervisor(world))[
        "data"]["case"]["contractId"] is None

    with world.services.runtimes.lease(CITY_A) as rt:
        [event] = [e for e in rt.casework.events.get(uuid.UUID(next(iter(moved))))
                   if isinstance(e, Case.HandedOver)]
    assert (event.from_contract_id, event.to_contract_id, event.site_id) == (
        "contract-a-npo", SUCCESSOR, "a-hiroba")
    assert event.handed_over_on == japan_today()
    meta = event_metadata(event)
    assert (meta["user_id"], meta["role"], meta["organisation_id"]) == (
        "supervisor-1", "municipal_supervisor", CITY_A)

    # Nothing is left under the old contract: a second run moves nothing.
    suspend_npo(world)
    assert hand_over(client, supervisor(world))["handedOverCount"] == 0


def test_refused_hand_overs_are_typed_and_write_nothing(client, world):
    new_case(client, npo(world))
    sign(world, "contract-a-kaze-counter", sites=("a-counter",))
    sign(world, "contract-b-kaze", municipality=CITY_B, sites=("b-hiroba",))
    sign(world, SUCCESSOR)
    before = head(world)

    # The old contract is still active.
    assert field_code(hand_over(client, supervisor(world))) == "handover_contract_still_active"
    suspend_npo(world)
    # The successor has ended (contract-a-kaze ran until 2025-03-31).
    result = hand_over(client, supervisor(world), to_id="contract-a-kaze")
    assert field_code(result) == "successor_contract_not_active"
    # Another municipality's contract answers like an unknown one.
    for to_id in ("contract-b-kaze", "no-such-contract"):
        result = hand_over(client, supervisor(world), to_id=to_id)
        assert (result["__typename"], result["code"]) == ("NotFoundError", "contract_not_found")
    # The successor does not run the cases' site.
    result = hand_over(client, supervisor(world), to_id="contract-a-kaze-counter")
    assert field_code(result) == "successor_site_not_covered"
    # A contractor cannot hand over, whatever roles its own issuer writes in the token.
    for headers in (world.headers("contractor", IDLE_NPO, roles=("municipal_admin",)),
                    world.headers("contractor", NPO, roles=("contractor_admin",))):
        result = hand_over(client, headers)
        assert (result["__typename"], result["code"]) == ("NotAuthorizedError",
                                                           "role_not_permitted")
    # Nor can municipal staff without the role.
    result = hand_over(client, city_specialist(world))
    assert result["code"] == "role_not_permitted"
    # Empty ids are refused at the edge.
    result = hand_over(client, supervisor(world), from_id="", to_id="")
    assert result["__typename"] == "ValidationError"
    assert {e["field"] for e in result["fieldErrors"]} == {"fromContractId", "toContractId"}

    assert head(world) == before


def test_case_view_rebuilt_after_a_hand_over_equals_the_live_rows(client, world):
    new_case(client, npo(world))
    new_case(client, city_specialist(world), siteId="a-counter")
    sign(world, SUCCESSOR)
    suspend_npo(world)
    assert hand_over(client, supervisor(world))["handedOverCount"] == 1

    def rows(rt: Any) -> dict[str, list[dict[str, Any]]]:
        # Sealed values are re-encrypted with fresh nonces: compare all else.
        with rt.casework.database.transaction(write=False) as cur:
            return {t: [{k: v for k, v in row.items() if k != "sealed"} for row in
                        cur.execute(f"SELECT * FROM {{s}}{t} ORDER BY 1").fetchall()]
                    for t in CASE_VIEW_TABLES}

    with world.services.runtimes.lease(CITY_A) as rt:
        rt.catch_up()
        live = rows(rt)
        assert {r["contract_id"] for r in live["case_view"]} == {SUCCESSOR, None}
        projector = Projector(rt.casework.database, rt.casework.mapper,
                              CaseView(rt.casework.keyring))
        assert projector.rebuild() > 0
        assert rows(rt) == live
