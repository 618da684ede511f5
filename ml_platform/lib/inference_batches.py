"""Closed inference-log files become landed batches once their labels are in (or the wait is over).

A landed batch must carry the target, so only records whose label arrived are landed (with their
`record_id`, so each row traces back to the answer it was); the rest are counted. Files are taken in
any order: each consumed file is moved into `consumed/`, so a file that closes late (another replica,
another worker, a recovered leftover) is still read, and a file is never landed twice: it is staged
under a name derived from its own (`served_batches`: one landed batch per time window), a consumer
first looks for that name among the staged files, and a file is only created where none exists
(`storage.write_new`), never rewritten. The same holds on an object store, where the log folder and the
landing are key prefixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml_platform.lib.inference_log import CLOSED_SUFFIX, CONSUMED_DIR, as_frame, closed_files, read_records
from ml_platform.lib.label_feed import LabelFeed
from ml_platform.lib.labels import Labels
from ml_platform.lib.served_batches import stage, staged
from ml_platform.lib.spec import DatasetSpec
from ml_platform.lib.storage import modified_at, move

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
            now: float, feed: LabelFeed | None = None, window_minutes: int = 60) -> list[Consumed]:
    """Land every closed file whose records are all labelled or whose wait is over; leave the others.

    Another consumer may run at once (a daemon restart overlapping a tick, a run launched by hand): a file
    it moved away between our listing and our reading is skipped, and of two landings of one file the
    first wins, so each record lands once and neither consumer fails. With a `feed`, every file read is
    also added to the prediction store (once, whether it lands now or waits for its labels)."""
    label_of, consumed, already_staged = labels.by_record, [], None
    for path in closed_files(log_dir):
        try:
            records, modified = read_records(path), modified_at(path)
        except FileNotFoundError:  # another consumer took it after our listing
            continue
        except ValueError as exc:  # a damaged file is set aside with its reason, never retried forever
            if (aside := _move(path, UNREADABLE_DIR)) is not None:
                consumed.append(Consumed(aside, None, 0, 0, str(exc)))
            continue
        if feed is not None:
            feed.add_log_file(path.name.removesuffix(CLOSED_SUFFIX), records)
        frame = as_frame(records, spec.feature_names)
        frame[spec.target.name] = frame["record_id"].map(label_of)
        labelled = frame[frame[spec.target.name].notna()]
        if len(labelled) < len(frame) and now - modified < wait_seconds:
            continue
        landed = None
        if len(labelled):
            already_staged = staged(landing_dir) if already_staged is None else already_staged
            landed = already_staged.get(batch_name(path)) or stage(  # found: a crash before the move
                landing_dir, batch_name(path), labelled[[*spec.feature_names, spec.target.name, "record_id"]].to_csv(
                    index=False).encode(), now, window_minutes)
        if _move(path, CONSUMED_DIR) is not None:
            consumed.append(Consumed(path.parent / CONSUMED_DIR / path.name, landed, len(frame), len(labelled)))
    return consumed


def _move(path: Path, folder: str) -> Path | None:
    """None when another consumer moved the file first."""
    target = path.parent / folder / path.name
    return target if move(path, target) else None
