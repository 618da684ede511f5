"""One retrain at a time on Kubernetes: a second run that trains waits in the queue until the first ends.

The rule is Dagster's `retrain` pool (`training_set` is in it) at run granularity, in the Kubernetes
instance config as in the local one. It holds whatever launched the run: here the asset graph's
__ASSET_JOB first, then the `retrain` job. The tag limit it replaces (dagster/job=retrain) held
neither: no run carries a dagster/job tag. The real queue daemon decides, on deploy/'s instance.
"""

import dagster as dg
import yaml
from dagster._core.instance.config import PoolGranularity
from dagster_graphql.client.query import LAUNCH_PIPELINE_EXECUTION_MUTATION
from dagster_graphql.test.utils import execute_dagster_graphql

from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.conftest import FAST_TRAINING
from ml_platform_tests.deploy import launch_paths
from ml_platform_tests.deploy.conftest import POD_SECRETS, pod_config_maps
from ml_platform_tests.deploy.kubelet import container_env, run_container


def launch_job_from_ui(context, job_name: str) -> str:
    """What "Launch run" on a job's page sends."""
    result = execute_dagster_graphql(context.create_request_context(), LAUNCH_PIPELINE_EXECUTION_MUTATION, {
        "executionParams": {"selector": {"repositoryLocationName": launch_paths.LOCATION,
                                         "repositoryName": "__repository__", "pipelineName": job_name},
                            "runConfigData": FAST_TRAINING, "mode": "default"}})
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_the_kubernetes_instance_caps_the_retrain_pool_as_the_local_one_does(k8s_instance_home):
    local = yaml.safe_load((PROJECT_DIR / "dagster.yaml").read_text())["concurrency"]["pools"]
    k8s = yaml.safe_load((PROJECT_DIR / "deploy" / "dagster-k8s.yaml").read_text())
    values = yaml.safe_load((PROJECT_DIR / "deploy" / "helm" / "values.yaml").read_text())
    assert k8s["concurrency"] == values["additionalInstanceConfig"]["concurrency"] == {"pools": local}
    limits = k8s["run_coordinator"]["config"].get("tag_concurrency_limits", [])
    assert not [limit for limit in limits if limit["key"] == "dagster/job"], "runs carry no dagster/job tag"
    with dg.DagsterInstance.get() as instance:
        pools = instance.get_concurrency_config().pool_config
        assert (pools.pool_granularity, pools.default_pool_limit) == (PoolGranularity.RUN, 1)


def test_a_second_retrain_waits_queued_until_the_first_finishes(deployment, stand_in_api, tmp_path):
    instance, context, platform_env, _ = deployment
    first = launch_paths.launch_from_ui(context, [dg.AssetKey("training_set")], {})
    launch_paths.dequeue(context)
    assert instance.get_run_by_id(first).status == dg.DagsterRunStatus.STARTING

    second = launch_job_from_ui(context, "retrain")
    for _ in range(3):
        launch_paths.dequeue(context)
    run = instance.get_run_by_id(second)
    assert run.status == dg.DagsterRunStatus.QUEUED and stand_in_api.jobs_of(second, "run_worker") == []
    assert "dagster/job" not in run.tags  # what the old tag limit matched on

    job = stand_in_api.job_for_run(first)
    env = container_env(job, config_maps=pod_config_maps(platform_env), secrets=POD_SECRETS)
    finished = run_container(job, env, tmp_path / "pod_home")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert instance.get_run_by_id(first).status == dg.DagsterRunStatus.SUCCESS

    launch_paths.dequeue(context)
    assert instance.get_run_by_id(second).status == dg.DagsterRunStatus.STARTING
    assert len(stand_in_api.jobs_of(second, "run_worker")) == 1
