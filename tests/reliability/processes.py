"""The API and the worker as processes of their own, as an operator runs them, and clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

YORISOI = Path(sys.executable).parent / "yorisoi"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YORISOI_")}
    for name, value in settings.model_dump().items():
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if value is not None:
            env[f"YORISOI_{name.upper()}"] = str(value).lower() if isinstance(value, bool) \
                else str(value)
    env["YORISOI_DEV_ISSUER"] = "true"
    return env


def spawn_api(settings: Any, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``yorisoi serve`` as its own process, not waited for: see ``wait_healthy``."""
    port = free_port()
    process = subprocess.Popen([str(YORISOI), "serve", "--host", "127.0.0.1", "--port",
                                str(port), "--no-demo"],
                               env=environment(settings), stdout=subprocess.DEVNULL,
                               stderr=log.open("ab"))
    return process, f"http://127.0.0.1:{port}"


def wait_healthy(process: subprocess.Popen[bytes], url: str, path: str = "/healthz",
                 seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds  # generous: a loaded CI machine starts slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode})")
        try:
            if httpx.get(url + path, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{path} did not answer 200 in {seconds} s")


def spawn_worker(settings: Any, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(YORISOI), "worker"],
                            env=environment(settings), stdout=subprocess.DEVNULL,
                            stderr=log.open("ab"))


def ended(process: subprocess.Popen[bytes], seconds: float = 60) -> int:
    """Terminate (SIGTERM) and wait; kill if it will not end."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
    return process.returncode


class Writers:
    """Threads sending keyed recordConsultation mutations until told to stop."""

    def __init__(self, url: str, headers: dict[str, str], count: int = 3,
                 input: Any = None) -> None:
        from world import consultation_input

        self.url, self.headers = url, headers  # url: the tests point it at a restarted API
        self.input = input or consultation_input
        self.answers: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, daemon=True) for _ in range(count)]

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _write(self) -> None:
        import httpx
        from world import RECORD

        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                key = str(uuid.uuid4())
                started = time.monotonic()
                try:
                    response = client.post(self.url + "/graphql", headers={
                        **self.headers, "Idempotency-Key": key},
                        json={"query": RECORD, "variables": {"input": self.input()}})
                except httpx.HTTPError as error:  # the server died mid-request
                    answer = {"key": key, "status": None, "error": type(error).__name__}
                else:
                    try:
                        body = response.json()
                    except ValueError:
                        body = None
                    answer = {"key": key, "status": response.status_code,
                              "seconds": time.monotonic() - started,
                              "retry_after": response.headers.get("retry-after"),
                              "text": response.text, "json": body}
                with self._lock:
                    self.answers.append(answer)
                if answer["status"] != 200:
                    time.sleep(0.2)  # a client that honours Retry-After, a little impatient


def poll(check: Any, seconds: float = 90, step: float = 0.3) -> Any:
    """``check()`` until it answers something true (returned), at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(step)
    raise AssertionError(f"not reached in {seconds} s")
