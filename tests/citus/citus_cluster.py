"""A throwaway Citus cluster: a coordinator and two workers, each a test cluster of its own.

Every node is started with the same recipe as the test suite's PostgreSQL cluster
(``tests/conftest.py``: ``_PgServer`` — initdb as the unprivileged system user,
127.0.0.1 and a free port, removed on exit or by its watchdog), with Citus preloaded
and ``wal_level = logical`` (moves replicate logically).  The roles ``yorisoi_owner``
and ``yorisoi_app`` exist on every node with the same passwords; the nodes reach
each other with those passwords from ``pg_dist_authinfo`` (no trust rule anywhere).

    with citus_cluster() as cluster:        # or the ``citus`` fixture (tests/citus)
        dbname = cluster.create_database("yorisoi_citus")
        settings = cluster.settings(dbname, data_dir)
        cluster.workers                      # [(host, port), (host, port)]
"""

from __future__ import annotations

import atexit
import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from pg_recipe import suite_conftest


_suite = suite_conftest()
APP_ROLE, OWNER_ROLE, SUPERUSER = _suite.APP_ROLE, _suite.OWNER_ROLE, _suite.SUPERUSER
PgCluster, _create_roles, _PgServer = _suite.PgCluster, _suite._create_roles, _suite._PgServer

CITUS_SO = Path("/usr/lib/postgresql/15/lib/citus.so")

# Appended to each node's postgresql.conf after the suite's own lines (the last setting wins).
_CITUS_CONF = (
    "\n# citus node (tests/citus/citus_cluster.py)\n"
    "shared_preload_libraries = 'citus'\n"
    "wal_level = logical\n"
    "max_wal_senders = 10\n"
    "max_replication_slots = 10\n"
    "max_worker_processes = 32\n"
    "max_connections = 200\n"
    # Short checks of a move's catch-up and of background work, not a loaded machine's clock.
    "citus.max_background_task_executors_per_node = 2\n"
)


@dataclass(frozen=True)
class CitusCluster:
    """Facts about the three nodes; ``coordinator`` is what the application connects to."""

    coordinator: PgCluster
    worker_nodes: tuple[PgCluster, ...]

    @property
    def nodes(self) -> tuple[PgCluster, ...]:
        return (self.coordinator, *self.worker_nodes)

    @property
    def workers(self) -> list[tuple[str, int]]:
        return [(node.host, node.port) for node in self.worker_nodes]

    def create_database(self, name: str) -> str:
        """A database on every node with the extension, the workers registered, authinfo set."""
        for node in self.nodes:
            node.create_database(name)
            with node.connect(name, "superuser", autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
                # Inter-node connections authenticate like anyone else, by password: the
                # coordinator's to the workers, and a move's subscription (target worker
                # to source worker), which reads the target's own table.
                for role, password in ((SUPERUSER, self.coordinator.superuser_password),
                                       (OWNER_ROLE, self.coordinator.owner_password),
                                       (APP_ROLE, self.coordinator.app_password)):
                    conn.execute("INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo)"
                                 " VALUES (0, %s, %s)", (role, f"password={password}"))
        with self.coordinator.connect(name, "superuser", autocommit=True) as conn:
            conn.execute("SELECT citus_set_coordinator_host(%s, %s)",
                         (self.coordinator.host, self.coordinator.port))
            for host, port in self.workers:
                conn.execute("SELECT citus_add_node(%s, %s)", (host, port))
        return name

    def drop_database(self, name: str) -> None:
        for node in reversed(self.nodes):
            with contextlib.suppress(psycopg.Error):
                node.drop_database(name)

    def settings_env(self, dbname: str) -> dict[str, str]:
        return self.coordinator.settings_env(dbname)

    def settings(self, dbname: str, data_dir: Path, **overrides: object):
        from yorisoi.infra.settings import Settings

        c = self.coordinator
        return Settings(backend="postgres", pg_host=c.host, pg_port=c.port, pg_dbname=dbname,
                        pg_user=c.app_user, pg_password=c.app_password,
                        pg_admin_user=c.owner_user, pg_admin_password=c.owner_password,
                        data_dir=data_dir, environment="test", **overrides)

    def node_of(self, port: int) -> PgCluster:
        return next(node for node in self.nodes if node.port == port)


def _start_node(superuser_password: str, like: PgCluster | None) -> tuple[_PgServer, PgCluster]:
    server = _PgServer()
    atexit.register(server.stop)
    server.initdb(superuser_password)
    with open(server.data / "postgresql.conf", "a") as conf:
        conf.write(_CITUS_CONF)
    server.start()
    node = PgCluster(
        host="127.0.0.1", port=server.port, socket_dir=str(server.sockets),
        superuser=SUPERUSER, superuser_password=superuser_password,
        owner_user=OWNER_ROLE,
        owner_password=like.owner_password if like else secrets.token_hex(16),
        app_user=APP_ROLE, app_password=like.app_password if like else secrets.token_hex(16))
    _create_roles(node)
    return server, node


@contextlib.contextmanager
def citus_cluster(workers: int = 2) -> Iterator[CitusCluster]:
    """Start a coordinator and ``workers`` workers; stop and remove them all afterwards."""
    if not CITUS_SO.exists():
        raise RuntimeError(f"{CITUS_SO} is missing: run tests/citus/build_citus.sh "
                           "(make test-citus does)")
    password = secrets.token_hex(16)
    servers: list[_PgServer] = []
    try:
        server, coordinator = _start_node(password, None)
        servers.append(server)
        nodes = []
        for _ in range(workers):
            server, node = _start_node(password, coordinator)
            servers.append(server)
            nodes.append(node)
        yield CitusCluster(coordinator=coordinator, worker_nodes=tuple(nodes))
    finally:
        for server in servers:
            server.stop()
            atexit.unregister(server.stop)


__all__ = ["CITUS_SO", "CitusCluster", "citus_cluster"]
