"""The training window holds the newest batches by landing time, whatever their names."""

import dagster as dg
import pytest

from ml_platform.lib.generator import Knobs, customer_segmentation
from ml_platform.lib.spec import SpecError, load_spec
from ml_platform.lib.training_set import choose_window
from ml_platform_tests.conftest import DEFAULT_SPEC, write_spec


def test_a_batch_landed_last_is_in_the_window_though_its_name_sorts_first(tmp_path):
    spec = load_spec(write_spec(tmp_path / "spec.yaml", DEFAULT_SPEC, training={"window_batches": 3}))
    served = [f"inference-{i:05d}.csv" for i in range(1, 21)]
    landing_order = ["batch-00001.csv", *served, "batch-00002.csv"]
    counts = {key: 100 for key in landing_order}

    window = choose_window(counts, {}, spec, landing_order)

    assert window.batches == ["inference-00019.csv", "inference-00020.csv", "batch-00002.csv"]
    assert window.landing_order == landing_order


def test_batches_over_the_rejection_limit_are_skipped_and_the_window_reaches_further_back(tmp_path):
    spec = load_spec(write_spec(tmp_path / "spec.yaml", DEFAULT_SPEC, training={"window_batches": 2}))
    landing_order = ["c.csv", "b.csv", "a.csv"]

    window = choose_window({"a.csv": 10, "b.csv": 100, "c.csv": 100}, {"a.csv": 90}, spec, landing_order)

    assert window.batches == ["c.csv", "b.csv"]
    assert set(window.excluded) == {"a.csv"}


def test_a_batch_unknown_to_the_landing_order_counts_as_the_oldest(tmp_path):
    spec = load_spec(write_spec(tmp_path / "spec.yaml", DEFAULT_SPEC, training={"window_batches": 1}))

    window = choose_window({"z.csv": 100, "a.csv": 100}, {}, spec, ["a.csv"])

    assert window.landing_order == ["z.csv", "a.csv"] and window.batches == ["a.csv"]


def test_the_training_set_takes_the_newest_batches_in_the_order_they_landed(make_platform, tmp_path):
    spec_path = write_spec(tmp_path / "spec.yaml", source={"batches": 1, "rows_per_batch": 200},
                           training={"window_batches": 2})
    platform = make_platform(spec_path)
    landed = ["inference-00001.csv", "inference-00002.csv", "batch-00003.csv"]  # name order is not landing order
    platform.landing.mkdir(parents=True, exist_ok=True)
    for seed, key in enumerate(landed):
        customer_segmentation(120, seed, Knobs()).to_csv(platform.landing / key, index=False)
        assert platform.ingest(key).success
    assert platform.instance.get_dynamic_partitions("batches") == landed

    training_set = platform.defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey("training_set")})
    result = training_set.execute_in_process(instance=platform.instance)

    metadata = result.asset_materializations_for_node("training_set")[0].metadata
    assert metadata["batches"].value == ["inference-00002.csv", "batch-00003.csv"]
    assert metadata["landing_order"].value == landed


def test_a_row_budget_too_small_to_split_fails_at_load_naming_the_field(tmp_path):
    with pytest.raises(SpecError, match=r"training\.window_rows: Input should be greater than or equal to 100"):
        load_spec(write_spec(tmp_path / "spec.yaml", DEFAULT_SPEC, training={"window_rows": 10}))
    assert load_spec(DEFAULT_SPEC).training.window_rows == 25_000_000
    assert load_spec(DEFAULT_SPEC).training.sample_rows == 500_000
