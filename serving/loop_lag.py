"""How long the worker's event loop was kept from running: the stall every request in flight shares.

A timer due every `interval` seconds records how late it ran in `ml_platform_event_loop_lag_seconds`.
Whatever holds the loop (a garbage collection, a slow callback, another thread holding the GIL, the
process waiting for a CPU) shows here, measured inside the server, so a pause a client sees that the
server's loop did not is outside the process. One timer callback per interval: a few hundred
microseconds a second.
"""

from __future__ import annotations

import asyncio
from typing import Any


class LoopLag:
    def __init__(self, histogram: Any, interval: float = 0.01):
        self.histogram, self.interval = histogram, interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = 0.0

    def start(self, loop: asyncio.AbstractEventLoop) -> LoopLag:
        self._loop, self._due = loop, loop.time() + self.interval
        loop.call_at(self._due, self._tick)
        return self

    def _tick(self) -> None:
        now = self._loop.time()
        self.histogram.observe(max(0.0, now - self._due))
        self._due = now + self.interval
        self._loop.call_at(self._due, self._tick)
