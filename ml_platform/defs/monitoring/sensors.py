"""The loop's decisions: score the served model when labels arrive, and retrain on drift or decay."""

import hashlib
import json

import dagster as dg

from ml_platform.defs.jobs import ModelJobs
from ml_platform.defs.monitoring.triggers import blocked, needs_bootstrap, pending_triggers, trigger_tags
from ml_platform.defs.policy import frequent_tags, retrain_tags, waiting_run
from ml_platform.lib.arrivals import new_files
from ml_platform.lib.high_water import Mark
from ml_platform.loop_resources import LOOP_SENSORS_DEFAULT_STATUS, LoopStorage, RetrainPolicy
from ml_platform.model_scope import ModelScope


def _mark(cursor: str | None) -> Mark:
    """The cursor's mark; a cursor from before marks (a list of every name) starts over, once."""
    data = json.loads(cursor) if cursor else None
    return Mark.parse(data) if isinstance(data, dict) else Mark()


def labels_sensor_for(model: ModelScope, jobs: ModelJobs) -> dg.SensorDefinition:
    @dg.sensor(name=model.named("labels_sensor"), job=jobs.track_performance, minimum_interval_seconds=30,
               default_status=LOOP_SENSORS_DEFAULT_STATUS)
    def labels_sensor(context: dg.SensorEvaluationContext, loop_storage: LoopStorage) -> dg.SensorResult:
        """New label files: re-score the served model on its labelled predictions (`live_performance`).

        The cursor is a high-water mark (`lib/high_water.py`): its size does not grow with the label files.
        While a run of `track_performance` is queued, new files are left to it (it reads every file when it
        starts): at most one run waits, however often labels arrive."""
        new, mark, listed = new_files(loop_storage.scoped(model).labels_path, "*.csv", _mark(context.cursor))
        cursor = json.dumps(mark.dump())
        if not new:
            return dg.SensorResult(skip_reason=f"no new label file ({listed} listed since the mark)", cursor=cursor)
        names = sorted(item.path.name for item in new)
        if waiting := waiting_run(context.instance, jobs.track_performance.name):
            return dg.SensorResult(skip_reason=f"run {waiting[:8]} of {jobs.track_performance.name} is queued: it will read "
                                               f"the {len(names)} new label file(s)", cursor=cursor)
        arrived = "\n".join(sorted(f"{item.path.name}@{item.stamp_ns}" for item in new))
        run_key = "labels-" + hashlib.sha256(arrived.encode()).hexdigest()[:16]
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=run_key, tags={
                **frequent_tags(model), "ml_platform/new_label_files": ",".join(names)[:1000]})],
            cursor=cursor)

    return labels_sensor


def retrain_sensor_for(model: ModelScope, jobs: ModelJobs) -> dg.SensorDefinition:
    @dg.sensor(name=model.named("retrain_sensor"), job=jobs.retrain, minimum_interval_seconds=15,
               default_status=LOOP_SENSORS_DEFAULT_STATUS)
    def retrain_sensor(context: dg.SensorEvaluationContext, retrain_policy: RetrainPolicy) -> dg.SensorResult:
        """Drifted batches or a served model below the spec's threshold: one retrain covering all of them.

        Each drifted batch causes at most one retrain (batches drifting together share it); the policy's
        cap and cool-down hold pending triggers back without losing them. The reason is in the run's tags.
        """
        instance = context.instance
        cursor = json.loads(context.cursor) if context.cursor else {}
        pending = pending_triggers(instance, model, cursor)
        if pending.reason is None and not needs_bootstrap(instance, model, pending):
            return dg.SensorResult(skip_reason="no drift and no performance drop", cursor=json.dumps(pending.last_ids))
        reason = blocked(instance, jobs.retrain.name, retrain_policy.max_retrains, retrain_policy.cap_window_hours,
                         retrain_policy.cooldown_minutes)
        if reason:
            return dg.SensorResult(skip_reason=f"retrain held back ({reason})", cursor=context.cursor)
        run_key = "retrain-" + "-".join(f"{k}{v}" for k, v in sorted(pending.last_ids.items())) if pending.reason \
            else "retrain-bootstrap"
        tags = {**trigger_tags(pending), **retrain_tags(model)}
        context.log.info(f"requesting retrain {run_key}: {tags}")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=run_key, tags=tags)],
                               cursor=json.dumps(pending.last_ids))

    return retrain_sensor
