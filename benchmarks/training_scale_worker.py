"""One size of `training_scale.py`, in a fresh process: `training_scale_worker.py ROOT OUT BATCHES ROWS baseline|-`.

A sampler thread records, every 0.2 s, the CPU seconds and RSS of this process and every process under it
(the search's fit workers), so a stage's CPU is the difference across it and its peak the highest sample
inside it (RSS summed over processes: pages they share are counted in each, so the peak errs high).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import psutil
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class Sampler:
    def __init__(self, interval: float = 0.2):
        self.me, self.samples, self.interval = psutil.Process(), [], interval
        threading.Thread(target=self._run, daemon=True).start()

    def now(self) -> tuple[float, float, float]:
        """(time, CPU seconds of this process tree, RSS bytes of this process tree)."""
        times = self.me.cpu_times()
        cpu, rss = times.user + times.system + times.children_user + times.children_system, self.me.memory_info().rss
        for child in self.me.children(recursive=True):
            try:
                child_times = child.cpu_times()
                cpu, rss = cpu + child_times.user + child_times.system, rss + child.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return time.time(), cpu, rss

    def _run(self) -> None:
        while True:
            self.samples.append(self.now())
            time.sleep(self.interval)

    def stage(self, start: float, end: float) -> dict:
        inside = [s for s in self.samples if start <= s[0] <= end] or [min(self.samples, key=lambda s: abs(s[0] - end))]
        before = [s for s in self.samples if s[0] <= start] or self.samples[:1]
        return {"wall": end - start, "cpu": max(0.0, inside[-1][1] - before[-1][1]),
                "peak_mib": max(s[2] for s in inside) / 2**20}


def step_spans(instance, run_id: str) -> dict[str, tuple[float, float]]:
    """Each asset's span in the run: from its first step's start to its last step's success (the search's
    steps, `trained_model.<op>[<candidate>]`, make one span)."""
    starts, spans = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is not None and event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event is not None and event.event_type_value == "STEP_SUCCESS":
            node, began = event.step_key.split(".", 1)[0], starts[event.step_key]
            spans[node] = (min(spans.get(node, (began,))[0], began), entry.timestamp)
    return spans


def main() -> None:
    root, out, batches, rows, baseline = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    import os

    os.environ.update(BENTOML_HOME=str(root / "bentoml"), BENTOML_DO_NOT_TRACK="True", MLFLOW_ENABLE_TELEMETRY="false",
                      DAGSTER_DISABLE_TELEMETRY="1", MLFLOW_ALLOW_PICKLE_DESERIALIZATION="false")
    import dagster as dg

    from ml_platform.definitions import build_defs, platform_resources
    from ml_platform.lib.landing import land_generated

    spec_doc = yaml.safe_load((PROJECT_DIR / "datasets" / "customer_segmentation.yaml").read_text())
    spec_doc["source"] = {**spec_doc["source"], "batches": batches, "rows_per_batch": rows}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec_doc))
    resources = platform_resources(
        spec_path=str(root / "spec.yaml"), data_dir=str(root / "data"), tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_root=str(root / "data" / "mlflow"), bentoml_home=str(root / "bentoml"))
    defs = build_defs(resources)
    spec, storage = defs.resources["dataset"].load(), defs.resources["storage"]
    (root / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(root / "dagster_home"))
    sampler, marks = Sampler(), {}

    began = time.time()
    keys = [land_generated(spec, storage.landing_dir(spec), index).name for index in range(1, batches + 1)]
    marks["land (generate the CSVs)"] = (began, time.time())
    instance.add_dynamic_partitions("batches", keys)
    graph_began = time.time()
    for key in keys:
        defs.resolve_job_def("ingest_batch").execute_in_process(instance=instance, partition_key=key, run_config=QUIET)
    marks["ingest_batch (every batch)"] = (graph_began, time.time())
    result = defs.resolve_job_def("retrain").execute_in_process(instance=instance, run_config=QUIET)
    retrain_ended = time.time()
    spans = step_spans(instance, result.run_id)
    marks["retrain: training_set"] = spans["training_set"]
    marks["retrain: trained_model (search + refit + log)"] = spans["trained_model"]
    marks["retrain: evaluation, promotion, bento"] = (spans["trained_model"][1], retrain_ended)
    monitor_began = time.time()
    for key in keys:
        defs.resolve_job_def("monitor_batch").execute_in_process(instance=instance, partition_key=key, run_config=QUIET)
    marks["monitor_batch (every batch)"] = (monitor_began, time.time())
    marks["whole graph (without landing)"] = (graph_began, time.time())
    time.sleep(0.5)  # one more sample after the last stage
    report = {"stages": {name: sampler.stage(*span) for name, span in marks.items()},
              "training": training_summary(instance, spec)}
    if baseline == "baseline":
        report["baseline"] = sequential_search(spec, root / "data" / "assets" / "training_set.parquet")
    out.write_text(json.dumps(report, indent=1))


def latest(instance, asset: str) -> dict:
    import dagster as dg

    record = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records[0]
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def training_summary(instance, spec) -> dict:
    trained, evaluated, sample = latest(instance, "trained_model"), latest(instance, "evaluation_report"), latest(instance, "training_set")
    metric = spec.thresholds.metric
    return {"sample_rows": sample["dagster/row_count"], "rung_rows": trained["rung_rows"], "fits": trained["search_fits"],
            "search_seconds": trained["search_seconds"], "cpus": trained["search_cpus"], "estimator": trained["estimator"],
            "params": trained["params"], "cv": trained[f"cv_{metric}"], "test": evaluated[f"candidate_{metric}"],
            "peak_rss_mib": trained["peak_rss_mib"], "worker_peak_rss_mib": trained["search_worker_peak_rss_mib"]}


def sequential_search(spec, training_set: Path) -> dict:
    """The search as it was: every candidate on every row, one fit at a time on one core; its winner refit and tested.
    Before it, the same full search with its fits in parallel: what the processes alone buy."""
    import pandas as pd
    from sklearn.metrics import get_scorer
    from threadpoolctl import threadpool_limits

    from ml_platform.defs.training.config import TrainingConfig
    from ml_platform.lib.cpus import granted_cpus
    from ml_platform.lib.features import model_spec
    from ml_platform.lib.modeling import SCORERS, build_pipeline
    from ml_platform.lib.search import search
    from ml_platform.lib.training_set import SPLIT

    data = pd.read_parquet(training_set)
    columns = model_spec(spec).feature_names
    train, test = data[data[SPLIT] == "train"], data[data[SPLIT] == "test"]
    x, y, space = train[columns], train[spec.target.name], TrainingConfig().search_space()
    began = time.time()
    parallel = search(spec, space, x, y, cpus=granted_cpus(spec.training.cpus), factor=1, curve=False)
    parallel_seconds, began = time.time() - began, time.time()
    with threadpool_limits(1):  # one core: gradient boosting would otherwise fit on an OpenMP thread per CPU
        result = search(spec, space, x, y, cpus=1, factor=1, curve=False)
    seconds = time.time() - began
    best = result.ranked[0]
    assert (parallel.ranked[0].estimator, parallel.ranked[0].params) == (best.estimator, best.params)
    model = build_pipeline(spec, best.estimator, best.params, spec.training.seed).fit(train[columns], train[spec.target.name])
    score = get_scorer(SCORERS[spec.thresholds.metric])(model, test[columns], test[spec.target.name])
    return {"seconds": seconds, "fits": result.fits, "parallel_seconds": parallel_seconds, "parallel_cpus": parallel.cpus,
            "estimator": best.estimator, "params": best.params, "test": float(score)}


if __name__ == "__main__":
    main()
