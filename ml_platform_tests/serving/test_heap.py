"""The worker's heap is frozen again after a late import, and every collection is timed by generation."""

import gc
import sys
import types

from prometheus_client import CollectorRegistry, Histogram

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
    histogram = Histogram("gc_pause_seconds", "test", ["generation"], registry=(registry := CollectorRegistry()))
    probe = GcProbe(histogram).install()
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(probe)
    assert registry.get_sample_value("gc_pause_seconds_count", {"generation": "2"}) >= 1
