"""Shared test infrastructure: a throwaway PostgreSQL 15 cluster and moto's S3.

Fixtures
--------
``pg_cluster`` (session)
    A private PostgreSQL 15 cluster on 127.0.0.1 and a free port, with the
    roles ``yorisoi_owner`` (owns the databases, runs DDL) and ``yorisoi_app``
    (what the application connects as: no superuser, no BYPASSRLS, owns
    nothing).  Returns a :class:`PgCluster`.  Under pytest-xdist every worker
    starts its own cluster.  When the tests run as root the server runs as the
    unprivileged system user ``yorisoi-pg`` (initdb refuses root).
``pg_database`` (function)
    A fresh, uniquely named database owned by ``yorisoi_owner``; its name is
    yielded and it is dropped (``WITH (FORCE)``) afterwards.
``pg_settings`` (function)
    ``yorisoi.infra.settings.Settings`` pointing at ``pg_database``.
``sqlite_settings`` (function)
    ``Settings`` for the embedded SQLite backend under ``tmp_path``.
``s3_server`` (session)
    The endpoint URL of a moto S3 server running as a separate process.
``s3_env`` (function)
    Sets fake AWS credentials and region (monkeypatch) and yields the
    endpoint URL of ``s3_server``.

Missing PostgreSQL binaries are an error, never a skip: CI must run these.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
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
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_MAJOR = 15
PG_SYSTEM_USER = "yorisoi-pg"
SUPERUSER = "postgres"
OWNER_ROLE = "yorisoi_owner"
APP_ROLE = "yorisoi_app"
START_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------- #
# Clean-up that survives the test process being killed
# --------------------------------------------------------------------------- #

# Runs in its own session, holding the read end of a pipe from the test
# process.  EOF with nothing written means the test process died without
# cleaning up (SIGKILL, SIGTERM, a crashed xdist worker): then kill/stop/remove
# what the spec names.  A byte written before closing disarms it.
_WATCHDOG = r"""# yorisoi test watchdog
import json, os, shutil, signal, subprocess, sys
spec = json.loads(sys.argv[1])
if sys.stdin.buffer.read():
    sys.exit(0)
