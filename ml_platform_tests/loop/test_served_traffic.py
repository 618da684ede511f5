"""The service's traffic comes back: logged predictions become batches, late labels score the served model."""

import json

import dagster as dg
import pandas as pd

from ml_platform.lib.generator import customer_segmentation

FIRST, SECOND = "inference-20260101T000000.000000-1", "inference-20260101T001000.000000-1"


def write_log(folder, stem, frame, prediction):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"request_id": f"{stem}-{i}", "timestamp": f"2026-01-01T00:00:{i % 60:02d}+00:00",
                         "model_version": "1", "inputs": row.drop("segment").to_dict(),
                         "prediction": prediction, "probabilities": {}})
             for i, row in frame.iterrows()]
    (folder / f"{stem}.jsonl").write_text("\n".join(lines) + "\n")


def write_labels(folder, name, stem, frame):
    folder.mkdir(parents=True, exist_ok=True)
    labels = pd.DataFrame({"request_id": [f"{stem}-{i}" for i in frame.index], "label": frame["segment"]})
    labels.to_csv(folder / name, index=False)


def test_labelled_traffic_is_landed_scored_and_a_drop_triggers_retraining(make_loop_platform, ticker_for):
    platform = make_loop_platform()
    ticker = ticker_for(platform)
    log_dir, labels_dir = platform.root / "inference_log", platform.root / "labels"
    traffic = customer_segmentation(200, seed=3)
    write_log(log_dir, FIRST, traffic, prediction="budget")  # a model that always says "budget"
    write_labels(labels_dir, "labels-1.csv", FIRST, traffic)
    write_log(log_dir, SECOND, traffic.head(50), prediction="budget")  # its labels have not arrived yet

    ticker.tick("inference_log_sensor")
    landed = pd.read_csv(platform.landing / f"{FIRST}.csv")
    assert len(landed) == 200 and landed["segment"].tolist() == traffic["segment"].tolist()
    assert not (platform.landing / f"{SECOND}.csv").exists()
    assert json.loads(ticker.cursors["inference_log_sensor"]) == {"after": f"{FIRST}.jsonl"}
    assert [r.partition_key for r in ticker.tick("new_data_sensor", execute=False)] == [f"{FIRST}.csv"]

    [scoring] = ticker.tick("labels_sensor")
    assert scoring.tags["ml_platform/new_label_files"]
    performance = platform.instance.get_latest_materialization_event(
        dg.AssetKey("live_performance")).asset_materialization.metadata
    assert performance["labelled"].value == 200 and performance["below_threshold"].value is True
    assert performance["accuracy"].value == (traffic["segment"] == "budget").mean()
    assert ticker.tick("labels_sensor") == []

    [retrain] = ticker.tick("retrain_sensor", execute=False)
    assert retrain.tags["ml_platform/trigger"] == "performance"
    assert json.loads(retrain.tags["ml_platform/performance"])["metric"] == "f1_macro"

    write_labels(labels_dir, "labels-2.csv", SECOND, traffic.head(50))
    assert [r.run_key for r in ticker.tick("labels_sensor", execute=False)] != [scoring.run_key]
    ticker.tick("inference_log_sensor")
    assert len(pd.read_csv(platform.landing / f"{SECOND}.csv")) == 50
