"""Pipeline cost as data grows: the whole graph through Dagster against a plain script, per step.

Run: `.venv/bin/python benchmarks/pipeline.py [--sizes 10000 100000 1000000] [--out table.md]`.
For each size one batch is generated and landed, then the Dagster worker (`pipeline_dagster.py`: the
jobs `ingest_batch`, `retrain`, `monitor_batch` in process, as `make run` does) and the plain script
(`pipeline_baseline.py`) each run in a fresh process on their own copy, their order alternating per size
so that load from other work on the machine falls on both. Prints markdown tables with the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pipeline_probe import BATCH, quiet_environment, write_spec  # noqa: E402

WORKERS = {"dagster": HERE / "pipeline_dagster.py", "script": HERE / "pipeline_baseline.py"}
STEPS = {"raw_data": "raw_data", "validate_batch": "validated_data + rejected_rows", "features": "features",
         "training_set": "training_set", "trained_model": "trained_model",
         "evaluation_report": "evaluation_report", "promoted_model": "promoted_model",
         "reference_profile": "reference_profile", "bento": "bento (`bentoml build`)",
         "drift_report": "drift_report"}


def land(root: Path, rows: int) -> Path:
    """Generate the batch once; each worker gets a hard link to the same file."""
    from ml_platform.lib.landing import land_generated
    from ml_platform.lib.spec import load_spec

    root.mkdir(parents=True)
    spec = load_spec(write_spec(root / "spec.yaml", rows))
    return land_generated(spec, root / "landed", 1)


def run_worker(kind: str, root: Path, batch: Path, rows: int) -> dict:
    root.mkdir()
    write_spec(root / "spec.yaml", rows)
    landing = root / "data" / "landing" / "customer-segmentation"
    landing.mkdir(parents=True)
    os.link(batch, landing / BATCH)
    out = root / "result.json"
    command = [sys.executable, str(WORKERS[kind]), str(root), str(out), repr(time.time())]
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path})
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker failed at {rows} rows:\n{done.stderr[-6000:]}")
    return json.loads(out.read_text())


def step_rows(rows: int, d: dict, s: dict) -> list[str]:
    lines = []
    for key, label in STEPS.items():
        a, b = d["steps"][key], s["steps"][key]
        lines.append(f"| {rows:,} | {label} | {a['seconds']:.2f} | {b['seconds']:.2f} | "
                     f"{a['seconds'] / b['seconds']:.2f}x | {a['peak_mib']:.0f} | {b['peak_mib']:.0f} |")
    outside = sum(d["jobs"].values()) - sum(v["seconds"] for v in d["steps"].values())
    lines.append(f"| {rows:,} | Dagster run setup and teardown (outside steps) | {outside:.2f} | 0 | | | |")
    return lines


def without_bento(result: dict) -> float:
    return result["total"] - result["steps"]["bento"]["seconds"]


def total_row(rows: int, d: dict, s: dict) -> str:
    return (f"| {rows:,} | {d['total']:.1f} | {s['total']:.1f} | {d['total'] / s['total']:.2f}x | "
            f"{without_bento(d):.1f} | {without_bento(s):.1f} | {without_bento(d) / without_bento(s):.2f}x | "
            f"{d['startup']:.1f} | {s['startup']:.1f} | {d['peak_mib']:.0f} | {s['peak_mib']:.0f} |")


def growth(results: dict[int, dict[str, dict]], small: int, big: int) -> list[str]:
    """How much each step's time and peak grew from `small` to `big` rows (linear: the row factor)."""
    def seconds(r: dict, key: str) -> float:
        return {"total": r["total"], "no_bento": without_bento(r)}.get(key) or r["steps"][key]["seconds"]

    def peak(r: dict, key: str) -> float:
        return r["peak_mib"] if key in ("total", "no_bento") else r["steps"][key]["peak_mib"]

    lines = [f"| growth {small:,} -> {big:,} rows | Dagster time x | script time x | Dagster peak x | script peak x |",
             "|---|---:|---:|---:|---:|"]
    for key, label in [*STEPS.items(), ("total", "total"), ("no_bento", "total without bento")]:
        cells = [f(results[big][k], key) / f(results[small][k], key) for f in (seconds, peak) for k in WORKERS]
        lines.append(f"| {label} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return lines


def measure(base: Path, sizes: list[int], warmup: int) -> dict[int, dict[str, dict]]:
    if warmup:
        warm = land(base / "warmup", warmup)
        for kind in WORKERS:  # fills the OS page cache and bytecode caches; not reported
            run_worker(kind, base / "warmup" / kind, warm, warmup)
    results: dict[int, dict[str, dict]] = {}
    for index, rows in enumerate(sizes):
        batch = land(base / f"{rows}", rows)
        order = ["dagster", "script"] if index % 2 == 0 else ["script", "dagster"]
        results[rows] = {k: run_worker(k, base / f"{rows}" / k, batch, rows) for k in order}
        print(f"{rows:,} rows: dagster {results[rows]['dagster']['total']:.1f} s, "
              f"script {results[rows]['script']['total']:.1f} s", file=sys.stderr, flush=True)
    return results


def markdown(results: dict[int, dict[str, dict]]) -> str:
    lines = ["| rows | step | Dagster s | script s | ratio | Dagster peak MiB | script peak MiB |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for rows, r in results.items():
        lines += step_rows(rows, r["dagster"], r["script"])
    lines += ["", "| rows | Dagster total s | script total s | ratio | Dagster without bento s | "
              "script without bento s | ratio | Dagster startup s | script startup s | Dagster peak MiB | "
              "script peak MiB |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [total_row(rows, r["dagster"], r["script"]) for rows, r in results.items()]
    sizes = sorted(results)
    if len(sizes) > 1:
        lines += ["", *growth(results, sizes[-2], sizes[-1])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    parser.add_argument("--warmup", type=int, default=2_000, help="rows of an unreported first run; 0 skips it")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    quiet_environment(base)
    try:
        text = markdown(measure(base, args.sizes, args.warmup))
    finally:
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
