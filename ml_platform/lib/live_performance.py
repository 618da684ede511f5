"""The served model's real accuracy, once the true labels of its predictions arrive (`labels.py`).

`live_window.store_window` reads the newest window from the prediction store (`prediction_store.py`),
never the raw log history; `labelled_predictions` joins the raw log as it is, the reference the store is
tested against.

The champion is judged on every record: a canary record answered by the challenger counts with the
champion's answer logged beside it (`canary.champion_view`), so a canary neither flatters nor blames it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml_platform.lib.canary import champion_view
from ml_platform.lib.inference_log import all_closed_files, as_frame, read_records
from ml_platform.lib.labels import Labels


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
