"""The API and the worker as processes of their own, as an operator runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SERVE = Path(__file__).resolve().parent.parent / "serve_for_crash.py"
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
    """The API as its own process (uvicorn), not waited for: see ``wait_healthy``."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVE), str(port)],
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
