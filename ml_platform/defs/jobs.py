"""The three units of work: take in a batch, watch a batch, and retrain-through-serving."""

import dagster as dg

from ml_platform.defs.partitions import batches

ingest_batch = dg.define_asset_job(
    "ingest_batch",
    selection=dg.AssetSelection.assets("raw_data", "validated_data", "rejected_rows"),
    partitions_def=batches,
    description="Read a landed batch, validate it and quarantine its bad rows.",
)

monitor_batch = dg.define_asset_job(
    "monitor_batch",
    selection=dg.AssetSelection.assets("drift_report"),
    partitions_def=batches,
    description="Compare a validated batch with the training reference.",
)

retrain = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.assets("training_set").downstream()
    - dg.AssetSelection.assets("drift_report"),
    description="Training set -> candidate -> evaluation -> promotion -> Bento.",
)
