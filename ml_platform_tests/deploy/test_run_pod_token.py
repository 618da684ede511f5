"""A run pod gets a Kubernetes API token only if it launches step pods, and carries what lets it reach
the registry: the `ml-platform/workload` label the NetworkPolicies select and the `pipeline` identity.

The chart's container context mounts the token in every run pod (`automount_service_account_token: true`),
and only a run's `dagster-k8s/config` tag is merged after it, so `AssetSizedRunCoordinator` sets one.
Runs are submitted through that coordinator as configured in deploy/dagster-k8s.yaml and launched by the
real K8sRunLauncher into the stand-in API server, with the container context the chart builds from
deploy/helm/values.yaml; the Job recorded is what a cluster would get.
"""

from __future__ import annotations

import copy
import json
import sys

import dagster as dg
import pytest
import yaml
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.run_coordinator import SubmitRunContext
from dagster._core.test_utils import create_run_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.deploy.chart import chart_values, user_deployment, user_deployment_container_context
from ml_platform_tests.deploy.conftest import NAMESPACE, POD_SECRETS, pod_config_maps
from ml_platform_tests.deploy.job_checks import DEFAULT_POD_RESOURCES, check_pod_job
from ml_platform_tests.deploy.kubelet import container_env

INSTANCE = yaml.safe_load((PROJECT_DIR / "deploy" / "dagster-k8s.yaml").read_text())


@pytest.fixture
def instance(tmp_path, stand_in_api):
    launcher = copy.deepcopy(INSTANCE["run_launcher"])
    launcher["config"].update(load_incluster_config=False,
                              kubeconfig_file=str(stand_in_api.write_kubeconfig(tmp_path / "kubeconfig", NAMESPACE)))
    with dg.instance_for_test(overrides={"run_launcher": launcher,
                                         "run_coordinator": INSTANCE["run_coordinator"]}) as instance:
        yield instance


def chart_context(executor: str | None = None) -> dict:
    """The container context the chart gives runs, with `ML_PLATFORM_EXECUTOR` in the user deployment's env."""
    values = chart_values()
    if executor:
        user_deployment(values)["env"].append({"name": "ML_PLATFORM_EXECUTOR", "value": executor})
    return user_deployment_container_context(values)


def launched_pod(instance, stand_in_api, container_context: dict, tags: dict | None = None) -> tuple[dict, dict]:
    """Submits a run of the code location through the coordinator, launches it; its Job and pod spec."""
    repository = RepositoryPythonOrigin(sys.executable, ModuleCodePointer("ml_platform.definitions", "defs"),
                                        entry_point=["dagster"], container_context=container_context)
    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(executable_path=sys.executable,
                                                                module_name="ml_platform.definitions"),
                                           location_name="ml-platform", container_context=container_context)
    remote = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), "__ASSET_JOB")
    run = create_run_for_test(instance, job_name="__ASSET_JOB", tags=tags, remote_job_origin=remote,
                              job_code_origin=JobPythonOrigin("__ASSET_JOB", repository))
    instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))
    run = instance.get_run_by_id(run.run_id)
    instance.run_launcher.launch_run(LaunchRunContext(run, workspace=None))
    job = stand_in_api.job_for_run(run.run_id)
    return job, job["spec"]["template"]["spec"]


def test_a_run_pod_that_runs_its_steps_itself_gets_no_api_token(instance, stand_in_api):
    job, pod = launched_pod(instance, stand_in_api, chart_context())
    assert pod["automountServiceAccountToken"] is False
    container = check_pod_job(job, instance.get_runs()[0], DEFAULT_POD_RESOURCES, ["dagster", "api", "execute_run"])
    assert job["spec"]["template"]["metadata"]["labels"]["ml-platform/workload"] == "dagster-user-code", (
        "the label mlflow-ingress, postgresql-ingress and pushgateway-push-ingress let in")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if e["name"].startswith("MLFLOW_")}
    assert refs == {name: {"name": "mlflow-pipeline-identity", "key": name}
                    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}, "each once, mandatory"
    env = container_env(job, config_maps=pod_config_maps({}), secrets=POD_SECRETS)  # as the deploy tests' kubelet
    assert env["MLFLOW_TRACKING_USERNAME"] == POD_SECRETS["mlflow-pipeline-identity"]["MLFLOW_TRACKING_USERNAME"]


def test_a_run_pod_that_launches_step_pods_keeps_its_token(instance, stand_in_api):
    _, pod = launched_pod(instance, stand_in_api, chart_context(executor="k8s"))
    assert pod.get("automountServiceAccountToken", True) is True, "k8s_job_executor creates Jobs with it"


def test_a_size_set_by_hand_still_wins_and_the_token_is_still_withheld(instance, stand_in_api):
    by_hand = {"requests": {"cpu": "3", "memory": "6Gi"}, "limits": {"cpu": "3", "memory": "6Gi"}}
    tag = {"dagster-k8s/config": json.dumps({"container_config": {"resources": by_hand}})}
    _, pod = launched_pod(instance, stand_in_api, chart_context(), tags=tag)
    assert pod["containers"][0]["resources"] == by_hand and pod["automountServiceAccountToken"] is False
