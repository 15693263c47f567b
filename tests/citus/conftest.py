"""Fixtures of the Citus tests: a coordinator and two workers, one provisioned world.

These tests run under ``make test-citus`` (which builds Citus once per machine and
sets ``YORISOI_CITUS_TESTS=1``); plain ``make test`` skips them with that reason,
because CI runs them in their own step and a machine without citus.so cannot.
With the variable set, a missing citus.so is an error, never a skip.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ENABLED = os.environ.get("YORISOI_CITUS_TESTS") == "1"
if str(HERE) not in sys.path:  # citus_cluster.py, beside this file (the benchmark uses it too)
    sys.path.insert(0, str(HERE))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="Citus tests: run them with `make test-citus`")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def citus() -> Iterator[Any]:
    from citus_cluster import CITUS_SO, citus_cluster

    if not CITUS_SO.exists():
        pytest.fail(f"{CITUS_SO} is missing: `make test-citus` builds it "
                    "(tests/citus/build_citus.sh)", pytrace=False)
    with citus_cluster() as cluster:
        yield cluster


@dataclass
class CitusWorld:
    """The tests' world (tests/world.py) on Citus, CITY_A on one worker and CITY_B on the other."""

    cluster: Any
    dbname: str
    settings: Any
    world: Any

    def owner(self, **kwargs: Any) -> Any:
        return self.cluster.coordinator.connect(self.dbname, "owner", autocommit=True, **kwargs)

    def superuser(self, node: Any = None) -> Any:
        return (node or self.cluster.coordinator).connect(self.dbname, "superuser",
                                                          autocommit=True)

    def env(self) -> dict[str, str]:
        return {**self.cluster.settings_env(self.dbname),
                "YORISOI_DATA_DIR": str(self.settings.data_dir),
                "YORISOI_ENVIRONMENT": "test"}


@pytest.fixture(scope="session")
def citus_world(citus, tmp_path_factory) -> Iterator[CitusWorld]:
    from world import CITY_A, CITY_B, build_world

    from yorisoi.tenants.placement import move as move_tenant
    from yorisoi.tenants.placement import placements, plan_move

    dbname = citus.create_database(f"yorisoi_citus_{uuid.uuid4().hex[:8]}")
    settings = citus.settings(dbname, tmp_path_factory.mktemp("citus-world"),
                              tenant_pool_max_overflow=4)
    world = build_world(settings)
    try:
        # One municipality on each worker, whatever Citus chose when they were created.
        (first, second) = [f"{host}:{port}" for host, port in citus.workers]
        for code, node in ((CITY_A, first), (CITY_B, second)):
            (where,) = placements(settings, [code])
            if where.node != node:
                move_tenant(settings, plan_move(settings, code, node))
        yield CitusWorld(cluster=citus, dbname=dbname, settings=world.services.settings,
                         world=world)
    finally:
        world.services.close()
        citus.drop_database(dbname)


@pytest.fixture(scope="session")
def citus_client(citus_world: CitusWorld) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from yorisoi.infra.http.app import create_app

    services = citus_world.world.services
    with TestClient(create_app(services.settings, services)) as client:
        yield client
