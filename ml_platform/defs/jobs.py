"""The units of work: take in a batch, watch a batch, track the served model, and retrain-through-serving."""

import dagster as dg

from ml_platform.defs.partitions import batches
from ml_platform.defs.policy import FREQUENT_TAGS, RETRAIN_TAGS

INGEST = dg.AssetSelection.assets("raw_data", "validated_data", "rejected_rows", "features")

ingest_batch = dg.define_asset_job(
    "ingest_batch",
    selection=INGEST,
    partitions_def=batches,
    description="Read a landed batch, validate it, quarantine its bad rows and compute its features.",
)

monitor_batch = dg.define_asset_job(
    "monitor_batch",
    selection=dg.AssetSelection.assets("drift_report"),
    partitions_def=batches,
    description="Compare a validated batch with the training reference.",
)

process_batch = dg.define_asset_job(
    "process_batch",
    selection=INGEST | dg.AssetSelection.assets("drift_report"),
    partitions_def=batches,
    description="Ingest a batch and check it for drift in one run; a failed quality gate stops the drift check.",
)

track_performance = dg.define_asset_job(
    "track_performance",
    selection=dg.AssetSelection.assets("live_performance"),
    description="Join newly arrived labels to the inference log and score the served model.",
    tags=FREQUENT_TAGS,  # one at a time in the run queue, behind a waiting retrain (defs/policy.py)
)

retrain = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.assets("training_set").downstream()
    - dg.AssetSelection.assets("drift_report"),
    description="Training set -> candidate -> evaluation -> promotion -> Bento, and the new drift reference.",
    tags=RETRAIN_TAGS,  # dequeued before the loop's frequent jobs
)
