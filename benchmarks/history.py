"""What the loop's recurring work costs at 1x, 10x and 100x history: `python benchmarks/history.py [--json]`.

History is made by the platform's own parts, never by writing its files by hand: the service's log writer
(`InferenceLogWriter`) writes the records, a label file names 10% of them, and the real
`inference_log_sensor` consumes every closed file (staging it for its hour's batch and adding it to the
prediction store); each "hour" (10 files) is sealed as one landed batch by `seal` as the first tick after
the hour would; the real `new_data_sensor` and `labels_sensor` then tick over what is there, so their
cursors are the ones a deployment of that age has. History has its own clock: records are served at
PER_HOUR an hour, and each hour's label file is dated (mtime, the label feed's clock) to that hour's end,
the last one ending now, so the label feed's window holds an hour of labels as a deployment's does, not
every label written while the history was built. Then one more log file and label file arrive, and
each recurring piece of work runs in a fresh process (wall time, peak RSS): each sensor's next tick,
`live_performance`'s window and `promotion_decision`'s counts, each adding what is new to its last run's.

Scales are records and batches: 1x = `--base` records (default 10,000) in files of 1,000, so 100x is a
million records and 100 hourly batches. Goal (issue 22): every 100x figure within 1.5x its 1x figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repo's packages

PER_FILE, FILES_PER_HOUR, LABELLED_EVERY, SCALES, CANARY_HOURS = 1_000, 10, 10, (1, 10, 100), 2
PER_HOUR = PER_FILE * FILES_PER_HOUR
SENSORS = ("inference_log_sensor", "new_data_sensor", "labels_sensor")
RUNS = ("live_performance", "promotion_decision")
START = datetime(2026, 6, 1, tzinfo=timezone.utc)
CLASSES = ["budget", "standard", "premium", "luxury"]


def platform(root: Path):
    """The code location's definitions over `root` (label wait 0: a file is consumed once it is closed)."""
    import dagster as dg

    from ml_platform.definitions import PROJECT_DIR, build_defs, platform_resources
    from ml_platform.loop_resources import LoopStorage

    resources = platform_resources(str(PROJECT_DIR / "datasets" / "customer_segmentation.yaml"), str(root / "data"),
                                   f"sqlite:///{root / 'mlflow.db'}", str(root / "data" / "mlflow"), str(root / "bentoml"))
    resources["loop_storage"] = LoopStorage(storage_root=str(root / "data"), label_wait_minutes=0)
    (root / "dagster_home").mkdir(exist_ok=True)
    return build_defs(resources), dg.DagsterInstance.local_temp(str(root / "dagster_home"))


def write_log(root: Path, first: int, count: int) -> None:
    """`count` records through the service's writer, rotated every PER_FILE records, closed on exit."""
    from ml_platform.lib.inference_log_writer import Entry, InferenceLogWriter

    rng, writer = random.Random(first), InferenceLogWriter(root / "data" / "inference_log", max_bytes=1 << 40)
    for start in range(first, first + count, PER_FILE):
        for i in range(start, start + PER_FILE):
            writer.submit(Entry([{
                "record_id": f"r{i}", "request_id": f"q{i}", "model_version": "1", "latency_ms": 3.0,
                "timestamp": at(i).isoformat(), "prediction": rng.choice(CLASSES),
                "inputs": {"age": rng.randint(18, 90), "gender": rng.choice(["Female", "Male"]),
                           "income": float(rng.randint(5_000, 400_000)), "spending_score": rng.randint(1, 100),
                           "occupation": rng.choice(["Engineer", "Teacher", "Artist"])},
                "probabilities": {c: 0.25 for c in CLASSES},
                "shadow": {"model_version": "2", "prediction": rng.choice(CLASSES)}}]))
        writer.close()  # drains its queue and closes the file: one closed file per PER_FILE records
        writer = InferenceLogWriter(root / "data" / "inference_log", max_bytes=1 << 40)
    writer.close()


def at(record: int) -> datetime:
    """When record `record` was served: PER_HOUR records an hour from START."""
    return START + timedelta(hours=record / PER_HOUR)


def write_labels(root: Path, first: int, count: int, arrived: float | None = None) -> None:
    """Labels for every LABELLED_EVERY-th record, in one file that arrived at `arrived` (its mtime: the label
    feed's clock), so labels written within minutes of each other still spread over the history's hours."""
    folder, rng = root / "data" / "labels", random.Random(-first)
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"r{i},{rng.choice(CLASSES)}\n" for i in range(first, first + count, LABELLED_EVERY))
    path = folder / f"labels-{first:09d}.csv"
    path.write_text("record_id,label\n" + rows)
    if arrived is not None:
        os.utime(path, (arrived, arrived))


