"""The deployment recipes under infra/deploy/, read back and checked against the code.

No container daemon or init system runs on these machines: the compose file is
parsed (PyYAML) and its settings compared with ``infra/settings.py``; the
Dockerfile's structure is read; the systemd units go through
``systemd-analyze verify`` where it exists, and a parser everywhere.  The
image's install steps themselves run in tests/deploy/test_image_install.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from yorisoi.infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "infra" / "deploy"
SETTINGS = {f"YORISOI_{name.upper()}" for name in Settings.model_fields}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def env_file(name: str) -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def service_env(service: dict) -> set[str]:
    names = set(service.get("environment") or {})
    for file in service.get("env_file") or []:
        names |= set(env_file(f"{file}.example"))
    return names


def command_text(service: dict) -> str:
    parts = []
    for key in ("entrypoint", "command"):
        value = service.get(key) or []
        parts += [value] if isinstance(value, str) else value
    return " ".join(" ".join(parts).split())


# --------------------------------------------------------------------------- compose


def test_every_yorisoi_variable_is_a_setting_the_application_reads(compose):
    named = set(env_file("yorisoi.env.example")) | set(env_file("owner.env.example"))
    for service in compose["services"].values():
        named |= service_env(service)
    yorisoi = {name for name in named if name.startswith("YORISOI_")}
    assert yorisoi, "the recipes configure nothing?"
    assert yorisoi <= SETTINGS, sorted(yorisoi - SETTINGS)


def test_the_examples_parse_as_the_settings_they_describe(monkeypatch):
    """Each value is valid for its field (a typo in a Literal would fail here)."""
    values = {**env_file("yorisoi.env.example"), **env_file("owner.env.example")}
    for name in [n for n in __import__("os").environ if n.startswith("YORISOI_")]:
        monkeypatch.delenv(name)
    for name, value in values.items():
        if name.startswith("YORISOI_"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.backend, settings.storage, settings.environment) == (
        "postgres", "s3", "production")
    assert settings.dev_issuer is False
    assert settings.s3_audit_bucket and settings.s3_audit_bucket != settings.s3_bucket


def test_the_stack_has_two_apis_a_worker_and_a_migration_job(compose):
    services = compose["services"]
    apis = [name for name, s in services.items() if command_text(s).split()[:1] == ["serve"]]
    assert len(apis) >= 2, apis
    for name in apis:
        assert "--no-demo" in command_text(services[name])
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully")
    assert command_text(services["worker"]) == "worker"
    migrate = command_text(services["migrate"])
    assert migrate.index("yorisoi platform init") < migrate.index("yorisoi tenant upgrade")
    assert services["migrate"]["restart"] == "no"
    assert all(services[n]["restart"] == "unless-stopped" for n in [*apis, "worker"])


def test_postgres_is_15_and_the_audit_bucket_has_object_lock(compose):
    services = compose["services"]
    assert re.match(r"postgres:15(\b|-)", services["postgres"]["image"])
    settings = env_file("yorisoi.env.example")
    buckets = command_text(services["buckets"])
    assert f"--with-lock staging/{settings['YORISOI_S3_AUDIT_BUCKET']}" in buckets
    assert f"staging/{settings['YORISOI_S3_BUCKET']}" in buckets
    assert settings["YORISOI_S3_ENDPOINT_URL"] == "http://minio:9000"
    roles = (DEPLOY / "postgres" / "10-roles.sh").read_text(encoding="utf-8")
    assert "yorisoi_owner" in roles and "yorisoi_app" in roles and "NOBYPASSRLS" in roles
    assert settings["YORISOI_PG_USER"] == "yorisoi_app"
    assert env_file("owner.env.example")["YORISOI_PG_ADMIN_USER"] == "yorisoi_owner"


def test_only_the_migration_and_seed_jobs_hold_the_owner_password(compose):
    for name, service in compose["services"].items():
        holds = "YORISOI_PG_ADMIN_PASSWORD" in service_env(service)
        assert holds == (name in ("migrate", "seed")), name
    assert "YORISOI_PG_ADMIN_PASSWORD" not in env_file("yorisoi.env.example")


def test_every_file_the_stack_mounts_or_reads_is_in_the_repository(compose):
    for service in compose["services"].values():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source
        for file in service.get("env_file") or []:
            assert (DEPLOY / f"{file}.example").exists(), file
    assert compose["services"]["api-1"]["build"]["dockerfile"] == "infra/deploy/Dockerfile"
    assert (DEPLOY / compose["services"]["api-1"]["build"]["context"]).resolve() == ROOT


def test_the_identity_provider_issues_what_the_api_verifies(compose):
    """Realms' roles are the role catalogue's; the seed registers each realm as an issuer."""
    from yorisoi.domain.access_grants import ROLES

    seed = command_text(compose["services"]["seed"])
    for path in sorted((DEPLOY / "keycloak").glob("*-realm.json")):
        realm = json.loads(path.read_text(encoding="utf-8"))
        assert {r["name"] for r in realm["roles"]["realm"]} <= set(ROLES), path.name
        (client,) = realm["clients"]
        # The console signs in as a public client with PKCE, its client id being the
        # audience the registration records ("yorisoi", register-issuer's default).
        assert client["clientId"] == "yorisoi" and client["publicClient"] is True
        assert client["attributes"]["pkce.code.challenge.method"] == "S256"
        assert "--audience" not in seed
        mappers = {m["protocolMapper"]: m["config"] for m in client["protocolMappers"]}
        assert mappers["oidc-audience-mapper"]["included.custom.audience"] == "yorisoi"
        name = realm["realm"]
        # One issuer name for browsers and the API (no localhost: inside a container
        # that is the container itself).
        assert f"http://keycloak:8081/realms/{name} " in seed
        assert f"http://keycloak:8081/realms/{name}/protocol/openid-connect/certs" in seed


# ------------------------------------------------------------------------ Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines  # type: ignore[misc]
            if line and not line.startswith("#") and " " in line]


def test_the_image_is_multi_stage_non_root_and_checks_readiness():
    instructions = dockerfile()
    stages = [i for i, (op, _) in enumerate(instructions) if op == "FROM"]
    assert len(stages) >= 2
    final = instructions[stages[-1]:]
    users = [arg for op, arg in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    (check,) = [arg for op, arg in final if op == "HEALTHCHECK"]
    assert "/readyz" in check
    assert any(op == "COPY" and "--from=build" in arg for op, arg in final)
    assert not any(op == "RUN" and "pip install" in arg for op, arg in final)
    (cmd,) = [json.loads(arg) for op, arg in final if op == "CMD"]
    assert cmd[0] == "serve" and "--no-demo" in cmd


def test_the_build_context_keeps_every_package_and_drops_the_tests():
    import tomllib

    ignored = [line.strip() for line in
               (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    folders = set(project["tool"]["setuptools"]["package-dir"].values())
    assert folders and not folders & set(ignored)
    assert {"tests", ".venv", "var", ".git"} <= set(ignored)


# --------------------------------------------------------------------------- systemd


def unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections as (key, value) lists (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"{path.name}: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_unit_runs_unprivileged_and_hardened(path):
    service = dict(unit(path)["Service"])
    assert service["User"] == "yorisoi" and service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict" and service["CapabilityBoundingSet"] == ""
    assert service["ExecStart"].startswith("/opt/yorisoi/bin/yorisoi ")
    if service["Type"] != "oneshot":
        assert service["Restart"] == "always" and "RestartSec" in service
        assert "/etc/yorisoi/owner.env" not in [v for k, v in unit(path)["Service"]
                                                if k == "EnvironmentFile"]


def test_the_units_run_the_api_the_worker_and_the_migrations():
    starts = {p.name: [v for k, v in unit(p)["Service"] if k == "ExecStart"] for p in UNITS}
    assert "serve" in starts["yorisoi-api@.service"][0]
    assert "--port %i" in starts["yorisoi-api@.service"][0]
    assert starts["yorisoi-worker.service"] == ["/opt/yorisoi/bin/yorisoi worker"]
    assert [s.split()[1:] for s in starts["yorisoi-migrate.service"]] == [
        ["platform", "init"], ["tenant", "upgrade"]]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify_finds_nothing(tmp_path):
    """systemd's own parser: unknown keys and bad values are warnings, so stderr must be empty.

    ExecStart must name an executable that exists: the units' path is pointed at this
    environment's ``yorisoi`` for the check.
    """
    import sys

    here = str(Path(sys.executable).parent / "yorisoi")
    names = []
    for path in UNITS:
        name = path.name.replace("@.service", "@8001.service")
        (tmp_path / name).write_text(path.read_text(encoding="utf-8").replace(
            "/opt/yorisoi/bin/yorisoi", here), encoding="utf-8")
        if name != path.name:
            (tmp_path / path.name).write_text((tmp_path / name).read_text(encoding="utf-8"))
        names.append(str(tmp_path / name))
    result = subprocess.run(["systemd-analyze", "verify", *names], capture_output=True,
                            text=True, timeout=120, check=False)
    problems = [line for line in result.stderr.splitlines()
                if line.startswith(str(tmp_path))]
    assert result.returncode == 0 and not problems, result.stderr


# -------------------------------------------------------------------------- Makefile


@pytest.mark.skipif(shutil.which("make") is None, reason="no make here")
def test_make_run_installs_the_runtime_only_and_make_test_everything():
    def planned(target: str) -> str:
        return subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, check=True).stdout

    run, test = planned("run"), planned("test")
    assert "pip install" in run and "[test]" not in run
    assert "-e '.[test]'" in test
