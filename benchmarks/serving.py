"""Serving benchmark under sustained load: our service against baselines, the HTTP layer and the bare model.

    BENTOML_HOME=.bentoml .venv/bin/python benchmarks/serving.py [--connections 8 32] [--duration 20]

Each server runs alone on 127.0.0.1 with the same number of worker processes (`--workers`, one per core by default) and gets `wrk -t1 -c<C> -d<D>s --timeout 5s`
(`wrk_post.lua`: the same single-record POST, summary as JSON) after a warm-up: (a) our service
`serving.service:Classifier`; (b) `starlette_baseline.py`, the seed tutorial's per-request predict on
Starlette/uvicorn; (b2), (c) and (c2) in `bentoml_baselines.py`: that predict as a BentoML service, a
BentoML API parsing the same request type and returning a constant, and the same constant answered where
our service answers (in the middleware, after one `validate_json`); (d) the model in-process. wrk, not
a Python client, because bursts of a few seconds miss the stalls that sustained load meets.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repo's packages

import bentoml

from benchmarks import loadgen, service_process

from ml_platform.lib.features import add_features_to_rows
from ml_platform.lib.model_store import read_spec_json
from ml_platform.lib.served_model import from_store
from ml_platform.lib.spec import DatasetSpec

HOST, PROJECT_DIR = service_process.HOST, service_process.PROJECT_DIR
MODEL_TAG = os.environ.get("ML_PLATFORM_MODEL_TAG", "customer-segmentation:latest")
WRK_SCRIPT = Path(__file__).with_name("wrk_post.lua")
SPEC = DatasetSpec.model_validate(read_spec_json(bentoml.models.get(MODEL_TAG).path))
FEATURES = SPEC.feature_names

# key: (name, target, extra environment). (a+) is (a) with the per-client rate limit on, set so high
# that nothing is refused: what the limiter itself costs.
SERVERS = {"a": ("(a) our service", "serving.service:Classifier", {}),
           "a+": ("(a+) our service, rate limit on", "serving.service:Classifier",
                  {"ML_PLATFORM_RATE_LIMIT_PER_SECOND": "1000000000"}),
           "b": ("(b) Starlette + uvicorn, predict per request", None, {}),
           "b2": ("(b2) BentoML, predict per request", "benchmarks.bentoml_baselines:Naive", {}),
           "c": ("(c) BentoML echo, same stack", "benchmarks.bentoml_baselines:Echo", {}),
           "c2": ("(c2) echo on our path: parsed in the middleware", "benchmarks.bentoml_baselines:EchoOnOurPath", {})}


def wrk(port: int, connections: int, seconds: int) -> dict:
    """One wrk run; the Lua `done()` prints its summary as the last line."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(WRK_SCRIPT),
               f"http://{HOST}:{port}/predict"]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    result = json.loads(output.strip().splitlines()[-1])
    return {**result, "socket_errors": sum(result["socket_errors"].values())}


def serve(target: str | None, env: dict[str, str], log: Path):
    """A BentoML target through `bentoml serve`, else (b) on uvicorn; returns once /readyz answers."""
    if target:
        return service_process.serve(target, env, output=log)
    port = service_process.free_port()
    with log.open("w") as sink:
        command = [sys.executable, "-m", "uvicorn", "benchmarks.starlette_baseline:app", "--host", HOST,
                   "--port", str(port), "--no-access-log", "--log-level", "warning",
                   "--workers", env["ML_PLATFORM_SERVICE_WORKERS"]]
        process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, start_new_session=True, stdout=sink,
                                   stderr=subprocess.STDOUT)
    service_process.wait_until_up(process, port, output=log)
    return process, port


