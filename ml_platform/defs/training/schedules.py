"""Retraining on a clock, as the seed pipelines did, but only when there is data the champion has not seen.

Built per model by `retrain_schedule(model, jobs)`, with the cron of the model's spec (fixed when the code loads).
It shares the retrain sensor's cap (`blocked`, counting runs tagged with a trigger), and two retrains
never run at once because the `training_set` step is in the `retrain` pool (see dagster.yaml).
"""

import dagster as dg

from ml_platform.defs.jobs import ModelJobs
from ml_platform.defs.monitoring.triggers import TRIGGER_TAG, blocked
from ml_platform.defs.policy import retrain_tags
from ml_platform.lib.training_set import unseen_batches
from ml_platform.loop_resources import RetrainPolicy
from ml_platform.model_scope import ModelScope
from ml_platform.resources import MlflowTracking

SCHEDULE_NAME = "scheduled_retrain"


def champion_batches(instance: dg.DagsterInstance, model: ModelScope,
                     mlflow_tracking: MlflowTracking) -> tuple[str | None, set[str]]:
    """The champion's version and the batches of the training set it was fit on (matched by data version)."""
    registry = mlflow_tracking.registry(model.spec().name)
    version = registry.champion_version()
    if version is None:
        return None, set()
    data_version = registry.version_tags(version).get("data_version")
    for record in instance.fetch_materializations(model.key("training_set"), limit=200).records:
        metadata = record.asset_materialization.metadata
        if metadata["data_version"].value == data_version:
            return version, set(metadata["batches"].value)
    return version, set()


def retrain_schedule(model: ModelScope, jobs: ModelJobs, cron: str) -> dg.ScheduleDefinition:
    @dg.schedule(name=model.named(SCHEDULE_NAME), job=jobs.retrain, cron_schedule=cron, execution_timezone="UTC",
                 default_status=dg.DefaultScheduleStatus.RUNNING)
    def scheduled_retrain(context: dg.ScheduleEvaluationContext, mlflow_tracking: MlflowTracking,
                          retrain_policy: RetrainPolicy):
        """A `retrain` when some usable batch in the training window is not in the champion's training set."""
        instance = context.instance
        spec = model.spec()
        usable = instance.get_materialized_partitions(model.key("features"))
        version, trained_on = champion_batches(instance, model, mlflow_tracking)
        unseen = unseen_batches(list(instance.get_dynamic_partitions(model.batches.name)), usable, trained_on,
                                spec.training.window_batches)
        if not unseen:
            return dg.SkipReason(f"champion v{version} was trained on every usable batch ({len(trained_on)})"
                                 if version else "no usable batch yet: nothing to train on")
        reason = blocked(instance, jobs.retrain.name, retrain_policy.max_retrains, retrain_policy.cap_window_hours,
                         retrain_policy.cooldown_minutes)
        if reason:
            return dg.SkipReason(f"retrain held back ({reason}); {len(unseen)} batch(es) wait")
        tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
        return dg.RunRequest(run_key=f"scheduled-{tick}", tags={
            **retrain_tags(model), TRIGGER_TAG: "schedule", "ml_platform/batches": ",".join(unseen)[:1000],
            "ml_platform/champion_version": version or "none"})

    return scheduled_retrain
