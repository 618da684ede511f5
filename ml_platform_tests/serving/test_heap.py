"""The worker's heap is frozen again after a late import, and every collection is timed by generation,
without ever deadlocking a thread that holds prometheus_client's lock when a collection starts; the event
loop's lag is measured from inside."""

import asyncio
import gc
import subprocess
import sys
import textwrap
import time
import types
import weakref

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from ml_platform.definitions import PROJECT_DIR
from serving.heap import GcProbe, HeapWatch, freeze_heap
from serving.loop_lag import LoopLag


def test_a_late_import_freezes_the_heap_again_and_nothing_new_does_not():
    watch = HeapWatch()
    try:
        watch.freeze()
        assert watch.check() is False, "no new module: no full collection"
        sys.modules["ml_platform_late_import"] = types.ModuleType("ml_platform_late_import")
        gc.unfreeze()
        assert watch.check() is True and gc.get_freeze_count() > 0
    finally:
        sys.modules.pop("ml_platform_late_import", None)
        gc.unfreeze()



class Held:
    """Stands for a model, or for anything a worker held when it froze its heap."""


def test_a_freeze_never_walks_what_is_frozen_and_a_replaced_model_is_still_freed():
    """A re-freeze used to unfreeze first: one full collection of the whole heap (150-300 ms in a
    worker). Now frozen objects stay out of every collection, and one that loses its last reference
    (a model swapped out) is freed by reference counting all the same."""
    model, cycle = Held(), Held()
    cycle.itself = cycle
    model_gone, cycle_alive = weakref.ref(model), weakref.ref(cycle)
    try:
        freeze_heap()
        del model, cycle
        freeze_heap()
        assert model_gone() is None, "a frozen object without cycles is freed when its last reference goes"
        assert cycle_alive() is not None, "the second freeze collected the frozen heap: it unfroze it first"
    finally:
        gc.unfreeze()
        gc.collect()

def test_every_collection_is_timed_under_its_generation_and_startup_apart():
    histogram = Histogram("gc_pause_seconds", "test", ["generation", "cause"], registry=(registry := CollectorRegistry()))
    watch = HeapWatch(GcProbe(histogram).install())
    try:
        gc.collect()
        watch.freeze()
        gc.collect()
    finally:
        gc.callbacks.remove(watch.probe)
        gc.unfreeze()
    watch.probe.flush()
    for cause in ("startup", "freeze", "collector"):
        assert registry.get_sample_value("gc_pause_seconds_count", {"generation": "2", "cause": cause}) == 1, cause


def test_a_freeze_times_its_own_collection_apart_from_the_collector():
    histogram = Histogram("gc_pause_seconds", "test", ["generation", "cause"], registry=(registry := CollectorRegistry()))
    watch = HeapWatch(GcProbe(histogram).install())
    try:
        watch.freeze()
        gc.collect(0)
    finally:
        gc.callbacks.remove(watch.probe)
        gc.unfreeze()
    watch.probe.flush()
    assert registry.get_sample_value("gc_pause_seconds_count", {"generation": "2", "cause": "freeze"}) == 1
    assert registry.get_sample_value("gc_pause_seconds_count", {"generation": "0", "cause": "collector"}) >= 1


WORKER_UNDER_GC_PRESSURE = textwrap.dedent("""
    import gc, time
    from prometheus_client import Counter, Histogram
    from serving.heap import GcProbe, HeapWatch, freeze_heap
    watch = HeapWatch(GcProbe(Histogram("gc_pause_seconds", "t", ["generation", "cause"])).install(), seconds=0.01)
    watch.freeze()  # as a worker does once started: what follows counts as the collector's
    watch.start()
    requests = Counter("requests_total", "t", ["path"])
    gc.set_threshold(1, 1, 1)  # a collection at nearly every allocation, as a busy worker sees now and then
    kept, deadline = [], time.monotonic() + 3
    while time.monotonic() < deadline:
        requests.labels(path=f"/p{len(kept)}").inc()  # a new child builds its key under the values lock
        kept.append([{}] * 3)
    time.sleep(0.1)
""")


def test_a_collection_inside_the_metrics_lock_does_not_deadlock_the_worker(tmp_path):
    """A worker hung at shutdown this way in CI: a collection began while prometheus_client held its
    multiprocess value lock, and the GC callback's `observe` waited for that lock forever."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_DIR)}
    done = subprocess.run([sys.executable, "-c", WORKER_UNDER_GC_PRESSURE], env=env, timeout=60, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    assert registry.get_sample_value("gc_pause_seconds_count", {"generation": "0", "cause": "collector"}) > 1000


def test_a_blocked_event_loop_shows_as_lag_and_an_idle_one_does_not():
    """The service's own view of a pause: a callback that holds the loop 60 ms is one lag in the 100 ms
    bucket; the ticks of an idle loop are each on time to within 20 ms."""
    histogram = Histogram("loop_lag_seconds", "test", buckets=(0.02, 0.1), registry=(registry := CollectorRegistry()))

    async def run() -> None:
        LoopLag(histogram).start(asyncio.get_running_loop())
        await asyncio.sleep(0.2)
        time.sleep(0.06)
        await asyncio.sleep(0.1)

    asyncio.run(run())
    ticks = registry.get_sample_value("loop_lag_seconds_count")
    assert ticks >= 20
    assert registry.get_sample_value("loop_lag_seconds_bucket", {"le": "0.02"}) == ticks - 1
    assert registry.get_sample_value("loop_lag_seconds_bucket", {"le": "0.1"}) == ticks
