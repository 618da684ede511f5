"""What a training run records in MLflow: one nested run per fit, then the registered winner."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ml_platform.lib.modeling import build_pipeline
from ml_platform.lib.search import Scored, SearchResult, search
from ml_platform.lib.spec import DatasetSpec


def log_search(tracking: Any, spec: DatasetSpec, search_space: dict[str, dict[str, list[Any]]],
               x: pd.DataFrame, y: pd.Series, cpus: int = 1, factor: int = 3) -> SearchResult:
    """Run the search in this process, then record its candidates (`log_candidates`)."""
    result = search(spec, search_space, x, y, cpus, factor)
    log_candidates(tracking, spec, result)
    return result


def log_candidates(tracking: Any, spec: DatasetSpec, result: SearchResult) -> None:
    """Record each candidate in its own run nested in the active one: its score at every rung it reached
    (the metric's step is the rung's row count), its fit time, and the rows of its last rung; a candidate
    that failed is a FAILED run tagged with its error."""
    metric = f"cv_{spec.thresholds.metric}"
    for candidate in result.ranked:
        tracking.start_run(run_name=f"{candidate.estimator} {candidate.params}", nested=True)
        tracking.log_params({"estimator": candidate.estimator, **candidate.params})
        for scored in (s for s in result.history(candidate) if not s.error):
            tracking.log_metrics({metric: scored.cv_score, "cv_std": scored.cv_std,
                                  "fit_seconds": scored.fit_seconds}, step=scored.rows)
        tracking.set_tags({"rows": str(candidate.rows), **({"error": candidate.error} if candidate.error else {})})
        tracking.end_run(status="FAILED" if candidate.error else "FINISHED")  # a failed candidate shows as failed


def log_winner(tracking: Any, spec: DatasetSpec, best: Scored, x: pd.DataFrame, y: pd.Series,
               data_version: str, dagster_run_id: str, code_version: str = "") -> dict[str, Any]:
    """Refit the winner on all training rows, log it (skops, spec-typed signature), register a version.

    The model file's sha256 becomes a tag of the version, so every later load can check it. `x` holds
    the raw fields (the signature and input example are the request's) and the derived features (the
    pipeline's inputs)."""
    import mlflow
    import skops
    import sklearn
    from mlflow.models import Model

    from ml_platform.lib import mlflow_flavor
    from ml_platform.lib.model_signature import input_example, model_signature
    from ml_platform.lib.registry import MODEL_SHA256_TAG

    from ml_platform.lib.features import model_spec

    model = build_pipeline(spec, best.estimator, best.params, spec.training.seed)
    model.fit(x[model_spec(spec).feature_names], y)
    run = tracking.active_run()
    tracking.log_params({"estimator": best.estimator, **best.params, "data_version": data_version,
                         "train_rows": len(x)})
    tracking.log_metric(f"cv_{spec.thresholds.metric}", best.cv_score)
    tracking.set_tags({"data_version": data_version, "dataset": spec.name})
    info = Model.log(
        artifact_path=None,
        name="model",
        flavor=mlflow_flavor,
        flavor_name="sklearn",
        sk_model=model,
        signature=model_signature(spec, model.classes_),
        input_example=input_example(spec, x),
        dataset_spec=spec.model_dump(mode="json"),
        registered_model_name=spec.name,
        pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"pandas=={pd.__version__}",
                          f"skops=={skops.__version__}"],
    )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in {"data_version": data_version, "dagster_run_id": dagster_run_id,
                       "estimator": best.estimator, "training_code_version": code_version,
                       MODEL_SHA256_TAG: info.metadata[mlflow_flavor.SHA256_KEY]}.items():
        client.set_model_version_tag(spec.name, version, key, value)
    experiment_id = run.info.experiment_id
    return {
        "model_name": spec.name,
        "version": version,
        "run_id": run.info.run_id,
        "model_uri": f"models:/{spec.name}/{version}",
        "data_version": data_version,
        "estimator": best.estimator,
        "params": best.params,
        "cv_score": best.cv_score,
        "run_url": f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run.info.run_id}",
    }
