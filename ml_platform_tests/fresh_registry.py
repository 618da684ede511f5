"""A second MLflow registry (SQLite, file artifact store) holding models we choose: the registry a Bento
was not built against. Models are logged as `log_winner` logs them (skops, the spec in MLmodel, the
file's sha256 as the version's `model_sha256` tag), so the platform's loaders treat them as its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ml_platform.lib.generator import customer_segmentation
from ml_platform.lib.registry import CHAMPION, MODEL_SHA256_TAG, Registry
from ml_platform.lib.spec import DatasetSpec


def fresh_registry(root: Path, spec: DatasetSpec) -> Registry:
    from mlflow import MlflowClient

    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    MlflowClient(uri).create_experiment(spec.name, artifact_location=(root / "artifacts").as_uri())
    return Registry(uri, spec.name)


def register(registry: Registry, spec: DatasetSpec, model: Any, champion: bool = True) -> tuple[str, str]:
    """Log and register `model` (as champion unless told otherwise); returns (version, model_sha256)."""
    import mlflow
    from mlflow.models import Model

    from ml_platform.lib import mlflow_flavor

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(registry.tracking_uri)
    try:
        mlflow.set_experiment(spec.name)
        with mlflow.start_run():
            info = Model.log(artifact_path=None, name="model", flavor=mlflow_flavor, flavor_name="sklearn",
                             sk_model=model, dataset_spec=spec.model_dump(mode="json"),
                             registered_model_name=spec.name)
    finally:
        mlflow.set_tracking_uri(previous)
    version, sha = str(info.registered_model_version), info.metadata[mlflow_flavor.SHA256_KEY]
    registry.tag_version(version, {MODEL_SHA256_TAG: sha, "data_version": f"fresh-{sha[:8]}"})
    if champion:
        registry.set_alias(CHAMPION, version)
    return version, sha


def fitted(spec: DatasetSpec, seed: int, estimator: str = "logistic_regression", **params: Any) -> Any:
    """A pipeline as `build_pipeline` makes them, fitted on generated rows: a model no platform promoted."""
    from ml_platform.lib.features import add_features, model_spec
    from ml_platform.lib.modeling import build_pipeline

    frame = add_features(spec, customer_segmentation(1500, seed=seed))
    inputs = model_spec(spec).feature_names
    return build_pipeline(spec, estimator, params, seed=seed).fit(frame[inputs], frame[spec.target.name])


def artifact_file(registry: Registry, version: str) -> Path:
    """The version's model file in the artifact store."""
    from ml_platform.lib.mlflow_flavor import MODEL_FILE

    uri = registry.client.get_model_version_download_uri(registry.model_name, version)
    return Path(urlparse(uri).path, MODEL_FILE)
