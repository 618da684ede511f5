"""The training window chosen from the instance's records, before a single row is read.

Row counts come from the materialization metadata of `features` (valid rows) and `rejected_rows`,
fetched only for the newest partitions, a page at a time, newest first: a retrain's cost depends on
its window, not on how many batches ever landed. Pages go further back only while batches are
excluded and the window is not yet full.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from ml_platform.lib.spec import DatasetSpec
from ml_platform.lib.training_set import Window, choose_window
from ml_platform.model_scope import ModelScope

ROW_COUNT = "dagster/row_count"


def newest_keys(instance: dg.DagsterInstance, model: ModelScope, page: int) -> Iterator[list[str]]:
    """The batch keys, newest landed first, `page` at a time (Dagster keeps them in insertion order)."""
    cursor = None
    while True:
        result = instance.get_paginated_dynamic_partitions(model.batches.name, limit=page, ascending=False, cursor=cursor)
        if result.results:
            yield list(result.results)
        if not result.has_more or not result.results:
            return
        cursor = result.cursor


def row_counts(instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: list[str]) -> dict[str, int]:
    """Rows of the newest materialization of each of `keys` that has one (one query for ids, one for records)."""
    ids = instance.get_latest_storage_id_by_partition(asset_key, dg.DagsterEventType.ASSET_MATERIALIZATION, set(keys))
    if not ids:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, storage_ids=list(ids.values())), limit=len(ids)).records
    return {r.asset_materialization.partition: int(r.asset_materialization.metadata[ROW_COUNT].value)
            for r in records}


def window_from_records(instance: dg.DagsterInstance, model: ModelScope, spec: DatasetSpec) -> Window:
    """The window `choose_window` picks, from the counts of the newest pages of batches only."""
    valid, rejected, order = {}, {}, []
    window = choose_window(valid, rejected, spec, order)
    for keys in newest_keys(instance, model, page=max(spec.training.window_batches, 20)):
        order = [*reversed(keys), *order]
        valid.update(row_counts(instance, model.key("features"), keys))
        rejected.update(row_counts(instance, model.key("rejected_rows"), keys))
        window = choose_window(valid, rejected, spec, order)
        if window.full:
            break
    return window
