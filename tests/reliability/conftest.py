"""A PostgreSQL cluster of the reliability suite's own, which its tests stop and start.

The session's cluster (``pg_cluster``) is shared by every test: stopping it would
fail the others.  This one is started once for the package and belongs to it;
``StoppableCluster.stop()`` / ``start()`` take the server down and bring it back
on the same port (a fast shutdown: what an operator's restart or a failover does
to the application's connections).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_recipe import suite_conftest

_suite = suite_conftest()
APP_ROLE, OWNER_ROLE, SUPERUSER = _suite.APP_ROLE, _suite.OWNER_ROLE, _suite.SUPERUSER
PgCluster, _create_roles, _PgServer = _suite.PgCluster, _suite._create_roles, _suite._PgServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long test (run by CI all the same)")


class StoppableCluster:
    def __init__(self, server: _PgServer, cluster: PgCluster) -> None:
        self.server = server
        self.cluster = cluster
        self.running = True

    def stop(self) -> None:
        self.running = False
        self.server._run(["pg_ctl", "stop", "--pgdata", str(self.server.data), "--mode", "fast",
                          "--wait", "--timeout", "60"], timeout=90)

    def start(self) -> None:
        self.server._run(["pg_ctl", "start", "--pgdata", str(self.server.data), "--log",
                          str(self.server.log), "--wait", "--timeout", "60", "--options",
                          f"-p {self.server.port}"], timeout=90)
        self.running = True


@pytest.fixture(scope="package")
def own_cluster() -> Iterator[StoppableCluster]:
    server = _PgServer()
    try:
        superuser_password = secrets.token_hex(16)
        server.initdb(superuser_password)
        server.start()
        cluster = PgCluster(host="127.0.0.1", port=server.port, socket_dir=str(server.sockets),
                            superuser=SUPERUSER, superuser_password=superuser_password,
                            owner_user=OWNER_ROLE, owner_password=secrets.token_hex(16),
                            app_user=APP_ROLE, app_password=secrets.token_hex(16))
        _create_roles(cluster)
        yield StoppableCluster(server, cluster)
    finally:
        server.stop()


@pytest.fixture
def own_settings(own_cluster: StoppableCluster, tmp_path: Path) -> Iterator[Any]:
    """Settings on a fresh database of ``own_cluster`` (state under tmp_path)."""
    from yorisoi.infra.settings import Settings

    c = own_cluster.cluster
    name = c.create_database(f"r_{secrets.token_hex(8)}")
    try:
        yield Settings(backend="postgres", pg_host=c.host, pg_port=c.port, pg_dbname=name,
                       pg_user=c.app_user, pg_password=c.app_password,
                       pg_admin_user=c.owner_user, pg_admin_password=c.owner_password,
                       data_dir=tmp_path, environment="test", dev_issuer=True)
    finally:
        try:
            c.drop_database(name)
        except Exception:  # noqa: BLE001 - the cluster may be down after a failed test
            pass
