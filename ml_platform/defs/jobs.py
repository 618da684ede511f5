"""The units of work: take in a batch, watch a batch, track the served model, and retrain-through-serving."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from ml_platform.defs.policy import frequent_tags, retrain_tags
from ml_platform.model_scope import ModelScope

Job = Any  # what `dg.define_asset_job` returns, a job resolved when the code location loads
INGEST = ("raw_data", "validated_data", "rejected_rows", "features")


@dataclass(frozen=True)
class ModelJobs:
    """One model's jobs, built once and handed to the sensors and the schedule that request them."""

    ingest_batch: Job
    monitor_batch: Job
    process_batch: Job
    track_performance: Job
    retrain: Job

    @classmethod
    def build(cls, model: ModelScope) -> ModelJobs:
        batches, ingest, drift = model.batches, model.selection(*INGEST), model.selection("drift_report")
        return cls(
            ingest_batch=dg.define_asset_job(
                model.named("ingest_batch"), selection=ingest, partitions_def=batches, tags=model.tags,
                description="Read a landed batch, validate it, quarantine its bad rows and compute its features."),
            monitor_batch=dg.define_asset_job(
                model.named("monitor_batch"), selection=drift, partitions_def=batches, tags=model.tags,
                description="Compare a validated batch with the training reference."),
            process_batch=dg.define_asset_job(
                model.named("process_batch"), selection=ingest | drift, partitions_def=batches, tags=model.tags,
                description="Ingest a batch and check it for drift in one run; a failed quality gate stops the "
                            "drift check."),
            track_performance=dg.define_asset_job(
                model.named("track_performance"), selection=model.selection("live_performance"),
                description="Join newly arrived labels to the inference log and score the served model.",
                tags=frequent_tags(model)),  # one at a time in its lane, behind a waiting retrain (defs/policy.py)
            retrain=dg.define_asset_job(
                model.named("retrain"), selection=model.selection("training_set").downstream() - drift,
                description="Training set -> candidate -> evaluation -> promotion -> Bento, and the new drift "
                            "reference.",
                tags=retrain_tags(model)),  # dequeued before the loop's frequent jobs
        )

    def all(self) -> list[Job]:
        return [self.ingest_batch, self.monitor_batch, self.process_batch, self.track_performance, self.retrain]
