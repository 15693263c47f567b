"""infra/reuseport.serve: every server process gets a share of keep-alive connections.

uvicorn's shared socket let one process take them all (bench/probe_two_processes.py:
8 of 8); with a socket per process the kernel spreads them.  Two processes, 16
connections opened one after another and held open: each process must answer
some of them (all 16 on one process by chance: 2 in 65,536).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="SO_REUSEPORT balances on Linux only")

APP = textwrap.dedent('''
    import os

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
''')

SERVE = textwrap.dedent('''
    import sys
    from yorisoi.infra.reuseport import serve

    serve("pid_app:app", workers=2, host="127.0.0.1", port=int(sys.argv[1]),
          app_dir=sys.argv[2], log_level="warning")
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_over(conn: socket.socket) -> int:
    conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b"\r\n\r\n", 1)[1])


def _answers(port: int, timeout: float = 60.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:  # until both processes listen (the supervisor starts them one by one)
        try:
            with socket.create_connection(("127.0.0.1", port), 1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    time.sleep(2.0)
    held = [socket.create_connection(("127.0.0.1", port), 5) for _ in range(16)]
    try:
        return {_pid_over(conn) for conn in held}
    finally:
        for conn in held:
            conn.close()


def test_two_processes_share_keep_alive_connections(tmp_path: Path) -> None:
    (tmp_path / "pid_app.py").write_text(APP)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(port), str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        pids = _answers(port)
    finally:
        server.terminate()
        server.wait(20)
    assert len(pids) == 2, pids


def test_a_port_in_use_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "pid_app.py").write_text(APP)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-c", SERVE, str(port), str(tmp_path)],
                              capture_output=True, timeout=60, check=False)
    assert done.returncode != 0
    assert b"Address already in use" in done.stderr
