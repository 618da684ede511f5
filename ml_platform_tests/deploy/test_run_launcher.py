"""The real K8sRunLauncher, configured as deploy/ configures it, launching into the stand-in API server.

Each launch path (UI, sensor, partition backfill) ends in a Kubernetes Job; the Job must pass the
Kubernetes schema and carry our image, command, env, labels and the resources of the assets it runs.
One Job is then executed locally as the kubelet would, and the assets it ran must be materialized.
"""

import json

import dagster as dg

from ml_platform.k8s import DRIFT_OP_TAGS, TRAINING_OP_TAGS
from ml_platform_tests.conftest import FAST_TRAINING
from ml_platform_tests.deploy import launch_paths
from ml_platform_tests.deploy.conftest import OBJECT_STORE_SECRET, PG_PASSWORD, POD_SECRETS, pod_config_maps
from ml_platform_tests.deploy.job_checks import (DEFAULT_POD_RESOURCES, check_pod_job, materialized_assets,
                                                 resources_of)
from ml_platform_tests.deploy.k8s_location import PROBE_SENSOR
from ml_platform_tests.deploy.kubelet import container_env, run_container


def check_job(job: dict, run: dg.DagsterRun, resources: dict) -> None:
    container = check_pod_job(job, run, resources, ["dagster", "api", "execute_run"])
    assert json.loads(container["args"][3])["__class__"] == "ExecuteRunArgs" and run.run_id in container["args"][3]


def test_a_ui_launch_runs_as_a_sized_job_that_materializes_the_assets(deployment, stand_in_api, tmp_path):
    instance, context, platform_env, _ = deployment
    # Training and its evaluation: the sized step, end to end (the Bento build adds a minute and nothing here).
    assets = {dg.AssetKey(name) for name in ("training_set", "trained_model", "evaluation_report")}
    run_id = launch_paths.launch_from_ui(context, assets, FAST_TRAINING)
    launch_paths.dequeue(context)

    run = instance.get_run_by_id(run_id)
    job = stand_in_api.job_for_run(run_id)
    check_job(job, run, resources_of(TRAINING_OP_TAGS))

    env = container_env(job, config_maps=pod_config_maps(platform_env), secrets=POD_SECRETS)
    assert env["DAGSTER_PG_PASSWORD"] == PG_PASSWORD and env["DAGSTER_RUN_JOB_NAME"] == "__ASSET_JOB"
    assert {key: env[key] for key in OBJECT_STORE_SECRET} == OBJECT_STORE_SECRET
    finished = run_container(job, env, tmp_path / "pod_home")
    assert finished.returncode == 0, finished.stderr[-3000:]

    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
    assert materialized_assets(instance, run_id) == assets


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
    check_job(stand_in_api.job_for_run(plain), instance.get_run_by_id(plain), DEFAULT_POD_RESOURCES)

    by_hand = {"requests": {"cpu": "3", "memory": "6Gi"}, "limits": {"cpu": "3", "memory": "6Gi"}}
    tagged = launch_paths.launch_from_ui(context, [dg.AssetKey("trained_model")], FAST_TRAINING, tags={
        "dagster-k8s/config": json.dumps({"container_config": {"resources": by_hand}})})
    launch_paths.dequeue(context)
    check_job(stand_in_api.job_for_run(tagged), instance.get_run_by_id(tagged), by_hand)
