"""The staging stack's database set-up, run for real: infra/deploy/postgres/10-roles.sh.

The PostgreSQL container runs the script once on an empty data directory, as the
superuser, in the database the image made (owned by the superuser).  Here it runs
with psql against the test suite's PostgreSQL 15 in a fresh database of that kind,
twice (it must only create what is missing), and then the platform is provisioned
with the roles it set up — exactly what the compose stack's migrate job does next.
(The roles exist already in the test cluster, made with the same statement.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "deploy" / "postgres" / "10-roles.sh"


def psql_dir() -> Path:
    for folder in (Path("/usr/lib/postgresql/15/bin"),
                   Path(shutil.which("psql") or "/nonexistent").parent):
        if (folder / "psql").exists():
            return folder
    pytest.fail("psql of PostgreSQL 15 not found (the suite's cluster needs it anyway)")


def run_script(pg_cluster, dbname: str, secrets: Path) -> None:
    (secrets / "owner").write_text(pg_cluster.owner_password)
    (secrets / "app").write_text(pg_cluster.app_password)
    env = {"PATH": f"{psql_dir()}:{os.environ.get('PATH', '')}",
           "POSTGRES_USER": pg_cluster.superuser, "POSTGRES_DB": dbname,
           "PGHOST": pg_cluster.host, "PGPORT": str(pg_cluster.port),
           "PGPASSWORD": pg_cluster.superuser_password,
           "OWNER_ROLE_PASSWORD_FILE": str(secrets / "owner"),
           "APP_ROLE_PASSWORD_FILE": str(secrets / "app")}
    result = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_the_roles_script_prepares_a_database_the_platform_provisions_into(
        pg_cluster, tmp_path, monkeypatch):
    from psycopg import errors, sql

    dbname = f"t_roles_{uuid.uuid4().hex[:12]}"
    with pg_cluster.connect("postgres", "superuser", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    try:
        run_script(pg_cluster, dbname, tmp_path)
        run_script(pg_cluster, dbname, tmp_path)  # again: nothing to create, no error
        with pg_cluster.connect(dbname, "superuser") as conn:
            owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database"
                                 " WHERE datname = current_database()").fetchone()[0]
        assert owner == pg_cluster.owner_user
        with pg_cluster.connect(dbname, "app") as conn, pytest.raises(
                errors.InsufficientPrivilege):
            conn.execute("CREATE SCHEMA not_yours")

        # The migrate job: platform init and a municipality, as the owner; served as the app.
        for name, value in pg_cluster.settings_env(dbname).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path / "data"))
        from yorisoi.infra.wiring.bootstrap import OPERATOR, Services, init_platform
        from yorisoi.infra.settings import Settings
        from yorisoi.services.context import acting_as

        settings = Settings()
        init_platform(settings)
        services = Services(settings)
        try:
            with acting_as(OPERATOR):
                services.directory.provision_municipality(code="131016", name="千代田区",
                                                          prefecture="東京都")
            assert [t.tenant_id for t in services.directory.registry.municipalities()] == [
                "131016"]
        finally:
            services.close()
    finally:
        pg_cluster.drop_database(dbname)
