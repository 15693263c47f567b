"""The registry's in-process cache: answers from memory, yet changes apply on the next request.

The app under test keeps its cache warm; the changes are made through a second
``Services`` (its own pools, its own cache: another process, as far as the app can
tell).  The very next request after the change commits must see it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from world import CASES, CITY_A, NPO, World, build_world, gql

from yorisoi.infra.clock import japan_today
from yorisoi.infra.http.app import create_app
from yorisoi.infra.wiring.bootstrap import OPERATOR, Services
from yorisoi.services.context import acting_as
from yorisoi.tenants.registry import RegistryQueries, registry_request

pytestmark = pytest.mark.postgres

NEWCOMER = "npo-asahi"


@pytest.fixture
def world(pg_settings: Any) -> Iterator[World]:
    built = build_world(pg_settings)
    yield built
    built.services.close()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.services.settings, world.services)) as test_client:
        yield test_client


@pytest.fixture
def elsewhere(world: World) -> Iterator[Services]:
    """Another process's services: the registry is changed through these."""
    other = Services(world.services.settings)
    yield other
    other.close()


class Reads:
    """Counts what a RegistryQueries reads: version checks and table reads."""

    def __init__(self, registry: RegistryQueries, monkeypatch: pytest.MonkeyPatch) -> None:
        self.versions = 0
        self.tables = 0
        version, transaction = registry._current_version, registry._transaction

        def counted_version() -> Any:
            self.versions += 1
            return version()

        def counted_transaction(tenant: str | None) -> Any:
            self.tables += 1
            return transaction(tenant)

        monkeypatch.setattr(registry, "_current_version", counted_version)
        monkeypatch.setattr(registry, "_transaction", counted_transaction)

    def reset(self) -> None:
        self.versions = self.tables = 0


def cases(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    return gql(client, CASES, {"code": CITY_A, "first": 5}, headers)


def refused(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


def test_warm_requests_read_only_the_registrys_version(client, world, monkeypatch):
    headers = world.headers("municipality", CITY_A, roles=("municipal_supervisor",))
    assert refused(cases(client, headers)) is None  # warms the cache
    reads = Reads(world.services.directory.registry, monkeypatch)
    in_threads: list[str] = []
    verify = world.services.verifier.verify
    monkeypatch.setattr(world.services.verifier, "verify",
                        lambda token: in_threads.append(token) or verify(token))
    for _ in range(3):
        assert refused(cases(client, headers)) is None
    # One version check per request (token, tenant and grants all answered from memory),
    # and the token checked on the event loop, from memory too.
    assert (reads.versions, reads.tables) == (3, 0)
    assert in_threads == []


def test_outside_a_request_every_lookup_checks_the_version(world, monkeypatch):
    registry = world.services.directory.registry
    assert registry.tenant(CITY_A) is not None
    reads = Reads(registry, monkeypatch)
    assert registry.tenant(CITY_A) is not None
    assert registry.tenant(CITY_A) is not None
    assert (reads.versions, reads.tables) == (2, 0)


def test_a_revoked_grant_applies_on_the_next_request(client, world, elsewhere):
    today = japan_today()
    with acting_as(OPERATOR):
        grant_id = elsewhere.directory.grant_access(
            municipality_code=CITY_A, subject_kind="municipality", subject_tenant=CITY_A,
            subject="acting-supervisor", role="municipal_supervisor", site_ids=[],
            starts_on=today - timedelta(days=1), ends_on=None, reason="代理")
    # No role in the token: the explicit grant is the only standing.
    headers = world.headers("municipality", CITY_A, subject="acting-supervisor", roles=())
    for _ in range(2):
        assert refused(cases(client, headers)) is None

    with acting_as(OPERATOR):
        elsewhere.directory.revoke_access(municipality_code=CITY_A, grant_id=grant_id,
                                          revoked_on=today, reason="異動")
    assert refused(cases(client, headers)) == "role_not_permitted"


def test_a_suspended_contract_applies_on_the_next_request(client, world, elsewhere):
    headers = world.headers("contractor", NPO, roles=("specialist",), sites=("a-hiroba",))
    for _ in range(2):
        assert refused(cases(client, headers)) is None

    with acting_as(OPERATOR):
        elsewhere.directory.suspend_contract(contract_id="contract-a-npo",
                                             suspended_on=japan_today(),
                                             reason="audit_finding")
    assert refused(cases(client, headers)) == "contract_not_active"

    with acting_as(OPERATOR):
        elsewhere.directory.resume_contract(contract_id="contract-a-npo",
                                            resumed_on=japan_today())
    assert refused(cases(client, headers)) is None


def test_a_newly_registered_issuer_applies_on_the_next_request(client, world, elsewhere):
    with acting_as(OPERATOR):
        elsewhere.directory.provision_contractor(contractor_id=NEWCOMER, name="NPO法人 あさひ")
    headers = world.headers("contractor", NEWCOMER, roles=("specialist",))
    for _ in range(2):  # "unknown issuer" is an answer the cache holds too
        response = client.post("/graphql", json={"query": CASES,
                                                 "variables": {"code": CITY_A, "first": 5}},
                               headers=headers)
        assert response.status_code == 401
        assert response.json()["detail"]["code"] == "issuer_unknown"

    assert elsewhere.dev_issuer is not None
    with acting_as(OPERATOR):
        elsewhere.directory.register_identity_provider(
            elsewhere.dev_issuer.registration_for("contractor", NEWCOMER))
    # Authenticated now; the newcomer has no contract with the city, so it is refused there.
    assert refused(cases(client, headers)) == "contract_not_active"


def test_a_change_in_this_process_applies_within_the_same_request(world):
    registry = world.services.directory.registry
    with registry_request(), acting_as(OPERATOR):
        assert registry.contract("contract-a-npo").status == "active"
        world.services.directory.suspend_contract(
            contract_id="contract-a-npo", suspended_on=japan_today(), reason="audit_finding")
        assert registry.contract("contract-a-npo").status == "suspended"


def test_a_rebuilt_registry_view_is_a_new_version(world, monkeypatch):
    registry = world.services.directory.registry
    assert registry.tenant(CITY_A) is not None
    world.services.directory.projector.rebuild()  # same position, new rows
    reads = Reads(registry, monkeypatch)
    assert registry.tenant(CITY_A) is not None
    assert reads.tables == 1


def test_inside_a_platform_transaction_lookups_read_within_it(world, monkeypatch):
    registry = world.services.directory.registry
    assert registry.tenant(CITY_A) is not None  # cached
    reads = Reads(registry, monkeypatch)
    with registry.db.transaction(write=False, lookup="platform"):
        assert registry.tenant(CITY_A) is not None
    # No version check (it would take a second connection): the open transaction answers.
    assert (reads.versions, reads.tables) == (0, 1)
