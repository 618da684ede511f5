"""Publishes model quality to Prometheus: the latest facts of the instance, pushed on every tick.

A sensor rather than a step of each asset: one push then carries the whole picture (a Pushgateway
group is replaced whole), a failed retrain is published though no asset of it succeeded, a rollback
shows because the champion is read from the registry, and a push that fails is retried on the next
tick instead of being lost. Pushing every tick also refills a restarted Pushgateway, and lets an alert
on `push_time_seconds` see a stopped daemon. A failed push is a warning, never a failed tick.
"""

from __future__ import annotations

import dagster as dg

from ml_platform.lib.quality_metrics import Quality, push
from ml_platform.loop_resources import LOOP_SENSORS_DEFAULT_STATUS, Pushgateway
from ml_platform.model_scope import ModelScope
from ml_platform.resources import MlflowTracking

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]


def _latest(instance: dg.DagsterInstance, asset: dg.AssetKey) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(asset, limit=1).records
    return records[0] if records else None


def _retrain(instance: dg.DagsterInstance, job: str) -> dict | None:
    finished = instance.get_run_records(dg.RunsFilter(job_name=job, statuses=FINISHED), limit=1)
    if not finished:
        return None
    succeeded = instance.get_run_records(dg.RunsFilter(job_name=job, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1)
    last = finished[0]
    return {"success": last.dagster_run.status == dg.DagsterRunStatus.SUCCESS,
            "finished": last.end_time or last.update_timestamp.timestamp(),
            "last_success": (succeeded[0].end_time or succeeded[0].update_timestamp.timestamp()) if succeeded else None}


def champion(registry) -> dict | None:
    """The version the `champion` alias names and its training data version (rollbacks included)."""
    version = registry.champion_version()
    return {"version": version, "data_version": registry.version_tags(version).get("data_version", "")} \
        if version is not None else None


def collect(instance: dg.DagsterInstance, model: ModelScope) -> Quality:
    """The model's quality facts from the instance's latest materializations and runs."""
    quality = Quality(dataset=model.spec().name, retrain=_retrain(instance, model.named("retrain")), model=model.name)
    if live := _latest(instance, model.key("live_performance")):
        quality.live = {k: v.value for k, v in live.asset_materialization.metadata.items()}
    if drift := _latest(instance, model.key("drift_report")):
        meta = drift.asset_materialization.metadata
        quality.drift = {"batch": drift.asset_materialization.partition or "", "timestamp": drift.timestamp,
                         "drift": meta["decision"].value == "drift", "share": float(meta["drifted_share"].value)}
    if landed := _latest(instance, model.key("raw_data")):
        quality.last_landed = landed.timestamp
    decision = _latest(instance, model.key("promotion_decision"))
    meta = {k: v.value for k, v in decision.asset_materialization.metadata.items()} if decision else {}
    if meta.get("outcome") in ("wait", "revert"):  # a challenger is, or just was, under live evaluation
        quality.challenger = {"version": meta["challenger"], "difference": meta["difference"],
                              "labelled": meta["labelled"], "tolerance": meta["policy_tolerance"],
                              "decided": decision.timestamp}
    return quality


def quality_sensor(model: ModelScope) -> dg.SensorDefinition:
    @dg.sensor(name=model.named("publish_quality_metrics"), minimum_interval_seconds=30,
               default_status=LOOP_SENSORS_DEFAULT_STATUS)
    def publish_quality_metrics(context: dg.SensorEvaluationContext, pushgateway: Pushgateway,
                                mlflow_tracking: MlflowTracking) -> dg.SkipReason:
        """Push live accuracy, drift, the champion, data freshness and retrain outcomes to `ML_PLATFORM_PUSHGATEWAY_URL`."""
        if not pushgateway.url:
            return dg.SkipReason("no Pushgateway configured (ML_PLATFORM_PUSHGATEWAY_URL is empty)")
        quality = collect(context.instance, model)
        try:
            quality.champion = champion(mlflow_tracking.registry(quality.dataset))
        except Exception as exc:  # noqa: BLE001 - an MLflow outage must not hide drift and freshness
            context.log.warning(f"champion not read from the registry: {type(exc).__name__}: {exc}")
        try:
            push(pushgateway.url, quality, pushgateway.timeout_seconds)
        except Exception as exc:  # noqa: BLE001 - monitoring must never stop the loop; the next tick retries
            context.log.warning(f"model-quality metrics not pushed to {pushgateway.url}: {type(exc).__name__}: {exc}")
            return dg.SkipReason(f"push failed: {type(exc).__name__}")
        return dg.SkipReason(f"pushed model-quality metrics of {quality.dataset} to {pushgateway.url}")

    return publish_quality_metrics
