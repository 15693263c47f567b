"""A throwaway PostgreSQL 15 cluster for the benchmarks (mirrors tests/conftest.py, compactly).

    with throwaway_cluster() as cluster:
        settings = cluster.settings()          # yorisoi Settings on a fresh database
        conn = cluster.connect(role="app")     # psycopg connection, same settings as the app

The cluster listens on 127.0.0.1 and a free port, with the roles ``yorisoi_owner``
(owns the database, runs DDL) and ``yorisoi_app`` (what the application connects as).
As root, the server runs as the unprivileged system user ``yorisoi-pg`` (created with
``useradd --system`` if missing; initdb refuses root).  Everything is removed on exit:
by the context manager, by ``atexit``, and — should this process be killed — by a
small watchdog process that notices the broken pipe.

``durable=False`` (the default, as in the test cluster) turns off fsync and
synchronous commit: figures then measure CPU and round trips, not the disk of a
shared machine.  ``durable=True`` keeps PostgreSQL's defaults.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PG_MAJOR = 15
PG_SYSTEM_USER = "yorisoi-pg"
SUPERUSER = "postgres"
OWNER_ROLE = "yorisoi_owner"
APP_ROLE = "yorisoi_app"

# Reads stdin until EOF; EOF with nothing written means the parent died: stop and remove.
_WATCHDOG = r"""
import json, shutil, subprocess, sys
spec = json.loads(sys.argv[1])
if sys.stdin.buffer.read():
    sys.exit(0)
kw = {"user": spec["uid"], "group": spec["gid"], "extra_groups": []} if spec["uid"] is not None else {}
try:
    subprocess.run(spec["stop"], cwd=spec["cwd"], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, **kw)
except Exception:
    pass
