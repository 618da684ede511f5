"""The worker's heap is frozen again after a late import, and every collection is timed by generation,
without ever deadlocking a thread that holds prometheus_client's lock when a collection starts."""

import gc
import subprocess
import sys
import textwrap
import types

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from ml_platform.definitions import PROJECT_DIR
from serving.heap import GcProbe, HeapWatch


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


def test_every_collection_is_timed_under_its_generation():
    histogram = Histogram("gc_pause_seconds", "test", ["generation", "cause"], registry=(registry := CollectorRegistry()))
    probe = GcProbe(histogram).install()
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(probe)
    probe.flush()
    assert registry.get_sample_value("gc_pause_seconds_count", {"generation": "2", "cause": "collector"}) >= 1


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
    from serving.heap import GcProbe, HeapWatch
    watch = HeapWatch(GcProbe(Histogram("gc_pause_seconds", "t", ["generation", "cause"])).install(), seconds=0.01).start()
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
