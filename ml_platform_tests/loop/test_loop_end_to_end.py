"""The loop for real: land a drifted batch, let the sensors decide, run what they ask, serve a new champion."""

import dagster as dg

from ml_platform.lib import model_store
from ml_platform.lib.landing import land_generated
from ml_platform.simulate import land_drifted_batch

SENSORS = ["new_data_sensor", "inference_log_sensor", "labels_sensor", "retrain_sensor"]


def latest(instance, asset, partition=None):
    records = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None), limit=1).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else None


def test_a_drifted_batch_is_retrained_on_and_the_new_champion_is_staged_for_serving(make_loop_platform, ticker_for):
    platform = make_loop_platform(policy={"cooldown_minutes": 0})
    instance, spec, ticker = platform.instance, platform.spec, ticker_for(platform)
    for index in (1, 2):
        land_generated(spec, platform.landing, index)
    assert {r.job_name for r in ticker.tick("new_data_sensor")} == {"ingest_batch"}
    bootstrap = ticker.tick("retrain_sensor")
    assert [r.tags["ml_platform/trigger"] for r in bootstrap] == ["bootstrap"]
    assert platform.registry.champion_version() == "1"

    normal = land_generated(spec, platform.landing, 3)
    assert [(r.partition_key, r.job_name) for r in ticker.tick("new_data_sensor")] == [(normal.name, "process_batch")]
    assert latest(instance, "drift_report", normal.name)["decision"] == "no drift"
    assert ticker.tick("retrain_sensor") == []

    drifted = land_drifted_batch(spec, platform.landing, rows=2400)
    assert [r.partition_key for r in ticker.tick("new_data_sensor")] == [drifted.name]
    report = latest(instance, "drift_report", drifted.name)
    assert report["decision"] == "drift" and {"income", "spending_score"} <= set(report["drifted_columns"])
    [retrain] = ticker.tick("retrain_sensor")
    assert retrain.tags["ml_platform/trigger"] == "drift" and retrain.tags["ml_platform/batches"] == drifted.name
    assert "income" in retrain.tags["ml_platform/drifted_columns"]

    run = instance.get_run_records(dg.RunsFilter(tags={"dagster/run_key": retrain.run_key}))[0].dagster_run
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert platform.registry.champion_version() == "2"
    promoted = latest(instance, "promoted_model")
    assert promoted["promoted"] and promoted["bento_model_tag"] == model_store.tag_for(spec.name, "2")
    stored = model_store.find(platform.bentoml_home, promoted["bento_model_tag"])
    assert stored.info.labels["mlflow_version"] == "2"
    assert latest(instance, "bento")["model_tag"] == promoted["bento_model_tag"]
    assert latest(instance, "reference_profile")["champion_version"] == "2"

    runs_before = len(instance.get_run_records())
    assert [ticker.tick(name) for name in SENSORS] == [[], [], [], []]
    assert len(instance.get_run_records()) == runs_before
