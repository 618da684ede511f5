"""Time and peak RSS of live_performance's window read and promotion_decision's counts over a prediction
store of N records (10% labelled), each in a fresh process: `python benchmarks/prediction_store.py`."""

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from upath import UPath

START = datetime(2026, 3, 1, tzinfo=timezone.utc)


def build(root: Path, n: int, per_file: int = 1000) -> None:
    from ml_platform.lib.label_feed import LabelFeed
    from ml_platform.lib.prediction_store import PredictionStore

    rng, labels = random.Random(0), root / "labels"
    labels.mkdir(parents=True)
    (labels / "l.csv").write_text("record_id,label\n" + "".join(f"r{i},{rng.choice('ab')}\n" for i in range(0, n, 10)))
    feed = LabelFeed.load(PredictionStore(UPath(root / "predictions")), UPath(labels), 1e9, 0.0)
    for f in range(n // per_file):
        feed.add_log_file(f"inference-{f:06d}", [
            {"record_id": f"r{i}", "timestamp": (START + timedelta(seconds=i * 3)).isoformat(), "model_version": "1",
             "prediction": rng.choice("ab"), "latency_ms": 5.0,
             "shadow": {"model_version": "2", "prediction": rng.choice("ab")}}
            for i in range(f * per_file, (f + 1) * per_file)])
    feed.save()


def run(root: Path, what: str) -> dict:
    from ml_platform.lib.decision_counts import update
    from ml_platform.lib.live_performance import window_metrics
    from ml_platform.lib.live_window import store_window
    from ml_platform.lib.prediction_store import PredictionStore

    store, began = PredictionStore(UPath(root / "predictions")), time.perf_counter()
    if what == "live_performance":
        window, read = store_window(store, 500)
        window_metrics(window, 500)
    else:
        read = update(store, "1", "2", START, 0).files_read
    return {"seconds": round(time.perf_counter() - began, 2), "files_read": read,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(json.dumps(run(Path(sys.argv[1]), sys.argv[2])))
        sys.exit()
    for n in (10_000, 100_000):
        with tempfile.TemporaryDirectory() as folder:
            build(Path(folder), n)
            for what in ("live_performance", "decision (first run)", "decision (next run)"):
                out = subprocess.run([sys.executable, __file__, folder, what.split()[0]], capture_output=True,
                                     text=True, check=True).stdout
                print(f"{n:>7} records  {what:<22} {out.strip()}")
