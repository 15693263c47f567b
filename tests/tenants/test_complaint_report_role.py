"""§6(2): the complaint intake officer reports a complaint to the resolution officer.

The report step is its own action (``complaint.report``): the intake officer, the
resolution officer and the municipal supervisor take it; everything after it
(discussion, outcome, publication, escalation, closure) stays ``complaint.resolve``.
Written in the style of test_role_matrix.py: every role, own municipality, another
municipality, a contractor in and out of contract.
"""

from __future__ import annotations

import pytest
from world import CITY_A, CITY_B, IDLE_NPO, MUNICIPAL_SITES, NPO

from yorisoi.domain.access_grants import ROLES
from yorisoi.tenants.access import AccessDeniedError, Principal, authorize

REPORTERS = {"complaint_intake_officer", "complaint_resolution_officer", "municipal_supervisor"}
MUNICIPAL = sorted(r for r, spec in ROLES.items() if "municipality" in spec.kinds)
CONTRACTOR = sorted(r for r, spec in ROLES.items() if "contractor" in spec.kinds)


@pytest.fixture
def registry(world_registry):  # noqa: ANN001, ANN201
    return world_registry.services.directory.registry


def decide(principal: Principal, action: str, code: str, registry) -> str:  # noqa: ANN001
    try:
        grant = authorize(principal, action, code, registry)  # type: ignore[arg-type]
    except AccessDeniedError as denied:
        return denied.code
    return grant.personal


def person(kind: str, tenant: str, role: str) -> Principal:
    sites = MUNICIPAL_SITES.get(tenant, ("a-hiroba",))
    return Principal(subject=f"{role}-1", tenant_kind=kind, tenant_id=tenant, roles=(role,),
                     sites=sites if role in {"specialist", "site_manager"} else ())


@pytest.mark.parametrize("role", MUNICIPAL)
def test_own_municipality(registry, role) -> None:  # noqa: ANN001
    result = decide(person("municipality", CITY_A, role), "complaint.report", CITY_A, registry)
    assert result == ("full" if role in REPORTERS else "role_not_permitted"), (role, result)


@pytest.mark.parametrize("role", MUNICIPAL)
def test_other_municipality(registry, role) -> None:  # noqa: ANN001
    result = decide(person("municipality", CITY_B, role), "complaint.report", CITY_A, registry)
    expected = "municipality_not_permitted" if role in REPORTERS else "role_not_permitted"
    assert result == expected, (role, result)


@pytest.mark.parametrize("role", CONTRACTOR)
def test_contractor_in_and_out_of_contract(registry, role) -> None:  # noqa: ANN001
    inside = decide(person("contractor", NPO, role), "complaint.report", CITY_A, registry)
    assert inside == ("full" if role in REPORTERS else "role_not_permitted"), (role, inside)
    for tenant, code in ((IDLE_NPO, CITY_A), (NPO, CITY_B)):
        outside = decide(person("contractor", tenant, role), "complaint.report", code, registry)
        expected = "contract_not_active" if role in REPORTERS else "role_not_permitted"
        assert outside == expected, (role, tenant, code, outside)


def test_the_intake_officer_reports_but_does_not_resolve(registry) -> None:  # noqa: ANN001
    intake = person("contractor", NPO, "complaint_intake_officer")
    assert decide(intake, "complaint.report", CITY_A, registry) == "full"
    assert decide(intake, "complaint.resolve", CITY_A, registry) == "role_not_permitted"
    third_party = person("contractor", NPO, "complaint_third_party_member")
    assert decide(third_party, "complaint.report", CITY_A, registry) == "role_not_permitted"