shutil.rmtree(spec["rmtree"], ignore_errors=True)
"""


def pg_bindir() -> Path:
    """The directory of PostgreSQL 15's initdb, pg_ctl and postgres."""
    candidates = [Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")]
    if found := shutil.which("initdb"):
        candidates.append(Path(found).resolve().parent)
    for bindir in dict.fromkeys(c.resolve() for c in candidates):
        if all((bindir / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            version = subprocess.run([str(bindir / "initdb"), "--version"],
                                     capture_output=True, text=True, check=False).stdout
            if re.search(rf"\b{PG_MAJOR}\.\d+", version):
                return bindir
    raise SystemExit(f"PostgreSQL {PG_MAJOR} (initdb, pg_ctl, postgres) not found")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _system_user(name: str) -> pwd.struct_passwd:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    shell = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/bin/false"
    result = subprocess.run([shutil.which("useradd") or "/usr/sbin/useradd", "--system",
                             "--no-create-home", "--shell", shell, name],
                            capture_output=True, text=True, check=False)
    if result.returncode not in (0, 9):  # 9: created meanwhile by someone else
        raise SystemExit(f"cannot create system user {name!r}: {result.stderr.strip()}")
    return pwd.getpwnam(name)


def _tmp_parent(uid: int) -> str:
    """A temp directory the server's user can traverse."""
    base = tempfile.gettempdir()
    if uid != os.geteuid():
        path = Path(base).resolve()
        if any(not p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents]):
            return "/tmp"
    return base


@dataclass
class Cluster:
    """A running throwaway cluster and one fresh database on it."""

    durable: bool = False
    max_connections: int = 100
    bindir: Path = field(default_factory=pg_bindir)
    port: int = 0
    dbname: str = "yorisoi_bench"
    passwords: dict[str, str] = field(default_factory=lambda: {
        r: secrets.token_hex(16) for r in (SUPERUSER, OWNER_ROLE, APP_ROLE)})

    def __post_init__(self) -> None:
        if os.geteuid() == 0:
            pw = _system_user(PG_SYSTEM_USER)
            self.uid: int | None = pw.pw_uid
            self.gid: int | None = pw.pw_gid
            self.username = pw.pw_name
        else:
            self.uid = self.gid = None
            self.username = os.environ.get("USER") or str(os.geteuid())
        self.base = Path(tempfile.mkdtemp(prefix="yorisoi-bench-pg-",
                                          dir=_tmp_parent(self.uid or os.geteuid())))
        self.data, self.sockets, self.log = (self.base / "data", self.base / "sock",
                                             self.base / "postgres.log")
        self.sockets.mkdir(mode=0o700)
        if self.uid is not None:
            for path in (self.base, self.sockets):
                os.chown(path, self.uid, self.gid)  # type: ignore[arg-type]
        self.state_dir = self.base / "state"  # keys and files of the app: removed with the rest
        self.state_dir.mkdir(mode=0o700)
        self._started = False
        self._stop_argv = [str(self.bindir / "pg_ctl"), "stop", "--pgdata", str(self.data),
                           "--mode", "immediate", "--wait", "--timeout", "30"]
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, json.dumps({
                "stop": self._stop_argv, "cwd": str(self.base), "uid": self.uid,
                "gid": self.gid, "rmtree": str(self.base)})],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        atexit.register(self.stop)

    # -- server ------------------------------------------------------------

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{self.bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
               "HOME": str(self.base), "USER": self.username, "LOGNAME": self.username,
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC"}
        kw: dict[str, Any] = ({"user": self.uid, "group": self.gid, "extra_groups": []}
                              if self.uid is not None else {})
        result = subprocess.run([str(self.bindir / argv[0]), *argv[1:]], cwd=self.base,
                                env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=90, check=False, **kw)
        if check and result.returncode:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed: {result.stdout}{result.stderr}{tail}")
        return result

    def start(self) -> Cluster:
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.passwords[SUPERUSER] + "\n")
        os.chmod(pwfile, 0o600)
        if self.uid is not None:
            os.chown(pwfile, self.uid, self.gid)  # type: ignore[arg-type]
        try:
            self._run(["initdb", "--pgdata", str(self.data), "--username", SUPERUSER,
                       "--pwfile", str(pwfile), "--auth-local", "trust",
                       "--auth-host", "scram-sha-256", "--encoding", "UTF8", "--no-locale",
                       "--no-sync", "--no-instructions"])
        finally:
            pwfile.unlink(missing_ok=True)
        durability = "" if self.durable else (
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# yorisoi bench cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                f"max_connections = {self.max_connections}\n" + durability +
                "wal_level = minimal\nmax_wal_senders = 0\nshared_buffers = 128MB\n"
                "logging_collector = off\nlog_min_messages = warning\ntimezone = 'UTC'\n")
        for _ in range(5):
            self.port = _free_port()
            result = self._run(["pg_ctl", "start", "--pgdata", str(self.data), "--log",
                                str(self.log), "--wait", "--timeout", "30",
                                "--options", f"-p {self.port}"], check=False)
            if result.returncode == 0:
                self._started = True
                break
            if "in use" not in self.log.read_text(errors="replace"):
                raise RuntimeError(f"pg_ctl start failed: {result.stderr}")
        else:
            raise RuntimeError("pg_ctl start failed: no free port")
        self._create_roles_and_database()
        return self

    def stop(self) -> None:
        """Stop the server and remove its files (idempotent)."""
        if self._started:
            self._started = False
            with contextlib.suppress(Exception):
                self._run(["pg_ctl", *self._stop_argv[1:]], check=False)
        shutil.rmtree(self.base, ignore_errors=True)
        if self._watchdog.stdin and not self._watchdog.stdin.closed:
            with contextlib.suppress(OSError):
                self._watchdog.stdin.write(b"x")
                self._watchdog.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=10)

    # -- roles, database, connections -----------------------------------------

    def _create_roles_and_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(host=str(self.sockets), port=self.port, user=SUPERUSER,
                             dbname="postgres", autocommit=True) as conn:
            for role in (OWNER_ROLE, APP_ROLE):
                conn.execute(sql.SQL(
                    "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    "NOREPLICATION NOBYPASSRLS").format(
                        sql.Identifier(role), sql.Literal(self.passwords[role])))
            db = sql.Identifier(self.dbname)
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 "
                                 "ENCODING 'UTF8'").format(db, sql.Identifier(OWNER_ROLE)))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
            conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                db, sql.Identifier(APP_ROLE)))
        with psycopg.connect(host=str(self.sockets), port=self.port, user=SUPERUSER,
                             dbname=self.dbname, autocommit=True) as conn:
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")

    def connect(self, role: str = "app", dbname: str | None = None, **kwargs: Any):
        """A psycopg connection over TCP as ``app``, ``owner`` or ``superuser``."""
        import psycopg

        user = {"app": APP_ROLE, "owner": OWNER_ROLE, "superuser": SUPERUSER}[role]
        return psycopg.connect(host="127.0.0.1", port=self.port, dbname=dbname or self.dbname,
                               user=user, password=self.passwords[user], connect_timeout=10,
                               **kwargs)

    def server_version(self) -> str:
        with self.connect("superuser") as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])

    def settings(self, **overrides: Any):
        """yorisoi Settings for this cluster's database (state in a temporary folder)."""
        from yorisoi.infra.settings import Settings

        return Settings(**{
            "backend": "postgres", "pg_host": "127.0.0.1", "pg_port": self.port,
            "pg_dbname": self.dbname, "pg_user": APP_ROLE, "pg_password": self.passwords[APP_ROLE],
            "pg_admin_user": OWNER_ROLE, "pg_admin_password": self.passwords[OWNER_ROLE],
            "data_dir": self.state_dir, "environment": "test", "dev_issuer": False,
            **overrides})


@contextlib.contextmanager
def throwaway_cluster(*, durable: bool = False, max_connections: int = 100
                      ) -> Iterator[Cluster]:
    """Start a cluster, yield it, stop and remove it."""
    cluster = Cluster(durable=durable, max_connections=max_connections)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        atexit.unregister(cluster.stop)


if __name__ == "__main__":  # smoke check: start, print the version, stop
    with throwaway_cluster() as c:
        print(f"PostgreSQL {c.server_version()} on 127.0.0.1:{c.port}, database {c.dbname}")
