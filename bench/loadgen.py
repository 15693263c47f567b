"""A small HTTP load generator, run as its own process on loopback.

    .venv/bin/python bench/loadgen.py --url http://127.0.0.1:8123/graphql \
        --method POST --body-file req.json --header 'Authorization: Bearer …' \
        --concurrency 8 --requests 2000 --seconds 20 --warmup 50 --expect '"data"'

Prints one JSON object: requests, errors, seconds, throughput, latency percentiles (ms).

It keeps ``--concurrency`` HTTP/1.1 keep-alive connections busy, each sending its
next request as soon as the previous answer is read, until ``--requests``
answers were counted or ``--seconds`` passed (whichever comes first): bounded in
both.  It is deliberately lean (asyncio streams, no HTTP library) so that, on a
two-core machine shared with the server and PostgreSQL, it takes as little CPU
as possible from what it measures.  An answer counts as an error unless its
status is 200 and its body contains ``--expect`` and no ``"errors"``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit


class _Budget:
    def __init__(self, requests: int, deadline: float) -> None:
        self.left = requests
        self.deadline = deadline

    def take(self) -> bool:
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.left -= 1
        return True


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = await reader.read()
    return status, body, headers.get("connection", "").lower() != "close"


async def _connection(host: str, port: int, request: bytes | Callable[[], bytes],
                      budget: _Budget, expect: bytes, latencies: list[float],
                      errors: list[str]) -> None:
    reader = writer = None
    try:
        while budget.take():
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            raw = request() if callable(request) else request
            start = time.perf_counter()
            try:
                writer.write(raw)
                status, body, keep = await _read_response(reader)  # type: ignore[arg-type]
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                latencies.append(time.perf_counter() - start)
                errors.append(type(error).__name__)
                writer.close()
                reader = writer = None
                continue
            latencies.append(time.perf_counter() - start)
            if status != 200 or expect not in body or b'"errors"' in body:
                errors.append(f"{status}: {body[:200]!r}")
            if not keep:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


def _request(url: str, method: str, body: bytes, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}",
             "Connection: keep-alive", "Accept: application/json", *headers]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    return parts.hostname or "127.0.0.1", parts.port or 80, raw


def _unique(url: str, method: str, body: bytes, headers: list[str],
            name: str) -> tuple[str, int, Callable[[], bytes]]:
    """Requests that differ only in header ``name``: a new value for each (idempotency keys)."""
    host, port, _ = _request(url, method, body, headers)
    prefix = uuid.uuid4().hex
    counter = itertools.count()

    def make() -> bytes:
        return _request(url, method, body, [*headers, f"{name}: {prefix}-{next(counter)}"])[2]

    return host, port, make


async def run_load(url: str, *, method: str = "GET", body: bytes = b"",
                   headers: list[str] | None = None, concurrency: int = 8,
                   requests: int = 1000, seconds: float = 20.0, warmup: int = 20,
                   expect: bytes = b"", unique_header: str = "",
                   bodies: list[bytes] | None = None) -> dict[str, object]:
    """``bodies``: connection i sends ``bodies[i % len(bodies)]`` (e.g. a case per client)."""
    def requester(i: int) -> tuple[str, int, bytes | Callable[[], bytes]]:
        this = bodies[i % len(bodies)] if bodies else body
        if unique_header:
            return _unique(url, method, this, headers or [], unique_header)
        return _request(url, method, this, headers or [])

    requesters = [requester(i) for i in range(concurrency)]
    if warmup:  # connections, the server's caches and prepared statements; not counted
        await asyncio.gather(*(_connection(host, port, raw, _Budget(
            max(1, warmup // concurrency), time.perf_counter() + seconds), expect, [], [])
            for host, port, raw in requesters))
    latencies: list[float] = []
    errors: list[str] = []
    budget = _Budget(requests, time.perf_counter() + seconds)
    start = time.perf_counter()
    await asyncio.gather(*(_connection(host, port, raw, budget, expect, latencies, errors)
                           for host, port, raw in requesters))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1e3

    return {"requests": len(latencies), "errors": len(errors), "error_samples": errors[:3],
            "seconds": round(elapsed, 4), "throughput": len(latencies) / elapsed if elapsed else 0,
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "mean_ms": statistics.fmean(ordered) * 1e3 if ordered else 0.0,
            "concurrency": concurrency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body-file")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--expect", default="")
    parser.add_argument("--unique-header", default="",
                        help="a header given a new value in every request (Idempotency-Key)")
    parser.add_argument("--bodies-file",
                        help="a JSON list of bodies: connection i sends body i (modulo)")
    args = parser.parse_args()
    body = open(args.body_file, "rb").read() if args.body_file else b""  # noqa: SIM115
    bodies = None
    if args.bodies_file:
        with open(args.bodies_file, encoding="utf-8") as f:
            bodies = [b.encode() for b in json.load(f)]
    result = asyncio.run(run_load(
        args.url, method=args.method, body=body, headers=args.header,
        concurrency=args.concurrency, requests=args.requests, seconds=args.seconds,
        warmup=args.warmup, expect=args.expect.encode(), unique_header=args.unique_header,
        bodies=bodies))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
