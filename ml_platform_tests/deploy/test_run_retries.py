"""Run retries after a run pod dies: the retry reruns only the steps the dead run did not finish.

Dagster's run retry (the daemon's event log consumer) re-executes a failed run with the
`dagster/retry_strategy` tag's strategy, FROM_FAILURE unless a run says otherwise. FROM_FAILURE selects
the steps from the failed run's event log, not from its executor: a step with STEP_SUCCESS is skipped,
and its output is loaded from storage. So under the multiprocess executor (one pod per run, ours) the
retry of a run OOM-killed in training runs training and evaluation, not the training set again.
"""

import dagster as dg
import pytest

from ml_platform.k8s import TRAINING_OP_TAGS
from ml_platform_tests.deploy.daemon_loop import run_kubelet, shorten_monitoring_poll
from ml_platform_tests.deploy.job_checks import materialized_assets, resources_of
from ml_platform_tests.deploy.kubelet import TRAINING_STARTS, Fate
from ml_platform_tests.deploy.test_run_failures import STEPS, launch_and_kill

__all__ = ["run_kubelet"]


@pytest.fixture
def k8s_instance_home(k8s_instance_home):
    shorten_monitoring_poll(k8s_instance_home)
    return k8s_instance_home


def node_of(step_key: str) -> str:
    """The asset a step belongs to: `trained_model`'s search steps are `trained_model.<op>[<candidate>]`."""
    return step_key.split(".", 1)[0]


def started_steps(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The assets whose steps started, in order, each run of consecutive steps of one asset named once."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START).records
    nodes = [node_of(r.event_log_entry.step_key) for r in records]
    return [node for i, node in enumerate(nodes) if i == 0 or nodes[i - 1] != node]


def test_a_retry_reruns_only_the_steps_the_oom_killed_run_did_not_finish(deployment, run_kubelet, stand_in_api):
    instance = deployment[0]
    run_id, loop = launch_and_kill(deployment, run_kubelet, Fate(TRAINING_STARTS, "OOMKilled"))
    assert started_steps(instance, run_id) == ["training_set", "trained_model"]

    def retried():
        retries = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
        return retries and retries[0].status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)

    polls, seconds = loop.until(retried)
    [retry] = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
    assert loop.status(run_id) == dg.DagsterRunStatus.FAILURE and retry.status == dg.DagsterRunStatus.SUCCESS
    assert retry.tags["dagster/retry_number"] == "1" and "dagster/retry_strategy" not in retry.tags  # the default
    assert retry.tags["dagster/is_resume_retry"] == "true"  # FROM_FAILURE

    assert sorted({node_of(step) for step in retry.step_keys_to_execute}) == ["evaluation_report", "trained_model"]
    assert started_steps(instance, retry.run_id) == ["trained_model", "evaluation_report"]
    assert materialized_assets(instance, retry.run_id) == {dg.AssetKey("trained_model"), dg.AssetKey("evaluation_report")}
    job = stand_in_api.job_for_run(retry.run_id)  # the retry's pod is still sized for training
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"] == resources_of(TRAINING_OP_TAGS)
    print(f"OOM-killed run retried and succeeded after {polls} polls, {seconds:.0f} s; steps {STEPS}")
