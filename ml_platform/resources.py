"""Typed resources. Every path, URI and secret reaches the code through these, set in `definitions.py`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from upath import UPath

from ml_platform.lib.spec import DatasetSpec, FolderSource
from ml_platform.lib.storage import as_uri, ensure_folder, storage_path
from ml_platform.model_scope import ModelScope


class DatasetResource(dg.ConfigurableResource):
    """The single-model shortcut's dataset spec (`ML_PLATFORM_DATASET`); models declared as components
    carry their own (`ModelScope`), and every definition reads its model's spec from its scope."""

    spec_path: str

    def load(self) -> DatasetSpec:
        return ModelScope(self.spec_path).spec()


class PlatformStorage(dg.ConfigurableResource):
    """The storage root (`ML_PLATFORM_STORAGE`: a folder, or `s3://bucket/prefix`) and the drop zones and
    reports under it; asset values go through the IO managers, under the same root."""

    data_dir: str

    @property
    def root(self) -> UPath:
        return storage_path(self.data_dir)

    def landing_dir(self, spec: DatasetSpec) -> UPath:
        if isinstance(spec.source, FolderSource):
            return storage_path(spec.source.path)
        return self.root / "landing" / spec.name

    def reports_dir(self, *parts: str) -> UPath:
        return ensure_folder(self.root.joinpath("reports", *parts))

    def scoped(self, model: ModelScope) -> PlatformStorage:
        """The model's own storage: its subfolder of the root (the root itself for the shortcut)."""
        return PlatformStorage(data_dir=as_uri(model.folder(self.root))) if model.name else self


class _MlflowInit:
    """The parts of a resource-init context that dagster-mlflow's `MlFlow` reads."""

    def __init__(self, context: dg.AssetExecutionContext, config: dict[str, Any]):
        self.log = context.log
        self.dagster_run = context.run
        self.run_id = context.run_id
        self.resource_config = config


class MlflowTracking(dg.ConfigurableResource):
    """dagster-mlflow's tracking, opened by the asset that needs it.

    Importing MLflow costs seconds, so it happens here at run time rather than when the code location
    loads; and the MLflow run is ended with the step's outcome, which dagster-mlflow alone leaves open.
    """

    tracking_uri: str
    artifact_root: str

    def experiment_name(self, model: str) -> str:
        """One experiment per dataset, created with its artifacts under `artifact_root` (a folder, or
        `<storage>/mlflow` on object storage, which MLflow reads and writes with boto3 itself)."""
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri)
        if client.get_experiment_by_name(model) is None:
            client.create_experiment(model, artifact_location=as_uri(storage_path(self.artifact_root)))
        return model

    @contextmanager
    def run(self, context: dg.AssetExecutionContext, model: str) -> Iterator[Any]:
        import mlflow
        from dagster_mlflow.resources import MlFlow

        config = {"mlflow_tracking_uri": self.tracking_uri, "experiment_name": self.experiment_name(model),
                  "extra_tags": {"dagster_asset": context.asset_key.to_user_string()}}
        tracking = MlFlow(_MlflowInit(context, config))
        try:
            yield tracking
        except BaseException:
            mlflow.end_run(status="FAILED")
            raise
        mlflow.end_run(status="FINISHED")

    def registry(self, model: str):
        """The registered model named `model` (a spec's name): its versions, aliases and tags."""
        from ml_platform.lib.registry import Registry

        return Registry(self.tracking_uri, model)


class BentoStore(dg.ConfigurableResource):
    """BentoML's home (model store and built Bentos) and the service source the Bento is built from."""

    home: str
    project_dir: str

    @property
    def home_path(self) -> str:
        path = Path(self.home).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return str(path)
