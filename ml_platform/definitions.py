"""The code location: its models, the platform-wide definitions and the resources, chosen here and only here.

Models are declared as components, one folder under `defs/models/` each (`components/platform_model.py`);
`ML_PLATFORM_DATASET` set to a spec is the single-model shortcut: that model alone, under unprefixed names.
"""

import os
from pathlib import Path

import dagster as dg

from ml_platform.alerts import alert_on_run_failure
from ml_platform.defs.model_definitions import model_definitions
from ml_platform.defs.retention.settings import RetentionSettings
from ml_platform.io_managers import JsonIOManager, ParquetIOManager
from ml_platform.k8s import platform_executor
from ml_platform.lib.storage import STORAGE_ENV
from ml_platform.loop_resources import loop_resources
from ml_platform.model_scope import ModelScope, models_of
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
    `spec_path` is the single-model shortcut's spec (`dataset`); component models carry their own.
    """
    return {
        **loop_resources(data_dir, inference_log_dir or "", labels_dir or "", alert_webhook, pushgateway_url),
        "dataset": DatasetResource(spec_path=spec_path),
        "storage": PlatformStorage(data_dir=data_dir),
        "mlflow_tracking": MlflowTracking(tracking_uri=tracking_uri, artifact_root=artifact_root),
        "bento_store": BentoStore(home=bentoml_home, project_dir=str(PROJECT_DIR)),
        "parquet_io_manager": ParquetIOManager(base_dir=data_dir),
        "json_io_manager": JsonIOManager(base_dir=data_dir),
        "retention": RetentionSettings(),  # the policy's defaults; a deployment sets its own here
    }


def build_defs(resources: dict, executor: str | None = None, sensors: bool = True,
               retrain_cron: str | None = None, models: dg.Definitions | None = None) -> dg.Definitions:
    """`models`: the models' definitions (the components under `defs/`); by default the single-model
    shortcut, the spec of the `dataset` resource under unprefixed names. `executor="k8s"` runs each step
    in its own pod; `sensors=False` leaves the closed loop out; `retrain_cron` overrides the spec's."""
    if models is None:
        models = model_definitions(ModelScope(_value(resources["dataset"].spec_path)), sensors, retrain_cron)
    elif not sensors:
        models = dg.Definitions(assets=models.assets, asset_checks=models.asset_checks, jobs=models.jobs,
                                schedules=models.schedules, metadata=models.metadata)
    shared = dg.Definitions(sensors=[alert_on_run_failure] if sensors else [], resources=resources,
                            executor=platform_executor(executor))
    return dg.Definitions.merge(models, shared)


def _value(setting: str) -> str:
    """A resource field's value now: an `EnvVar` read from the environment ("" when unset)."""
    return setting.get_value("") if isinstance(setting, dg.EnvVar) else setting


def declared_models() -> dg.Definitions | None:
    """The models declared under `defs/` as components, or None when `ML_PLATFORM_DATASET` names one spec."""
    if os.environ.get(ENV["spec_path"]):
        return None
    return component_models()


def component_models() -> dg.Definitions:
    """Every model declared under `defs/` as a component (what the cluster runs: deploy/models.py)."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


def environment_models() -> list[ModelScope]:
    """The models this environment runs: the shortcut's one spec, else every declared component model."""
    if spec_path := os.environ.get(ENV["spec_path"]):
        return [ModelScope(spec_path)]
    return models_of(component_models())


@dg.definitions
def defs() -> dg.Definitions:
    resources = platform_resources(**{arg: dg.EnvVar(name) for arg, name in ENV.items()})
    sensors = os.environ.get("ML_PLATFORM_SENSORS", "on") != "off"
    return build_defs(resources, executor=os.environ.get("ML_PLATFORM_EXECUTOR"), sensors=sensors,
                      models=declared_models())
