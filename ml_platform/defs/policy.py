"""Platform-wide run policy, referenced by the assets it applies to."""

import dagster as dg

from ml_platform.model_scope import ModelScope

# For steps that are safe to repeat (they read, or they write idempotently): a brief outage of the
# MLflow store or the filesystem is retried with backoff, and each retry shows in the run's event log.
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=3, delay=1, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

# Backpressure for the loop's frequent jobs (`track_performance`, `decide_promotion`), which a sensor may
# ask for every 30 s. Their runs carry `frequent_tags`: dagster.yaml's run queue lets one run per lane
# value run at a time (`ml_platform/lane`, one lane per model, so one model's burst never holds another's),
# and a lower `dagster/priority` than `retrain_tags` makes the queue dequeue a waiting retrain first.
# Tagged on the jobs and on each run request, since job tags are dropped on some launch paths (see
# ml_platform/k8s.py).
PRIORITY_TAG, LANE_TAG = "dagster/priority", "ml_platform/lane"


def frequent_tags(model: ModelScope) -> dict[str, str]:
    return {LANE_TAG: model.named("frequent"), PRIORITY_TAG: "-1", **model.tags}


def retrain_tags(model: ModelScope) -> dict[str, str]:
    return {PRIORITY_TAG: "10", **model.tags}
WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]


def waiting_run(instance: dg.DagsterInstance, job_name: str) -> str | None:
    """A run of `job_name` that has not begun its work (queued or starting), if any: it will read everything
    that arrived before it starts, so a sensor asks for no other. A run in progress may be followed by one."""
    records = instance.get_run_records(dg.RunsFilter(job_name=job_name, statuses=WAITING), limit=1)
    return records[0].dagster_run.run_id if records else None
