"""Closed inference-log files become landed batches once their labels are in (or the wait is over).

A landed batch must carry the target, so only predictions whose true label arrived are landed; the
rest are counted and dropped. Files are rotated strictly in order, so the cursor is one file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml_platform.lib.inference_log import CLOSED_SUFFIX, as_frame, closed_files, read_records
from ml_platform.lib.spec import DatasetSpec

PREFIX = "inference-"


@dataclass(frozen=True)
class Rotation:
    source: Path
    landed: Path | None
    predictions: int
    labelled: int


def batch_name(log_file: Path) -> str:
    stem = log_file.name.removesuffix(CLOSED_SUFFIX).removeprefix(PREFIX)
    return f"{PREFIX}{stem}.csv"


def waiting(log_dir: Path, after: str | None) -> list[Path]:
    """The closed log files not rotated yet (named after `after`), oldest first."""
    return [path for path in closed_files(log_dir) if after is None or path.name > after]


def rotate(files: list[Path], labels: pd.DataFrame, spec: DatasetSpec, landing_dir: Path, wait_seconds: float,
           now: float) -> list[Rotation]:
    """Land each of `files` that is ready, in order, stopping at the first that is not."""
    label_of = dict(zip(labels["request_id"], labels["label"]))
    rotations = []
    for path in files:
        frame = as_frame(read_records(path), spec.feature_names)
        frame[spec.target.name] = frame["request_id"].map(label_of)
        labelled = frame[frame[spec.target.name].notna()]
        waited = now - path.stat().st_mtime >= wait_seconds
        if len(labelled) < len(frame) and not waited:
            break
        landed = None
        if len(labelled):
            landing_dir.mkdir(parents=True, exist_ok=True)
            landed = landing_dir / batch_name(path)
            tmp = landed.with_suffix(".tmp")
            labelled[[*spec.feature_names, spec.target.name]].to_csv(tmp, index=False)
            tmp.rename(landed)
        rotations.append(Rotation(path, landed, len(frame), len(labelled)))
    return rotations
