"""The load generator shared by the serving benchmark, the soak and the load test.

Raw HTTP/1.1 keep-alive over asyncio, so the client spends as little of the shared CPU as Python allows.
Each request is one single-record `/predict` body; each answer keeps its status, its `X-Request-ID` and
its latency, so a caller can match answers to the inference log. Every request has a timeout, and a
whole run a deadline: a broken service costs bounded time, never a hang.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from dataclasses import dataclass

from benchmarks.service_process import HOST


@dataclass
class Answer:
    status: int  # 0: no HTTP answer (timeout, refused, reset, deadline passed before sending)
    request_id: str
    latency: float  # seconds; at a fixed rate from when the request was due, so a stall is not hidden
    body: bytes = b""
    due: float = 0.0  # seconds from the run's start: when it was due (fixed rate) or sent
    # Fixed rate: how late the client's own event loop woke to send, past the due time or past when a
    # connection came free (waiting for a free connection is the server's delay, not the client's).
    client_late: float = 0.0


def payloads(feature_names: list[str], count: int = 64, seed: int = 11) -> list[bytes]:
    """Single-record bodies in the service's request format, from the dataset's own generator."""
    from ml_platform.lib.generator import customer_segmentation

    frame = customer_segmentation(count, seed=seed)[feature_names]
    return [json.dumps(row).encode() for row in json.loads(frame.to_json(orient="records"))]


async def _exchange(reader, writer, body: bytes, timeout: float) -> tuple[int, dict[str, str], bytes]:
    writer.write(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    if "content-length" in headers:
        payload = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout)
    else:  # chunked
        chunks = []
        while size := int((await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)).strip(), 16):
            chunks.append(await asyncio.wait_for(reader.readexactly(size + 2), timeout))
        await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)
        payload = b"".join(c[:-2] for c in chunks)
    return int(status_line.split()[1]), headers, payload


async def _run(port: int, bodies: list[bytes], requests: int, concurrency: int, rate: float | None,
               timeout: float, deadline: float, keep_bodies: bool) -> list[Answer]:
    answers: list[Answer] = []
    next_index = iter(range(requests))
    connections: list = [None] * concurrency
    if rate:  # keep-alive clients are connected before the clock starts: a connect is not a pause
        connections = list(await asyncio.gather(*(asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
                                                  for _ in range(concurrency))))
    started, started_perf = time.monotonic(), time.perf_counter()

    async def client(connection) -> None:
        for i in next_index:
            late = 0.0
            if rate:  # a fixed schedule: request i is due at i / rate seconds
                free, due = time.monotonic(), started + i / rate
                await asyncio.sleep(max(0.0, due - free))
                late = max(0.0, time.monotonic() - max(due, free))
            if time.monotonic() > deadline:
                answers.append(Answer(0, "", 0.0, b"deadline passed"))
                continue
            # Open loop: a request that waited for a free connection counts its wait (no coordinated omission).
            sent = started_perf + i / rate if rate else time.perf_counter()
            try:
                connection = connection or await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
                status, headers, payload = await _exchange(*connection, bodies[i % len(bodies)], timeout)
                answers.append(Answer(status, headers.get("x-request-id", ""), time.perf_counter() - sent,
                                      payload if keep_bodies or status != 200 else b"", sent - started_perf, late))
                if headers.get("connection", "").lower() == "close":
                    connection = _close(connection)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                answers.append(Answer(0, "", time.perf_counter() - sent, repr(exc).encode()))
                connection = _close(connection)
        _close(connection)

    await asyncio.gather(*(client(c) for c in connections))
    return answers


def _close(connection) -> None:
    if connection is not None:
        connection[1].close()


def run(port: int, bodies: list[bytes], requests: int, concurrency: int, rate: float | None = None,
        timeout: float = 15.0, max_seconds: float = 600.0, keep_bodies: bool = False) -> tuple[list[Answer], float]:
    """`requests` requests from `concurrency` connections, as fast as answered or at a fixed `rate`/s;
    returns the answers and the elapsed seconds."""
    gc.collect()
    gc.disable()  # the client's own collections would be timed as the server's pauses; a run is bounded
    try:
        started = time.perf_counter()
        answers = asyncio.run(_run(port, bodies, requests, concurrency, rate, timeout,
                                   time.monotonic() + max_seconds, keep_bodies))
        return answers, time.perf_counter() - started
    finally:
        gc.enable()


def summary(answers: list[Answer], elapsed: float) -> dict:
    latencies = sorted(a.latency for a in answers if a.status)

    def at(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000 if latencies else float("nan")

    return {"rps": len(latencies) / elapsed, "p50": at(0.5), "p99": at(0.99),
            "errors": sum(a.status != 200 for a in answers)}


def load(port: int, bodies: list[bytes], concurrency: int, requests: int) -> dict:
    """The serving benchmark's call: `requests` split over `concurrency` clients, summarized."""
    return summary(*run(port, bodies, requests // concurrency * concurrency, concurrency))
