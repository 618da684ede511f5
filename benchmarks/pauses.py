"""Latency as SLOs are set: the closed-loop peak, then a fixed offered rate, with every pause found.

    make run && make bench-pauses        (or: .venv/bin/python benchmarks/pauses.py [--duration 20])

Our service runs as `make serve` runs it (following the registry's aliases, inference log on) beside the
seed tutorial's per-record Starlette app, each with `--workers` processes on 127.0.0.1:
1. each gets `wrk -t1 -c32` for `--duration` s after a warm-up: the closed-loop peak, p99 and max;
2. our service then gets an open-loop client at 50% and 80% of its peak for `--duration` s each: every
   request is due at a fixed time and its latency counts from then (a stall cannot hide by delaying the
   requests behind it). Each answer keeps when it was due, so a *pause* is found, not inferred: a run of
   requests slower than `--pause-ms` whose due times lie within 100 ms of each other is one episode;
   the table gives their number, the longest, and the median period between them.
The service's own `ml_platform_gc_pause_seconds` histogram gives the longest full collection the collector
made (its `cause="freeze"` collections, the heap freezes' own, are left out).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repo's packages

from benchmarks import loadgen, service_process
from benchmarks.serving import FEATURES, MODEL_TAG, serve, wrk

GOALS = {"ratio": 5.0, "p99_ms": 50.0, "pause_ms": 20.0}


def episodes(answers: list[loadgen.Answer], slower_than_ms: float, gap: float = 0.1) -> list[tuple[float, float]]:
    """(start, longest latency ms) of each run of slow answers whose due times lie within `gap` s."""
    found: list[list[float]] = []
    for answer in sorted((a for a in answers if a.status == 200), key=lambda a: a.due):
        if answer.latency * 1000 <= slower_than_ms:
            continue
        if found and answer.due - found[-1][2] <= gap:
            found[-1][1], found[-1][2] = max(found[-1][1], answer.latency * 1000), answer.due
        else:
            found.append([answer.due, answer.latency * 1000, answer.due])
    return [(start, longest) for start, longest, _ in found]


def open_loop(port: int, rate: float, seconds: int, bodies: list[bytes]) -> dict:
    answers, elapsed = loadgen.run(port, bodies, int(rate * seconds), 64, rate=rate, timeout=10, max_seconds=seconds + 60)
    latencies = sorted(a.latency * 1000 for a in answers if a.status == 200)
    runs = episodes(answers, GOALS["pause_ms"])
    starts = [start for start, _ in runs]
    return {"offered": rate, "rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2],
            "p99": latencies[int(len(latencies) * 0.99)], "max": latencies[-1],
            "errors": sum(a.status != 200 for a in answers), "pauses": len(runs),
            "longest": max((longest for _, longest in runs), default=0.0),
            "period": statistics.median(b - a for a, b in zip(starts, starts[1:])) if len(starts) > 2 else math.nan}


def longest_gc_ms(port: int) -> float:
    """The upper bound of the highest non-empty bucket of the service's full-collection histogram."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://{service_process.HOST}:{port}/metrics", timeout=10).text
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ml_platform_gc_pause_seconds_bucket" and sample.labels.get("generation") == "2" \
                    and sample.labels.get("cause") == "collector":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0) + sample.value
    bounds = sorted(buckets)
    for low, high in zip([0.0, *bounds], bounds):
        if buckets[high] == buckets[bounds[-1]] and (low == 0.0 or buckets[low] < buckets[high]):
            return high * 1000
    return math.nan


def table(rows: list[tuple[str, dict]]) -> str:
    lines = ["| server, load | offered req/s | req/s | p50 ms | p99 ms | max ms | pauses > 20 ms | longest ms | period s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows:
        offered = f"{r['offered']:,.0f}" if r.get("offered") else "as fast as answered"
        longest = f"{r['longest']:.0f}" if r.get("longest") else ""
        period = "" if math.isnan(r.get("period", math.nan)) else f"{r['period']:.1f}"
        lines.append(f"| {name} | {offered} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | "
                     f"{r.get('pauses', '')} | {longest} | {period} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="processes per server (one: the client needs a core)")
    args = parser.parse_args()
    env = {**os.environ, "ML_PLATFORM_MODEL_TAG": MODEL_TAG, "ML_PLATFORM_SERVICE_WORKERS": str(args.workers),
           "ML_PLATFORM_ACCESS_LOG": "0", "BENTOML_DO_NOT_TRACK": "True", "PYTHONPATH": str(service_process.PROJECT_DIR)}
    bodies, rows = loadgen.payloads(FEATURES), []
    with tempfile.TemporaryDirectory(prefix="bench-pauses-") as scratch:
        env["ML_PLATFORM_INFERENCE_LOG_DIR"] = f"{scratch}/inference_log"
        for key, target in (("b", None), ("a", "serving.service:Classifier")):
            process, port = serve(target, env, Path(scratch) / f"{key}.out")
            try:
                wrk(port, 32, args.warmup)
                peak = wrk(port, 32, args.duration)
                name = "(a) our service" if key == "a" else "(b) Starlette + uvicorn, predict per record"
                rows.append((f"{name}, wrk -c32", peak))
                if key == "a":
                    for share in (0.5, 0.8):
                        rows.append((f"(a) at {share:.0%} of its peak, open loop",
                                     open_loop(port, peak["rps"] * share, args.duration, bodies)))
                    gc_ms = longest_gc_ms(port)
            finally:
                service_process.stop(process)
    (_, b), (_, a), (_, half), _ = rows
    print(f"{args.duration} s per row, {args.workers} worker(s) per server, one run on {os.cpu_count()} cores "
          f"shared by server and client.\n")
    print(table(rows))
    print(f"\nLongest full collection (generation 2) the service timed: at most {gc_ms:.1f} ms.")
    print(f"Goals: a/b {a['rps'] / b['rps']:.1f}x >= {GOALS['ratio']:.0f}x: {'held' if a['rps'] >= GOALS['ratio'] * b['rps'] else 'NOT held'}; "
          f"(a) p99 at 32 connections {a['p99']:.1f} ms < {GOALS['p99_ms']:.0f} ms: {'held' if a['p99'] < GOALS['p99_ms'] else 'NOT held'}; "
          f"longest pause at half of peak {half['longest']:.0f} ms <= {GOALS['pause_ms']:.0f} ms: "
          f"{'held' if half['pauses'] == 0 else 'NOT held'}.")


if __name__ == "__main__":
    main()
