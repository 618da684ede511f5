"""A batch key added by hand is a file name, never a path: a hostile key is refused before any read or write."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ml_platform.io_managers import ParquetIOManager
from ml_platform.lib.generator import Knobs, customer_segmentation
from ml_platform.lib.landing import batch_path, check_batch_key
from ml_platform.lib.validation import BatchError

HOSTILE = ["../../etc/passwd", "../../../outside.csv", "a/b.csv", "..", "a\\b.csv", ".hidden.csv", "",
           "nul\0.csv", "x" * 256]


@pytest.mark.parametrize("key", HOSTILE)
def test_a_key_that_is_not_a_plain_file_name_is_refused_by_name(key, tmp_path):
    with pytest.raises(BatchError, match="is not a plain file name") as refused:
        batch_path(tmp_path, key, ".html")
    assert repr(key) in str(refused.value)


@pytest.mark.parametrize("key", ["batch-00001.csv", "inference-2026-01-01T00:00:00.csv", "a..b.csv", "é" * 127])
def test_plain_file_names_are_kept_as_they_are(key, tmp_path):
    assert check_batch_key(key) == key and batch_path(tmp_path, key).parent == tmp_path


def files_outside(root: Path, *inside: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and not any(p.is_relative_to(i) for i in inside)}


def failure_messages(result: dg.ExecuteInProcessResult) -> str:
    errors = [e.step_failure_data.error for e in result.all_events if e.is_step_failure]
    return " ".join(str(error.cause or error) for error in errors)


@pytest.mark.parametrize("key", ["../../etc/passwd", "../../../outside.csv", "a/b.csv", ".."])
def test_ingesting_a_hostile_partition_fails_clearly_and_writes_nothing(key, make_platform, tmp_path):
    platform = make_platform()
    bait = customer_segmentation(100, 1, Knobs())  # what the key would read, were it used as a path
    target = (platform.landing / key).resolve()
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        bait.to_csv(target, index=False)
    before = files_outside(tmp_path, platform.root / "dagster_home")

    result = platform.ingest(key, raise_on_error=False)

    assert not result.success
    assert f"batch key {key!r} is not a plain file name" in failure_messages(result)
    assert files_outside(tmp_path, platform.root / "dagster_home") == before


def test_the_io_manager_refuses_a_hostile_key_before_writing(tmp_path):
    batches = dg.DynamicPartitionsDefinition(name="batches")

    @dg.asset(partitions_def=batches, io_manager_key="parquet_io_manager")
    def table() -> pd.DataFrame:
        return pd.DataFrame({"x": [1]})

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("batches", ["../../escaped"])
        result = dg.materialize([table], partition_key="../../escaped", instance=instance, raise_on_error=False,
                                resources={"parquet_io_manager": ParquetIOManager(base_dir=str(tmp_path / "data"))})
    assert "batch key '../../escaped' is not a plain file name" in failure_messages(result)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_training_skips_a_hostile_partition_as_a_batch_never_stored(make_platform):
    platform = make_platform()
    platform.landing.mkdir(parents=True, exist_ok=True)
    customer_segmentation(200, 3, Knobs()).to_csv(platform.landing / "good.csv", index=False)
    assert platform.ingest("good.csv").success
    platform.instance.add_dynamic_partitions("batches", ["../../etc/passwd", "a/b.csv"])

    training_set = platform.defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey("training_set")})
    result = training_set.execute_in_process(instance=platform.instance)

    assert result.asset_materializations_for_node("training_set")[0].metadata["batches"].value == ["good.csv"]
