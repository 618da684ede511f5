"""The real K8sRunLauncher, configured as deploy/ configures it, launching into the stand-in API server.

Each launch path (UI, sensor, partition backfill) ends in a Kubernetes Job; the Job must pass the
Kubernetes schema and carry our image, command, env, labels and the resources of the assets it runs.
One Job is then executed locally as the kubelet would, and the assets it ran must be materialized.
"""

import json

import dagster as dg
import kubernetes_validate
import pytest

from ml_platform.k8s import DRIFT_OP_TAGS, TRAINING_OP_TAGS
from ml_platform.definitions import build_defs, platform_resources
from ml_platform.quickstart import ENV, land_default_batches
from ml_platform_tests.conftest import FAST_TRAINING, write_spec
from ml_platform_tests.deploy import launch_paths
from ml_platform_tests.deploy.conftest import PG_PASSWORD
from ml_platform_tests.deploy.k8s_location import PROBE_SENSOR, defs
from ml_platform_tests.deploy.kubelet import container_env, run_container

K8S_VERSION = "1.33.0"
IMAGE = "ml-platform/user-code:0.1.0"
RUN_POD_DEFAULT = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}


def resources_of(tags: dict) -> dict:
    return tags["dagster-k8s/config"]["container_config"]["resources"]


@pytest.fixture
def deployment(k8s_instance_home, tmp_path, monkeypatch):
    """The instance, a loaded workspace, and the code location's env pointing at landed, ingested batches."""
    platform_env = {
        "ML_PLATFORM_DATASET": str(write_spec(tmp_path / "spec.yaml", source={"batches": 2, "rows_per_batch": 400})),
        "ML_PLATFORM_DATA_DIR": str(tmp_path / "data"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "mlflow-artifacts"),
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "ML_PLATFORM_INFERENCE_LOG_DIR": str(tmp_path / "data" / "inference_log"),
        "ML_PLATFORM_LABELS_DIR": str(tmp_path / "data" / "labels"),
        "ML_PLATFORM_ALERT_WEBHOOK": "",
    }
    for name, value in platform_env.items():
        monkeypatch.setenv(name, value)
    local = build_defs(platform_resources(**{arg: platform_env[name] for arg, name in ENV.items()}))
    with dg.DagsterInstance.get() as instance:
        keys = [f.name for f in land_default_batches(local.resources["dataset"].load(), local.resources["storage"])]
        instance.add_dynamic_partitions("batches", keys)
        for key in keys:
            assert local.resolve_job_def("ingest_batch").execute_in_process(instance=instance, partition_key=key).success
        with launch_paths.workspace(instance) as context:
            yield instance, context, platform_env, keys


def check_job(job: dict, run: dg.DagsterRun, resources: dict) -> None:
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == IMAGE
    assert container["args"][:3] == ["dagster", "api", "execute_run"]
    assert json.loads(container["args"][3])["__class__"] == "ExecuteRunArgs" and run.run_id in container["args"][3]
    assert container["resources"] == resources
    assert container["securityContext"]["runAsNonRoot"] is True
    assert [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e] == ["ml-platform-env"]
    assert {"name": "platform-data", "mountPath": "/mnt/platform"} in container["volumeMounts"]
    assert pod["serviceAccountName"] == "dagster"
    labels = job["metadata"]["labels"]
    assert labels["dagster/run-id"] == run.run_id and labels["app.kubernetes.io/part-of"] == "ml-platform"
    assert job["metadata"]["namespace"] == "ml-platform"


def test_a_ui_launch_runs_as_a_sized_job_that_materializes_the_assets(deployment, stand_in_api, tmp_path):
    instance, context, platform_env, _ = deployment
    # Training and its evaluation: the sized step, end to end (the Bento build adds a minute and nothing here).
    assets = {dg.AssetKey(name) for name in ("training_set", "trained_model", "evaluation_report")}
    run_id = launch_paths.launch_from_ui(context, assets, FAST_TRAINING)
    launch_paths.dequeue(context)

    run = instance.get_run_by_id(run_id)
    job = stand_in_api.job_for_run(run_id)
    check_job(job, run, resources_of(TRAINING_OP_TAGS))

    env = container_env(job, config_maps={"ml-platform-env": platform_env},
                        secrets={"ml-platform-secrets": {}, "dagster-postgresql-secret": {
                            "postgresql-password": PG_PASSWORD}})
    assert env["DAGSTER_PG_PASSWORD"] == PG_PASSWORD and env["DAGSTER_RUN_JOB_NAME"] == "__ASSET_JOB"
    finished = run_container(job, env, tmp_path / "pod_home")
    assert finished.returncode == 0, finished.stderr[-3000:]

    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
    materialized = {e.asset_key for e in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        for e in [e.event_log_entry.dagster_event]}
    assert materialized == assets


def test_a_sensor_run_gets_the_training_size(deployment, stand_in_api):
    instance, context, _, _ = deployment
    launch_paths.tick_sensors(context)
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/sensor_name": PROBE_SENSOR}))
    assert len(runs) == 1
    launch_paths.dequeue(context)
    check_job(stand_in_api.job_for_run(runs[0].run_id), runs[0], resources_of(TRAINING_OP_TAGS))


def test_each_backfill_run_gets_the_drift_size(deployment, stand_in_api):
    instance, context, _, keys = deployment
    backfill_id = launch_paths.launch_backfill_from_ui(context, [dg.AssetKey("drift_report")], keys)
    runs = instance.get_runs(dg.RunsFilter.for_backfill(backfill_id))
    assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(keys)
    launch_paths.dequeue(context)
    for run in runs:
        check_job(stand_in_api.job_for_run(run.run_id), run, resources_of(DRIFT_OP_TAGS))


def test_assets_without_a_size_get_the_launcher_default_and_a_run_tag_wins(deployment, stand_in_api):
    instance, context, _, _ = deployment
    plain = launch_paths.launch_from_ui(context, [dg.AssetKey("training_set")], {})
    launch_paths.dequeue(context)
    check_job(stand_in_api.job_for_run(plain), instance.get_run_by_id(plain), RUN_POD_DEFAULT)

    by_hand = {"requests": {"cpu": "3", "memory": "6Gi"}, "limits": {"cpu": "3", "memory": "6Gi"}}
    tagged = launch_paths.launch_from_ui(context, [dg.AssetKey("trained_model")], FAST_TRAINING, tags={
        "dagster-k8s/config": json.dumps({"container_config": {"resources": by_hand}})})
    launch_paths.dequeue(context)
    check_job(stand_in_api.job_for_run(tagged), instance.get_run_by_id(tagged), by_hand)
