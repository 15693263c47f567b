"""myContractWork: a contractor's cases across its active contracts, and never beyond them.

The NPO gets a second active contract (with CITY_B, covering b-hiroba); it
records a case in each municipality, CITY_A's own staff record one at the
counter it runs directly.  On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from world import CITY_A, CITY_B, IDLE_NPO, NPO, gql, record

from yorisoi.infra.clock import japan_today
from yorisoi.infra.wiring.bootstrap import OPERATOR
from yorisoi.services.context import acting_as

WORK = """
query Work($first: Int) {
  myContractWork(first: $first) {
    municipalityCode municipalityName openCaseCount openReferralCount myOpenTaskCount
    contracts { contractId siteIds startsOn endsOn }
    cases { totalCount edges { node { id municipalityCode siteId contractId status } }
            pageInfo { hasNextPage endCursor } }
  }
}
"""


def sign_city_b(world: Any) -> None:
    today = japan_today()
    with acting_as(OPERATOR):
        world.services.directory.sign_contract(
            contract_id="contract-b-npo", municipality_code=CITY_B, contractor_id=NPO,
            site_ids=["b-hiroba"], starts_on=today - timedelta(days=10),
            ends_on=today + timedelta(days=200))


def case_id(result: dict[str, Any]) -> str:
    assert result["__typename"] == "ConsultationRecorded", result
    return result["case"]["id"]


def work(client: Any, headers: dict[str, str], first: int = 20) -> dict[str, Any]:
    return gql(client, WORK, {"first": first}, headers)


@pytest.fixture
def two_municipalities(world: Any, client: Any) -> dict[str, str]:
    """The NPO contracted by both cities, a case of its own in each, and a city-run case."""
    sign_city_b(world)
    npo = world.headers("contractor", NPO)
    cases = {
        "a": case_id(record(client, npo)),
        "b": case_id(record(client, npo, municipalityCode=CITY_B, siteId="b-hiroba")),
        "counter": case_id(record(client, world.headers("municipality", CITY_A),
                                  siteId="a-counter")),
    }
    return cases


def test_a_contractor_sees_its_own_cases_in_each_contracted_municipality(
        world: Any, client: Any, two_municipalities: dict[str, str]) -> None:
    body = work(client, world.headers("contractor", NPO))

    assert "errors" not in body, body
    by_code = {w["municipalityCode"]: w for w in body["data"]["myContractWork"]}
    assert list(by_code) == [CITY_A, CITY_B]
    a, b = by_code[CITY_A], by_code[CITY_B]
    assert a["municipalityName"] == "千代田区" and b["municipalityName"] == "横浜市"
    assert [c["contractId"] for c in a["contracts"]] == ["contract-a-npo"]
    assert b["contracts"][0] == {
        "contractId": "contract-b-npo", "siteIds": ["b-hiroba"],
        "startsOn": (japan_today() - timedelta(days=10)).isoformat(),
        "endsOn": (japan_today() + timedelta(days=200)).isoformat()}
    # The counter's case is CITY_A's own: not under the NPO's contract, not shown.
    assert [e["node"]["id"] for e in a["cases"]["edges"]] == [two_municipalities["a"]]
    assert [e["node"]["id"] for e in b["cases"]["edges"]] == [two_municipalities["b"]]
    assert b["cases"]["edges"][0]["node"] == {
        "id": two_municipalities["b"], "municipalityCode": CITY_B, "siteId": "b-hiroba",
        "contractId": "contract-b-npo", "status": "active"}
    for w in (a, b):
        assert w["cases"]["totalCount"] == 1 and w["openCaseCount"] == 1
        assert w["openReferralCount"] == 0 and w["myOpenTaskCount"] == 0
        assert w["cases"]["pageInfo"]["hasNextPage"] is False


def test_the_first_page_is_bounded_and_counts_stay_whole(
        world: Any, client: Any, two_municipalities: dict[str, str]) -> None:
    record(client, world.headers("contractor", NPO))  # a second case in CITY_A

    body = work(client, world.headers("contractor", NPO), first=1)

    a = next(w for w in body["data"]["myContractWork"] if w["municipalityCode"] == CITY_A)
    assert len(a["cases"]["edges"]) == 1
    assert a["cases"]["totalCount"] == 2 and a["openCaseCount"] == 2
    assert a["cases"]["pageInfo"]["hasNextPage"] is True


def test_ending_a_contract_removes_that_municipality_from_the_same_token_at_once(
        world: Any, client: Any, two_municipalities: dict[str, str]) -> None:
    headers = world.headers("contractor", NPO)
    with acting_as(OPERATOR):
        world.services.directory.end_contract(contract_id="contract-b-npo",
                                              ended_on=japan_today() - timedelta(days=1),
                                              reason="契約解除")

    body = work(client, headers)

    assert "errors" not in body, body
    (only,) = body["data"]["myContractWork"]
    assert only["municipalityCode"] == CITY_A
    assert [e["node"]["id"] for e in only["cases"]["edges"]] == [two_municipalities["a"]]


def test_a_municipality_token_is_refused_with_a_typed_error(world: Any, client: Any) -> None:
    body = work(client, world.headers("municipality", CITY_A, roles=("municipal_supervisor",)))

    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "contractor_only"
    assert error["extensions"]["messageJa"]


def test_a_contractor_role_without_case_access_is_refused(world: Any, client: Any) -> None:
    sign_city_b(world)
    headers = world.headers("contractor", NPO, roles=("complaint_intake_officer",))

    body = work(client, headers)

    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "role_not_permitted"


def test_a_contractor_without_an_active_contract_gets_an_empty_list_and_leases_nothing(
        world: Any, client: Any) -> None:
    world.services.runtimes.close()  # nothing leased yet in this process

    body = work(client, world.headers("contractor", IDLE_NPO))

    assert body == {"data": {"myContractWork": []}}
    assert world.services.runtimes.active() == []


def test_an_anonymous_caller_is_refused(world: Any, client: Any) -> None:
    body = work(client, {})

    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "token_missing"
