"""PostgreSQL goes away and comes back: the API and the worker heal, clients get fast 503s.

One story on the suite's own cluster (``own_cluster``), with the API (uvicorn) and
the worker (``yorisoi worker``) as processes of their own, as an operator runs them:

1. both start while the database is down (the API answers /healthz, /readyz says
   503, the worker waits) and become ready when it appears;
2. under write load the database is stopped: every answer is a success or a
   503 with ``Retry-After`` and the typed, retryable ``service_unavailable`` error —
   fast (not the pool's 10 s), and never the pool's or the driver's own text;
3. it is started again: /readyz turns 200 by itself, every write acknowledged
   before is there (its key answers the same), every refused one succeeds when
   retried with its key, and the worker — never restarted — catches every view up;
4. SIGTERM ends the worker after the batch in hand, with exit code 0.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from reliability.processes import Writers, ended, spawn_api, spawn_worker, wait_healthy
from reliability.processes import poll as _poll
from world import CITY_A, RECORD, build_world, consultation_input, npo

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# What the pool, the driver or a Python exception would say; none may reach a client.
INTERNAL = ("pool", "psycopg", "operationalerror", "connection", "couldn't", "timeout",
            "traceback", "127.0.0.1", "unexpected error")
# An outage answer must come far sooner than the pool's old 10 s wait.
FAST_ENOUGH = 5.0


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def _check_answer(answer: dict[str, Any]) -> None:
    assert answer["status"] in (200, 503), answer
    lowered = answer["text"].lower()
    assert not any(word in lowered for word in INTERNAL), answer["text"]
    if answer["status"] == 200:
        result = answer["json"]["data"]["recordConsultation"]
        assert result["__typename"] == "ConsultationRecorded", answer["text"]
        return
    (error,) = answer["json"]["errors"]
    assert error["extensions"]["code"] == "service_unavailable", answer["text"]
    assert error["extensions"]["retryable"] is True
    assert error["extensions"]["messageJa"]
    assert int(answer["retry_after"]) >= 1
    assert answer["seconds"] < FAST_ENOUGH, answer


def _lag(world: Any) -> int:
    with world.services.runtimes.lease(CITY_A) as rt:
        return sum(p.status().lag for p in rt.projectors)


def _saved_without_catch_up(world: Any) -> None:
    """A household and its case written by the application alone: only the worker projects it."""
    from datetime import timedelta

    from yorisoi.domain.cases import Case
    from yorisoi.domain.households import Guardian, Household
    from yorisoi.infra.clock import japan_today
    from yorisoi.services.context import ActingContext, acting_as

    staff = ActingContext(user_id="seed", role="specialist", organisation_kind="municipality",
                          organisation_id=CITY_A, contract_id=None, site_id="a-hiroba")
    today = japan_today()
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        household = Household.register(guardians=[Guardian("架空 花子", "母")], children=[],
                                       pregnancy=None, today=today,
                                       outside_target_reason="祖母からの相談")
        rt.casework.save(household, Case(household_id=household.id, municipality_code=CITY_A,
                                         site_id="a-hiroba", contract_id=None,
                                         opened_on=today - timedelta(days=3)))


def test_api_and_worker_heal_around_a_database_outage(own_cluster, own_settings, tmp_path):
    # Short backoff: the worker's first try after the restart comes within 2 s.
    own_settings = own_settings.model_copy(update={"worker_backoff_cap_seconds": 2.0})
    world = build_world(own_settings)
    headers = npo(world)
    log = tmp_path / "processes.log"
    own_cluster.stop()
    api = worker = None
    try:
        # 1. Both start while the database is down.
        api, url = spawn_api(own_settings, log)
        worker = spawn_worker(own_settings, log)
        wait_healthy(api, url)
        started = time.monotonic()
        down = httpx.get(url + "/readyz", timeout=10)
        assert time.monotonic() - started < FAST_ENOUGH
        assert down.status_code == 503
        assert down.json()["checks"]["database"] == "unavailable"
        refused = httpx.post(url + "/graphql", headers={**headers, "Idempotency-Key": "early"},
                             json={"query": RECORD, "variables": {"input": consultation_input()}},
                             timeout=60)
        assert refused.status_code == 503, refused.text
        assert "pool" not in refused.text.lower()
        time.sleep(1.0)
        assert worker.poll() is None, log.read_text(errors="replace")  # waiting, not dead
        own_cluster.start()
        _poll(lambda: _ready(url))

        # 2. The database stops under write load, 3. and comes back.
        with Writers(url, headers) as writers:
            _poll(lambda: any(a["status"] == 200 for a in writers.answers))
            own_cluster.stop()
            _poll(lambda: any(a["status"] == 503 for a in writers.answers))
            started = time.monotonic()
            assert httpx.get(url + "/readyz", timeout=10).status_code == 503
            assert time.monotonic() - started < FAST_ENOUGH
            time.sleep(2.0)  # a few more fast refusals
            own_cluster.start()
            _poll(lambda: _ready(url))
            seen = len(writers.answers)
            _poll(lambda: any(a["status"] == 200 for a in writers.answers[seen:]))
        answers = writers.answers
        for answer in answers:
            if answer["status"] is not None:  # a request cut mid-flight is a client's retry
                _check_answer(answer)
        # Once one write succeeds after the restart, all do: no pooled connection the
        # restart killed is handed out, and the circuit does not open again.
        after = answers[seen:]
        first = next(i for i, a in enumerate(after) if a["status"] == 200)
        assert all(a["status"] == 200 for a in after[first:]), after[first:]
        refusals = sorted(a["seconds"] for a in answers if a["status"] == 503)
        assert refusals
        # Seen with -s: how fast the refusals were (docs/runbook-outages.md quotes a run).
        print(f"\n503 answers: {len(refusals)}, median {refusals[len(refusals) // 2]:.3f} s,"
              f" slowest {refusals[-1]:.3f} s; successes: "
              f"{sum(a['status'] == 200 for a in answers)}")

        # Acknowledged writes are all there; refused ones succeed when sent again.
        with httpx.Client(timeout=60) as client:
            for answer in answers:
                again = client.post(url + "/graphql",
                                    headers={**headers, "Idempotency-Key": answer["key"]},
                                    json={"query": RECORD,
                                          "variables": {"input": consultation_input()}})
                assert again.status_code == 200, again.text
                result = again.json()["data"]["recordConsultation"]
                assert result["__typename"] == "ConsultationRecorded", again.text
                if answer["status"] == 200:
                    assert again.json() == answer["json"]  # the same write, not a new one

        # The worker, never restarted, catches up every view (the API keeps only the
        # case view current on its own path).
        assert worker.poll() is None, log.read_text(errors="replace")
        _poll(lambda: _lag(world) == 0)
        _saved_without_catch_up(world)  # no API, no catch-up here: the worker's alone
        assert _lag(world) > 0
        _poll(lambda: _lag(world) == 0)
        text = log.read_text(errors="replace")
        assert text.count("worker: database unavailable") >= 1, text
        assert "worker: recovered after" in text, text

        # 4. SIGTERM: the worker ends after the batch in hand.
        assert ended(worker) == 0, log.read_text(errors="replace")
        worker = None
    finally:
        if not own_cluster.running:
            own_cluster.start()
        for process in (api, worker):
            if process is not None:
                ended(process)
        world.services.close()
