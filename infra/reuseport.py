"""N uvicorn processes, each accepting on a listening socket of its own (``SO_REUSEPORT``).

uvicorn's ``--workers N`` binds one socket in the parent and every process
accepts from it.  Each process waits on it with epoll, and the kernel wakes
them in the same order every time: an idle process keeps taking the next
connection, so keep-alive clients all land on one process while the others
idle (measured: ``bench/probe_two_processes.py`` — 8 clients, 2 processes, all
8 connections held by one process, even when opened 200 ms apart; the second
process used 0.02 ms of CPU per mutation, the first 5.5 ms).  A second process
then adds no throughput at all.

Here each process binds its own socket to the same address with
``SO_REUSEPORT``; the kernel spreads new connections over the listening
sockets by a hash of their addresses, so every process gets its share.
uvicorn's supervisor is kept (health checks, restarts, signals): only what a
child listens on changes.  The parent holds a socket bound (not listening)
with the same option, so a port already in use fails at start as before.
Linux only (elsewhere ``SO_REUSEPORT`` does not balance): ``serve`` falls back
to uvicorn's shared socket there.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess


def _reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) that shares the port with its siblings."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio then sets TCP_NODELAY on accepted connections itself.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class _OwnSocketProcess(multiprocess.Process):
    """A uvicorn worker process that listens on a socket of its own, not the parent's."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover
        # Runs in the child; the parent's socket (bound, never listening) is left alone.
        for inherited in sockets or []:
            inherited.close()
        own = _reuseport_socket(self.config.host, self.config.port)
        super().target([own])


def serve(app: str, *, workers: int, host: str, port: int, **options: Any) -> None:
    """Run ``app`` (an import string) in ``workers`` processes, connections spread by the kernel.

    ``options`` are uvicorn's (``factory``, ``http``, ``log_level``, …).
    """
    if workers <= 1 or not sys.platform.startswith("linux"):
        uvicorn.run(app, workers=workers, host=host, port=port, **options)
        return
    app_dir = options.pop("app_dir", None)
    if app_dir is not None:  # as uvicorn.run does; spawned children inherit sys.path
        sys.path.insert(0, app_dir)
    config = uvicorn.Config(app, workers=workers, host=host, port=port, **options)
    reserved = _reuseport_socket(host, port)
    # uvicorn's supervisor builds its workers with the module's ``Process``: this
    # process is the supervisor only, so the class is swapped for its lifetime.
    original = multiprocess.Process
    multiprocess.Process = _OwnSocketProcess  # type: ignore[misc]
    try:
        multiprocess.Multiprocess(config, sockets=[reserved]).run()
    finally:
        multiprocess.Process = original  # type: ignore[misc]
        reserved.close()
