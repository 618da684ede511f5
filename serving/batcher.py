"""Adaptive batching on the worker's event loop: requests that arrive while a batch runs go together.

A batch is called as soon as the model is free, with every request that queued meanwhile (up to
`max_records` records): under load batches grow with the queue, an idle worker answers a lone request
at once, and there is no timer to tune. A request that queued longer than `max_wait_seconds` is shed
(503, Retry-After), as BentoML's dispatcher sheds past its `max_latency_ms`. The model runs on the
loop itself: a batch costs about a millisecond, and a thread would make it queue for the GIL behind
request parsing instead.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Overloaded(Exception):
    """The request waited longer than the batcher's bound: the caller should retry later."""


@dataclass
class _Waiting:
    records: list[Any]
    answer: asyncio.Future
    since: float


class Batcher:
    def __init__(self, predict: Callable[[list[Any]], list[Any]], max_records: int, max_wait_seconds: float):
        self._predict, self._max_records, self._max_wait = predict, max_records, max_wait_seconds
        self._queue: deque[_Waiting] = deque()
        self._scheduled = False

    async def submit(self, records: list[Any]) -> list[Any]:
        """The model's answers for `records`, in order, once the batch they joined has run."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(records, loop.create_future(), time.monotonic())
        self._queue.append(waiting)
        self._schedule(loop)
        return await waiting.answer

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the next batch after the requests already parsed in this turn of the loop have queued."""
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._run_batch, loop)

    def _run_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        batch = self._take()
        if batch:
            try:
                answers = self._predict([record for waiting in batch for record in waiting.records])
            except Exception as exc:
                for waiting in batch:
                    waiting.answer.set_exception(exc)
            else:
                start = 0
                for waiting in batch:
                    waiting.answer.set_result(answers[start:start + len(waiting.records)])
                    start += len(waiting.records)
        if self._queue:
            self._schedule(loop)

    def _take(self) -> list[_Waiting]:
        """The oldest requests that fit in one call; any that waited too long are shed on the way."""
        batch, size, now = [], 0, time.monotonic()
        while self._queue and (not batch or size + len(self._queue[0].records) <= self._max_records):
            waiting = self._queue.popleft()
            if waiting.answer.done():  # the caller is gone
                continue
            if now - waiting.since > self._max_wait:
                waiting.answer.set_exception(Overloaded(f"the service is overloaded: queued over "
                                                        f"{self._max_wait:g} s; retry shortly"))
                continue
            batch.append(waiting)
            size += len(waiting.records)
        return batch
