"""Why deploy/ sets maxResumeRunAttempts to 0: under the multiprocess executor a resume reruns everything.

Run monitoring can resume a run whose pod died, in a new pod (`dagster api resume_run`). Only a
step-delegating executor (`k8s_job_executor`) reads the dead worker's events and relaunches just the
steps in flight; the multiprocess executor ignores them and executes the run's whole plan again, so a
training set already built is built again (and an OOM-killed training would be killed again). A run
retry from failure (test_run_retries.py) reruns only what did not finish.
"""

import dagster as dg
import pytest

from ml_platform_tests.deploy.daemon_loop import run_job_name, run_kubelet, shorten_monitoring_poll
from ml_platform_tests.deploy.kubelet import TRAINING_STARTS, Fate
from ml_platform_tests.deploy.test_run_failures import launch_and_kill
from ml_platform_tests.deploy.test_run_retries import started_steps

__all__ = ["run_kubelet"]


@pytest.fixture
def k8s_instance_home(k8s_instance_home):
    shorten_monitoring_poll(k8s_instance_home, max_resume_run_attempts=1)  # the chart's value before
    return k8s_instance_home


def test_a_resumed_run_worker_reruns_the_steps_that_had_succeeded(deployment, run_kubelet, stand_in_api):
    instance = deployment[0]
    run_id, loop = launch_and_kill(deployment, run_kubelet, Fate(TRAINING_STARTS, "OOMKilled"))

    polls, _ = loop.until(lambda: loop.status(run_id) in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE))
    resumed = [j["metadata"]["name"] for j in stand_in_api.jobs_of(run_id, "run_worker")]
    assert resumed == [run_job_name(run_id), run_job_name(run_id, 1)]
    assert stand_in_api.jobs_of(run_id, "run_worker")[1]["spec"]["template"]["spec"]["containers"][0]["args"][:3] == [
        "dagster", "api", "resume_run"]
    assert loop.status(run_id) == dg.DagsterRunStatus.SUCCESS
    # The training set succeeded before the kill, and the resumed worker built it again.
    assert started_steps(instance, run_id) == ["training_set", "trained_model",
                                               "training_set", "trained_model", "evaluation_report"]
