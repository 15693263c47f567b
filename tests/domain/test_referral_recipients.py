"""Directory entries as recipients of referrals: the referral profile and its agency."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from yorisoi.domain.agencies import (
    Agency,
    AgencyContactMissingError,
    AgencyKindUnknownError,
    ConfidentialityBasisUnknownError,
    agency_id_for_resource,
)
from yorisoi.domain.resources import (
    OpeningSlot,
    Resource,
    ResourceReferralsNotAcceptedError,
    checked_attributes,
)

CITY_A = "131016"


def entry() -> Resource:
    attributes = checked_attributes(
        name="千代田区保健センター", kind="health_welfare", subkind="health_center",
        address="九段南1-2-1", area="kudan", operator_kind="public",
        hours=[OpeningSlot("mon", "08:30", "17:15")], monthly_schedule=None,
        content="乳幼児健診・育児相談", form="facility", fee="free", owner="hoken-ka")
    return Resource.register(municipality_code=CITY_A, attributes=attributes,
                             today=date(2026, 4, 1))


def test_an_entry_accepts_referrals_with_a_checked_profile():
    resource = entry()
    with pytest.raises(ResourceReferralsNotAcceptedError):
        resource.require_accepting_referrals()
    resource.accept_referrals(agency_kind="health_center", on_system=False,
                              contact_email=" hoken@city.example.jp ",
                              confidentiality_basis="public_servant")
    assert resource.require_accepting_referrals() == {
        "kind": "health_center", "on_system": False, "contact_email": "hoken@city.example.jp",
        "confidentiality_basis": "public_servant"}
    version = resource.version
    resource.accept_referrals(agency_kind="health_center", on_system=False,
                              contact_email="hoken@city.example.jp",
                              confidentiality_basis="public_servant")
    assert resource.version == version  # the same profile again writes nothing


@pytest.mark.parametrize(("overrides", "error"), [
    ({"agency_kind": "bakery"}, AgencyKindUnknownError),
    ({"on_system": False, "contact_email": None}, AgencyContactMissingError),
    ({"contact_email": "not-an-address"}, AgencyContactMissingError),
    ({"confidentiality_basis": "pinky_promise"}, ConfidentialityBasisUnknownError),
])
def test_a_profile_is_checked_as_any_agency_is(overrides, error):
    resource = entry()
    profile = {"agency_kind": "health_center", "on_system": True,
               "contact_email": "hoken@city.example.jp", "confidentiality_basis": None,
               **overrides}
    with pytest.raises(error):
        resource.accept_referrals(**profile)
    assert resource.referral_profile is None and not resource.pending_events[1:]


def test_the_agency_of_an_entry_has_an_id_derived_from_the_entry():
    resource_id = uuid4()
    agency = Agency.register(municipality_code=CITY_A, name="保健センター", kind="health_center",
                             on_system=True, contact_email=None, confidentiality_basis=None,
                             resource_id=resource_id)
    assert agency.id == agency_id_for_resource(resource_id)
    assert agency.resource_id == resource_id
    other = Agency.register(municipality_code=CITY_A, name="NPO", kind="npo", on_system=True,
                            contact_email=None, confidentiality_basis=None)
    assert other.resource_id is None and other.id != agency.id