def bare_model(batch: int, records: int = 20_000) -> dict:
    """The model alone: the same records, `batch` per call of the service's features and predict, no HTTP;
    latency is per call."""
    served = from_store(bentoml.models.get(MODEL_TAG))
    rows = [json.loads(b) for b in loadgen.payloads(FEATURES)]
    latencies, started = [], time.perf_counter()
    for i in range(records // batch):
        t = time.perf_counter()
        served.predict(add_features_to_rows(SPEC, [rows[(i * batch + j) % len(rows)] for j in range(batch)]))
        latencies.append((time.perf_counter() - t) * 1000)
    latencies.sort()
    at = {q: latencies[min(len(latencies) - 1, int(len(latencies) * q / 100))] for q in (50, 90, 99)}
    return {"rps": len(latencies) * batch / (time.perf_counter() - started), "p50": at[50], "p90": at[90],
            "p99": at[99], "max": latencies[-1], "non_2xx": 0, "socket_errors": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--duration", type=int, default=20, help="seconds of each measured wrk run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of wrk before the measured runs")
    parser.add_argument("--workers", type=int, default=os.cpu_count(),
                        help="processes per server, the same for every server (default: one per core)")
    args = parser.parse_args()
    env = {**os.environ, "ML_PLATFORM_MODEL_TAG": MODEL_TAG, "ML_PLATFORM_SERVICE_WORKERS": str(args.workers),
           "ML_PLATFORM_ACCESS_LOG": "0", "BENTOML_DO_NOT_TRACK": "True", "PYTHONPATH": str(PROJECT_DIR)}
    env.pop("MLFLOW_TRACKING_URI", None)  # benchmark the model, not the registry poller
    results: dict[str, dict[int, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        env["ML_PLATFORM_INFERENCE_LOG_DIR"] = f"{scratch}/inference_log"
        for key, (name, target, extra) in SERVERS.items():
            print(f"{name}: warm-up {args.warmup} s, then {args.duration} s at C={args.connections}", file=sys.stderr)
            process, port = serve(target, {**env, **extra}, Path(scratch) / f"{key}.out")
            try:
                wrk(port, max(args.connections), args.warmup)  # also trains BentoML's batching optimizer
                results[key] = {c: wrk(port, c, args.duration) for c in args.connections}
            finally:
                service_process.stop(process)
    results["d"] = {c: bare_model(c) for c in args.connections}
    print(table(results, args))
    print(limiter_alone(results["a"][max(args.connections)]["rps"], args.workers))


def limiter_alone(rps: float, workers: int, calls: int = 200_000) -> str:
    """The limiter's own time per request, in process: a steadier figure than a difference of two runs."""
    from serving.rate_limit import RateLimiter

    limiter, callers = RateLimiter(1e9, 1e9), [f"10.0.{i // 256}.{i % 256}" for i in range(1000)]
    started = time.perf_counter()
    for i in range(calls):
        limiter.retry_after(callers[i % 1000])
    per_call = (time.perf_counter() - started) / calls
    share = per_call / (workers / rps)
    return (f"\nThe rate limiter alone, in process: {per_call * 1e6:.2f} us per request over 1,000 callers, "
            f"{share:.2%} of a worker's time per request in (a) at the highest C.")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return f"nproc {len(os.sched_getaffinity(0))} ({cpu}), {memory_kib / 2**20:.0f} GiB"


def table(results: dict[str, dict[int, dict]], args: argparse.Namespace) -> str:
    names = {**{k: name for k, (name, _, _) in SERVERS.items()}, "d": "(d) bare model in-process, C records/call"}
    lines = [f"One run, {time.strftime('%Y-%m-%d')}, on {machine()}; wrk -t1 -c<C> -d{args.duration}s --timeout 5s "
             f"over loopback after {args.warmup} s of warm-up; {args.workers} worker process(es) per server "
             "(uvicorn --workers for (b)); wrk shares the CPUs.", "",
             "| system | C | req/s | p50 ms | p90 ms | p99 ms | max ms | errors (non-2xx / socket) |",
             "|---|---|---|---|---|---|---|---|"]
    for key, by_c in results.items():
        lines += [f"| {names[key]} | {c} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} | "
                  f"{r['max']:.1f} | {r['non_2xx']} / {r['socket_errors']} |" for c, r in by_c.items()]
    lines += ["", "| C | a/b (goal >= 5) | a/b2 | a/c (goal >= 0.85) | a/c2 | rate limit cost 1 - (a+)/a (goal < 5%) |",
              "|---|---|---|---|---|---|"]
    ratio = {c: {k: results["a"][c]["rps"] / results[k][c]["rps"] for k in ("b", "b2", "c", "c2", "a+")}
             for c in args.connections}
    lines += [f"| {c} | {r['b']:.2f} | {r['b2']:.2f} | {r['c']:.2f} | {r['c2']:.2f} | {1 - 1 / r['a+']:.1%} |"
              for c, r in ratio.items()]
    if 32 in results["a"]:
        a = results["a"][32]
        held = {f"a/b {ratio[32]['b']:.2f} >= 5": ratio[32]["b"] >= 5,
                f"a/c {ratio[32]['c']:.2f} >= 0.85": ratio[32]["c"] >= 0.85,
                f"(a) p99 {a['p99']:.1f} ms < 50 ms": a["p99"] < 50,
                f"(a) max {a['max']:.1f} ms < 150 ms": a["max"] < 150,
                f"rate limit cost {1 - 1 / ratio[32]['a+']:.1%} < 5%": 1 - 1 / ratio[32]["a+"] < 0.05}
        verdicts = (f"{goal}: {'held' if ok else 'NOT held'}" for goal, ok in held.items())
        lines += ["", "Goals at 32 connections: " + "; ".join(verdicts) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
