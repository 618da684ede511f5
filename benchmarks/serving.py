"""Serving benchmark: our service against a naive baseline, the HTTP layer's ceiling and the bare model.

    ML_PLATFORM_MODEL_TAG=customer-segmentation:latest .venv/bin/python benchmarks/serving.py [--requests 2000]

(a) `serving.service:Classifier`, (b) `Naive` below: one predict per request, no batching, through the
pipeline's own `predict_proba` on a DataFrame, the way the seed tutorial's FastAPI app serves, (c) `Echo` below: the same BentoML stack parsing the same JSON
into the same request type and returning a constant, (d) the model's in-process batch predict. Every
service gets the same single-record payloads from the same asyncio load generator (raw HTTP/1.1
keep-alive, `benchmarks/loadgen.py`), a bounded number of requests per concurrency level, one worker each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repo's packages

import bentoml

from benchmarks import loadgen, service_process

from ml_platform.lib.model_store import read_spec_json
from ml_platform.lib.request_schema import Prediction, record_model, records_type
from ml_platform.lib.served_model import from_store
from ml_platform.lib.spec import DatasetSpec
from serving.bentoml_hot_path import bind_api_methods, freeze_heap, memoize_json_schemas

PROJECT_DIR = service_process.PROJECT_DIR
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
        freeze_heap()

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
        freeze_heap()

    @bentoml.api
    async def predict(self, records: Records, /) -> list[dict]:  # type: ignore[valid-type]
        return [{"label": "constant"}]


for service in (Naive, Echo):  # the same stack as (a), with the same BentoML fixes
    memoize_json_schemas(service.apis["predict"])


def bare_model(bodies: list[bytes], concurrency: int, requests: int) -> dict:
    """The model alone: the same records, `concurrency` per predict call, no HTTP."""
    served = from_store(bentoml.models.get(MODEL_TAG))
    rows = [json.loads(b) for b in bodies]
    answers, started = [], time.perf_counter()
    for i in range(requests // concurrency):
        t = time.perf_counter()
        served.predict([rows[(i * concurrency + j) % len(rows)] for j in range(concurrency)])
        answers += [loadgen.Answer(200, "", time.perf_counter() - t)] * concurrency
    return {**loadgen.summary(answers, time.perf_counter() - started), "rss": service_process.tree_rss_mb(os.getpid())[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per concurrency level")
    args = parser.parse_args()
    bodies = loadgen.payloads(_spec.feature_names)
    log_dir = tempfile.mkdtemp(prefix="bench-inference-log-")
    env = {**os.environ, "ML_PLATFORM_MODEL_TAG": MODEL_TAG, "ML_PLATFORM_INFERENCE_LOG_DIR": log_dir,
           "BENTOML_DO_NOT_TRACK": "True", "PYTHONPATH": str(PROJECT_DIR)}
    env.pop("MLFLOW_TRACKING_URI", None)  # benchmark the model, not the registry poller
    results: dict[str, dict[int, dict]] = {}
    for name, target in [("a", "serving.service:Classifier"), ("b", "benchmarks.serving:Naive"),
                         ("c", "benchmarks.serving:Echo")]:
        process, port = service_process.serve(target, env)
        try:
            loadgen.load(port, bodies, 8, 200)  # warm-up, also trains BentoML's batching optimizer
            results[name] = {c: {**loadgen.load(port, bodies, c, args.requests if c > 1 else args.requests // 4),
                                 "rss": service_process.tree_rss_mb(process.pid)[1]} for c in CONCURRENCY}
        finally:
            service_process.stop(process)
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
