"""A live move: a municipality moves to the other worker while its staff keep writing.

Writes go through the product's command path (GraphQL mutations with an
Idempotency-Key, ~10 a second) for the whole move, which runs as an operator runs
it (``yorisoi tenant move CODE --to NODE --yes``).  No write may fail, every
acknowledged write must be there afterwards, and the audit ledger must verify.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from typer.testing import CliRunner
from world import CITY_A, RECORD, consultation_input, npo

from yorisoi.infra import cli
from yorisoi.infra.settings import get_settings
from yorisoi.tenants.placement import move as move_tenant
from yorisoi.tenants.placement import placements, plan_move

WRITE_INTERVAL = 0.1  # at most ~10 writes a second


@pytest.fixture
def operator(citus_world, monkeypatch):
    for name, value in citus_world.env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli.app, list(args))
        return result.exit_code, result.output

    yield run
    get_settings.cache_clear()


class Writer:
    """Records consultations until stopped; keeps every acknowledgement and every failure."""

    def __init__(self, client, headers) -> None:
        self.client, self.headers = client, headers
        self.acknowledged: list[str] = []
        self.failures: list[str] = []
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                response = self.client.post(
                    "/graphql", json={"query": RECORD, "variables": {"input": consultation_input()}},
                    headers={**self.headers, "Idempotency-Key": str(uuid.uuid4())})
                body = response.json()
                result = (body.get("data") or {}).get("recordConsultation") or {}
                if response.status_code == 200 and result.get("__typename") == \
                        "ConsultationRecorded":
                    self.acknowledged.append(result["case"]["id"])
                else:  # the type of failure only: no request text in test output
                    self.failures.append(f"{response.status_code} {result.get('__typename')}"
                                         f" {[e.get('message') for e in body.get('errors', [])]}")
            except Exception as error:  # noqa: BLE001 - counted, reported by type
                self.failures.append(type(error).__name__)
            self.latencies.append(time.monotonic() - started)
            self.stop.wait(WRITE_INTERVAL)


def test_pre_checks_refuse_before_anything_changes(citus_world, operator):
    (here,) = placements(citus_world.settings, [CITY_A])
    code, output = operator("tenant", "move", CITY_A, "--to", here.node, "--yes")
    assert code == 2 and "すでにそのノードにあります" in output, output
    code, output = operator("tenant", "move", CITY_A, "--to", "127.0.0.1:1", "--yes")
    assert code == 2 and "No such node" in output, output
    code, output = operator("tenant", "move", "999999", "--to", here.node, "--yes")
    assert code == 2, output
    code, output = operator("tenant", "placement", "--as-json")
    assert code == 0 and '"name": "千代田区"' in output, output


@pytest.mark.slow
def test_a_live_move_under_write_load_loses_nothing(citus_world, citus_client, operator):
    cw = citus_world
    (before,) = placements(cw.settings, [CITY_A])
    target = next(f"{h}:{p}" for h, p in cw.cluster.workers if f"{h}:{p}" != before.node)
    writer = Writer(citus_client, npo(cw.world))
    writer.thread.start()
    try:
        while len(writer.acknowledged) < 5 and not writer.failures:  # load is on first
            time.sleep(0.05)
        code, output = operator("tenant", "move", CITY_A, "--to", target, "--yes")
        writes_during = len(writer.acknowledged)
        time.sleep(1)  # and a few writes after the switch-over
    finally:
        writer.stop.set()
        writer.thread.join(timeout=120)
    assert code == 0, output
    assert "the audit ledger verifies" in output
    assert writer.failures == []
    assert len(writer.acknowledged) > writes_during > 5
    (after,) = placements(cw.settings, [CITY_A])
    assert after.node == target

    with cw.owner() as conn:
        cases = {r[0] for r in conn.execute("SELECT case_id FROM t_131016.case_view").fetchall()}
    assert set(writer.acknowledged) <= cases

    code, output = operator("audit", "checkpoint", "--tenant", CITY_A)
    assert code == 0, output
    code, output = operator("audit", "verify", "--tenant", CITY_A)
    assert code == 0 and "監査台帳の検証に成功しました" in output, output

    # Back where the session's world has it (and a second move, without load).
    move_tenant(cw.settings, plan_move(cw.settings, CITY_A, before.node))
