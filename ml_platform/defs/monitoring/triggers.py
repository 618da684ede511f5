"""What makes the loop retrain, read from the instance: drifted batches and a served model losing accuracy.

An event is stale once a training set was materialized after it, since that retrain already used it;
so the decision holds even if the sensor's cursor is lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import dagster as dg

from ml_platform.model_scope import ModelScope

TRIGGER_TAG = "ml_platform/trigger"
TRIGGERS = ["drift", "performance", "drift+performance", "bootstrap", "schedule"]  # one cap for all
UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass
class Pending:
    drifted: dict[str, list[str]] = field(default_factory=dict)
    decayed: list[dict] = field(default_factory=list)
    last_ids: dict[str, int] = field(default_factory=dict)
    trained: int = 0  # storage id of the latest training set, 0 if none

    @property
    def reason(self) -> str | None:
        kinds = [k for k, v in (("drift", self.drifted), ("performance", self.decayed)) if v]
        return "+".join(kinds) or None


def _records_after(instance: dg.DagsterInstance, asset: dg.AssetKey, after: int) -> list[dg.EventLogRecord]:
    return list(instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset, after_storage_id=after), limit=500, ascending=True).records)


def latest_storage_id(instance: dg.DagsterInstance, asset: dg.AssetKey) -> int:
    records = instance.fetch_materializations(asset, limit=1).records
    return records[0].storage_id if records else 0


def pending_triggers(instance: dg.DagsterInstance, model: ModelScope, cursor: dict[str, int]) -> Pending:
    """Drifted batches and below-threshold performance reports after the cursor and after the last training set."""
    trained = latest_storage_id(instance, model.key("training_set"))
    pending = Pending(last_ids=dict(cursor), trained=trained)
    for record in _records_after(instance, model.key("drift_report"), cursor.get("drift", 0)):
        pending.last_ids["drift"] = record.storage_id
        meta = record.asset_materialization.metadata
        if meta["decision"].value == "drift" and record.storage_id > trained:
            pending.drifted[record.asset_materialization.partition] = list(meta["drifted_columns"].value)
    for record in _records_after(instance, model.key("live_performance"), cursor.get("performance", 0)):
        pending.last_ids["performance"] = record.storage_id
        meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        if meta.get("below_threshold") and record.storage_id > trained:
            pending.decayed.append({"metric": meta["metric"], "value": meta.get(meta["metric"]),
                                    "model_version": meta.get("model_version")})
    return pending


def needs_bootstrap(instance: dg.DagsterInstance, model: ModelScope, pending: Pending) -> bool:
    """Batches are validated but nothing was ever trained: the loop's first model."""
    return pending.trained == 0 and latest_storage_id(instance, model.key("validated_data")) > 0


def blocked(instance: dg.DagsterInstance, retrain_job: str, max_retrains: int, window_hours: float,
            cooldown_minutes: float) -> str | None:
    """Why a loop-triggered retrain of one model (its `retrain_job`) may not start now (cap, one in flight,
    cool-down), or None: each model has its own cap."""
    now = datetime.now(timezone.utc)
    recent = instance.get_run_records(dg.RunsFilter(
        job_name=retrain_job, tags={TRIGGER_TAG: TRIGGERS}, created_after=now - timedelta(hours=window_hours)))
    if len(recent) >= max_retrains:
        return f"cap: {len(recent)} loop retrains in the last {window_hours:g} h (max {max_retrains})"
    if any(r.dagster_run.status in UNFINISHED for r in recent):
        return "a loop retrain is still queued or running"
    if recent and now - max(r.create_timestamp for r in recent) < timedelta(minutes=cooldown_minutes):
        return f"cool-down: the last loop retrain started under {cooldown_minutes:g} min ago"
    return None


def trigger_tags(pending: Pending) -> dict[str, str]:
    columns = sorted({c for cols in pending.drifted.values() for c in cols})
    tags = {TRIGGER_TAG: pending.reason or "bootstrap",
            "ml_platform/batches": ",".join(sorted(pending.drifted)),
            "ml_platform/drifted_columns": ",".join(columns),
            "ml_platform/performance": json.dumps(pending.decayed[-1]) if pending.decayed else ""}
    return {k: v[:1000] for k, v in tags.items() if v}
