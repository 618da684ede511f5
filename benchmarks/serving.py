"""Serving benchmark: our service against a naive baseline, the HTTP layer's ceiling and the bare model.

    .venv/bin/python benchmarks/serving.py [--requests 2000] [--model-tag customer-segmentation:latest]

(a) `serving.service:Classifier`, (b) `Naive` below: one predict per request, no batching, through the
pipeline's own `predict_proba` on a DataFrame, the way the seed tutorial's FastAPI app serves, (c) `Echo` below: the same BentoML stack parsing the same JSON
into the same request type and returning a constant, (d) the model's in-process batch predict. Every
service gets the same single-record payloads from the same asyncio load generator (raw HTTP/1.1
keep-alive, so the client spends as little of the shared CPU as Python allows), a bounded number of
requests per concurrency level, one worker each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bentoml

from ml_platform.lib.model_store import read_spec_json
from ml_platform.lib.request_schema import Prediction, record_model, records_type
from ml_platform.lib.served_model import from_store
from ml_platform.lib.spec import DatasetSpec
from serving.bentoml_hot_path import bind_api_methods, memoize_json_schemas

PROJECT_DIR = Path(__file__).resolve().parent.parent
MODEL_TAG = os.environ.get("ML_PLATFORM_MODEL_TAG", "customer-segmentation:latest")
CONCURRENCY = (1, 8, 32)
_spec = DatasetSpec.model_validate(read_spec_json(bentoml.models.get(MODEL_TAG).path))
Records = records_type(record_model(_spec))


@bentoml.service(name="benchmark-naive", workers=1, threads=1)
class Naive:
    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.served = from_store(self.model_ref)
        bind_api_methods(self, Naive.apis)

    @bentoml.api
    def predict(self, records: Records, /) -> list[Prediction]:  # type: ignore[valid-type]
        """The tutorial's way: a DataFrame of the request, the pipeline's own predict_proba."""
        import pandas as pd

        model = self.served.model
        probabilities = model.predict_proba(pd.DataFrame([r.model_dump() for r in records]))
        return [Prediction(request_id="", label=str(model.classes_[row.argmax()]),
                           probabilities=dict(zip(map(str, model.classes_), row.tolist())),
                           model_version=self.served.version, data_version=self.served.data_version,
                           code_version="") for row in probabilities]


@bentoml.service(name="benchmark-echo", workers=1)
class Echo:
    def __init__(self) -> None:
        bind_api_methods(self, Echo.apis)

    @bentoml.api
    async def predict(self, records: Records, /) -> list[dict]:  # type: ignore[valid-type]
        return [{"label": "constant"}]


for service in (Naive, Echo):  # the same stack as (a), with the same two BentoML fixes
    memoize_json_schemas(service.apis["predict"])


def payloads(count: int = 64) -> list[bytes]:
    from ml_platform.lib.generator import customer_segmentation

    frame = customer_segmentation(count, seed=11)[_spec.feature_names]
    return [json.dumps(row).encode() for row in json.loads(frame.to_json(orient="records"))]


async def _client(port: int, bodies: list[bytes], count: int, latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in range(count):
            body = bodies[i % len(bodies)]
            request = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            started = time.perf_counter()
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await asyncio.wait_for(reader.readexactly(length), 30)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(head.split(b"\r\n", 1)[0].decode())
    finally:
        writer.close()


def load(port: int, bodies: list[bytes], concurrency: int, requests: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()

    async def run() -> None:
        await asyncio.gather(*(_client(port, bodies, requests // concurrency, latencies, errors)
                               for _ in range(concurrency)))

    asyncio.run(run())
    return _summary(latencies, time.perf_counter() - started, len(errors))


def _summary(latencies: list[float], elapsed: float, errors: int) -> dict:
    latencies = sorted(latencies)
    return {"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, "errors": errors}


def serve(target: str, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", target, "--host", "127.0.0.1",
                                "--port", str(port)], cwd=PROJECT_DIR, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    raise TimeoutError(f"{target} did not become ready")


def worker_rss_mb(process: subprocess.Popen) -> float:
    import psutil

    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    return max(p.memory_info().rss for p in tree) / 2**20


def bare_model(bodies: list[bytes], concurrency: int, requests: int) -> dict:
    """The model alone: the same records, `concurrency` per predict call, no HTTP."""
    served = from_store(bentoml.models.get(MODEL_TAG))
    rows = [json.loads(b) for b in bodies]
    latencies, started = [], time.perf_counter()
    for i in range(requests // concurrency):
        t = time.perf_counter()
        served.predict([rows[(i * concurrency + j) % len(rows)] for j in range(concurrency)])
        latencies += [time.perf_counter() - t] * concurrency
    import psutil

    return {**_summary(latencies, time.perf_counter() - started, 0),
            "rss": psutil.Process().memory_info().rss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per concurrency level")
    args = parser.parse_args()
    bodies = payloads()
    log_dir = tempfile.mkdtemp(prefix="bench-inference-log-")
    env = {**os.environ, "ML_PLATFORM_MODEL_TAG": MODEL_TAG, "ML_PLATFORM_INFERENCE_LOG_DIR": log_dir,
           "BENTOML_DO_NOT_TRACK": "True", "PYTHONPATH": str(PROJECT_DIR)}
    env.pop("MLFLOW_TRACKING_URI", None)  # benchmark the model, not the registry poller
    results: dict[str, dict[int, dict]] = {}
    for name, target in [("a", "serving.service:Classifier"), ("b", "benchmarks.serving:Naive"),
                         ("c", "benchmarks.serving:Echo")]:
        process, port = serve(target, env)
        try:
            load(port, bodies, 8, 200)  # warm-up, also trains BentoML's batching optimizer
            results[name] = {c: {**load(port, bodies, c, args.requests if c > 1 else args.requests // 4),
                                 "rss": worker_rss_mb(process)} for c in CONCURRENCY}
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(30)
    results["d"] = {c: bare_model(bodies, c, args.requests) for c in CONCURRENCY}
    print(table(results))


def table(results: dict[str, dict[int, dict]]) -> str:
    names = {"a": "(a) our service", "b": "(b) naive, no batching", "c": "(c) echo, same stack",
             "d": "(d) bare model, in-process"}
    lines = ["| system | concurrency | req/s | p50 ms | p99 ms | errors | RSS MB/worker |",
             "|---|---|---|---|---|---|---|"]
    for key, by_c in results.items():
        for c, r in by_c.items():
            lines.append(f"| {names[key]} | {c} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
                         f"{r['errors']} | {r['rss']:.0f} |")
    lines += ["", "| concurrency | a/b | a/c |", "|---|---|---|"]
    for c in CONCURRENCY:
        a = results["a"][c]["rps"]
        lines.append(f"| {c} | {a / results['b'][c]['rps']:.2f} | {a / results['c'][c]['rps']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
