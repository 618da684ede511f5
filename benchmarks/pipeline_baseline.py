"""The lower bound for `pipeline.py`: the same steps, the same `ml_platform.lib` calls, no Dagster.

One process, values kept in memory between steps (no IO manager). The candidate is loaded from MLflow
once (`log_winner` returns its registry entry, not the object) and reused after that. What leaves the
pipeline is still written: MLflow runs and the registered model, the BentoML store entry, the
reference sample, the reports and the Bento.
Run by `pipeline.py` in a fresh process: `pipeline_baseline.py ROOT OUT.json SPAWN_TIME`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager

from pipeline_probe import BATCH, PROJECT_DIR, SEARCH_SPACE, Probe, quiet_environment, worker_args

REFERENCE_SAMPLE_ROWS = 5_000  # as in ml_platform/defs/monitoring/assets.py


def main() -> None:
    root, out, spawned = worker_args()
    quiet_environment(root)
    import mlflow
    import pandas as pd

    from ml_platform.lib import landing, model_store, training_set as ts, validation
    from ml_platform.lib.drift import detect_drift, evidently_html
    from ml_platform.lib.drift_profile import build_profile, predicted_probabilities
    from ml_platform.lib.evaluation import classification_metrics, confusion_matrix_png, per_class_table
    from ml_platform.lib.features import add_features, model_spec
    from ml_platform.lib.mlflow_logging import log_search, log_winner
    from ml_platform.lib.promotion import gate, promote
    from ml_platform.lib.registry import Registry
    from ml_platform.lib.spec import load_spec

    probe = Probe()

    @contextmanager
    def step(name: str):
        begin = time.time()
        yield
        probe.span(name, begin, time.time())

    started = time.time()
    spec = load_spec(root / "spec.yaml")
    reports = root / "data" / "reports"
    path = root / "data" / "landing" / spec.name / BATCH
    with step("raw_data"):
        raw = landing.read_batch(path, spec)
        landing.file_sha256(path)
    with step("validate_batch"):
        split = validation.split_valid_rejected(raw, spec)
        split.reason_counts()
    with step("features"):
        features = add_features(spec, split.valid)
        inputs = model_spec(spec)  # the model's and drift's columns: raw fields and derived features
    with step("training_set"):
        window = ts.choose_window({BATCH: len(features)}, {BATCH: len(split.rejected)}, spec, [BATCH])
        data = ts.build_training_set({BATCH: features}, window, spec)
        version = ts.content_version(data)
        train, test = data[data[ts.SPLIT] == "train"], data[data[ts.SPLIT] == "test"]
    with step("trained_model"):
        uri = f"sqlite:///{root / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.create_experiment(spec.name, artifact_location=(root / "mlflow-artifacts").resolve().as_uri())
        mlflow.set_experiment(spec.name)
        x, y = train[[*spec.feature_names, *(d.name for d in spec.derived)]], train[spec.target.name]
        with mlflow.start_run():
            best = log_search(mlflow, spec, SEARCH_SPACE, x[inputs.feature_names], y).ranked[0]
            candidate = log_winner(mlflow, spec, best, x, y, version, "baseline")
    with step("evaluation_report"):
        registry = Registry(uri, spec.name)
        model = registry.load_model(candidate["version"])
        x_test, y_test = test[inputs.feature_names], test[spec.target.name]
        metrics = classification_metrics(model, x_test, y_test)
        decision = gate(metrics, None, spec.thresholds)
        for name, value in metrics.items():
            registry.client.log_metric(candidate["run_id"], f"test_{name}", value)
        plot = reports / "evaluation" / "confusion.png"
        plot.parent.mkdir(parents=True, exist_ok=True)
        predicted = model.predict(x_test)
        plot.write_bytes(confusion_matrix_png(model, y_test, predicted, spec.name))
        registry.client.log_artifact(candidate["run_id"], str(plot))
        per_class_table(model, y_test, predicted)
    with step("promoted_model"):
        assert decision.promote, decision.reason
        home = str(root / "bentoml")
        stage = model_store.staged_champion(home, spec.name, candidate["version"], model, spec.model_dump_json(),
                                            labels={"dataset": spec.name, "data_version": version},
                                            metadata={"metrics": metrics, "estimator": best.estimator})
        promote(registry, candidate["version"], stage)
        registry.tag_version(candidate["version"], {"previous_champion": ""})
        model_tag = model_store.tag_for(spec.name, candidate["version"])
    with step("reference_profile"):
        profile = build_profile(train, inputs, predicted_probabilities(model, test, inputs))
        sample_path = reports / "reference" / f"{version}.parquet"
        sample_path.parent.mkdir(parents=True, exist_ok=True)
        train[inputs.feature_names].sample(min(len(train), REFERENCE_SAMPLE_ROWS), random_state=0).to_parquet(sample_path)
    with step("bento"):
        build_bento(home, model_tag)
    with step("drift_report"):
        decision = detect_drift(profile, features, inputs, predicted_probabilities(model, features, inputs))
        html = reports / "drift" / f"{BATCH}.html"
        html.parent.mkdir(parents=True, exist_ok=True)
        scores = evidently_html(pd.read_parquet(sample_path), features, inputs, str(html),
                                max_rows=REFERENCE_SAMPLE_ROWS)
        decision.table()["column"].map(scores)
    probe.report(out, startup=started - spawned, total=time.time() - started, jobs={})


def build_bento(home: str, model_tag: str) -> None:
    """The same `bentoml build` the `bento` asset runs."""
    env = {**os.environ, "BENTOML_HOME": home, "ML_PLATFORM_MODEL_TAG": model_tag}
    command = [sys.executable, "-m", "bentoml", "build", "-f", str(PROJECT_DIR / "serving" / "bentofile.yaml"),
               "--output", "tag", "--label", f"model_tag={model_tag}", str(PROJECT_DIR)]
    subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=True)


if __name__ == "__main__":
    main()
