"""A run pod that dies is noticed by run monitoring, and the run fails saying why, under deploy/'s config.

The run (training set, training, evaluation) really executes in its pod; the pod is SIGKILLed, all its
processes at once, as the OOM killer kills a container, the moment training starts. The stand-in API
then reports what the API server would: the pod terminated with exit code 137, reason OOMKilled, or
(a lost node) no pod at all; either way the Job failed (backoffLimit 0). The real K8sRunLauncher's
health check and the real monitoring daemon's iteration decide what happens to the run.
"""

import dagster as dg
import pytest

from ml_platform_tests.conftest import FAST_TRAINING
from ml_platform_tests.deploy import launch_paths
from ml_platform_tests.deploy.daemon_loop import DaemonLoop, run_job_name, run_kubelet, shorten_monitoring_poll
from ml_platform_tests.deploy.kubelet import TRAINING_STARTS, Fate

__all__ = ["run_kubelet"]
STEPS = ("training_set", "trained_model", "evaluation_report")


@pytest.fixture
def k8s_instance_home(k8s_instance_home):
    shorten_monitoring_poll(k8s_instance_home)
    return k8s_instance_home


def launch_and_kill(deployment, run_kubelet, fate: Fate) -> tuple[str, DaemonLoop]:
    """Launches the run from the UI; its pod dies as `fate` says once its run worker started training."""
    instance, context, _, _ = deployment
    loop = DaemonLoop(context)
    run_id = launch_paths.launch_from_ui(context, [dg.AssetKey(s) for s in STEPS], FAST_TRAINING)
    run_kubelet.fates[run_job_name(run_id)] = fate
    loop.dequeue()
    run_kubelet.wait(timeout=240)
    assert run_job_name(run_id) in run_kubelet.finished
    return run_id, loop


def failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    [record] = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    return record.event_log_entry.dagster_event.message


def test_an_oom_killed_run_pod_fails_its_run_at_the_next_poll_saying_so(deployment, run_kubelet, stand_in_api):
    instance = deployment[0]
    run_id, loop = launch_and_kill(deployment, run_kubelet, Fate(TRAINING_STARTS, "OOMKilled"))
    assert loop.status(run_id) == dg.DagsterRunStatus.STARTED  # nothing but the monitor can tell

    polls, _ = loop.until(lambda: loop.status(run_id) == dg.DagsterRunStatus.FAILURE)
    assert polls == 1, "failed at the first poll after the pod died (at most pollIntervalSeconds in the cluster)"
    message = failure_message(instance, run_id)
    assert "Run has not completed but K8s job has no active pods" in message
    assert "Container 'dagster' status: Terminated with exit code 137: OOMKilled" in message
    # Not resumed (maxResumeRunAttempts 0): the one Job is the one that died.
    assert [j["metadata"]["name"] for j in stand_in_api.jobs_of(run_id, "run_worker")] == [run_job_name(run_id)]


def test_a_run_whose_pod_vanished_fails_at_the_next_poll_naming_the_failed_job(deployment, run_kubelet,
                                                                               stand_in_api):
    instance = deployment[0]
    run_id, loop = launch_and_kill(deployment, run_kubelet, Fate(TRAINING_STARTS, "Vanished"))
    assert run_kubelet.pods(run_job_name(run_id)) == []

    polls, _ = loop.until(lambda: loop.status(run_id) == dg.DagsterRunStatus.FAILURE)
    assert polls == 1
    message = failure_message(instance, run_id)
    assert "Run has not completed but K8s job has no active pods" in message
    assert f"Debug information for job {run_job_name(run_id)}" in message and "failed=1" in message
    assert len(stand_in_api.jobs_of(run_id, "run_worker")) == 1
