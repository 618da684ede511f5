"""The served model's real accuracy, once the true labels of its predictions arrive.

Label files are CSVs with the columns `request_id,label`, written whole (temporary name, then rename)
into the labels folder, in any order and any time after the prediction.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml_platform.lib.inference_log import as_frame, closed_files, read_records

LABEL_COLUMNS = ["request_id", "label"]


def label_files(labels_dir: Path) -> list[Path]:
    return sorted(Path(labels_dir).glob("*.csv")) if Path(labels_dir).exists() else []


def read_labels(labels_dir: Path) -> pd.DataFrame:
    """Every label received so far; a later file wins for a request labelled twice."""
    frames = [pd.read_csv(path, dtype=str, usecols=LABEL_COLUMNS) for path in label_files(labels_dir)]
    if not frames:
        return pd.DataFrame(columns=LABEL_COLUMNS)
    return pd.concat(frames, ignore_index=True).drop_duplicates("request_id", keep="last")


def labelled_predictions(log_dir: Path, labels_dir: Path, feature_names: list[str]) -> pd.DataFrame:
    """The closed inference log joined to the labels: one row per labelled prediction, oldest first."""
    records = [record for path in closed_files(log_dir) for record in read_records(path)]
    log = as_frame(records, feature_names)
    joined = log.merge(read_labels(labels_dir), on="request_id", how="inner")
    return joined.sort_values("timestamp", kind="stable").reset_index(drop=True)


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
