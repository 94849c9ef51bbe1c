"""A small, bounded HTTP/1.1 load generator on asyncio (uvloop when installed).

Each connection sends its own pre-built list of requests in order, one at a time (closed loop,
keep-alive), so a station's events on one connection arrive in the order it made them. The run
stops by itself when every list is sent or the time limit passes, whichever comes first. It only
ever connects to 127.0.0.1.

Requests are built before the clock starts (``build_request``); the measured loop only writes
bytes, reads the status line, headers and a ``Content-Length`` body, and checks the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoadResult", "build_request", "percentile", "run_load"]

HOST = "127.0.0.1"

#: Checks one response body; returns an error text, or None when the response is as expected.
Check = Callable[[bytes], str | None]


def build_request(method: str, path: str, *, body: Any = None, token: str | None = None,
                  port: int) -> bytes:
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: keep-alive"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    if body is not None:
        head.append("Content-Type: application/json")
    head.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


@dataclass
class LoadResult:
    requests: int  # completed with the expected response
    errors: int  # wrong status or failed check
    elapsed_s: float
    latencies_ms: list[float] = field(repr=False, default_factory=list)
    first_error: str | None = None
    timed_out: bool = False

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {"requests": self.requests, "errors": self.errors,
                "elapsed_s": round(self.elapsed_s, 3), "rate_per_s": round(self.rate, 1),
                "p50_ms": round(percentile(lat, 50), 2), "p90_ms": round(percentile(lat, 90), 2),
                "p99_ms": round(percentile(lat, 99), 2),
                "max_ms": round(lat[-1], 2) if lat else None,
                "timed_out": self.timed_out, "first_error": self.first_error}


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
            break
    if length is None:
        raise RuntimeError("response without Content-Length (chunked replies unsupported)")
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _connection(port: int, requests: Sequence[bytes], check: Check | None,
                      deadline: float, out: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(HOST, port, limit=16 * 1024 * 1024)
    try:
        for raw in requests:
            if time.perf_counter() >= deadline:
                out.timed_out = True
                break
            t0 = time.perf_counter()
            writer.write(raw)
            status, body = await _read_response(reader)
            dt = (time.perf_counter() - t0) * 1000
            problem = (f"HTTP {status}: {body[:300]!r}" if status != 200
                       else check(body) if check else None)
            if problem:
                out.errors += 1
                out.first_error = out.first_error or problem
            else:
                out.requests += 1
                out.latencies_ms.append(dt)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def _run(port: int, per_connection: Sequence[Sequence[bytes]], check: Check | None,
               time_limit_s: float) -> LoadResult:
    out = LoadResult(0, 0, 0.0)
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    await asyncio.gather(*(_connection(port, reqs, check, deadline, out)
                           for reqs in per_connection))
    out.elapsed_s = time.perf_counter() - t0
    return out


def run_load(port: int, per_connection: Sequence[Sequence[bytes]], *, check: Check | None = None,
             time_limit_s: float = 60.0) -> LoadResult:
    """Send every connection's requests (closed loop), at most ``time_limit_s`` seconds."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(_run(port, per_connection, check, time_limit_s))
    return uvloop.run(_run(port, per_connection, check, time_limit_s))
