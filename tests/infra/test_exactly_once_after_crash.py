"""A server killed between commit and answer: the client's retry writes nothing and gets the answer.

The server runs as a separate process (uvicorn) on the same database and key
files as the test's world; the first one ends itself right after a keyed
request's unit of work commits (``tests/serve_for_crash.py``), so the client
sees a dropped connection for a write that in fact happened.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from reliability.processes import environment as _environment
from reliability.processes import free_port as _free_port
from world import RECORD, consultation_input, head, npo

SERVE = Path(__file__).resolve().parent.parent / "serve_for_crash.py"
CRASH_EXIT = 17




def _serve(settings: Any, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, str(SERVE), str(port), *flags],
                               env=_environment(settings), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # generous: a loaded CI machine starts slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "exited")
        try:
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("the server did not start")


def test_a_retry_after_the_server_died_post_commit_writes_nothing(world):
    settings = world.services.settings
    headers = {**npo(world), "Idempotency-Key": "crash-1"}
    body = {"query": RECORD, "variables": {"input": consultation_input(household={
        "guardians": [{"name": "架空 クラッシュ", "relationship": "母"}],
        "children": [{"name": "架空 こども", "birthDate": "2023-04-05"}]})}}
    before = head(world)

    dying, url = _serve(settings, "--die-after-commit")
    try:
        try:
            httpx.post(url + "/graphql", json=body, headers=headers, timeout=120)
            raise AssertionError("the server answered although it should have died")
        except httpx.TransportError:
            pass  # the connection dropped: the client cannot know what happened
        assert dying.wait(timeout=60) == CRASH_EXIT
    finally:
        if dying.poll() is None:
            dying.kill()
    committed = head(world)
    assert committed > before  # the write happened

    healthy, url = _serve(settings)
    try:
        answer = httpx.post(url + "/graphql", json=body, headers=headers, timeout=120).json()
        again = httpx.post(url + "/graphql", json=body, headers=headers, timeout=120).json()
    finally:
        healthy.terminate()
        healthy.wait(timeout=60)
    result = answer["data"]["recordConsultation"]
    assert result["__typename"] == "ConsultationRecorded", answer
    assert head(world) == committed  # the retry wrote nothing
    assert again == answer
    with world.services.runtimes.lease("131016") as rt:
        rt.catch_up()
        assert rt.cases.get(_everything(rt), result["case"]["id"]) is not None


def _everything(rt: Any) -> Any:
    from yorisoi.projections.case_queries import CaseScope

    return CaseScope(contract_ids=None)
