"""Batches as `ingest_batch` leaves them, in a fraction of a second each, and the files a step opens.

`land_processed` writes a batch's `features` file through the real IO manager and records the
materializations of `features` and `rejected_rows` with their row counts, as ingestion does, so tests
can land tens of batches. A Python audit hook sees every file the process opens: `materialize_training_set`
returns the paths the real step read.
"""

from __future__ import annotations

import sys

import dagster as dg

from ml_platform.lib.features import add_features
from ml_platform.lib.generator import Knobs, customer_segmentation

OPENED: list[str] | None = None  # set to a list while a test records


def _record_opens(event: str, args: tuple) -> None:
    if OPENED is not None and event == "open" and isinstance(args[0], str):
        OPENED.append(args[0])


sys.addaudithook(_record_opens)


def land_processed(platform, key: str, rows: int, seed: int, rejected: int = 0) -> None:
    """A batch as `ingest_batch` leaves it: its features file (plus a column no model reads) and the counts."""
    platform.instance.add_dynamic_partitions("batches", [key])
    frame = add_features(platform.spec, customer_segmentation(rows, seed, Knobs(corrupt_share=0.0))).assign(note="x")
    io_manager = platform.resources["parquet_io_manager"].create_io_manager(None)
    io_manager.handle_output(dg.build_output_context(asset_key=dg.AssetKey("features"), partition_key=key), frame)
    for asset, count in (("features", len(frame)), ("rejected_rows", rejected)):
        platform.instance.report_runless_asset_event(dg.AssetMaterialization(
            asset, partition=key, metadata={"dagster/row_count": count}))


def materialize_training_set(platform) -> tuple[dict, list[str]]:
    global OPENED
    job = platform.defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={dg.AssetKey("training_set")})
    OPENED = []
    try:
        result = job.execute_in_process(instance=platform.instance)
        opened = list(OPENED)
    finally:
        OPENED = None
    metadata = {k: v.value for k, v in result.asset_materializations_for_node("training_set")[0].metadata.items()}
    return metadata, opened


def read_under(opened: list[str], asset: str) -> list[str]:
    return sorted({path.rsplit("/", 1)[-1] for path in opened if f"/assets/{asset}/" in path})
