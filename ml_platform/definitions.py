"""The code location: every definition under `defs/`, plus the resources, chosen here and only here."""

import os
from pathlib import Path

import dagster as dg

from ml_platform.io_managers import JsonIOManager, ParquetIOManager
from ml_platform.k8s import platform_executor
from ml_platform.resources import BentoStore, DatasetResource, MlflowTracking, PlatformStorage

PROJECT_DIR = Path(__file__).resolve().parent.parent


def platform_resources(spec_path, data_dir, tracking_uri, artifact_root, bentoml_home) -> dict:
    """Each argument is a value or a `dg.EnvVar`; tests pass temporary paths, the code location env vars."""
    dataset = DatasetResource(spec_path=spec_path)
    return {
        "dataset": dataset,
        "storage": PlatformStorage(data_dir=data_dir),
        "mlflow_tracking": MlflowTracking(tracking_uri=tracking_uri, artifact_root=artifact_root, dataset=dataset),
        "bento_store": BentoStore(home=bentoml_home, project_dir=str(PROJECT_DIR)),
        "parquet_io_manager": ParquetIOManager(base_dir=data_dir),
        "json_io_manager": JsonIOManager(base_dir=data_dir),
    }


def build_defs(resources: dict) -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(resources=resources, executor=platform_executor(os.environ.get("ML_PLATFORM_EXECUTOR"))),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(platform_resources(
        spec_path=dg.EnvVar("ML_PLATFORM_DATASET"),
        data_dir=dg.EnvVar("ML_PLATFORM_DATA_DIR"),
        tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI"),
        artifact_root=dg.EnvVar("MLFLOW_ARTIFACTS_DESTINATION"),
        bentoml_home=dg.EnvVar("BENTOML_HOME"),
    ))
