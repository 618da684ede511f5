"""Closed inference-log files become landed batches once their labels are in (or the wait is over).

A landed batch must carry the target, so only records whose label arrived are landed (with their
`record_id`, so each row traces back to the answer it was); the rest are counted. Files are taken in
any order: each consumed file is moved into `consumed/`, so a file that closes late (another replica,
another worker, a recovered leftover) is still read, and a file is never landed twice: its batch name
is derived from its own name, and an existing batch is not rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml_platform.lib.inference_log import CLOSED_SUFFIX, CONSUMED_DIR, as_frame, closed_files, read_records
from ml_platform.lib.labels import Labels
from ml_platform.lib.spec import DatasetSpec

PREFIX = "inference-"
UNREADABLE_DIR = "unreadable"


@dataclass(frozen=True)
class Consumed:
    source: Path
    landed: Path | None
    predictions: int
    labelled: int
    error: str | None = None


def batch_name(log_file: Path) -> str:
    stem = log_file.name.removesuffix(CLOSED_SUFFIX).removeprefix(PREFIX)
    return f"{PREFIX}{stem}.csv"


def consume(log_dir: Path, labels: Labels, spec: DatasetSpec, landing_dir: Path, wait_seconds: float,
            now: float) -> list[Consumed]:
    """Land every closed file whose records are all labelled or whose wait is over; leave the others."""
    label_of, consumed = labels.by_record, []
    for path in closed_files(log_dir):
        try:
            frame = as_frame(read_records(path), spec.feature_names)
        except ValueError as exc:  # a damaged file is set aside with its reason, never retried forever
            consumed.append(Consumed(_move(path, UNREADABLE_DIR), None, 0, 0, str(exc)))
            continue
        frame[spec.target.name] = frame["record_id"].map(label_of)
        labelled = frame[frame[spec.target.name].notna()]
        if len(labelled) < len(frame) and now - path.stat().st_mtime < wait_seconds:
            continue
        landed = landing_dir / batch_name(path) if len(labelled) else None
        if landed is not None and not landed.exists():  # exists: landed before a crash, before the move
            landing_dir.mkdir(parents=True, exist_ok=True)
            tmp = landed.with_suffix(".tmp")
            labelled[[*spec.feature_names, spec.target.name, "record_id"]].to_csv(tmp, index=False)
            tmp.rename(landed)
        consumed.append(Consumed(_move(path, CONSUMED_DIR), landed, len(frame), len(labelled)))
    return consumed


def _move(path: Path, folder: str) -> Path:
    target = path.parent / folder / path.name
    target.parent.mkdir(exist_ok=True)
    path.rename(target)
    return target
