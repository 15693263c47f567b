"""A registration that failed half-way is completed by its retry, not refused as existing.

The registry's event is stored first and its view updated after; an attempt
that stops between the two (here: the event stored directly, as if the view's
catch-up had failed) leaves an entry nobody can see.  Running the same
provisioning again completes it; running it once more is refused, since it
then really exists.
"""

from __future__ import annotations

from datetime import date

import pytest

from yorisoi.infra.wiring.bootstrap import OPERATOR
from yorisoi.services.context import acting_as
from yorisoi.services.platform import RegistryEntryExistsError


def test_a_half_done_provisioning_is_completed_by_running_it_again(world):
    directory = world.services.directory
    with acting_as(OPERATOR):
        directory.provisioner.create_municipality_space("011002")
        directory.platform.register_municipality(code="011002", name="札幌市",
                                                 prefecture="北海道")  # the view was not told
        directory.registry.changed()
        assert directory.registry.tenant("011002") is None
        directory.provision_municipality(code="011002", name="札幌市", prefecture="北海道")
        assert directory.registry.tenant("011002").name == "札幌市"
        with pytest.raises(RegistryEntryExistsError):
            directory.provision_municipality(code="011002", name="札幌市", prefecture="北海道")


def test_a_half_done_site_and_contract_are_completed_too(world):
    directory = world.services.directory
    with acting_as(OPERATOR):
        directory.platform.register_site(municipality_code="131016", site_id="a-new",
                                         name="新しいひろば", site_type="kihon")
        directory.register_site(municipality_code="131016", site_id="a-new",
                                name="新しいひろば", site_type="kihon")
        assert directory.registry.site("131016", "a-new") is not None
        directory.platform.sign_contract(
            contract_id="contract-retry", municipality_code="131016",
            contractor_id="npo-hidamari", site_ids=["a-new"], starts_on=date(2026, 4, 1),
            ends_on=date(2027, 3, 31))
        directory.sign_contract(
            contract_id="contract-retry", municipality_code="131016",
            contractor_id="npo-hidamari", site_ids=["a-new"], starts_on=date(2026, 4, 1),
            ends_on=date(2027, 3, 31))
        assert directory.registry.contract("contract-retry") is not None
        with pytest.raises(RegistryEntryExistsError):
            directory.register_site(municipality_code="131016", site_id="a-new",
                                    name="新しいひろば", site_type="kihon")
