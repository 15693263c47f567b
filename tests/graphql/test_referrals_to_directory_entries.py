"""Directory entries (社会資源) as the recipients of referrals, on SQLite and PostgreSQL.

An entry accepts referrals once staff give it a referral profile; a referral
drafted to the entry registers (once) the agency standing for it, so sending,
the board and packets work as for any agency.
"""

from __future__ import annotations

import re
from typing import Any

from world import CITY_A, NPO, gql, head, record, run

from yorisoi.infra.clock import japan_today
from yorisoi.projections.referral_board import ReferralBoardQueries, ReferralBoardView
from yorisoi.projections.resource_directory import (
    ResourceDirectoryQueries,
    ResourceDirectoryView,
)
from yorisoi.projections.runner import Projector

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
TODAY = japan_today().isoformat()
ERRORS = """
  ... on UserError { code message messageJa }
  ... on ValidationError { fieldErrors { field code messageJa } }
"""
RESOURCE = ("__typename ... on ResourceChanged { resource { id version referralProfile {"
            " agencyKind onSystem contactEmail confidentialityBasis } } }" + ERRORS)
REGISTER_RESOURCE = ("mutation($input: RegisterResourceInput!) { registerResource(input: $input) {"
                     + RESOURCE + "} }")
ACCEPT_REFERRALS = ("mutation($input: AcceptReferralsInput!) { acceptReferrals(input: $input) {"
                    + RESOURCE + "} }")
REFERRAL = "id agencyId agencyKind status version confidentialityBasis"
DRAFT = ("mutation($input: DraftReferralInput!) { draftReferral(input: $input) { __typename"
         " ... on ReferralChanged { referral { " + REFERRAL + " } }" + ERRORS + "} }")
SEND = ("mutation($input: SendReferralInput!) { sendReferral(input: $input) { __typename"
        " ... on ReferralSent { referral { " + REFERRAL + " } packetLink { url } }"
        + ERRORS + "} }")
AGENCIES = ("query { agencies(municipalityCode: \"" + CITY_A + "\") {"
            " nodes { id name kind onSystem contactEmail confidentialityBasis resourceId } } }")
STAFF = ("query { resources(municipalityCode: \"" + CITY_A + "\") { edges { node { id"
         " referralProfile { agencyKind } } } } }")
ABUSE_EXCEPTION = {"reason": "腕に複数のあざ、本人が叩かれたと話した",
                   "legalBasis": "child_abuse_report"}


def admin(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, subject="admin-1", roles=("municipal_admin",))


def npo(world: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, subject="npo-staff-1", roles=("specialist",),
                         sites=("a-hiroba",))


def refused(result: dict[str, Any], code: str, typename: str = "ValidationError") -> None:
    assert result["__typename"] == typename, result
    codes = [result["code"], *(e["code"] for e in result.get("fieldErrors", []))]
    assert code in codes, result
    assert JAPANESE.search(result["messageJa"]) and result["message"], result


def health_centre(client: Any, world: Any, *, accepting: bool = True, **profile: Any) -> str:
    result = run(client, REGISTER_RESOURCE, admin(world), attributes={
        "name": "千代田区保健センター", "kind": "health_welfare", "subkind": "health_center",
        "address": "九段南1-2-1", "operatorKind": "public", "content": "乳幼児健診・育児相談",
        "hours": [{"day": "mon", "opens": "08:30", "closes": "17:15"}]})
    assert result["__typename"] == "ResourceChanged", result
    resource_id = result["resource"]["id"]
    if accepting:
        profile = {"agencyKind": "health_center", "onSystem": False,
                   "contactEmail": "hoken@city.example.jp",
                   "confidentialityBasis": "public_servant", **profile}
        accepted = run(client, ACCEPT_REFERRALS, admin(world), resourceId=resource_id, **profile)
        assert accepted["__typename"] == "ResourceChanged", accepted
        assert accepted["resource"]["referralProfile"]["agencyKind"] == profile["agencyKind"]
    return resource_id


def new_case(client: Any, world: Any) -> str:
    result = record(client, npo(world))
    assert result["__typename"] == "ConsultationRecorded", result
    return result["case"]["id"]


def draft(client: Any, world: Any, case_id: str, **recipient: Any) -> dict[str, Any]:
    return run(client, DRAFT, npo(world), caseId=case_id, reason="乳幼児健診の相談につなぐ",
               sharedFields=["household.children"], **recipient)


def agencies(client: Any, world: Any) -> list[dict[str, Any]]:
    body = gql(client, AGENCIES, headers=npo(world))
    assert "errors" not in body, body
    return body["data"]["agencies"]["nodes"]


