"""The test infrastructure itself: the throwaway PostgreSQL cluster and moto S3."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from yorisoi.infra.settings import Settings


@pytest.mark.postgres
def test_cluster_accepts_the_app_role(pg_cluster, pg_database):
    with pg_cluster.connect(pg_database, "app") as conn:
        user, db, version = conn.execute(
            "SELECT current_user, current_database(), current_setting('server_version_num')::int"
        ).fetchone()
    assert (user, db) == ("yorisoi_app", pg_database)
    assert 150000 <= version < 160000


@pytest.mark.postgres
def test_cluster_is_tuned_for_tests(pg_cluster):
    with pg_cluster.connect("postgres", "superuser") as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (["fsync", "synchronous_commit", "full_page_writes", "max_connections"],),
            ).fetchall()
        )
    assert settings == {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "300",
    }


@pytest.mark.postgres
def test_app_role_is_unprivileged(pg_cluster, pg_database):
    with pg_cluster.connect(pg_database, "app") as conn:
        rows = conn.execute(
            "SELECT rolname, rolsuper, rolbypassrls, rolcreatedb, rolcreaterole "
            "FROM pg_roles WHERE rolname IN ('yorisoi_app', 'yorisoi_owner') ORDER BY rolname"
        ).fetchall()
        assert rows == [
            ("yorisoi_app", False, False, False, False),
            ("yorisoi_owner", False, False, False, False),
        ]
        # The app role owns nothing and may not create objects in public.
        owned = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = 'yorisoi_app'::regrole"
        ).fetchone()[0]
        assert owned == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.nope (id int)")


@pytest.mark.postgres
def test_owner_role_owns_the_database_and_runs_ddl(pg_cluster, pg_database):
    with pg_cluster.connect(pg_database, "owner") as conn:
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]
        assert owner == "yorisoi_owner"
        conn.execute("CREATE TABLE public.t (id int)")
        conn.execute("GRANT SELECT ON public.t TO yorisoi_app")
        conn.commit()
    with pg_cluster.connect(pg_database, "app") as conn:
        assert conn.execute("SELECT count(*) FROM public.t").fetchone()[0] == 0


@pytest.mark.postgres
def test_wrong_password_is_rejected(pg_cluster):
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host=pg_cluster.host,
            port=pg_cluster.port,
            dbname="postgres",
            user=pg_cluster.app_user,
            password="wrong",
            connect_timeout=5,
        )


@pytest.mark.postgres
def test_pg_database_is_fresh_and_dropped(pg_cluster):
    name = pg_cluster.create_database(f"t_infra_{uuid.uuid4().hex[:12]}")
    try:
        with pg_cluster.connect(name, "owner", autocommit=True) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                "('pg_catalog', 'information_schema')"
            ).fetchone()[0]
            assert tables == 0
            # An open session must not prevent the drop (WITH FORCE).
            pg_cluster.drop_database(name)
        with pg_cluster.connect("postgres", "superuser") as conn:
            exists = conn.execute(
                "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()[0]
        assert exists == 0
    finally:
        pg_cluster.drop_database(name)


_seen_databases: list[str] = []


@pytest.mark.postgres
@pytest.mark.parametrize("round_", [1, 2])
def test_pg_database_fixture_is_unique_per_test(pg_cluster, pg_database, round_):
    with pg_cluster.connect("postgres", "superuser") as conn:
        names = {
            row[0]
            for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")
        }
    # This one exists; those of earlier tests in this worker are gone.
    assert pg_database in names
    assert not names & set(_seen_databases)
    assert pg_database not in _seen_databases
    _seen_databases.append(pg_database)


@pytest.mark.postgres
def test_pg_settings(pg_cluster, pg_database, pg_settings, tmp_path):
    assert isinstance(pg_settings, Settings)
    assert pg_settings.backend == "postgres"
    assert pg_settings.environment == "test"
    assert pg_settings.data_dir == tmp_path
    assert pg_settings.pg_dbname == pg_database
    assert pg_settings.pg_user == "yorisoi_app"
    assert pg_settings.pg_admin_user == "yorisoi_owner"
    env = pg_cluster.settings_env(pg_database)
    assert env["YORISOI_PG_PORT"] == str(pg_settings.pg_port)
    assert env["YORISOI_PG_PASSWORD"] == pg_settings.pg_password.get_secret_value()
    with psycopg.connect(
        host=pg_settings.pg_host,
        port=pg_settings.pg_port,
        dbname=pg_settings.pg_dbname,
        user=pg_settings.pg_user,
        password=pg_settings.pg_password.get_secret_value(),
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "yorisoi_app"


def test_settings_env_is_read_by_settings(pg_cluster, monkeypatch):
    for key, value in pg_cluster.settings_env("somedb").items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.backend == "postgres"
    assert settings.pg_dbname == "somedb"
    assert settings.pg_port == pg_cluster.port
    assert settings.pg_admin_password.get_secret_value() == pg_cluster.owner_password


def test_sqlite_settings(sqlite_settings, tmp_path):
    assert sqlite_settings.backend == "sqlite"
    assert sqlite_settings.environment == "test"
    assert sqlite_settings.sqlite_dir == tmp_path / "sqlite"


@pytest.mark.s3
def test_moto_s3_round_trip(s3_env):
    import boto3

    assert s3_env.startswith("http://127.0.0.1:")
    s3 = boto3.client("s3", endpoint_url=s3_env)
    bucket = f"yorisoi-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"},
    )
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body="利用者支援".encode())
    body = s3.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read()
    assert body.decode() == "利用者支援"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["a/b.txt"]
