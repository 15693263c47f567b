"""YORISOI_PG_CITUS on plain PostgreSQL: auto finds no Citus, on refuses, moves are refused.

(The Citus deployment itself is tested on a real cluster in tests/citus, `make test-citus`.)
"""

from __future__ import annotations

import pytest

from yorisoi.infra.wiring.bootstrap import OPERATOR, Services, init_platform
from yorisoi.services.context import acting_as
from yorisoi.tenants.citus import CitusNotInstalledError
from yorisoi.tenants.placement import NotCitusError, placements, plan_move


def test_plain_postgres_is_auto_detected_and_on_is_refused(pg_settings):
    init_platform(pg_settings)
    services = Services(pg_settings)
    try:
        with acting_as(OPERATOR):
            services.directory.provision_municipality(code="131016", name="千代田区",
                                                      prefecture="東京都")
    finally:
        services.close()
    (here,) = placements(pg_settings, ["131016"])
    assert (here.node, here.distributed) == ("coordinator", False)
    assert here.size_bytes > 0
    with pytest.raises(NotCitusError) as refused:
        plan_move(pg_settings, "131016", "127.0.0.1:5432")
    assert refused.value.message_ja

    with pytest.raises(CitusNotInstalledError) as refused:
        init_platform(pg_settings.model_copy(update={"pg_citus": "on"}))
    assert refused.value.code == "citus_not_installed" and refused.value.message_ja
