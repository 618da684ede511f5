"""The serving benchmarks still load: their scripts, and every server they start by import path.

No other test runs them, so a refactor of what they import (`freeze_heap` moving to `serving/heap.py`
once left `make bench-serving` failing at its fourth server) would otherwise surface only when someone
next measures. They read the trained model at import, so they load in a child process pointed at a
trained platform's store."""

from __future__ import annotations

import os
import subprocess
import sys

from ml_platform.definitions import PROJECT_DIR

LOADS = """
import importlib
from benchmarks import forest, pauses, serving
targets = [target for _, target, _ in serving.SERVERS.values() if target] + ["benchmarks.starlette_baseline:app"]
for target in targets:
    module, _, name = target.partition(":")
    getattr(importlib.import_module(module), name)
print(len(targets), "servers")
"""


def test_the_benchmark_scripts_and_every_server_they_start_load(platform):
    environment = {**os.environ, "BENTOML_HOME": platform.bentoml_home, "BENTOML_DO_NOT_TRACK": "True",
                   "ML_PLATFORM_MODEL_TAG": "customer-segmentation:v1", "PYTHONPATH": str(PROJECT_DIR)}
    loaded = subprocess.run([sys.executable, "-c", LOADS], cwd=PROJECT_DIR, env=environment, capture_output=True,
                            text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split()[-2:] == ["6", "servers"]  # a and a+ (one target twice), b2, c, c2, Starlette
