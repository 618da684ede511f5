"""The new-data sensor: one run per new content, partitions added, copies and restarts recognised."""

import shutil

import dagster as dg

from ml_platform.lib.generator import Knobs
from ml_platform.lib.landing import file_sha256, land_generated


def test_each_new_file_is_ingested_once_and_a_renamed_copy_is_skipped(make_loop_platform, ticker_for):
    platform = make_loop_platform()
    ticker = ticker_for(platform)
    first = land_generated(platform.spec, platform.landing, 1, rows=300)
    second = land_generated(platform.spec, platform.landing, 2, rows=300)

    requests = ticker.tick("new_data_sensor")
    assert [(r.partition_key, r.run_key, r.job_name) for r in requests] == [
        (first.name, file_sha256(first), "ingest_batch"), (second.name, file_sha256(second), "ingest_batch")]
    assert sorted(platform.instance.get_dynamic_partitions("batches")) == [first.name, second.name]
    runs = platform.instance.get_run_records()
    assert len(runs) == 2 and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)

    assert ticker.tick("new_data_sensor") == []
    assert "no new content" in ticker.evaluate("new_data_sensor").skip_message

    shutil.copy(first, platform.landing / "batch-00009.csv")
    assert ticker.tick("new_data_sensor") == []
    assert "batch-00009.csv" not in platform.instance.get_dynamic_partitions("batches")

    ticker.cursors.clear()  # a reset sensor still knows the content from the runs' tags
    assert ticker.tick("new_data_sensor") == []

    third = land_generated(platform.spec, platform.landing, 3, Knobs(corrupt_share=0.0), rows=300)
    assert [r.partition_key for r in ticker.tick("new_data_sensor", execute=False)] == [third.name]
    assert len(platform.instance.get_run_records()) == 2


def test_batches_already_ingested_by_make_run_are_not_requested_again(make_loop_platform, ticker_for):
    platform = make_loop_platform()
    path = land_generated(platform.spec, platform.landing, 1, rows=300)
    assert platform.ingest(path.name).success
    assert ticker_for(platform).tick("new_data_sensor") == []
