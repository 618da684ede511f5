"""Keep the worker's long-lived heap out of the garbage collector's full collections, and show what they cost.

A worker holds a few hundred MB of objects that never become garbage (libraries, the model, MLflow's
registry client). A full collection walks every tracked object that is not frozen, with the event loop
stopped: every in-flight request waits. `gc.freeze()` moves what is alive now out of later collections,
so it must run after everything long-lived exists: after the alias follower's first poll (which imports
MLflow and builds its client) and again whenever the worker imported more modules since (a lazy import
on some request's path). `HeapWatch` does the latter on a daemon thread.

`GcProbe` times every collection into `ml_platform_gc_pause_seconds` by generation and cause
(`startup`: before the first freeze, while the worker imports and loads; `collector`: the interpreter's
own after it, the ones traffic meets; `freeze`: the collection each freeze makes on purpose, after a model
swap or a late import), so an operator sees a collection pause in Prometheus rather than
inferring it from the p99, and tells the pauses traffic causes from the ones a freeze costs. A collection can start inside
any allocation, including one prometheus_client makes while it holds its (non-reentrant) value lock, so
the callback only appends to a deque; the heap-watch thread moves the timings into the histogram.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections import deque
from typing import Any


def freeze_heap() -> None:
    """Everything alive now leaves the collector's sight, at the cost of one collection of what is not
    frozen yet (a few thousand objects after the first freeze). Never `gc.unfreeze()` first: that would
    put the whole heap back in one full collection, a stall of 150 to 300 ms. Frozen objects are still
    freed by reference counting, so a model replaced after a swap goes when its last reference does
    (measured: 20 swaps of the served model left no frozen object and no cyclic garbage behind)."""
    gc.collect()
    gc.freeze()


class HeapWatch:
    """Freezes the heap again when modules were imported since the last freeze, and records the probe's
    timings (both every `seconds`)."""

    def __init__(self, probe: GcProbe | None = None, seconds: float = 1.0):
        self.probe, self.seconds, self.modules = probe, seconds, len(sys.modules)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heap-watch", daemon=True)

    def freeze(self) -> None:
        if self.probe is not None:
            self.probe.cause = "freeze"
        try:
            freeze_heap()
        finally:
            if self.probe is not None:
                self.probe.cause = "collector"
        self.modules = len(sys.modules)

    def check(self) -> bool:
        """Freeze if the module count grew; True if it did."""
        if len(sys.modules) == self.modules:
            return False
        self.freeze()
        return True

    def start(self) -> HeapWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            self.check()
            if self.probe is not None:
                self.probe.flush()


class GcProbe:
    """Times each collection with `gc.callbacks`; `flush` puts the timings into a histogram by generation
    and `cause` ("startup" until `HeapWatch.freeze` first runs, "freeze" around its own collection).

    The callback takes no lock (deque appends are atomic), so a collection that interrupts a thread
    holding the metrics lock cannot deadlock it. Between flushes at most `keep` timings wait."""

    def __init__(self, histogram: Any, keep: int = 10_000):
        self._started, self.cause, self.histogram = 0.0, "startup", histogram
        self.pending: deque[tuple[int, str, float]] = deque(maxlen=keep)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pending.append((info["generation"], self.cause, time.perf_counter() - self._started))

    def flush(self) -> None:
        while self.pending:
            generation, cause, seconds = self.pending.popleft()
            self.histogram.labels(generation=str(generation), cause=cause).observe(seconds)

    def install(self) -> GcProbe:
        if self not in gc.callbacks:
            gc.callbacks.append(self)
        return self
