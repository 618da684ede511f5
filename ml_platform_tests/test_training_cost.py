"""A retrain's cost follows its window, not the history: `training_set` reads the window's partitions only.

What was read is observed, not inferred: the assertions are on the files the real `features` IO
manager opened during the step (`processed_batches`), on batches landed as ingestion leaves them.
"""

from __future__ import annotations

import pandas as pd
import pytest

from ml_platform_tests.conftest import write_spec
from ml_platform_tests.processed_batches import land_processed, materialize_training_set, read_under


@pytest.mark.parametrize("landed", [3, 30])
def test_the_step_reads_exactly_the_window_however_many_batches_landed(make_platform, tmp_path, landed):
    platform = make_platform(write_spec(tmp_path / "spec.yaml", source={"batches": 1, "rows_per_batch": 100},
                                        training={"window_batches": 3}))
    keys = [f"batch-{i:05d}.csv" for i in range(landed)]
    for seed, key in enumerate(keys):
        land_processed(platform, key, rows=60, seed=seed)

    metadata, opened = materialize_training_set(platform)

    assert metadata["batches"] == keys[-3:]
    assert read_under(opened, "features") == [f"{key}.parquet" for key in keys[-3:]]
    assert read_under(opened, "rejected_rows") == []  # its counts come from the instance's records
    assert metadata["partitions_read"] == 3 and metadata["dagster/row_count"] == 180
    stored = pd.read_parquet(platform.storage / "assets" / "training_set.parquet")
    assert "note" not in stored.columns  # only the model's columns were read


def test_a_rejected_batch_is_passed_over_from_its_counts_without_reading_it(make_platform, tmp_path):
    platform = make_platform(write_spec(tmp_path / "spec.yaml", source={"batches": 1, "rows_per_batch": 100},
                                        training={"window_batches": 2}))
    land_processed(platform, "a.csv", rows=60, seed=1)
    land_processed(platform, "b.csv", rows=60, seed=2)
    land_processed(platform, "c.csv", rows=10, seed=3, rejected=50)  # 83% rejected, over the limit

    metadata, opened = materialize_training_set(platform)

    assert metadata["batches"] == ["a.csv", "b.csv"] and set(metadata["excluded_batches"]) == {"c.csv"}
    assert read_under(opened, "features") == ["a.csv.parquet", "b.csv.parquet"]


def test_the_row_budget_ends_the_window_at_a_batch_and_samples_a_single_batch_over_it(make_platform, tmp_path):
    platform = make_platform(write_spec(tmp_path / "spec.yaml", source={"batches": 1, "rows_per_batch": 100},
                                        training={"window_batches": 5, "window_rows": 150}))
    for seed, key in enumerate(["a.csv", "b.csv", "c.csv"]):
        land_processed(platform, key, rows=60, seed=seed)
    metadata, opened = materialize_training_set(platform)
    assert metadata["batches"] == ["b.csv", "c.csv"] and metadata["dagster/row_count"] == 120
    assert read_under(opened, "features") == ["b.csv.parquet", "c.csv.parquet"]

    land_processed(platform, "big.csv", rows=400, seed=9)
    first, _ = materialize_training_set(platform)
    again, _ = materialize_training_set(platform)
    assert first["batches"] == ["big.csv"] and first["dagster/row_count"] == 150 == first["sampled_to_rows"]
    assert first["data_version"] == again["data_version"]  # the sample is seeded


def test_above_the_sample_budget_every_batch_gives_its_share_stratified_by_the_target(make_platform, tmp_path):
    platform = make_platform(write_spec(tmp_path / "spec.yaml", source={"batches": 1, "rows_per_batch": 100},
                                        training={"window_batches": 5, "sample_rows": 150}))
    sizes = {"a.csv": 100, "b.csv": 200, "c.csv": 300}
    for seed, (key, rows) in enumerate(sizes.items()):
        land_processed(platform, key, rows=rows, seed=seed)
    metadata, opened = materialize_training_set(platform)
    again, _ = materialize_training_set(platform)

    assert metadata["batches"] == list(sizes) and metadata["window_rows"] == 600 and metadata["sample_rows"] == 150
    assert read_under(opened, "features") == [f"{key}.parquet" for key in sizes]  # each read once, then sampled
    stored = pd.read_parquet(platform.storage / "assets" / "training_set.parquet")
    per_batch = stored["batch"].value_counts()
    for key, rows in sizes.items():  # a quarter of each batch, within rounding per class
        assert abs(per_batch[key] - rows / 4) <= 4, per_batch
    full = pd.concat([pd.read_parquet(platform.storage / "assets" / "features" / f"{key}.parquet") for key in sizes])
    target = "segment"
    share_in_full = full[target].value_counts(normalize=True)
    share_in_sample = stored[target].value_counts(normalize=True)
    assert (share_in_sample - share_in_full).abs().max() < 0.03  # stratified: the classes keep their shares
    assert metadata["data_version"] == again["data_version"]  # seeded
