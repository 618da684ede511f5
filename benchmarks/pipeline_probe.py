"""What both pipeline workers share: the benchmark's spec and training search, and an RSS sampler.

Each worker (Dagster, plain script) runs in its own process, so the process's ru_maxrss is its exact
peak; per step, a thread samples RSS every few milliseconds and a step's peak is the highest sample
taken while it ran (a spike shorter than the interval can be missed; the process peak cannot).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
BASE_SPEC = PROJECT_DIR / "datasets" / "customer_segmentation.yaml"
BATCH = "batch-00001.csv"
# One modest, fixed search for both workers: a RandomForest over 750k rows would dominate everything.
TRAINING = {"estimators": ["logistic_regression"], "logistic_c": [1.0]}
SEARCH_SPACE = {"logistic_regression": {"C": [1.0]}}  # what TRAINING means to `TrainingConfig.search_space`
_PAGE = os.sysconf("SC_PAGE_SIZE")


def write_spec(path: Path, rows: int) -> Path:
    """The shipped spec with one generated batch of `rows` rows."""
    spec = yaml.safe_load(BASE_SPEC.read_text())
    spec["source"] = {**spec["source"], "batches": 1, "rows_per_batch": rows}
    path.write_text(yaml.safe_dump(spec))
    return path


def quiet_environment(root: Path) -> None:
    """Keep every store inside the worker's temp root and every tool offline."""
    os.environ.update(BENTOML_HOME=str(root / "bentoml"), BENTOML_DO_NOT_TRACK="True",
                      MLFLOW_ENABLE_TELEMETRY="false", DO_NOT_TRACK="1")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class Probe:
    """RSS samples in a daemon thread, and the [start, end] span of every named step."""

    def __init__(self, interval: float = 0.005):
        self.interval, self.samples, self.spans = interval, [], {}
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), rss()))
            time.sleep(self.interval)

    def span(self, name: str, start: float, end: float) -> None:
        self.spans[name] = (start, end)

    def peak(self, start: float, end: float) -> int:
        """The highest sample in the span; for a span shorter than the interval, the last one before it ended."""
        inside = [m for t, m in self.samples if start <= t <= end] or [m for t, m in self.samples if t <= end][-1:]
        return max(inside, default=rss())

    def report(self, out: Path, startup: float, total: float, jobs: dict[str, float]) -> None:
        """Write seconds and peak MiB per step, the process peak, startup and total to `out` as JSON."""
        self._stop.set()
        steps = {name: {"seconds": end - start, "peak_mib": self.peak(start, end) / 2**20}
                 for name, (start, end) in self.spans.items()}
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
        out.write_text(json.dumps({"steps": steps, "startup": startup, "total": total, "jobs": jobs,
                                   "peak_mib": maxrss}, indent=1))


def worker_args() -> tuple[Path, Path, float]:
    """argv: temp root (holding spec.yaml and the landed batch), output JSON, the spawn time."""
    root, out, spawned = sys.argv[1:4]
    return Path(root), Path(out), float(spawned)
