"""The code location the Kubernetes tests load: `ml_platform.definitions`, sized per asset, plus one probe sensor.

Until `ml_platform/defs` carries `ml_platform.k8s.OP_TAGS_BY_ASSET` as `op_tags` (the change is in
deploy/README.md), `with_op_tags` adds them here; once they are wired in it changes nothing.
"""

import dagster as dg
from dagster._core.definitions.op_definition import OpDefinition

from ml_platform.definitions import build_defs, platform_resources
from ml_platform.k8s import OP_TAGS_BY_ASSET

PROBE_SENSOR = "k8s_probe_sensor"


def _retagged(asset: dg.AssetsDefinition, extra: dict) -> dg.AssetsDefinition:
    op = asset.op
    if all(op.tags.get(key) is not None for key in extra):
        return asset
    new_op = OpDefinition.dagster_internal_init(
        name=op.name, ins={d.name: dg.In.from_definition(d) for d in op.input_defs},
        outs={d.name: dg.Out.from_definition(d) for d in op.output_defs}, compute_fn=op.compute_fn,
        config_schema=op.config_schema, description=op.description, tags={**extra, **op.tags},
        required_resource_keys=op.required_resource_keys, code_version=op.version,
        retry_policy=op.retry_policy, version=None, pool=op.pool)
    return dg.AssetsDefinition.dagster_internal_init(**{**asset.get_attributes_dict(), "node_def": new_op})


def with_op_tags(defs: dg.Definitions, tags_by_asset: dict, sensors: list) -> dg.Definitions:
    assets = [_retagged(a, tags_by_asset[a.op.name]) if isinstance(a, dg.AssetsDefinition)
              and a.op.name in tags_by_asset else a for a in defs.assets or []]
    return dg.Definitions(assets=assets, asset_checks=defs.asset_checks, jobs=defs.jobs, schedules=defs.schedules,
                          sensors=[*(defs.sensors or []), *sensors], resources=defs.resources,
                          executor=defs.executor, loggers=defs.loggers)


@dg.sensor(name=PROBE_SENSOR, target=dg.AssetSelection.assets("trained_model"),
           default_status=dg.DefaultSensorStatus.RUNNING)
def k8s_probe_sensor(context: dg.SensorEvaluationContext):
    """Requests the training asset with no tags of its own, as any sensor or automation would."""
    yield dg.RunRequest(run_key="probe")


defs = with_op_tags(build_defs(platform_resources(
    spec_path=dg.EnvVar("ML_PLATFORM_DATASET"),
    data_dir=dg.EnvVar("ML_PLATFORM_DATA_DIR"),
    tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI"),
    artifact_root=dg.EnvVar("MLFLOW_ARTIFACTS_DESTINATION"),
    bentoml_home=dg.EnvVar("BENTOML_HOME"),
)), OP_TAGS_BY_ASSET, [k8s_probe_sensor])
