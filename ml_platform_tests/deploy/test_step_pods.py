"""`k8s_job_executor`: each step of a run in its own Kubernetes Job, sized by its own asset's op tags.

The real K8sRunLauncher launches a run of the location that uses the executor; its run pod is executed
locally, and the executor in it sends one Job per step to the stand-in API server, whose kubelet runs
the step's command and reports the Job complete. Every step Job must pass the Kubernetes schema and
carry our image, the step command, our env and labels, and the resources of its own asset.
"""

import dagster as dg
import kubernetes
import pytest
from dagster_k8s.client import DagsterKubernetesClient

from ml_platform.k8s import CANDIDATE_OP_TAGS, PLAN_OP_TAGS, TRAINING_OP_TAGS
from ml_platform_tests.deploy import launch_paths
from ml_platform_tests.deploy.conftest import PG_PASSWORD, POD_SECRETS, pod_config_maps
from ml_platform_tests.deploy.job_checks import (DEFAULT_POD_RESOURCES, check_pod_job, materialized_assets,
                                                 resources_of)
from ml_platform_tests.deploy.kubelet import Kubelet, container_env, run_container

# The sized training steps between two unsized ones (the Bento build adds a minute and nothing here).
STEPS = ("training_set", "trained_model", "evaluation_report")
# Four candidates of two families on two rungs (100 rows suffice for a screening sample here): a Job per
# candidate on the sample, one per finalist on every row, each sized for its family.
SEARCH = {"ops": {"trained_model": {"config": {
    "estimators": ["logistic_regression", "hist_gradient_boosting"], "logistic_c": [0.01, 0.1, 1.0],
    "hgb_max_iter": [20], "min_rung_rows": 100}}}}
OP_RESOURCES = {"trained_model.plan_search": resources_of(PLAN_OP_TAGS),
                "trained_model.register_winner": resources_of(TRAINING_OP_TAGS),
                **{f"trained_model.{stage}_{family}": resources_of(tags)
                   for family, tags in CANDIDATE_OP_TAGS.items() for stage in ("screen", "final")}}


def step_key(job: dict) -> str:
    """The step a Job runs, as the executor told its container (mapped steps share their op's label)."""
    [container] = job["spec"]["template"]["spec"]["containers"]
    return {var["name"]: var.get("value") for var in container["env"]}["DAGSTER_RUN_STEP_KEY"]


def check_reported_complete(client: DagsterKubernetesClient, job: dict) -> None:
    """What the executor's health check and job deletion read back: a succeeded Job, its one finished pod, a log."""
    name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
    assert client.get_job_status(job_name=name, namespace=namespace).succeeded == 1
    [pod] = client.get_pods_in_job(name, namespace)
    assert pod.status.phase == "Succeeded" and pod.status.container_statuses[0].state.terminated.exit_code == 0
    assert isinstance(client.retrieve_pod_logs(pod.metadata.name, namespace), str)


@pytest.fixture
def code_location() -> str:
    return "step_pod_defs"


@pytest.fixture
def pod_env_sources(deployment) -> dict:
    return {"config_maps": pod_config_maps(deployment[2]), "secrets": POD_SECRETS}


@pytest.fixture
def kubelet(stand_in_api, pod_env_sources, tmp_path):
    """Runs the step Jobs the stand-in is sent, for this test only (the stand-in is shared by the session)."""
    kubelet = Kubelet(dagster_home=tmp_path / "pod_home", **pod_env_sources)
    stand_in_api.kubelet = kubelet
    yield kubelet
    stand_in_api.kubelet = None
    kubelet.delete_all()


def test_each_step_runs_in_a_job_of_its_own_sized_by_its_asset(deployment, stand_in_api, kubelet,
                                                               pod_env_sources, tmp_path):
    instance, context, _, _ = deployment
    run_id = launch_paths.launch_from_ui(context, [dg.AssetKey(step) for step in STEPS], SEARCH)
    launch_paths.dequeue(context)
    run_job = stand_in_api.job_for_run(run_id)
    run_pod = run_container(run_job, container_env(run_job, **pod_env_sources), tmp_path / "pod_home")
    kubelet.wait()
    assert run_pod.returncode == 0, run_pod.stderr[-3000:]

    run = instance.get_run_by_id(run_id)
    kubernetes.config.load_kube_config(instance.run_launcher.kubeconfig_file)
    client = DagsterKubernetesClient.production_client()
    step_jobs = {step_key(job): job for job in stand_in_api.jobs_of(run_id, "step_worker")}
    search = sorted(step.removeprefix("trained_model.") for step in step_jobs if step.startswith("trained_model."))
    assert [s for s in search if s.startswith("screen_")] == [
        "screen_hist_gradient_boosting[c3]", "screen_logistic_regression[c0]", "screen_logistic_regression[c1]",
        "screen_logistic_regression[c2]"]
    assert len([s for s in search if s.startswith("final_")]) == 2  # the best half go on to every row
    assert {s for s in search if "[" not in s} == {"plan_search", "choose_finalists", "register_winner"}
    assert len(step_jobs) == 2 + len(search)  # and training_set, evaluation_report
    for step, job in step_jobs.items():
        pod = kubelet.finished[job["metadata"]["name"]]
        assert pod.returncode == 0, f"{step}: {pod.stderr[-3000:]}"
        check_reported_complete(client, job)
        container = check_pod_job(job, run, OP_RESOURCES.get(step.split("[")[0], DEFAULT_POD_RESOURCES),
                                  ["dagster", "api", "execute_step"])
        env = container_env(job, **pod_env_sources)
        assert env["DAGSTER_PG_PASSWORD"] == PG_PASSWORD and env["AWS_ACCESS_KEY_ID"]

    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert materialized_assets(instance, run_id) == {dg.AssetKey(step) for step in STEPS}
