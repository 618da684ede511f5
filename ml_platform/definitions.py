"""The code location: every definition under `defs/`, plus the resources, chosen here and only here."""

import os
from pathlib import Path

import dagster as dg

from ml_platform.defs.retention.settings import RetentionSettings
from ml_platform.defs.training.schedules import retrain_schedule
from ml_platform.io_managers import JsonIOManager, ParquetIOManager
from ml_platform.k8s import platform_executor
from ml_platform.lib.spec import Training, load_spec
from ml_platform.lib.storage import STORAGE_ENV
from ml_platform.loop_resources import loop_resources
from ml_platform.resources import BentoStore, DatasetResource, MlflowTracking, PlatformStorage

PROJECT_DIR = Path(__file__).resolve().parent.parent
# platform_resources() argument -> the environment variable that sets it (the Makefile sets them all).
# `data_dir` is the storage root: a folder, or `s3://bucket/prefix` (lib/storage.py).
ENV = {"spec_path": "ML_PLATFORM_DATASET", "data_dir": STORAGE_ENV, "tracking_uri": "MLFLOW_TRACKING_URI",
       "artifact_root": "MLFLOW_ARTIFACTS_DESTINATION", "bentoml_home": "BENTOML_HOME",
       "alert_webhook": "ML_PLATFORM_ALERT_WEBHOOK", "pushgateway_url": "ML_PLATFORM_PUSHGATEWAY_URL"}


def platform_resources(spec_path, data_dir, tracking_uri, artifact_root, bentoml_home,
                       inference_log_dir=None, labels_dir=None, alert_webhook="", pushgateway_url="") -> dict:
    """Each argument is a value or a `dg.EnvVar`; tests pass temporary paths, the code location env vars.

    The loop's folders are `inference_log/` and `labels/` under the storage root `data_dir` unless given.
    """
    dataset = DatasetResource(spec_path=spec_path)
    return {
        **loop_resources(data_dir, inference_log_dir or "", labels_dir or "", alert_webhook, pushgateway_url),
        "dataset": dataset,
        "storage": PlatformStorage(data_dir=data_dir),
        "mlflow_tracking": MlflowTracking(tracking_uri=tracking_uri, artifact_root=artifact_root, dataset=dataset),
        "bento_store": BentoStore(home=bentoml_home, project_dir=str(PROJECT_DIR)),
        "parquet_io_manager": ParquetIOManager(base_dir=data_dir),
        "json_io_manager": JsonIOManager(base_dir=data_dir),
        "retention": RetentionSettings(),  # the policy's defaults; a deployment sets its own here
    }


def build_defs(resources: dict, executor: str | None = None, sensors: bool = True,
               retrain_cron: str = Training().retrain_cron) -> dg.Definitions:
    """`executor="k8s"` runs each step in its own pod; `sensors=False` leaves the closed loop out.

    `retrain_cron` is the spec's `training.retrain_cron`: a schedule's cron is fixed when the code loads."""
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    if not sensors:
        loaded = dg.Definitions(assets=loaded.assets, asset_checks=loaded.asset_checks, jobs=loaded.jobs,
                                schedules=loaded.schedules)
    return dg.Definitions.merge(loaded, dg.Definitions(resources=resources, executor=platform_executor(executor),
                                                       schedules=[retrain_schedule(retrain_cron)]))


@dg.definitions
def defs() -> dg.Definitions:
    resources = platform_resources(**{arg: dg.EnvVar(name) for arg, name in ENV.items()})
    spec_path = Path(os.environ.get(ENV["spec_path"], ""))
    cron = load_spec(spec_path).training.retrain_cron if spec_path.is_file() else Training().retrain_cron
    return build_defs(resources, executor=os.environ.get("ML_PLATFORM_EXECUTOR"),
                      sensors=os.environ.get("ML_PLATFORM_SENSORS", "on") != "off", retrain_cron=cron)