for pid in spec.get("kill", []):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
pg = spec.get("pg_ctl")
if pg:
    kw = {"user": pg["uid"], "group": pg["gid"], "extra_groups": []} if pg["uid"] is not None else {}
    try:
        subprocess.run(pg["argv"], cwd=pg["cwd"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, **kw)
    except Exception:
        pass
for path in spec.get("rmtree", []):
    shutil.rmtree(path, ignore_errors=True)
"""


class _Watchdog:
    def __init__(self, spec: dict) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C for pytest must not kill it
        )

    def disarm(self) -> None:
        """The test process cleaned up itself: let the watchdog exit quietly."""
        if self._proc.stdin and not self._proc.stdin.closed:
            with contextlib.suppress(OSError):
                self._proc.stdin.write(b"x")
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=10)


# --------------------------------------------------------------------------- #
# PostgreSQL
# --------------------------------------------------------------------------- #


@dataclasses.dataclass(frozen=True)
class PgCluster:
    """Connection facts about the throwaway cluster, plus database helpers."""

    host: str
    port: int
    socket_dir: str
    superuser: str
    superuser_password: str
    owner_user: str
    owner_password: str
    app_user: str
    app_password: str

    # -- connection strings --------------------------------------------------

    def conninfo(self, dbname: str = "postgres", role: str = "app") -> str:
        """A libpq conninfo string over TCP for ``role`` in app/owner/superuser."""
        user, password = {
            "app": (self.app_user, self.app_password),
            "owner": (self.owner_user, self.owner_password),
            "superuser": (self.superuser, self.superuser_password),
        }[role]
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host,
            port=self.port,
            dbname=dbname,
            user=user,
            password=password,
            connect_timeout=10,
        )

    def connect(self, dbname: str = "postgres", role: str = "app", **kwargs):
        """A psycopg connection (the caller closes it)."""
        import psycopg

        return psycopg.connect(self.conninfo(dbname, role), **kwargs)

    # -- databases -------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """Create a fresh database owned by ``yorisoi_owner``; return its name.

        ``yorisoi_app`` gets CONNECT (PUBLIC loses it, so the grant means
        something); nobody but the owner may CREATE in schema ``public``.
        """
        from psycopg import sql

        _check_identifier(name)
        db = sql.Identifier(name)
        with self.connect("postgres", "superuser", autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8'").format(
                    db, sql.Identifier(self.owner_user)
                )
            )
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
            conn.execute(
                sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                    db, sql.Identifier(self.app_user)
                )
            )
        with self.connect(name, "superuser", autocommit=True) as conn:
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, terminating any remaining sessions."""
        from psycopg import sql

        _check_identifier(name)
        with self.connect("postgres", "superuser", autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # -- application settings ------------------------------------------------

    def settings_env(self, dbname: str) -> dict[str, str]:
        """The ``YORISOI_*`` environment for infra/settings.py and ``dbname``."""
        return {
            "YORISOI_BACKEND": "postgres",
            "YORISOI_PG_HOST": self.host,
            "YORISOI_PG_PORT": str(self.port),
            "YORISOI_PG_DBNAME": dbname,
            "YORISOI_PG_USER": self.app_user,
            "YORISOI_PG_PASSWORD": self.app_password,
            "YORISOI_PG_ADMIN_USER": self.owner_user,
            "YORISOI_PG_ADMIN_PASSWORD": self.owner_password,
        }


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain lower-case PostgreSQL identifier: {name!r}")


def _pg_bindir() -> Path:
    """Directory holding initdb/pg_ctl/postgres of PostgreSQL 15, or fail loudly."""
    candidates: list[Path] = [Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")]
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            candidates.append(Path(out))
    seen: list[str] = []
    for bindir in dict.fromkeys(path.resolve() for path in candidates):
        if not all((bindir / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            continue
        version = subprocess.run(
            [str(bindir / "initdb"), "--version"], capture_output=True, text=True
        ).stdout.strip()
        seen.append(f"{bindir}: {version}")
        if re.search(rf"\b{PG_MAJOR}\.\d+", version):
            return bindir
    pytest.fail(
        f"PostgreSQL {PG_MAJOR} server binaries (initdb, pg_ctl, postgres) not found "
        f"in /usr/lib/postgresql/{PG_MAJOR}/bin or on PATH"
        + (f"; found only: {'; '.join(seen)}" if seen else "")
        + f". Install them (Debian: apt-get install postgresql-{PG_MAJOR}). "
        "These tests are never skipped.",
        pytrace=False,
    )
    raise AssertionError("unreachable")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """Create the unprivileged server user if missing (root only, idempotent)."""
    import fcntl

    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    # xdist workers race here: serialise the check-and-create.
    with open(os.path.join(tempfile.gettempdir(), f".{name}-useradd.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        shell = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/bin/false"
        result = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", shell, name],
            capture_output=True,
            text=True,
        )
        # 9 = the user already exists (created by someone else meanwhile).
        if result.returncode not in (0, 9):
            pytest.fail(
                f"running as root, but could not create the system user {name!r} "
                f"to run PostgreSQL as: {result.stderr.strip() or result.returncode}",
                pytrace=False,
            )
    return pwd.getpwnam(name)


def _tmp_base_for(uid: int) -> str:
    """A temp parent directory that ``uid`` can traverse."""
    base = tempfile.gettempdir()
    if uid == os.geteuid():
        return base
    path = Path(base).resolve()
    for part in [path, *path.parents]:
        if not part.stat().st_mode & stat.S_IXOTH:
            return "/tmp"
    return base


class _PgServer:
    """Owns the on-disk cluster and the postmaster process."""

    def __init__(self) -> None:
        self.bindir = _pg_bindir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = _ensure_system_user(PG_SYSTEM_USER)
            self.uid, self.gid, self.username = pw.pw_uid, pw.pw_gid, pw.pw_name
        else:
            self.uid, self.gid = os.geteuid(), os.getegid()
            try:
                self.username = pwd.getpwuid(self.uid).pw_name
            except KeyError:  # e.g. `docker run --user 1234` without a passwd entry
                self.username = os.environ.get("USER") or str(self.uid)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.base = Path(
            tempfile.mkdtemp(prefix=f"yorisoi-pg-{worker}-", dir=_tmp_base_for(self.uid))
        )
        self.data = self.base / "data"
        self.sockets = self.base / "sock"
        self.log = self.base / "postgres.log"
        self.sockets.mkdir(mode=0o700)
        if self.as_root:
            os.chown(self.base, self.uid, self.gid)
            os.chown(self.sockets, self.uid, self.gid)
        self.port = 0
        self.started = False
        self.removed = False
        self.watchdog = _Watchdog(
            {
                "pg_ctl": {
                    "argv": [str(self.bindir / "pg_ctl"), "stop", "--pgdata", str(self.data),
                             "--mode", "immediate", "--wait", "--timeout", "30"],
                    "cwd": str(self.base),
                    "uid": self.uid if self.as_root else None,
                    "gid": self.gid if self.as_root else None,
                },
                "rmtree": [str(self.base)],
            }
        )

    # Run a server binary as the cluster's user.
    def _run(self, args: list[str], *, check: bool = True, timeout: float = 60):
        env = {
            "PATH": f"{self.bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.base),
            "USER": self.username,
            "LOGNAME": self.username,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
        }
        kwargs = {}
        if self.as_root:
            kwargs = {"user": self.uid, "group": self.gid, "extra_groups": []}
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.base,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{self._log_tail()}"
            )
        return result

    def _log_tail(self) -> str:
        try:
            return "postgres.log:\n" + self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def initdb(self, superuser_password: str) -> None:
        pwfile = self.base / "pwfile"
        pwfile.write_text(superuser_password + "\n")
        os.chmod(pwfile, 0o600)
        if self.as_root:
            os.chown(pwfile, self.uid, self.gid)
        try:
            self._run(
                [
                    "initdb",
                    "--pgdata",
                    str(self.data),
                    "--username",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth-local",
                    "trust",
                    "--auth-host",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                    "--no-instructions",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# yorisoi test cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "max_connections = 300\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
                "wal_level = minimal\n"
                "max_wal_senders = 0\n"
                "shared_buffers = 64MB\n"
                "logging_collector = off\n"
                "log_min_messages = warning\n"
                "timezone = 'UTC'\n"
            )

    def start(self) -> None:
        last_error: Exception | None = None
        for _ in range(5):
            self.port = _free_port()
            result = self._run(
                [
                    "pg_ctl",
                    "start",
                    "--pgdata",
                    str(self.data),
                    "--log",
                    str(self.log),
                    "--wait",
                    "--timeout",
                    str(int(START_TIMEOUT_S)),
                    "--options",
                    f"-p {self.port}",
                ],
                check=False,
                timeout=START_TIMEOUT_S + 10,
            )
            if result.returncode == 0:
                self.started = True
                return
            last_error = RuntimeError(
                f"pg_ctl start failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{self._log_tail()}"
            )
            # A port lost to a race is worth another try; anything else is not.
            if "could not bind" not in self._log_tail() and "in use" not in self._log_tail():
                break
            self.log.unlink(missing_ok=True)
        raise last_error or RuntimeError("pg_ctl start failed")

    def stop(self) -> None:
        """Stop the server and remove every file; safe to call more than once."""
        if self.started:
            self.started = False
            with contextlib.suppress(Exception):
                self._run(
                    ["pg_ctl", "stop", "--pgdata", str(self.data), "--mode", "immediate",
                     "--wait", "--timeout", "30"],
                    check=False,
                    timeout=40,
                )
        if not self.removed:
            self.removed = True
            shutil.rmtree(self.base, ignore_errors=True)
            self.watchdog.disarm()


def _create_roles(cluster: PgCluster) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=cluster.socket_dir,
        port=cluster.port,
        user=cluster.superuser,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        for role, password in (
            (cluster.owner_user, cluster.owner_password),
            (cluster.app_user, cluster.app_password),
        ):
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB "
                    "NOCREATEROLE NOREPLICATION NOBYPASSRLS"
                ).format(sql.Identifier(role), sql.Literal(password))
            )


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL 15 cluster for this test session (or xdist worker)."""
    server = _PgServer()
    atexit.register(server.stop)
    try:
        superuser_password = secrets.token_hex(16)
        server.initdb(superuser_password)
        server.start()
        cluster = PgCluster(
            host="127.0.0.1",
            port=server.port,
            socket_dir=str(server.sockets),
            superuser=SUPERUSER,
            superuser_password=superuser_password,
            owner_user=OWNER_ROLE,
            owner_password=secrets.token_hex(16),
            app_user=APP_ROLE,
            app_password=secrets.token_hex(16),
        )
        _create_roles(cluster)
        yield cluster
    finally:
        server.stop()
        atexit.unregister(server.stop)


@pytest.fixture
def pg_database(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh database for one test, dropped (WITH FORCE) afterwards."""
    name = pg_cluster.create_database(f"t_{uuid.uuid4().hex[:16]}")
    try:
        yield name
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture
def pg_settings(pg_cluster: PgCluster, pg_database: str, tmp_path: Path):
    """Settings for the postgres backend on ``pg_database`` (state under tmp_path)."""
    from yorisoi.infra.settings import Settings

    return Settings(
        backend="postgres",
        pg_host=pg_cluster.host,
        pg_port=pg_cluster.port,
        pg_dbname=pg_database,
        pg_user=pg_cluster.app_user,
        pg_password=pg_cluster.app_password,
        pg_admin_user=pg_cluster.owner_user,
        pg_admin_password=pg_cluster.owner_password,
        data_dir=tmp_path,
        environment="test",
    )


@pytest.fixture
def sqlite_settings(tmp_path: Path):
    """Settings for the embedded SQLite backend (state under tmp_path)."""
    from yorisoi.infra.settings import Settings

    return Settings(backend="sqlite", data_dir=tmp_path, environment="test")


# --------------------------------------------------------------------------- #
# S3 (moto server)
# --------------------------------------------------------------------------- #


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                response.read()
            return True
        except urllib.error.HTTPError:
            return True  # it answered
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    return False


def _stop_process(proc: subprocess.Popen, watchdog: _Watchdog) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    watchdog.disarm()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Endpoint URL of moto's S3 server, a separate process for this session."""
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    last_log = ""
    for _ in range(5):
        port = _free_port()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        watchdog = _Watchdog({"kill": [proc.pid]})
        stopper = functools.partial(_stop_process, proc, watchdog)
        atexit.register(stopper)
        endpoint = f"http://127.0.0.1:{port}"
        if _wait_http(f"{endpoint}/moto-api/", proc, timeout=30):
            try:
                yield endpoint
            finally:
                stopper()
                atexit.unregister(stopper)
            return
        stopper()
        atexit.unregister(stopper)
        last_log = log_path.read_text(errors="replace")[-4000:]
    pytest.fail(f"moto S3 server did not start:\n{last_log}", pytrace=False)


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Fake AWS credentials and region for one test; yields the S3 endpoint URL."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-1")
    # Keep a developer's real AWS configuration out of the tests.
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    yield s3_server


# --------------------------------------------------------------------------
# A provisioned world on either backend (tests/world.py)
# --------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path):
    """The same scenario runs on SQLite and on the throwaway PostgreSQL cluster."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_settings")
    return request.getfixturevalue("pg_settings")


@pytest.fixture
def world(backend_settings):
    from world import build_world

    built = build_world(backend_settings)
    yield built
    built.services.close()


@pytest.fixture
def client(world):
    from fastapi.testclient import TestClient

    from yorisoi.infra.http.app import create_app

    with TestClient(create_app(world.services.settings, world.services)) as test_client:
        yield test_client


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world_registry(request, tmp_path_factory):
    """One world per backend for the whole module: access decisions only read the registry."""
    from yorisoi.infra.settings import Settings
    data_dir = tmp_path_factory.mktemp(f"access-{request.param}")
    dbname = None
    if request.param == "sqlite":
        settings = Settings(backend="sqlite", data_dir=data_dir, environment="test")
    else:
        cluster = request.getfixturevalue("pg_cluster")
        dbname = cluster.create_database(f"t_access_{uuid.uuid4().hex[:12]}")
        settings = Settings(
            backend="postgres", pg_host=cluster.host, pg_port=cluster.port, pg_dbname=dbname,
            pg_user=cluster.app_user, pg_password=cluster.app_password,
            pg_admin_user=cluster.owner_user, pg_admin_password=cluster.owner_password,
            data_dir=data_dir, environment="test")
    from world import build_world

    world = build_world(settings)
    yield world
    world.services.close()
    if dbname is not None:
        request.getfixturevalue("pg_cluster").drop_database(dbname)
