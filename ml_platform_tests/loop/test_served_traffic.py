"""The service's traffic comes back: logged records become batches, late labels score the served model."""

import json
import os
import time

import dagster as dg
import pandas as pd

from ml_platform.lib.generator import customer_segmentation
from ml_platform.lib.inference_log import CONSUMED_DIR
from ml_platform.lib.served_batches import seal, staged

FIRST, SECOND = "inference-20260101T001000.000000-7-1-aa-pod-b", "inference-20260101T000000.000000-9-1-bb-pod-a"


def write_log(folder, stem, frame, prediction, request_id="same-id"):
    """One closed log file; every record of it carries the same caller request id, as clients send."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"record_id": f"{stem}-{i}", "request_id": request_id,
                         "timestamp": f"2026-01-01T00:00:{i % 60:02d}+00:00", "model_version": "1",
                         "inputs": row.drop("segment").to_dict(), "prediction": prediction, "probabilities": {}})
             for i, row in frame.iterrows()]
    (folder / f"{stem}.jsonl").write_text("\n".join(lines) + "\n")


def staged_rows(platform, stem) -> pd.DataFrame | None:
    """What a consumed log file staged for its window's batch (None: nothing staged)."""
    path = staged(platform.landing).get(f"{stem}.csv")
    return pd.read_csv(path) if path else None


def write_labels(folder, name, stem, frame):
    folder.mkdir(parents=True, exist_ok=True)
    labels = pd.DataFrame({"record_id": [f"{stem}-{i}" for i in frame.index], "label": frame["segment"]})
    labels.to_csv(folder / name, index=False)


def test_labelled_traffic_is_landed_scored_and_a_drop_triggers_retraining(make_loop_platform, ticker_for):
    platform = make_loop_platform()
    ticker = ticker_for(platform)
    log_dir, labels_dir = platform.storage / "inference_log", platform.storage / "labels"
    traffic = customer_segmentation(200, seed=3)
    write_log(log_dir, FIRST, traffic, prediction="budget")  # a model that always says "budget"
    write_labels(labels_dir, "labels-1.csv", FIRST, traffic)
    write_log(log_dir, SECOND, traffic.head(50), prediction="budget")  # sorts first; its labels are late

    ticker.tick("inference_log_sensor")
    landed = staged_rows(platform, FIRST)
    assert len(landed) == 200 and landed["segment"].tolist() == traffic["segment"].tolist()
    assert landed["record_id"].tolist() == [f"{FIRST}-{i}" for i in range(200)], "each row its own label"
    assert staged_rows(platform, SECOND) is None
    assert sorted(p.name for p in (log_dir / CONSUMED_DIR).iterdir()) == [f"{FIRST}.jsonl"]
    assert ticker.tick("new_data_sensor", execute=False) == [], "a window is one batch once it is over"
    [window] = seal(platform.landing, set(), time.time() + 2 * 3600, minutes=60)  # the first tick after the hour
    assert (window.files, window.rows) == (1, 200) and pd.read_csv(window.landed).equals(landed)
    assert [r.partition_key for r in ticker.tick("new_data_sensor", execute=False)] == [window.landed.name]

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
    ticker.cursors.clear()  # the folder, not a cursor, says what was consumed
    ticker.tick("inference_log_sensor")
    assert len(staged_rows(platform, SECOND)) == 50, "a file that sorts earlier is not skipped"
    assert staged_rows(platform, FIRST) is None, "sealed before, never staged again"
    assert not list(log_dir.glob("*.jsonl"))


def test_unknown_repeated_conflicting_and_unreadable_labels_are_counted(make_loop_platform, ticker_for):
    platform = make_loop_platform()
    log_dir, labels_dir = platform.storage / "inference_log", platform.storage / "labels"
    traffic = customer_segmentation(120, seed=4)
    write_log(log_dir, FIRST, traffic, prediction="budget")
    write_labels(labels_dir, "a.csv", FIRST, traffic)
    repeated = pd.DataFrame({"record_id": [f"{FIRST}-0", f"{FIRST}-1", "no-such-record"],
                             "label": [traffic["segment"][0], "not-" + traffic["segment"][1], "budget"]})
    repeated.to_csv(labels_dir / "b.csv", index=False)
    pd.DataFrame({"request_id": ["x"], "label": ["budget"]}).to_csv(labels_dir / "c.csv", index=False)
    ticker_for(platform).tick("labels_sensor")
    performance = platform.instance.get_latest_materialization_event(
        dg.AssetKey("live_performance")).asset_materialization.metadata
    assert performance["labelled_total"].value == 120
    assert (performance["duplicate_labels"].value, performance["conflicting_labels"].value) == (1, 1)
    assert performance["unknown_labels"].value == 1
    assert "missing column(s) ['record_id']" in performance["unreadable_label_files"].value["c.csv"]


def test_a_file_waits_for_its_labels_then_lands_what_is_labelled_and_a_crash_never_lands_it_twice(
        make_loop_platform, ticker_for):
    platform = make_loop_platform()
    ticker = ticker_for(platform)
    log_dir, labels_dir = platform.storage / "inference_log", platform.storage / "labels"
    traffic = customer_segmentation(40, seed=5)
    write_log(log_dir, FIRST, traffic, prediction="budget")
    write_labels(labels_dir, "half.csv", FIRST, traffic.head(20))
    ticker.tick("inference_log_sensor")
    assert staged_rows(platform, FIRST) is None, "waits up to label_wait_minutes"

    hour_ago = time.time() - 3601
    os.utime(log_dir / f"{FIRST}.jsonl", (hour_ago, hour_ago))
    ticker.tick("inference_log_sensor")
    assert len(staged_rows(platform, FIRST)) == 20

    (log_dir / CONSUMED_DIR / f"{FIRST}.jsonl").rename(log_dir / f"{FIRST}.jsonl")  # as if the move was lost
    assert seal(platform.landing, {f"{FIRST}.csv"}, time.time() + 2 * 3600, minutes=60) == [], \
        "no window is sealed while one of its log files waits to be moved"
    write_labels(labels_dir, "rest.csv", FIRST, traffic)
    ticker.tick("inference_log_sensor")
    assert len(staged_rows(platform, FIRST)) == 20, "a staged file is found, never staged again"
    assert len(staged(platform.landing)) == 1 and not list(log_dir.glob("*.jsonl"))
    [window] = seal(platform.landing, set(), time.time() + 2 * 3600, minutes=60)
    assert window.rows == 20 and staged(platform.landing) == {}


def test_a_damaged_log_file_is_set_aside_with_its_reason(make_loop_platform, ticker_for):
    platform = make_loop_platform()
    log_dir = platform.storage / "inference_log"
    log_dir.mkdir(parents=True)
    (log_dir / f"{FIRST}.jsonl").write_text('{"record_id": "a"}\nnot json\n')
    ticker_for(platform).tick("inference_log_sensor")
    assert (log_dir / "unreadable" / f"{FIRST}.jsonl").exists()
    assert staged(platform.landing) == {}
