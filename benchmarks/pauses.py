"""Latency as SLOs are set: the closed-loop peak, then a fixed offered rate, with every pause found.

    make run && make bench-pauses        (or: .venv/bin/python benchmarks/pauses.py [--duration 20])

Our service runs as `make serve` runs it (following the registry's aliases, inference log on) beside the
seed tutorial's per-record Starlette app, each with `--workers` processes on 127.0.0.1, every process of the
server on one core and the clients on the others (as a client on another host would be; `--shared-cores`
lets them mix, and then the client's own scheduling delays count as the server's pauses):
1. each gets `wrk -t1 -c32` for `--duration` s after a warm-up: the closed-loop peak, p99 and max;
2. our service then gets an open-loop client at 50% and 80% of its peak for `--duration` s each: every
   request is due at a fixed time and its latency counts from then (a stall cannot hide by delaying the
   requests behind it). The closed-loop peak is reached with 32 requests always waiting, so every batch
   is full; arrivals at a fixed rate form small batches, and each request then pays more of a batch's
   fixed cost. So the script also finds the open-loop capacity, the highest rate the service sustains
   (10 s steps up from 30% of the peak, each holding if 99% of its requests went out by a second after
   its end and were answered, and its p99 met the 50 ms goal), and offers 50% and 80% of that too: the
   loads "below saturation" for clients that do not wait for each other. Each answer keeps when it was
   due, so a *pause* is found, not inferred: a run of
   requests slower than `--pause-ms` whose due times lie within 100 ms of each other is one episode (less
   only the time the client's own loop woke late to send, which the table shows apart);
   the table gives their number, the longest, and the median period between them;
3. our service once more on BentoML's public API alone (`ML_PLATFORM_BENTOML_PATCHES=0`), closed loop:
   what `serving/bentoml_hot_path.py`'s patches of BentoML internals buy (the reason they stay).
For the open-loop rows the service's own histograms give the longest stall of its event loop
(`ml_platform_event_loop_lag_seconds`) and the longest full collection (`ml_platform_gc_pause_seconds`,
the interpreter's own), and /proc/stat the share of CPU time the VM's host took (steal): a pause the
client saw that is longer than any stall of the server's loop happened outside the server process.
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
LOOP_LAG, GC_PAUSE = "ml_platform_event_loop_lag_seconds", "ml_platform_gc_pause_seconds"
NAMES = {"b": "(b) Starlette + uvicorn, predict per record", "a": "(a) our service",
         "p": "(a) on BentoML's public API alone (ML_PLATFORM_BENTOML_PATCHES=0)"}


def episodes(answers: list[loadgen.Answer], slower_than_ms: float, gap: float = 0.1) -> list[tuple[float, float]]:
    """(start, longest latency ms) of each run of slow answers whose due times lie within `gap` s.

    A latency counts from when the request was due, less only the time the client's own event loop woke
    late to send it: a request that waited for a free connection keeps that wait (the server's delay)."""
    found: list[list[float]] = []
    for answer in sorted((a for a in answers if a.status == 200), key=lambda a: a.due):
        latency_ms = (answer.latency - answer.client_late) * 1000
        if latency_ms <= slower_than_ms:
            continue
        if found and answer.due - found[-1][2] <= gap:
            found[-1][1], found[-1][2] = max(found[-1][1], latency_ms), answer.due
        else:
            found.append([answer.due, latency_ms, answer.due])
    return [(start, longest) for start, longest, _ in found]


def open_loop(port: int, rate: float, seconds: int, bodies: list[bytes], grace: float = 60) -> dict:
    """A row at `rate` for `seconds`; a request not sent by `grace` s after the end counts as an error."""
    answers, elapsed = loadgen.run(port, bodies, int(rate * seconds), 64, rate=rate, timeout=10,
                                   max_seconds=seconds + grace)
    latencies = sorted(a.latency * 1000 for a in answers if a.status == 200)
    runs = episodes(answers, GOALS["pause_ms"])
    starts = [start for start, _ in runs]
    return {"offered": rate, "rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2],
            "p99": latencies[int(len(latencies) * 0.99)], "max": latencies[-1],
            "errors": sum(a.status != 200 for a in answers), "pauses": len(runs),
            "client_late": 1000 * max((a.client_late for a in answers), default=0.0),
            "longest": max((longest for _, longest in runs), default=0.0),
            "period": statistics.median(b - a for a, b in zip(starts, starts[1:])) if len(starts) > 2 else math.nan}


def capacity(port: int, peak: float, bodies: list[bytes], seconds: int = 10) -> tuple[float, list[str]]:
    """The highest offered rate that held (see the module's docstring), and each step as printed."""
    held, steps = 0.0, []
    for share in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        rate = peak * share
        step = open_loop(port, rate, seconds, bodies, grace=1)
        answered = 1 - step["errors"] / int(rate * seconds)
        steps.append(f"{rate:,.0f} req/s: p99 {step['p99']:.1f} ms, {answered:.1%} answered")
        if answered < 0.99 or step["p99"] > GOALS["p99_ms"]:
            break
        held = rate
    return held, steps


def buckets(port: int, name: str, **labels: str) -> dict[float, float]:
    """A histogram's cumulative bucket counts on the service's /metrics, summed over every other label."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://{service_process.HOST}:{port}/metrics", timeout=10).text
    found: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_bucket" and all(sample.labels.get(k) == v for k, v in labels.items()):
                bound = float(sample.labels["le"])
                found[bound] = found.get(bound, 0) + sample.value
    return found


def longest_ms(before: dict[float, float], after: dict[float, float]) -> float:
    """The upper bound of the bucket holding the longest observation made between two scrapes."""
    delta = {bound: count - before.get(bound, 0) for bound, count in after.items()}
    bounds = sorted(delta)
    if not bounds or delta[bounds[-1]] == 0:
        return 0.0  # nothing observed
    return next(bound * 1000 for bound in bounds if delta[bound] == delta[bounds[-1]])


def cpu_steal() -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs: time this VM was ready to run and its host ran something else."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return fields[7], sum(fields[:8])


def measured(port: int, run) -> dict:
    """`run()`'s row, plus the longest stall of the service's own event loop and the CPU steal meanwhile."""
    lag, steal = buckets(port, LOOP_LAG), cpu_steal()
    row = run()
    stolen = [after - before for before, after in zip(steal, cpu_steal())]
    return {**row, "loop_ms": longest_ms(lag, buckets(port, LOOP_LAG)), "steal": 100 * stolen[0] / max(1, stolen[1])}


def pin(process, cpu: int) -> None:
    """Every process of the server on `cpu`; this process (the open-loop client) on every other CPU. With
    2 cores the client otherwise takes the server's core at times, and its own wait counts as a pause."""
    import psutil

    server = psutil.Process(process.pid)
    for member in [server, *server.children(recursive=True)]:
        member.cpu_affinity([cpu])
    os.sched_setaffinity(0, set(os.sched_getaffinity(0)) - {cpu})


def table(rows: list[tuple[str, dict]]) -> str:
    lines = ["| server, load | offered req/s | req/s | p50 ms | p99 ms | max ms | pauses > 20 ms | longest ms | period s "
             "| server loop stalled ≤ ms | client loop late ≤ ms | CPU steal % |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows:
        offered = f"{r['offered']:,.0f}" if r.get("offered") else "as fast as answered"
        longest = f"{r['longest']:.0f}" if r.get("longest") else ""
        period = "" if math.isnan(r.get("period", math.nan)) else f"{r['period']:.1f}"
        loop = f"{r['loop_ms']:.0f}" if "loop_ms" in r else ""
        steal = f"{r['steal']:.1f}" if "steal" in r else ""
        late = f"{r['client_late']:.0f}" if "client_late" in r else ""
        lines.append(f"| {name} | {offered} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | "
                     f"{r.get('pauses', '')} | {longest} | {period} | {loop} | {late} | {steal} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="processes per server (one: the client needs a core)")
    parser.add_argument("--shared-cores", action="store_true", help="do not pin each server to one core and its "
                        "clients (wrk, the open-loop client) to the others")
    parser.add_argument("--peak", type=float, help="offer the open-loop rows a share of this rate instead of the "
                        "peak just measured (to compare two builds at the same load; the table says so)")
    args = parser.parse_args()
    everywhere = os.sched_getaffinity(0)
    env = {**os.environ, "ML_PLATFORM_MODEL_TAG": MODEL_TAG, "ML_PLATFORM_SERVICE_WORKERS": str(args.workers),
           "ML_PLATFORM_ACCESS_LOG": "0", "BENTOML_DO_NOT_TRACK": "True", "PYTHONPATH": str(service_process.PROJECT_DIR)}
    bodies, rows, half = loadgen.payloads(FEATURES), [], {}  # half: the row at 50% of each rate, by name
    with tempfile.TemporaryDirectory(prefix="bench-pauses-") as scratch:
        env["ML_PLATFORM_INFERENCE_LOG_DIR"] = f"{scratch}/inference_log"
        servers = (("b", None, {}), ("a", "serving.service:Classifier", {}),
                   ("p", "serving.service:Classifier", {"ML_PLATFORM_BENTOML_PATCHES": "0"}))
        for key, target, overrides in servers:
            process, port = serve(target, {**env, **overrides}, Path(scratch) / f"{key}.out")
            try:
                if not args.shared_cores and len(everywhere) > 1:
                    pin(process, max(everywhere))  # wrk, started from here, runs where this process may
                wrk(port, 32, args.warmup)
                peak = wrk(port, 32, args.duration)
                rows.append((f"{NAMES[key]}, wrk -c32", peak))
                if key == "a":
                    base, of = ((args.peak, f"{args.peak:,.0f} req/s (--peak)") if args.peak
                                else (peak["rps"], "its peak"))
                    sustained, steps = capacity(port, base, bodies)
                    gc_before = buckets(port, GC_PAUSE, generation="2", cause="collector")
                    for rate, name in ((base, of), (sustained, "its open-loop capacity")):
                        for share in (0.5, 0.8) if rate else ():  # no capacity if even the first step failed
                            rows.append((f"(a) at {share:.0%} of {name}, open loop", measured(
                                port, lambda: open_loop(port, rate * share, args.duration, bodies))))
                            if share == 0.5:
                                half[name] = rows[-1][1]
                    gc_ms = longest_ms(gc_before, buckets(port, GC_PAUSE, generation="2", cause="collector"))
            finally:
                os.sched_setaffinity(0, everywhere)
                service_process.stop(process)
    (_, b), (_, a), *_ = rows
    placement = ("shared by server and client" if args.shared_cores or len(everywhere) < 2 else
                 f"each server's processes on core {max(everywhere)} alone and its clients on the "
                 f"other{'s' if len(everywhere) > 2 else ''}")
    print(f"{args.duration} s per row, {args.workers} worker(s) per server, one run on {len(everywhere)} cores, "
          f"{placement}.\n")
    print(table(rows))
    steps_from = of if args.peak else "the closed-loop peak"
    print(f"\nOpen-loop capacity: {sustained:,.0f} req/s, {sustained / base:.0%} of {steps_from} "
          f"(10 s steps: {'; '.join(steps)}).")
    print(f"Longest full collection (generation 2) the service timed in the open-loop rows: at most {gc_ms:.1f} ms.")
    print(f"Goals: a/b {a['rps'] / b['rps']:.1f}x >= {GOALS['ratio']:.0f}x: {'held' if a['rps'] >= GOALS['ratio'] * b['rps'] else 'NOT held'}; "
          f"(a) p99 at 32 connections {a['p99']:.1f} ms < {GOALS['p99_ms']:.0f} ms: {'held' if a['p99'] < GOALS['p99_ms'] else 'NOT held'}; "
          + "; ".join(f"longest pause at half of {name} {row['longest']:.0f} ms <= {GOALS['pause_ms']:.0f} ms: "
                      f"{'held' if row['pauses'] == 0 else 'NOT held'} (the server's own loop stalled at most "
                      f"{row['loop_ms']:.0f} ms, CPU steal {row['steal']:.1f}%)"
                      for name, row in half.items())
          + ".")


if __name__ == "__main__":
    main()
