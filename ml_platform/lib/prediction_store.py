"""Labelled predictions as an incremental store: what the loop needs of each logged record, in Parquet
partitioned by the hour the record was answered, so a reader of a window, or of what is new, reads only that
and never the raw log history.

Layout under `<root>/predictions/`:

    date=YYYY-MM-DD/hour=HH/<stem>.parquet         records of log file <stem> answered in that hour, with
                                                   the label where it had arrived when the file was added
    date=YYYY-MM-DD/hour=HH/<stem>.late-<g>.parquet  records of <stem> labelled later (`label_feed.py`)
    pending/<stem>.<g>.parquet                     records of <stem> still waiting for their label
    added/<stem>                                   <stem> was added whole: a retry or a second consumer stops
    state/                                         the label feed's and the decision's small state files

Every data file is created once (`storage.write_new`): of two writers the first wins and the second reads
what won, so a record is stored once and labelled once whoever added it. Hours are disjoint in time, so
a partition read newest-first holds only records newer than every partition after it.
"""

from __future__ import annotations

import fnmatch
import io
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from ml_platform.lib.storage import files_in, is_remote, write_new

COLUMNS = ["record_id", "timestamp", "model_version", "model_sha256", "prediction", "answered_by",
           "challenger_failed", "shadow_version", "shadow_sha256", "shadow_prediction", "latency_ms", "client", "label"]
SCHEMA = pa.schema([(c, pa.float64() if c == "latency_ms" else pa.bool_() if c == "challenger_failed" else pa.string())
                    for c in COLUMNS])
PENDING, ADDED, STATE = "pending", "added", "state"


def rows(records: list[dict], label_of: dict[str, str]) -> pd.DataFrame:
    """One row per logged record with the columns the loop reads (both models' answers, latency, label)."""
    def row(r: dict) -> dict:
        shadow, latency = r.get("shadow") or {}, r.get("latency_ms")
        return {"record_id": str(r["record_id"]), "timestamp": r["timestamp"], "model_version": _text(r.get("model_version")),
                "model_sha256": r.get("model_sha256"), "prediction": _text(r.get("prediction")),
                "answered_by": r.get("answered_by"), "challenger_failed": bool(r.get("challenger_failed", False)),
                "shadow_version": _text(shadow.get("model_version")), "shadow_sha256": shadow.get("model_sha256"),
                "shadow_prediction": _text(shadow.get("prediction")),
                "latency_ms": float(latency) if isinstance(latency, (int, float)) else None,
                "client": r.get("client"), "label": label_of.get(str(r["record_id"]))}
    return pd.DataFrame([row(r) for r in records], columns=COLUMNS)


def _text(value) -> str | None:
    return None if value is None else str(value)


def hour_folder(timestamp: str) -> str:
    at = datetime.fromisoformat(timestamp).astimezone(timezone.utc)
    return f"date={at:%Y-%m-%d}/hour={at:%H}"


def to_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame[COLUMNS], schema=SCHEMA, preserve_index=False), buffer)
    return buffer.getvalue()


def read_frame(path: UPath) -> pd.DataFrame:
    """One store file (one open through the storage, so it can be counted)."""
    return pq.read_table(io.BytesIO(path.read_bytes())).to_pandas()


class PredictionStore:
    def __init__(self, root: UPath):
        self.root = root

    def write_split(self, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        """Write `frame` as `<hour>/<name>.parquet`, one file per hour its records fall in; returns the
        rows stored, which are another writer's where it won the name first."""
        stored = []
        for folder, part in frame.groupby(frame["timestamp"].map(hour_folder), sort=True):
            path = self.root / folder / f"{name}.parquet"
            stored.append(part if write_new(path, to_bytes(part)) else read_frame(path))
        return pd.concat(stored, ignore_index=True) if stored else frame.iloc[0:0]

    def hour_folders(self, newest_first: bool = True, since: datetime | None = None) -> list[UPath]:
        """Partition folders (two listings per day), optionally only those of `since`'s hour or later."""
        floor = hour_folder(since.isoformat()) if since is not None else ""
        folders = [hour for day in _folders(self.root, "date=") for hour in _folders(day, "hour=")
                   if f"{day.name}/{hour.name}" >= floor]
        return sorted(folders, key=lambda p: (p.parent.name, p.name), reverse=newest_first)


def _folders(parent: UPath, prefix: str) -> list[UPath]:
    if not is_remote(parent):
        return [p for p in parent.iterdir() if p.is_dir() and p.name.startswith(prefix)] if parent.is_dir() else []
    try:
        listing = parent.fs.ls(parent.path, detail=True)
    except FileNotFoundError:
        return []
    names = [e["name"].rstrip("/").rsplit("/", 1)[-1] for e in listing if e.get("type") == "directory"]
    return [parent / n for n in names if n.startswith(prefix)]


def listed_with_times(folder: UPath, pattern: str = "*") -> list[tuple[UPath, float]]:
    """Files in `folder` with their modification time (on an object store from the one listing)."""
    if not is_remote(folder):
        listed = []
        for path in files_in(folder, pattern):
            try:
                listed.append((path, path.stat().st_mtime))
            except FileNotFoundError:  # removed since the listing (a pending set joined by another run)
                continue
        return listed
    try:
        listing = folder.fs.ls(folder.path, detail=True)
    except FileNotFoundError:
        return []
    named = [(e["name"].rsplit("/", 1)[-1], e) for e in listing if e.get("type") == "file"]
    return sorted((folder / n, e["LastModified"].timestamp()) for n, e in named if fnmatch.fnmatchcase(n, pattern))


def new_store_files(store: PredictionStore, since: datetime | None, hwm: float, recent: list[str],
                    margin_seconds: float) -> tuple[list[UPath], float, list[str]]:
    """Store files in the hours from `since` on (every hour if None) that arrived after a high-water mark
    on their modification time, less a margin, and are not among the names read within that margin;
    then the mark and names past them. A reader keeping running state reads each file once this way."""
    listed = [(f"{p.parent.parent.name}/{p.parent.name}/{p.name}", p, t)
              for folder in store.hour_folders(newest_first=False, since=since)
              for p, t in listed_with_times(folder, "*.parquet")]
    new = [p for name, p, t in sorted(listed) if t >= hwm - margin_seconds and name not in recent]
    if listed:
        hwm = max(hwm, max(t for _, _, t in listed))
    return new, hwm, sorted(name for name, _, t in listed if t >= hwm - margin_seconds)
