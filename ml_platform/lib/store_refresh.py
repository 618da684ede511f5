"""Bring the prediction store up to date before reading it: add closed log files not added yet (the
consumer adds them too, on its tick) and join the labels that arrived since the last sync. A reader that
refreshes first sees what a sensor tick would have stored, without waiting for one."""

from __future__ import annotations

from upath import UPath

from ml_platform.lib.inference_log import CLOSED_SUFFIX, closed_files, read_records
from ml_platform.lib.label_feed import LabelFeed
from ml_platform.lib.prediction_store import PredictionStore


def add_closed(feed: LabelFeed, log_dir: UPath) -> int:
    """Add every closed, not yet consumed log file the store lacks; how many were added."""
    added = 0
    for path in closed_files(log_dir):
        stem = path.name.removesuffix(CLOSED_SUFFIX)
        if feed.added(stem):
            continue
        try:
            records = read_records(path)
        except (FileNotFoundError, ValueError):  # consumed meanwhile (the consumer added it), or damaged
            continue
        added += feed.add_log_file(stem, records)
    return added


def refresh(store_root: UPath, log_dir: UPath, labels_dir: UPath, window_seconds: float, now: float) -> LabelFeed:
    feed = LabelFeed.load(PredictionStore(store_root), labels_dir, window_seconds, now)
    add_closed(feed, log_dir)
    feed.join_pending()
    feed.save()
    return feed
