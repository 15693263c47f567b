"""Every action × every role × own tenant / other tenant / in and out of contract.

The expected table is written out here by hand, from the role descriptions in
DOMAIN.md: a change to who may do what in tenants/access.py must change it too.
"""

from __future__ import annotations

import pytest
from world import CITY_A, CITY_B, IDLE_NPO, MUNICIPAL_SITES, NPO

from yorisoi.tenants.access import _ROLES, AccessDeniedError, Principal, authorize

ALL_ACTIONS = set(_ROLES)
CARE = {"case.read", "consultation.record", "case.manage"}
GOVERNANCE = {"records.manage", "disposal.approve", "dsr.manage"}
EXPECTED: dict[str, set[str]] = {
    "specialist": CARE | {"representative_meeting.record", "directory.manage",
                          "neighbour.manage"},
    "site_manager": CARE | {"representative_meeting.record", "complaint.intake"},
    "municipal_supervisor": (
        {"case.read", "case.manage", "representative_meeting.record", "taxonomy.manage",
         "directory.manage", "neighbour.manage", "complaint.intake", "complaint.report",
         "complaint.resolve", "complaint.read",
         "complaint.configure", "organisation.manage", "staff.manage", "oversight.read",
         "contract.manage", "reports.read", "reports.issue"} | GOVERNANCE),
    "municipal_admin": (
        {"case.read", "taxonomy.manage", "directory.manage", "neighbour.manage", "complaint.read",
         "complaint.configure", "organisation.manage", "staff.manage", "oversight.read",
         "contract.manage", "access.manage", "reports.read", "reports.issue"} | GOVERNANCE),
    "compliance_auditor": {"case.read", "audit.read", "audit.break_glass"},
    "contractor_admin": {"case.read", "staff.manage", "reports.read", "reports.issue"},
    "complaint_intake_officer": {"complaint.intake", "complaint.report", "complaint.read"},
    "complaint_resolution_officer": {"complaint.report", "complaint.resolve", "complaint.read"},
    "complaint_third_party_member": {"complaint.read"},
    "platform_operator": {"platform.operate"},
}
# Roles that read personal fields masked (no need to know).
MASKED = {"municipal_admin", "compliance_auditor", "contractor_admin", "platform_operator"}
MUNICIPAL = set(EXPECTED) - {"contractor_admin", "platform_operator"}
CONTRACTOR = {"specialist", "site_manager", "contractor_admin", "complaint_intake_officer",
              "complaint_resolution_officer", "complaint_third_party_member"}
CONTRACTOR_EXCLUDED = {"representative_meeting.record", "audit.read", "audit.break_glass",
                       "access.manage", "neighbour.manage"} | GOVERNANCE


@pytest.fixture
def registry(world_registry):
    return world_registry.services.directory.registry


def decide(principal: Principal, action: str, code: str, registry) -> str:
    try:
        grant = authorize(principal, action, code, registry)  # type: ignore[arg-type]
    except AccessDeniedError as denied:
        return denied.code
    return grant.personal


def person(kind: str, tenant: str, role: str) -> Principal:
    sites = MUNICIPAL_SITES.get(tenant, ("a-hiroba",))  # a contractor's: its contracted site
    return Principal(subject=f"{role}-1", tenant_kind=kind, tenant_id=tenant, roles=(role,),
                     sites=sites if role in {"specialist", "site_manager"} else ())


def test_the_expected_table_names_every_action():
    assert set().union(*EXPECTED.values()) == ALL_ACTIONS


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_own_municipality(registry, role):
    kind = "platform" if role == "platform_operator" else "municipality"
    tenant = "platform" if kind == "platform" else CITY_A
    for action in sorted(ALL_ACTIONS):
        result = decide(person(kind, tenant, role), action, CITY_A, registry)
        if role in MUNICIPAL | {"platform_operator"} and action in EXPECTED[role]:
            assert result == ("masked" if role in MASKED else "full"), (role, action, result)
        else:
            assert result == "role_not_permitted", (role, action, result)


@pytest.mark.parametrize("role", sorted(MUNICIPAL))
def test_other_municipality_is_refused_for_every_action(registry, role):
    for action in sorted(ALL_ACTIONS):
        result = decide(person("municipality", CITY_B, role), action, CITY_A, registry)
        expected = ("municipality_not_permitted" if action in EXPECTED[role]
                    else "role_not_permitted")
        assert result == expected, (role, action, result)


@pytest.mark.parametrize("role", sorted(CONTRACTOR))
def test_contractor_under_an_active_contract(registry, role):
    for action in sorted(ALL_ACTIONS):
        result = decide(person("contractor", NPO, role), action, CITY_A, registry)
        allowed = EXPECTED[role] - CONTRACTOR_EXCLUDED
        if action in allowed:
            assert result == ("masked" if role in MASKED else "full"), (role, action, result)
        elif action in EXPECTED[role]:
            assert result == "municipality_only", (role, action, result)
        else:
            assert result == "role_not_permitted", (role, action, result)


@pytest.mark.parametrize("role", sorted(CONTRACTOR))
def test_contractor_out_of_contract_is_refused_for_every_action(registry, role):
    for tenant, code in ((IDLE_NPO, CITY_A), (NPO, CITY_B)):
        for action in sorted(ALL_ACTIONS):
            result = decide(person("contractor", tenant, role), action, code, registry)
            allowed = EXPECTED[role] - CONTRACTOR_EXCLUDED
            expected = ("contract_not_active" if action in allowed
                        else "municipality_only" if action in EXPECTED[role]
                        else "role_not_permitted")
            assert result == expected, (role, tenant, code, action, result)


def test_municipal_roles_in_a_contractors_token_count_for_nothing(registry):
    for role in ("municipal_supervisor", "municipal_admin", "compliance_auditor",
                 "platform_operator"):
        assert decide(person("contractor", NPO, role), "case.read", CITY_A,
                      registry) == "role_not_permitted"
