"""Training at scale: the default spec at 1, 5 and 20 batches of 1,000,000 rows, through the real assets.

    .venv/bin/python benchmarks/training_scale.py [--batches 1 5 20] [--rows 1000000] [--out table.md]

Each size runs in a fresh process (`training_scale_worker.py`) on its own temp instance and stores, as
`make run` runs them: every batch's `ingest_batch`, one `retrain` (the training sample, the halving search
on the CPUs this machine grants, evaluation, promotion, the Bento), then every batch's `monitor_batch`.
Per stage: wall seconds, CPU seconds (the process and its fit workers) and the peak RSS of the process
plus its workers. Beside it, once, the search as it was before (every candidate on every row, one fit at
a time on one core) on the same training sample, the same full search with its fits in parallel, and the test score
each search's winner reaches after its refit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOALS = {"minutes_at_20": 15, "peak_gib": 8, "speedup": 1.7, "score_gap": 0.005}


def run_size(base: Path, batches: int, rows: int, baseline: bool) -> dict:
    root = base / f"{batches}x{rows}"
    root.mkdir()
    out = root / "result.json"
    command = [sys.executable, str(HERE / "training_scale_worker.py"), str(root), str(out), str(batches), str(rows),
               "baseline" if baseline else "-"]
    path = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path})
    if done.returncode != 0:
        raise SystemExit(f"worker failed at {batches} x {rows}:\n{done.stderr[-6000:]}")
    return json.loads(out.read_text())


def markdown(results: dict[int, dict], rows: int) -> str:
    stages = ["land (generate the CSVs)", "ingest_batch (every batch)", "retrain: training_set",
              "retrain: trained_model (search + refit + log)", "retrain: evaluation, promotion, bento",
              "monitor_batch (every batch)", "whole graph (without landing)"]
    lines = ["| batches x rows | stage | wall s | CPU s | CPU / wall | peak RSS MiB |", "|---|---|---:|---:|---:|---:|"]
    for batches, r in results.items():
        for stage in stages:
            s = r["stages"][stage]
            lines.append(f"| {batches} x {rows:,} | {stage} | {s['wall']:.1f} | {s['cpu']:.1f} | "
                         f"{s['cpu'] / max(s['wall'], 1e-9):.2f} | {s['peak_mib']:.0f} |")
    lines += ["", "| batches x rows | sample rows | rungs (rows) | fits | search s on CPUs | chosen | cv | test |",
              "|---|---:|---|---:|---|---|---:|---:|"]
    for batches, r in results.items():
        t = r["training"]
        lines.append(f"| {batches} x {rows:,} | {t['sample_rows']:,} | {t['rung_rows']} | {t['fits']} | "
                     f"{t['search_seconds']:.1f} on {t['cpus']} | {t['estimator']} {t['params']} | "
                     f"{t['cv']:.4f} | {t['test']:.4f} |")
    with_baseline = [(b, r) for b, r in results.items() if "baseline" in r]
    for batches, r in with_baseline:
        b, t = r["baseline"], r["training"]
        lines += ["", f"Same run, at {batches} x {rows:,} on the same {t['sample_rows']:,}-row sample: the search as "
                  f"it was (every candidate on every row, one fit at a time, one thread) took {b['seconds']:.1f} s for "
                  f"{b['fits']} fits; the same fits on {b['parallel_cpus']} CPUs took {b['parallel_seconds']:.1f} s "
                  f"({b['seconds'] / b['parallel_seconds']:.2f}x, the processes alone); halving on {t['cpus']} CPUs "
                  f"took {t['search_seconds']:.1f} s (its winner's learning curve included): "
                  f"**{b['seconds'] / t['search_seconds']:.2f}x** (goal {GOALS['speedup']}x). The full search's winner, "
                  f"{b['estimator']} {b['params']}, scores {b['test']:.4f} on the test split after the same "
                  f"refit; halving's scores {t['test']:.4f}: a gap of {b['test'] - t['test']:+.4f} "
                  f"(goal within {GOALS['score_gap']})."]
    biggest = max(results)
    whole = results[biggest]["stages"]["whole graph (without landing)"]
    lines += ["", f"At {biggest} x {rows:,} rows the whole graph took {whole['wall'] / 60:.1f} min "
              f"(goal {GOALS['minutes_at_20']} min at 20 batches) with a peak of {whole['peak_mib'] / 1024:.2f} GiB "
              f"(goal {GOALS['peak_gib']} GiB). One run on this 2-core machine."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-at", type=int, default=None, help="batches at which to run the old search "
                        "(default: the first size; the sample, and so the search, is the same size above it)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    baseline_at = args.baseline_at or args.batches[0]
    results = {}
    with tempfile.TemporaryDirectory(prefix="training-scale-") as base:
        for batches in args.batches:
            results[batches] = run_size(Path(base), batches, args.rows, batches == baseline_at)
            print(f"{batches} x {args.rows:,}: {results[batches]['stages']['whole graph (without landing)']['wall']:.0f} s",
                  file=sys.stderr, flush=True)
    text = markdown(results, args.rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
