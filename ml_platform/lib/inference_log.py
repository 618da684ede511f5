"""The inference log: the contract between the service (writer) and the closed loop (reader).

Layout: a folder of JSON Lines files. The service appends to `<stem>.jsonl.part`; rotating a file
renames it to `<stem>.jsonl` (an atomic rename), and only closed `.jsonl` files are ever read, so a
reader never sees half a file. Each line is one prediction:

    {"request_id": str, "timestamp": ISO-8601 UTC, "model_version": str,
     "inputs": {feature: value, ...}, "prediction": str, "probabilities": {class: float, ...}}

Stems sort by time (`inference-<UTC yyyymmddThhmmss.ffffff>-<pid>`), so files are read in order.

Fields a reader may ignore, added by the service (`ml_platform.lib.inference_log_writer` writes):
`"data_version": str` of the model that answered, and, in shadow mode only,
`"shadow": {"model_version": str, "prediction": str, "probabilities": {class: float, ...}}`, the
challenger's answer to the same inputs. A request with several records gives one line per record,
all with the same request_id.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

OPEN_SUFFIX = ".jsonl.part"
CLOSED_SUFFIX = ".jsonl"
FIELDS = ["request_id", "timestamp", "model_version", "inputs", "prediction", "probabilities"]


def new_stem() -> str:
    return f"inference-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S.%f')}-{os.getpid()}"


def closed_files(log_dir: Path) -> list[Path]:
    return sorted(Path(log_dir).glob(f"*{CLOSED_SUFFIX}")) if Path(log_dir).exists() else []


def read_records(path: Path) -> list[dict[str, Any]]:
    with Path(path).open() as f:
        return [json.loads(line) for line in f if line.strip()]


def as_frame(records: list[dict[str, Any]], feature_names: list[str]) -> pd.DataFrame:
    """Flatten records into one row per prediction: the features, then the log's own columns."""
    rows = [{**{n: r["inputs"].get(n) for n in feature_names}, "request_id": r["request_id"],
             "timestamp": r["timestamp"], "model_version": r["model_version"], "prediction": r["prediction"]}
            for r in records]
    return pd.DataFrame(rows, columns=[*feature_names, "request_id", "timestamp", "model_version", "prediction"])
