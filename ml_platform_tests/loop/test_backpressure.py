"""Backpressure: the loop's frequent jobs coalesce while a run waits, and a retrain is never starved behind them.

Sensors tick on a real instance whose runs are created as the sensor daemon creates them (the job's
tags merged with the request's); the queue's choice is the real QueuedRunCoordinator daemon's own
selection (`_get_runs_to_dequeue`: priority sort, tag limits, free slots) on an instance loaded from
the project's dagster.yaml. Only the launch is left out: it would start the runs' processes.
"""

from __future__ import annotations

import shutil

import dagster as dg
import yaml
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from mlflow import MlflowClient

from ml_platform.definitions import PROJECT_DIR
from ml_platform.defs.policy import LANE_TAG

QUEUED, STARTED = dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED


def create_run(platform, instance, job_name: str, request: dg.RunRequest | None = None, status=QUEUED) -> dg.DagsterRun:
    """A run as the sensor daemon submits one: the job's tags under the request's, from the code location."""
    job = platform.job(job_name)
    tags = {**job.run_tags, **(request.tags if request else {})}
    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="ml_platform.definitions"), "ml_platform")
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job_name)
    return instance.create_run_for_job(job, tags=tags, status=status, remote_job_origin=origin)


def add_label_file(platform, name: str) -> None:
    labels = platform.resources["loop_storage"].labels_path
    labels.mkdir(parents=True, exist_ok=True)
    (labels / name).write_text("record_id,label\nr-0,luxury\n")


def test_labels_arriving_while_a_run_is_queued_request_nothing_more(make_loop_platform, ticker_for):
    platform, instance = (p := make_loop_platform()), p.instance
    ticker = ticker_for(platform)
    add_label_file(platform, "labels-000.csv")
    [request] = ticker.evaluate("labels_sensor").run_requests
    queued = create_run(platform, instance, "track_performance", request)

    for i in range(1, 41):  # 40 ticks, a new label file before each: 20 minutes of 30-second ticks
        add_label_file(platform, f"labels-{i:03d}.csv")
        tick = ticker.evaluate("labels_sensor")
        assert tick.run_requests == [] and f"run {queued.run_id[:8]} of track_performance is queued" in tick.skip_message
    assert instance.get_runs_count() == 1

    instance.report_dagster_event(dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name=queued.job_name),
                                  run_id=queued.run_id)  # it started: what arrives now, it may not read
    add_label_file(platform, "labels-041.csv")
    [follower] = ticker.evaluate("labels_sensor").run_requests
    assert follower.tags["ml_platform/new_label_files"] == "labels-041.csv"


def test_a_challenger_decision_is_not_requested_again_while_one_is_queued(make_loop_platform, ticker_for):
    platform, instance = (p := make_loop_platform()), p.instance
    client, name = MlflowClient(platform.resources["mlflow_tracking"].tracking_uri), platform.spec.name
    client.create_registered_model(name)
    version = client.create_model_version(name, source=str(platform.root / "model"))
    client.set_registered_model_alias(name, "challenger", version.version)
    ticker = ticker_for(platform)
    [request] = ticker.evaluate("challenger_sensor").run_requests
    queued = create_run(platform, instance, "decide_promotion", request)

    for i in range(20):
        add_label_file(platform, f"labels-{i:03d}.csv")
        tick = ticker.evaluate("challenger_sensor")
        assert tick.run_requests == [] and f"run {queued.run_id[:8]} of decide_promotion is queued" in tick.skip_message


def test_a_queued_retrain_is_dequeued_before_queued_frequent_runs(make_loop_platform, tmp_path):
    platform = make_loop_platform()
    home = tmp_path / "instance_home"
    home.mkdir()
    shutil.copy(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    retrain = dg.RunRequest(tags={"ml_platform/trigger": "drift"})  # its priority is the job's
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 2
        create_run(platform, instance, "track_performance", status=STARTED)
        frequent = [create_run(platform, instance, job) for job in ("track_performance", "decide_promotion")]
        queued_retrain = create_run(platform, instance, "retrain", retrain)  # queued last

        # one slot free: the retrain takes it, though both frequent runs were queued before it
        [chosen] = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)
        assert chosen.run_id == queued_retrain.run_id

        instance.report_run_failed(instance.get_run_by_id(queued_retrain.run_id))
        # the frequent run in progress holds their one lane: the free slot stays free for other work
        assert daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None) == []
        assert {r.tags[LANE_TAG] for r in frequent} == {"frequent"}


def test_the_frequent_lane_limit_is_the_same_locally_and_on_kubernetes():
    local = yaml.safe_load((PROJECT_DIR / "dagster.yaml").read_text())["concurrency"]["runs"]["tag_concurrency_limits"]
    k8s = yaml.safe_load((PROJECT_DIR / "deploy" / "dagster-k8s.yaml").read_text())["run_coordinator"]["config"]
    helm = yaml.safe_load((PROJECT_DIR / "deploy" / "helm" / "values.yaml").read_text())
    chart = helm["dagsterDaemon"]["runCoordinator"]["config"]["customRunCoordinator"]["config"]
    assert local == k8s["tag_concurrency_limits"] == chart["tag_concurrency_limits"]
    assert local == [{"key": LANE_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
