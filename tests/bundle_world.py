"""Deployments for the bundle drills: a source with the demo's records, destinations, reads."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from key_destruction import destroy_key

from yorisoi.infra.demo import CITY_SPECIALIST, SPECIALIST, SUPERVISOR, demo_token, load_demo
from yorisoi.infra.settings import Settings
from yorisoi.infra.wiring.bootstrap import Services, init_platform
from yorisoi.services.audit_verify import VerificationReport, ledger_sources, verify

CITY = "131016"
OPERATIONS = Path(__file__).resolve().parents[1] / "graphql" / "operations"
# A timeline and a household's people as the case page reads them (no operation file has these).
TIMELINE = """query Timeline($id: ID!) { case(id: $id) { id receptionNumber
  household { id disposed masked guardians { name reading relationship phone }
              children { name reading birthDate } }
  timeline(first: 50) { totalCount nodes { id kind occurredOn summary actor channel themes } }
  } }"""


def settings_for(kind: str, data_dir: Path, cluster: Any = None) -> tuple[Settings, str | None]:
    """A deployment's settings; on PostgreSQL a database of its own (returned to drop later)."""
    if kind == "sqlite":
        return Settings(backend="sqlite", data_dir=data_dir, environment="test",
                        dev_issuer=True), None
    dbname = cluster.create_database(f"t_bundle_{uuid.uuid4().hex[:12]}")
    return Settings(backend="postgres", pg_host=cluster.host, pg_port=cluster.port,
                    pg_dbname=dbname, pg_user=cluster.app_user, pg_password=cluster.app_password,
                    pg_admin_user=cluster.owner_user, pg_admin_password=cluster.owner_password,
                    data_dir=data_dir, environment="test", dev_issuer=True), dbname


def source_deployment(settings: Settings) -> tuple[Services, str]:
    """The demo's municipality with one household disposed of (its key destroyed)."""
    init_platform(settings)
    services = Services(settings)
    load_demo(services)
    with services.runtimes.lease(CITY) as rt:
        with rt.casework.database.transaction(write=False) as cur:
            households = [r["household_id"] for r in cur.execute(
                "SELECT household_id FROM {s}household_view ORDER BY household_id").fetchall()]
        disposed = households[0]
        assert destroy_key(rt, disposed)
        rt.catch_up()
    return services, disposed


def destination(settings: Settings, source_settings: Settings) -> Services:
    """A fresh deployment whose development issuer is the source's (the municipality's
    identity provider moves with it: its registration travels in the bundle)."""
    keys = Path(settings.data_dir) / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(source_settings.data_dir) / "keys" / "dev-issuer.pem",
                    keys / "dev-issuer.pem")
    init_platform(settings)
    return Services(settings)


def _code(document: str) -> str:
    return "\n".join(line for line in document.splitlines()
                     if not line.lstrip().startswith("#")).strip()


def _gql(client: Any, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


def specialist_reads(services: Services) -> dict[str, Any]:
    """Every read operation the specialists' clients send, and each case's file and timeline."""
    from fastapi.testclient import TestClient

    from yorisoi.infra.http.app import create_app

    answers: dict[str, Any] = {}
    documents = {path.stem: text for path in sorted(OPERATIONS.glob("*.graphql"))
                 if _code(text := path.read_text()).startswith("query")}
    with TestClient(create_app(services.settings, services)) as client:
        for user in (CITY_SPECIALIST, SUPERVISOR, SPECIALIST):
            token = demo_token(services, user)
            for name, document in documents.items():
                if "$id" in document:
                    continue
                variables: dict[str, Any] = {"municipalityCode": CITY}
                if name == "search_cases":
                    variables["filter"] = {"text": "しけん"}
                answers[f"{user.subject}:{name}"] = _gql(client, token, document, variables)
            cases = _gql(client, token, documents["cases"],
                         {"municipalityCode": CITY})["data"]["cases"]["edges"]
            for edge in cases:
                case_id = edge["node"]["id"]
                for name in ("case", "case_file"):
                    answers[f"{user.subject}:{name}:{case_id}"] = _gql(
                        client, token, documents[name],
                        {"id": case_id, "municipalityCode": CITY})
                answers[f"{user.subject}:timeline:{case_id}"] = _gql(
                    client, token, TIMELINE, {"id": case_id})
    return answers


def verify_tenant(services: Services, code: str = CITY) -> VerificationReport:
    with services.runtimes.lease(code) as runtime:
        return verify(ledger_sources(services, runtime), services.signer.public_pem)


def key_row(services: Services, household_id: str) -> dict[str, Any] | None:
    with services.runtimes.lease(CITY) as rt, \
            rt.casework.database.transaction(write=False) as cur:
        return cur.execute("SELECT wrapped_key, destroyed_at FROM {s}household_keys"
                           " WHERE household_id = %s", (household_id,)).fetchone()


def event_count(services: Services, code: str = CITY) -> int:
    with services.runtimes.lease(code) as rt, \
            rt.casework.database.transaction(write=False) as cur:
        return int(cur.execute("SELECT COUNT(*) AS n FROM {events}").fetchone()["n"])
