"""The served model's real accuracy, once the true labels of its predictions arrive (`labels.py`).

`store_window` reads the newest window from the prediction store (`prediction_store.py`), never the raw
log history; `labelled_predictions` joins the raw log as it is, the reference the store is tested against.

The champion is judged on every record: a canary record answered by the challenger counts with the
champion's answer logged beside it (`canary.champion_view`), so a canary neither flatters nor blames it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml_platform.lib.canary import champion_view
from ml_platform.lib.inference_log import all_closed_files, as_frame, read_records
from ml_platform.lib.labels import Labels
from ml_platform.lib.prediction_store import PredictionStore, read_frame


def labelled_predictions(log_dir: Path, labels: Labels, feature_names: list[str]) -> tuple[pd.DataFrame, int]:
    """The closed inference log (consumed or not) joined to the labels on `record_id`, oldest first,
    and how many labels name a record no closed log file holds (unknown, or still in an open file)."""
    logged = (champion_view(record) for path in all_closed_files(log_dir) for record in read_records(path))
    records = [record for record in logged if record is not None]
    log = as_frame(records, feature_names)
    joined = log.merge(labels.frame, on="record_id", how="inner")
    unknown = int((~labels.frame["record_id"].isin(log["record_id"])).sum())
    return joined.sort_values("timestamp", kind="stable").reset_index(drop=True), unknown


def window_metrics(joined: pd.DataFrame, window_rows: int) -> dict:
    """Accuracy and F1 over the newest `window_rows` labelled predictions of the newest model version.

    Only the newest version counts: a retrained model must not be judged by its predecessor's errors.
    """
    from sklearn.metrics import accuracy_score, f1_score

    if joined.empty:
        return {"model_version": None, "labelled": 0}
    version = str(joined["model_version"].iloc[-1])
    window = joined[joined["model_version"].astype(str) == version].tail(window_rows)
    truth, predicted = window["label"].astype(str), window["prediction"].astype(str)
    return {
        "model_version": version,
        "labelled": len(window),
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_macro": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(truth, predicted, average="weighted", zero_division=0)),
        "first_timestamp": str(window["timestamp"].iloc[0]),
        "last_timestamp": str(window["timestamp"].iloc[-1]),
    }


def champion_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Store rows as the champion answered them (`champion_view` on the store's columns): a canary row's
    shadow answer put in front, and dropped when the champion's answer is missing."""
    canary = frame["answered_by"] == "challenger"
    frame = frame[~canary | frame["shadow_prediction"].notna()].copy()
    swap = frame["answered_by"] == "challenger"
    frame.loc[swap, "model_version"] = frame.loc[swap, "shadow_version"]
    frame.loc[swap, "prediction"] = frame.loc[swap, "shadow_prediction"]
    return frame


def store_window(store: PredictionStore, window_rows: int) -> tuple[pd.DataFrame, int]:
    """The newest `window_rows` labelled predictions of the newest version, oldest first, read from the
    store's hour partitions newest-first and no further than the window needs (an hour holds only
    records older than every hour after it); and how many files were read."""
    version, parts, count, opened = None, [], 0, 0
    for files in store.files_in_hours(newest_first=True):
        frames = []
        for path in files:
            try:
                frames.append(read_frame(path))
            except FileNotFoundError:  # removed by retention after the listing
                continue
        opened += len(frames)
        if not frames:
            continue
        hour = pd.concat(frames, ignore_index=True)
        labelled = champion_rows(hour[hour["label"].notna()]).drop_duplicates("record_id")
        if labelled.empty:
            continue
        if version is None:
            version = str(labelled.sort_values("timestamp", kind="stable")["model_version"].iloc[-1])
        mine = labelled[labelled["model_version"].astype(str) == version]
        parts.append(mine)
        count += len(mine)
        if count >= window_rows:
            break
    if not parts:
        return pd.DataFrame(columns=["timestamp", "model_version", "prediction", "label"]), opened
    joined = pd.concat(parts[::-1], ignore_index=True).sort_values("timestamp", kind="stable")
    return joined.tail(window_rows).reset_index(drop=True), opened
