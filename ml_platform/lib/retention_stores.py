"""Retention of what the loop writes besides files with one age each: the prediction store's hour
partitions and `added/` markers, and the Bento archives exported to the storage root.

A partition folder goes once its whole hour is older than the cutoff (a file labelled late into an old
hour stays until it is old itself). A marker only stops a log file from being added to the store twice,
so it may go once that file is consumed: markers of files still waiting are kept. Archives are kept by
count, like the Bentos in a BentoML home, plus any built for a version something still needs.
"""

from __future__ import annotations

from datetime import datetime, timezone

from upath import UPath

from ml_platform.lib.prediction_store import ADDED, PredictionStore
from ml_platform.lib.retention import Swept, sweep
from ml_platform.lib.retention_files import Listed, listed, remove
from ml_platform.lib.storage import is_remote

ARCHIVE_SUFFIX = ".bento"
HOUR = 3600.0


def archive_name(model_version: str, bento_name: str, bento_version: str) -> str:
    """`v<model version>-<bento>-<bento version>.bento`: the name says which model it serves."""
    return f"v{model_version}-{bento_name}-{bento_version}{ARCHIVE_SUFFIX}"


def archive_model_version(name: str) -> str | None:
    head = name.split("-", 1)[0]
    return head[1:] if head.startswith("v") and head[1:].isdigit() else None


def _hour_ends(folder: UPath) -> float:
    """The end of a `date=YYYY-MM-DD/hour=HH` partition, in seconds since the epoch."""
    day, hour = folder.parent.name.removeprefix("date="), folder.name.removeprefix("hour=")
    return datetime.fromisoformat(f"{day}T{hour}:00:00").replace(tzinfo=timezone.utc).timestamp() + HOUR


def sweep_predictions(store: PredictionStore, before: float | None, waiting_stems: set[str],
                      dry_run: bool = False) -> list[Swept]:
    """Old hour partitions, and the markers of log files no longer waiting to be consumed."""
    old_hours = [] if before is None else [f for f in store.hour_folders(newest_first=False) if _hour_ends(f) < before]
    partitions = sweep("prediction_partitions", [item for folder in old_hours for item in listed(folder, "*.parquet")],
                       before, lambda _: None, dry_run)
    if not dry_run and not is_remote(store.root):
        for folder in old_hours:  # an emptied local folder; on an object store a prefix has no folder to remove
            _remove_empty(folder)
    markers = sweep("prediction_markers", listed(store.root / ADDED), before,
                    lambda f: "its log file still waits to be consumed" if f.path.name in waiting_stems else None,
                    dry_run)
    return [partitions, markers]


def _remove_empty(folder: UPath) -> None:
    for path in (folder, folder.parent):
        try:
            path.rmdir()
        except OSError:  # not empty: a late file, or another hour of the day
            return


def sweep_archives(folder: UPath, protected: dict[str, str], keep: int, dry_run: bool = False) -> Swept:
    """Beyond the newest `keep` archives, delete those not built for a version in `protected`."""
    swept = Swept("bento_archives")
    archives: list[Listed] = sorted(listed(folder, f"*{ARCHIVE_SUFFIX}"), key=lambda f: f.modified, reverse=True)
    for position, archive in enumerate(archives):
        version = archive_model_version(archive.path.name)
        if position < keep:
            swept.keep(archive.modified)
        elif version in protected:
            swept.keep(archive.modified)
            swept.refused[f"built for {protected[version]}"] += 1
        elif dry_run or remove(archive.path):
            swept.removed += 1
            swept.removed_bytes += archive.size
    return swept