def tick(root: Path, name: str, record_runs: bool = False, loaded=None) -> float:
    """One evaluation of sensor `name` with its stored cursor, as the daemon makes it; the cursor is kept.

    With `record_runs`, each run it requests is recorded as a succeeded run with the request's tags, as
    the daemon's launch would leave it: executing a thousand ingestion runs would take most of an hour."""
    import uuid

    import dagster as dg

    defs, instance = loaded or platform(root)
    cursor_file = root / "cursors" / name
    cursor = cursor_file.read_text() if cursor_file.exists() else None
    repository = defs.get_repository_def()
    began = time.perf_counter()
    with dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=cursor,
                                 repository_def=repository, sensor_name=name,
                                 resources=defs.resources) as context:
        data = repository.get_sensor_def(name).evaluate_tick(context)
    seconds = time.perf_counter() - began
    cursor_file.parent.mkdir(exist_ok=True)
    cursor_file.write_text(data.cursor or "")
    for request in (data.run_requests or []) if record_runs else []:
        instance.add_run(dg.DagsterRun(job_name=request.job_name or "ingest_batch", run_id=str(uuid.uuid4()),
                                       status=dg.DagsterRunStatus.SUCCESS, tags=dict(request.tags)))
    return seconds


def loop_run(root: Path, name: str, loaded=None) -> float:
    """What the asset's body reads: live_performance's window, the decision's counts since its last run."""
    from ml_platform.lib.decision_counts import update
    from ml_platform.lib.live_performance import window_metrics
    from ml_platform.lib.live_window import store_window
    from ml_platform.lib.prediction_store import PredictionStore

    store = PredictionStore((loaded or platform(root))[0].resources["loop_storage"].predictions_path)
    began = time.perf_counter()
    if name == "live_performance":
        end = datetime.fromisoformat((root / "canary_since").read_text()) + timedelta(hours=CANARY_HOURS)
        window_metrics(store_window(store, 500, lookback_seconds=3600, now=end)[0], 500)
    else:
        update(store, "1", "2", datetime.fromisoformat((root / "canary_since").read_text()), 0)
    return time.perf_counter() - began


def measure(root: Path, name: str) -> dict:
    """`name` in a fresh process: wall time of the work alone (not of loading the code location), and the
    process's peak RSS (which includes the imports, about 340 MiB)."""
    out = subprocess.run([sys.executable, __file__, "--measure", str(root), name], capture_output=True,
                         text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def build(root: Path, records: int) -> None:
    from ml_platform.lib.served_batches import seal

    loaded = platform(root)
    landing = loaded[0].resources["storage"].landing_dir(loaded[0].resources["dataset"].load())
    now = time.time()  # the history's last hour ends now: hour h's labels arrived (hours - h - 1) hours ago
    for first in range(0, records, PER_HOUR):  # an hour of traffic, and the ticks of that hour
        write_log(root, first, PER_HOUR)
        write_labels(root, first, PER_HOUR, arrived=now - (records - first - PER_HOUR) / PER_HOUR * 3600)
        tick(root, "inference_log_sensor", loaded=loaded)
        seal(landing, set(), time.time() + 7200, minutes=60)
        for name in SENSORS[1:]:
            tick(root, name, record_runs=True, loaded=loaded)
    # The challenger was set CANARY_HOURS before the history's end (a canary lasts at most
    # `promotion.max_hours`, 72 by default: the decision lists the store's hours since then, no more).
    (root / "canary_since").write_text((at(records) - timedelta(hours=CANARY_HOURS)).isoformat())
    for name in RUNS:  # each has run before: the next run reads what is new
        loop_run(root, name, loaded)


def scale_figures(base: int, scale: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="history-") as folder:
        root, records = Path(folder), base * scale
        began = time.perf_counter()
        build(root, records)
        print(f"{scale}x: history of {records:,} records built in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        write_log(root, records, PER_FILE)  # what arrives before the next tick
        write_labels(root, records, PER_FILE)
        figures = [{"name": f"tick {name}", **measure(root, name)} for name in SENSORS]
        figures += [{"name": f"run {name}", **measure(root, name)} for name in RUNS]
        return [{**f, "scale": f"{scale}x", "records": records} for f in figures]


def table(figures: list[dict]) -> str:
    names = list(dict.fromkeys(f["name"] for f in figures))
    by = {(f["name"], f["scale"]): f for f in figures}
    scales = list(dict.fromkeys(f["scale"] for f in figures))
    lines = ["| work | " + " | ".join(f"{s} s / MiB" for s in scales) + " | 100x / 1x time |",
             "|---|" + "---|" * (len(scales) + 1)]
    for name in names:
        cells = [f"{by[name, s]['seconds']:.2f} / {by[name, s]['peak_rss_mib']}" for s in scales]
        ratio = by[name, scales[-1]]["seconds"] / max(by[name, scales[0]]["seconds"], 1e-3)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--base", type=int, default=10_000)
    parser.add_argument("--measure", nargs=2, metavar=("ROOT", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        root, name = Path(args.measure[0]), args.measure[1]
        loaded = platform(root)  # loading the code location is the same at every scale: not timed
        seconds = tick(root, name, loaded=loaded) if name in SENSORS else loop_run(root, name, loaded)
        print(json.dumps({"seconds": round(seconds, 3),
                          "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
        return
    figures = [f for scale in SCALES for f in scale_figures(args.base, scale)]
    print(json.dumps(figures) if args.json else table(figures))


if __name__ == "__main__":
    main()
