"""Access decisions (tenants/access.py) against the registry of a provisioned world."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from world import CITY_A, CITY_B, IDLE_NPO, MUNICIPAL_SITES, NPO, build_world

from yorisoi.infra.clock import japan_today
from yorisoi.infra.settings import Settings
from yorisoi.infra.wiring.bootstrap import OPERATOR
from yorisoi.projections.case_queries import CaseScope
from yorisoi.services.context import acting_as
from yorisoi.tenants.access import AccessDeniedError, Principal, authorize


@pytest.fixture
def registry(world_registry):
    return world_registry.services.directory.registry


def staff(code: str = CITY_A, roles: tuple[str, ...] = ("specialist",),
          sites: tuple[str, ...] | None = None) -> Principal:
    """A municipal staff member; site roles are assigned to every site unless told otherwise."""
    if sites is None:
        sites = MUNICIPAL_SITES.get(code, ()) if {"specialist", "site_manager"} & set(roles) else ()
    return Principal(subject="staff-1", tenant_kind="municipality", tenant_id=code, roles=roles,
                     sites=sites)


def contractor(tenant: str = NPO, roles: tuple[str, ...] = ("specialist",)) -> Principal:
    return Principal(subject="npo-user-1", tenant_kind="contractor", tenant_id=tenant,
                     roles=roles, sites=())


def denied(code: str, *args, **kwargs) -> None:
    with pytest.raises(AccessDeniedError) as caught:
        authorize(*args, **kwargs)
    assert caught.value.code == code
    assert caught.value.message and caught.value.message_ja


def test_municipal_specialists_see_the_cases_of_their_sites(registry):
    grant = authorize(staff(sites=("a-counter",)), "case.read", CITY_A, registry)
    assert set(grant.scope.site_ids) == {"a-counter"} and grant.scope.contract_ids is None
    assert grant.personal == "full"
    denied("site_not_assigned", staff(sites=("a-counter",)), "consultation.record", CITY_A,
           registry, site_id="a-hiroba")
    # No assignment at all: no cases (and a clear reason), not every case.
    denied("site_not_assigned", staff(sites=()), "case.read", CITY_A, registry)


def test_supervisors_see_every_case_of_their_municipality(registry):
    grant = authorize(staff(roles=("municipal_supervisor",)), "case.read", CITY_A, registry,
                      request_id="r-1", trace_id="t-1")
    assert grant.municipality_code == CITY_A
    assert grant.scope == CaseScope(contract_ids=None, include_direct=True)
    assert grant.contract_id is None and grant.site_id is None
    assert grant.acting.organisation_kind == "municipality"
    assert grant.acting.organisation_id == CITY_A
    assert (grant.acting.user_id, grant.acting.role) == ("staff-1", "municipal_supervisor")
    assert (grant.acting.request_id, grant.acting.trace_id) == ("r-1", "t-1")


def test_staff_of_one_municipality_are_refused_in_another(registry):
    denied("municipality_not_permitted", staff(CITY_B), "case.read", CITY_A, registry)
    denied("municipality_not_permitted", staff(CITY_A), "consultation.record", CITY_B, registry,
           site_id="b-hiroba")


def test_unknown_municipality_is_refused_like_a_foreign_one(registry):
    denied("municipality_not_permitted", staff("271004"), "case.read", "271004", registry)
    # A contractor learns only that it has no contract there (no probing).
    denied("contract_not_active", contractor(), "case.read", "271004", registry)


def test_contractor_with_an_active_contract_sees_only_its_contract_cases(registry):
    grant = authorize(contractor(), "case.read", CITY_A, registry)
    assert grant.scope == CaseScope(contract_ids=["contract-a-npo"], include_direct=False)
    assert grant.acting.organisation_kind == "contractor"
    assert grant.acting.organisation_id == NPO
    assert grant.contract_id is None


def test_contractor_recording_at_its_contracted_site_acts_under_that_contract(registry):
    grant = authorize(contractor(), "consultation.record", CITY_A, registry, site_id="a-hiroba")
    assert grant.contract_id == "contract-a-npo" and grant.site_id == "a-hiroba"
    assert (grant.acting.contract_id, grant.acting.site_id) == ("contract-a-npo", "a-hiroba")
    assert grant.scope.contract_ids == ["contract-a-npo"] and not grant.scope.include_direct


def test_contractor_at_a_site_outside_its_contract_is_refused(registry):
    denied("contract_not_active", contractor(), "consultation.record", CITY_A, registry,
           site_id="a-counter")


def test_contractor_without_a_contract_in_that_municipality_is_refused(registry):
    denied("contract_not_active", contractor(), "case.read", CITY_B, registry)
    denied("contract_not_active", contractor(), "consultation.record", CITY_B, registry,
           site_id="b-hiroba")


def test_contractor_whose_contract_has_ended_is_refused(registry):
    # npo-kaze's contract with CITY_A ran 2024-04-01 .. 2025-03-31.
    denied("contract_not_active", contractor(IDLE_NPO), "case.read", CITY_A, registry)
    denied("contract_not_active", contractor(IDLE_NPO), "consultation.record", CITY_A, registry,
           site_id="a-hiroba")
    # ... and was allowed on its last day, refused the day after.
    last_day = date(2025, 3, 31)
    grant = authorize(contractor(IDLE_NPO), "case.read", CITY_A, registry, today=last_day)
    assert grant.scope.contract_ids == ["contract-a-kaze"]
    denied("contract_not_active", contractor(IDLE_NPO), "case.read", CITY_A, registry,
           today=last_day + timedelta(days=1))
    denied("contract_not_active", contractor(IDLE_NPO), "case.read", CITY_A, registry,
           today=date(2024, 3, 31))


def test_unknown_site_is_reported_as_unknown(registry):
    denied("site_unknown", staff(), "consultation.record", CITY_A, registry, site_id="nowhere")
    # A contractor is not told which sites exist beyond its contracts.
    denied("contract_not_active", contractor(), "consultation.record", CITY_A, registry,
           site_id="nowhere")
    # A site of another municipality is unknown here.
    denied("site_unknown", staff(), "consultation.record", CITY_A, registry, site_id="b-hiroba")


@pytest.mark.parametrize("roles,action", [
    (("compliance_auditor",), "consultation.record"),
    (("compliance_auditor",), "case.manage"),
    (("platform_operator",), "case.read"),
    (("municipal_admin",), "consultation.record"),
    ((), "case.read"),
])
def test_role_without_the_permission_is_refused(registry, roles, action):
    denied("role_not_permitted", staff(roles=roles), action, CITY_A, registry)


def test_contractor_admin_may_read_but_not_record(registry):
    reader = contractor(roles=("contractor_admin",))
    assert authorize(reader, "case.read", CITY_A, registry).acting.role == "contractor_admin"
    denied("role_not_permitted", reader, "consultation.record", CITY_A, registry,
           site_id="a-hiroba")


def test_role_is_checked_before_anything_is_disclosed(registry):
    # A role without permission learns nothing about tenants or sites.
    denied("role_not_permitted", staff(CITY_B, roles=("complaint_intake_officer",)),
           "case.read", CITY_A, registry, site_id="nowhere")


def test_permitted_role_is_chosen_among_several(registry):
    grant = authorize(staff(roles=("compliance_auditor", "site_manager")),
                      "consultation.record", CITY_A, registry, site_id="a-counter")
    assert grant.acting.role == "site_manager"


def test_municipal_staff_recording_at_a_contracted_site_record_that_contract(registry):
    grant = authorize(staff(), "consultation.record", CITY_A, registry, site_id="a-hiroba")
    assert grant.contract_id == "contract-a-npo"
    assert grant.acting.contract_id == "contract-a-npo" and grant.acting.site_id == "a-hiroba"
    # Staff see every case of their sites, whichever contract (or none) it is under.
    assert grant.scope.contract_ids is None and "a-hiroba" in grant.scope.site_ids


def test_municipal_staff_recording_at_a_directly_run_site_record_no_contract(registry):
    grant = authorize(staff(), "consultation.record", CITY_A, registry, site_id="a-counter")
    assert grant.contract_id is None and grant.acting.contract_id is None
    assert grant.site_id == "a-counter"


def test_municipal_staff_at_a_site_whose_contract_has_not_started_record_no_contract(registry):
    start = japan_today() - timedelta(days=30)
    grant = authorize(staff(), "consultation.record", CITY_A, registry, site_id="a-hiroba",
                      today=start - timedelta(days=1))
    assert grant.contract_id is None


def test_contract_ended_early_ends_the_contractors_access_at_once(tmp_path):
    world = build_world(Settings(backend="sqlite", data_dir=tmp_path, environment="test"))
    try:
        registry = world.services.directory.registry
        assert authorize(contractor(), "case.read", CITY_A, registry).scope.contract_ids == [
            "contract-a-npo"]
        with acting_as(OPERATOR):
            world.services.directory.end_contract(contract_id="contract-a-npo",
                                                  ended_on=japan_today(), reason="委託終了")
        denied("contract_not_active", contractor(), "case.read", CITY_A, registry,
               today=japan_today() + timedelta(days=1))
        # Ended today: the contract is no longer active even today.
        denied("contract_not_active", contractor(), "case.read", CITY_A, registry)
        # Municipal staff recording at that site no longer record the ended contract.
        grant = authorize(staff(), "consultation.record", CITY_A, registry, site_id="a-hiroba")
        assert grant.contract_id is None
    finally:
        world.services.close()


def test_only_municipal_staff_record_representative_meetings(registry):
    grant = authorize(staff(), "representative_meeting.record", CITY_A, registry)
    assert grant.scope.contract_ids is None
    # Even with an active contract, the 代表者会議 is the municipality's.
    denied("municipality_only", contractor(), "representative_meeting.record", CITY_A, registry)


def test_contractor_tokens_cannot_carry_municipal_roles(registry):
    denied("role_not_permitted", contractor(roles=("municipal_admin",)), "taxonomy.manage",
           CITY_A, registry)
