"""Rate limits per principal and per tenant: token buckets with an injected clock.

The HTTP tests run the real app on the embedded SQLite backend with real
tokens; time moves only when a test advances the clock (no sleeps).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from world import CITY_A, CITY_B, NPO, RECORD, build_world, consultation_input, head

from yorisoi.infra.http.app import create_app
from yorisoi.infra.rate_limits import Rate, RateLimiter
from yorisoi.infra.settings import Settings

CASES = "query { cases { totalCount } }"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def world(sqlite_settings):
    built = build_world(sqlite_settings)
    yield built
    built.services.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limited(world: Any, clock: Clock):
    """The app with limits on: 3 per principal, 5 per tenant, refilling 1/s and 2/s."""
    settings = world.services.settings.model_copy(update={
        "rate_limits": True, "rate_limit_principal_burst": 3,
        "rate_limit_principal_per_second": 1.0, "rate_limit_tenant_burst": 5,
        "rate_limit_tenant_per_second": 2.0})
    app = create_app(settings, world.services)
    assert isinstance(app.state.rate_limiter, RateLimiter)
    app.state.rate_limiter = RateLimiter.from_settings(settings, clock=clock)
    with TestClient(app) as client:
        yield client


def staff(world: Any, subject: str, tenant: str = CITY_A) -> dict[str, str]:
    return world.headers("municipality", tenant, subject=subject,
                         roles=("municipal_supervisor",))


def ask(client: TestClient, headers: dict[str, str], query: str = CASES) -> Any:
    return client.post("/graphql", json={"query": query}, headers=headers)


def assert_limited(response: Any, limit: str) -> None:
    assert response.status_code == 429, (response.status_code, response.text)
    assert int(response.headers["Retry-After"]) >= 1
    detail = response.json()["detail"]
    assert detail["code"] == "rate_limited" and detail["limit"] == limit, detail
    assert detail["message"] and detail["messageJa"], detail


# --------------------------------------------------------------------------- buckets


def test_a_bucket_allows_its_burst_then_refills_at_its_rate(clock: Clock):
    limiter = RateLimiter(principal=Rate(2.0, 3), tenant=Rate(100.0, 100), clock=clock)
    assert [limiter.take(principal="p") for _ in range(3)] == [None, None, None]
    refusal = limiter.take(principal="p")
    assert refusal is not None and refusal.limit == "principal"
    assert refusal.retry_after == pytest.approx(0.5)
    assert refusal.retry_after_header == "1"  # whole seconds, rounded up
    clock.advance(0.49)
    assert limiter.take(principal="p") is not None
    clock.advance(0.02)
    assert limiter.take(principal="p") is None
    clock.advance(3600)  # never above the burst
    assert [limiter.take(principal="p") for _ in range(4)][-1] is not None


def test_a_refusal_charges_no_bucket(clock: Clock):
    limiter = RateLimiter(principal=Rate(1.0, 5), tenant=Rate(1.0, 2), clock=clock)
    assert limiter.take(principal="a", tenant="t") is None
    assert limiter.take(principal="a", tenant="t") is None
    refusal = limiter.take(principal="a", tenant="t")
    assert refusal is not None and refusal.limit == "tenant"
    # The tenant refused; "a" kept its own three tokens.
    results = [limiter.take(principal="a") for _ in range(4)]
    assert results[:3] == [None, None, None]
    assert results[3] is not None and results[3].limit == "principal"


def test_the_number_of_buckets_is_bounded(clock: Clock):
    limiter = RateLimiter(principal=Rate(1.0, 1), tenant=Rate(1.0, 1), clock=clock,
                          max_buckets=10)
    for i in range(50):
        assert limiter.take(principal=f"p{i}") is None
    assert len(limiter._buckets) == 10


def test_limits_are_on_outside_tests_unless_switched(tmp_path):
    assert Settings(data_dir=tmp_path, environment="development").rate_limits_enabled
    assert Settings(data_dir=tmp_path, environment="production").rate_limits_enabled
    assert not Settings(data_dir=tmp_path, environment="test").rate_limits_enabled
    assert Settings(data_dir=tmp_path, environment="test", rate_limits=True).rate_limits_enabled
    assert not Settings(data_dir=tmp_path, environment="production",
                        rate_limits=False).rate_limits_enabled


# --------------------------------------------------------------------------- over HTTP


def test_one_principal_exhausting_its_bucket_does_not_affect_another(limited, world, clock):
    alice, bob = staff(world, "alice"), staff(world, "bob")
    for _ in range(3):
        assert ask(limited, alice).status_code == 200
    assert_limited(ask(limited, alice), "principal")
    ok = ask(limited, bob)
    assert ok.status_code == 200 and ok.json() == {"data": {"cases": {"totalCount": 0}}}
    clock.advance(1.0)
    assert ask(limited, alice).status_code == 200  # one token back after a second
    assert_limited(ask(limited, alice), "principal")


def test_a_tenants_limit_applies_across_its_principals(limited, world, clock):
    for subject, count in (("alice", 3), ("bob", 2)):
        for _ in range(count):
            assert ask(limited, staff(world, subject)).status_code == 200
    # The municipality's five are spent: a third colleague, with a full bucket, waits too.
    assert_limited(ask(limited, staff(world, "carol")), "tenant")
    # Another municipality, and the contractor serving this one, are other tenants.
    assert ask(limited, staff(world, "alice", CITY_B)).status_code == 200
    npo = world.headers("contractor", NPO, subject="npo-1", sites=("a-hiroba",))
    assert ask(limited, npo, 'query { cases(municipalityCode: "131016") { totalCount } }'
               ).status_code == 200
    clock.advance(0.5)  # the tenant refills at 2/s
    assert ask(limited, staff(world, "carol")).status_code == 200


def test_a_refused_request_does_no_work(limited, world):
    npo = world.headers("contractor", NPO, subject="npo-1", sites=("a-hiroba",))
    for _ in range(3):
        assert ask(limited, npo, "{ __typename }").status_code == 200
    before = head(world)
    response = limited.post("/graphql", json={"query": RECORD,
                                              "variables": {"input": consultation_input()}},
                            headers=npo)
    assert_limited(response, "principal")
    assert head(world) == before
    assert "架空" not in response.text


def test_rest_endpoints_with_a_token_share_the_principals_bucket(limited, world):
    alice = staff(world, "alice")
    link = (f"/api/municipalities/{CITY_A}/cases/00000000-0000-0000-0000-000000000000"
            "/attachments/x")
    assert limited.get(link, headers=alice).status_code == 404  # ran: no such case
    assert ask(limited, alice).status_code == 200
    assert ask(limited, alice).status_code == 200
    assert_limited(limited.get(link, headers=alice), "principal")
    assert_limited(ask(limited, alice), "principal")
    # Health checks are never limited.
    assert limited.get("/healthz").status_code == 200


def test_forged_tokens_cannot_drain_a_real_principals_bucket(limited, world):
    alice = staff(world, "alice")
    forged = {"Authorization": alice["Authorization"][:-8] + "AAAAAAAA"}
    statuses = [ask(limited, forged).status_code for _ in range(4)]
    # Unverified requests share the client's bucket (3 here): the fourth is refused.
    assert statuses[:3] == [401, 401, 401], statuses
    assert statuses[3] == 429
    for _ in range(3):
        assert ask(limited, alice).status_code == 200
    # Anonymous public queries share that client bucket as well.
    assert_limited(limited.post("/graphql", json={"query": "{ __typename }"}), "client")


def test_without_limits_many_requests_pass(client, world):
    assert client.app.state.rate_limiter is None  # environment=test, not switched on
    alice = staff(world, "alice")
    assert all(ask(client, alice, "{ __typename }").status_code == 200 for _ in range(120))
