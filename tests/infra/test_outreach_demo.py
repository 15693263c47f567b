"""The demo shows outreach: one visit done (its follow-up the specialist's task), one planned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from yorisoi.infra.clock import japan_today
from yorisoi.infra.demo import MUNICIPALITY, SPECIALIST, demo_token, load_demo
from yorisoi.infra.http.app import create_app
from yorisoi.infra.settings import Settings
from yorisoi.infra.wiring.bootstrap import Services, init_platform


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    settings = Settings(backend="sqlite", data_dir=tmp_path_factory.mktemp("outreach-demo"),
                        environment="test")
    init_platform(settings)
    services = Services(settings)
    try:
        load_demo(services)
        with TestClient(create_app(settings, services)) as client:
            yield client, services
    finally:
        services.close()


def test_the_demo_specialist_has_a_planned_visit_and_a_follow_up(demo):
    client, services = demo
    today = japan_today()
    headers = {"Authorization": f"Bearer {demo_token(services, SPECIALIST)}"}
    body = client.post("/graphql", headers=headers, json={"query": """query($code: String!,
        $from: String!, $to: String!) {
      visitCalendar(municipalityCode: $code, from: $from, to: $to) {
        status kind plannedOn summary visitors { name } }
      myTasks(municipalityCode: $code, first: 50) { edges { node { kind overdue dueOn } } }
    }""", "variables": {"code": MUNICIPALITY, "from": (today - timedelta(days=7)).isoformat(),
                        "to": (today + timedelta(days=7)).isoformat()}}).json()
    assert "errors" not in body, body
    visits = body["data"]["visitCalendar"]
    assert [(v["status"], v["kind"]) for v in visits] == [
        ("done", "with_public_health_nurse"), ("planned", "home_visit")]
    assert visits[0]["summary"] and visits[1]["plannedOn"] == (
        today + timedelta(days=2)).isoformat()
    kinds = {t["node"]["kind"]: t["node"] for t in body["data"]["myTasks"]["edges"]}
    assert not kinds["outreach_visit"]["overdue"] and not kinds["visit_follow_up"]["overdue"]