def test_a_referral_to_a_directory_entry_is_drafted_and_sent_as_a_packet(client, world):
    resource_id = health_centre(client, world)
    drafted = draft(client, world, new_case(client, world), resourceId=resource_id)
    assert drafted["__typename"] == "ReferralChanged", drafted
    referral = drafted["referral"]
    assert (referral["status"], referral["agencyKind"]) == ("draft", "health_center")

    [agency] = agencies(client, world)
    assert agency == {"id": referral["agencyId"], "name": "千代田区保健センター",
                      "kind": "health_center", "onSystem": False,
                      "contactEmail": "hoken@city.example.jp",
                      "confidentialityBasis": "public_servant", "resourceId": resource_id}

    sent = run(client, SEND, npo(world), referralId=referral["id"],
               expectedVersion=referral["version"], sentOn=TODAY, exception=ABUSE_EXCEPTION)
    assert sent["__typename"] == "ReferralSent", sent
    assert sent["referral"]["status"] == "sent"
    assert sent["referral"]["confidentialityBasis"] == "public_servant"  # the profile's default
    assert "/agency-packets/" in sent["packetLink"]["url"]  # off-system: a packet by link

    staff = gql(client, STAFF, headers=admin(world))["data"]["resources"]["edges"]
    assert [e["node"]["referralProfile"] for e in staff] == [{"agencyKind": "health_center"}]


def test_two_referrals_to_an_entry_share_one_agency(client, world):
    resource_id = health_centre(client, world, onSystem=True, contactEmail=None)
    first = draft(client, world, new_case(client, world), resourceId=resource_id)["referral"]
    second = draft(client, world, new_case(client, world), resourceId=resource_id)["referral"]
    assert first["agencyId"] == second["agencyId"]
    assert [a["resourceId"] for a in agencies(client, world)] == [resource_id]
    # The agency id works as any agency's too.
    third = draft(client, world, new_case(client, world), agencyId=first["agencyId"])
    assert third["referral"]["agencyId"] == first["agencyId"]
    assert len(agencies(client, world)) == 1


def test_an_entry_without_a_referral_profile_is_refused_and_nothing_written(client, world):
    resource_id = health_centre(client, world, accepting=False)
    case_id = new_case(client, world)
    before = head(world)
    refused(draft(client, world, case_id, resourceId=resource_id),
            "resource_not_accepting_referrals")
    refused(draft(client, world, case_id, resourceId="7d0f4f57-3a5e-4d8e-9d55-0c6a2b9c1e11"),
            "resource_not_found", "NotFoundError")
    refused(draft(client, world, case_id), "referral_recipient_choice")
    refused(draft(client, world, case_id, resourceId=resource_id,
                  agencyId="7d0f4f57-3a5e-4d8e-9d55-0c6a2b9c1e11"), "referral_recipient_choice")
    assert head(world) == before
    assert agencies(client, world) == []


def test_a_refused_first_draft_to_an_entry_leaves_no_agency_behind(client, world):
    resource_id = health_centre(client, world)
    case_id = new_case(client, world)
    before = head(world)
    result = run(client, DRAFT, npo(world), caseId=case_id, resourceId=resource_id,
                 reason="つなぐ", sharedFields=["household.bank_account"])
    refused(result, "referral_field_not_shareable")
    assert head(world) == before
    assert agencies(client, world) == []


def test_an_invalid_referral_profile_is_refused_and_nothing_written(client, world):
    resource_id = health_centre(client, world, accepting=False)
    before = head(world)
    refused(run(client, ACCEPT_REFERRALS, admin(world), resourceId=resource_id,
                agencyKind="health_center", onSystem=False), "agency_contact_missing")
    refused(run(client, ACCEPT_REFERRALS, admin(world), resourceId=resource_id,
                agencyKind="bakery", onSystem=True), "agency_kind_unknown")
    refused(run(client, ACCEPT_REFERRALS, admin(world), resourceId=resource_id,
                agencyKind="health_center", onSystem=True, expectedVersion=99), "stale_version",
            "ConflictError")
    assert head(world) == before


def test_rebuilding_gives_the_live_directory_and_agency_rows(client, world):
    resource_id = health_centre(client, world)
    draft(client, world, new_case(client, world), resourceId=resource_id)
    with world.services.runtimes.lease(CITY_A) as rt:
        db, mapper, keyring = rt.casework.database, rt.casework.mapper, rt.casework.keyring
        resources, board = ResourceDirectoryQueries(db), ReferralBoardQueries(db, keyring)
        live = (resources.rows(), board.agencies())
        for view in (ResourceDirectoryView(keyring), ReferralBoardView(keyring)):
            assert Projector(db, mapper, view).rebuild() > 0
        assert (resources.rows(), board.agencies()) == live
    assert live[1][0].resource_id == resource_id
