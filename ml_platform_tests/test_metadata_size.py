"""Metadata does not grow with history: a materialization's stored metadata is the same size after 20
batches (or label files) as after 50.

The size is that of the serialized metadata, as the instance stores it in its event log. 20 and 50,
not 3 and 12: lists keep their newest 20 entries (with a count and a hash), so below 20 a list still
shows every entry, by design.
"""

from __future__ import annotations

import dagster as dg
from dagster_shared.serdes import serialize_value

from ml_platform_tests.conftest import write_spec
from ml_platform_tests.processed_batches import land_processed, materialize_training_set


def stored_size(instance: dg.DagsterInstance, asset: str) -> int:
    [record] = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
    return len(serialize_value(record.asset_materialization.metadata))


def test_training_set_metadata_is_the_same_size_after_20_or_50_batches(make_platform, tmp_path):
    sizes = {}
    for landed in (20, 50):
        platform = make_platform(write_spec(tmp_path / f"spec{landed}.yaml", source={"batches": 1, "rows_per_batch": 100},
                                            training={"window_batches": 2}), name=f"p{landed}")
        for i in range(landed):  # every third batch is mostly rejected, so exclusions are listed too
            land_processed(platform, f"batch-{i:05d}.csv", rows=40, seed=i, rejected=90 if i % 3 == 0 else 0)
        metadata, _ = materialize_training_set(platform)
        assert metadata["landing_order_count"] == 20 and len(metadata["landing_order"]) == 20
        sizes[landed] = stored_size(platform.instance, "training_set")
    assert abs(sizes[50] - sizes[20]) <= 8, sizes
    assert sizes[50] < 4_000, sizes


def test_live_performance_lists_the_newest_20_unreadable_label_files_and_counts_them_all(make_platform):
    sizes = {}
    for files in (20, 50):
        platform = make_platform(name=f"p{files}")
        labels = platform.resources["loop_storage"].labels_path
        labels.mkdir(parents=True, exist_ok=True)
        for i in range(files):
            (labels / f"labels-{i:05d}.csv").write_text("id,label\nx,luxury\n")  # no record_id column
        job = platform.defs.resolve_implicit_global_asset_job_def().get_subset(
            asset_selection={dg.AssetKey("live_performance")})
        metadata = job.execute_in_process(instance=platform.instance).asset_materializations_for_node(
            "live_performance")[0].metadata
        assert metadata["unreadable_label_files_count"].value == files
        assert len(metadata["unreadable_label_files"].value) == 20
        assert f"labels-{files - 1:05d}.csv" in metadata["unreadable_label_files"].value
        sizes[files] = stored_size(platform.instance, "live_performance")
    assert abs(sizes[50] - sizes[20]) <= 8, sizes
