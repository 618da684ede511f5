"""The code location the Kubernetes tests load: `ml_platform.definitions` plus one probe sensor.

`defs` runs each run in one pod; `step_pod_defs` is the same location with `k8s_job_executor`. The pod
sizes are the op tags the assets themselves carry (`ml_platform.k8s`), as in production.
"""

import dagster as dg

from ml_platform.definitions import ENV, build_defs, platform_resources

PROBE_SENSOR = "k8s_probe_sensor"


@dg.sensor(name=PROBE_SENSOR, target=dg.AssetSelection.assets("trained_model"),
           default_status=dg.DefaultSensorStatus.RUNNING)
def k8s_probe_sensor(context: dg.SensorEvaluationContext):
    """Requests the training asset with no tags of its own, as any sensor or automation would."""
    yield dg.RunRequest(run_key="probe")


def location(executor: str | None) -> dg.Definitions:
    """`executor` as `ML_PLATFORM_EXECUTOR` chooses it: None, one pod per run; "k8s", one pod per step."""
    from_env = {arg: dg.EnvVar(name) for arg, name in ENV.items() if arg != "alert_webhook"}
    platform = build_defs(platform_resources(**from_env), executor=executor)
    return dg.Definitions.merge(platform, dg.Definitions(sensors=[k8s_probe_sensor]))


defs = location(executor=None)
step_pod_defs = location(executor="k8s")
