"""`live_performance`'s window, kept between runs, so a run reads only the store files that arrived since
the last one: never the whole store, and not even the whole newest hour (with logs rotated every minute
by three replicas an hour holds 180 files, every 2 s by two, 3,600).

`predictions/state/live_window-<rows>.parquet` holds the newest `rows` labelled predictions (as the
champion answered them) of each of the KEPT_VERSIONS newest model versions, and `.json` a high-water mark
on the store files' modification times, with the names read within a margin before it (as
`decision_counts.py`). The newest `rows` of everything are the newest `rows` of the kept rows and the new
files' rows together, so the window is exact however late a label arrives: a late file lands in its
records' hour, which is listed while it can still arrive (`lookback_seconds`: the label wait, and the
hour a record may wait past it). The first run (or a new window size) reads the hours newest-first, as
far as the window needs. A version rolled back to after more than KEPT_VERSIONS others is judged on the
rows it served since.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pandas as pd

from ml_platform.lib.live_performance import champion_rows
from ml_platform.lib.prediction_store import STATE, PredictionStore, listed_with_times, new_store_files, read_frame
from ml_platform.lib.storage import write_atomic

KEPT_VERSIONS, MARGIN_SECONDS = 5, 120.0
COLUMNS = ["record_id", "timestamp", "model_version", "prediction", "label"]


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    rows = champion_rows(frame[frame["label"].notna()])
    return rows[COLUMNS].astype({"model_version": str, "prediction": str, "label": str})


def newest(frame: pd.DataFrame, window_rows: int) -> pd.DataFrame:
    """The newest `window_rows` rows of each of the KEPT_VERSIONS versions that served last, oldest first."""
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    frame = frame.drop_duplicates("record_id").sort_values("timestamp", kind="stable")
    versions = frame.groupby("model_version")["timestamp"].max().sort_values().index[-KEPT_VERSIONS:]
    kept = frame[frame["model_version"].isin(versions)].groupby("model_version", group_keys=False).tail(window_rows)
    return kept.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _scan(store: PredictionStore, window_rows: int) -> tuple[pd.DataFrame, int]:
    """Hours newest-first until the newest version has `window_rows` rows (an hour holds only records
    older than every hour after it); the rows read and how many files."""
    version, parts, count, opened = None, [], 0, 0
    for folder in store.hour_folders(newest_first=True):
        frames = [f for f in (_read(path) for path, _ in listed_with_times(folder, "*.parquet")) if f is not None]
        opened += len(frames)
        rows = labelled(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame(columns=COLUMNS)
        if rows.empty:
            continue
        parts.append(rows)
        version = version or str(rows.sort_values("timestamp", kind="stable")["model_version"].iloc[-1])
        count += int((rows["model_version"] == version).sum())
        if count >= window_rows:
            break
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)), opened


def store_window(store: PredictionStore, window_rows: int, lookback_seconds: float | None = None,
                 now: datetime | None = None) -> tuple[pd.DataFrame, int]:
    """The newest `window_rows` labelled predictions of the newest version, oldest first (the window
    `window_metrics` judges), and how many store files this call read. `lookback_seconds=None` lists every
    hour for new files (a test's store of a few hours); the loop passes its label wait and margin."""
    state_path, frame_path = (store.root / STATE / f"live_window-{window_rows}.{kind}" for kind in ("json", "parquet"))
    since = (now or datetime.now(timezone.utc)) - timedelta(seconds=lookback_seconds) \
        if lookback_seconds is not None else None
    state = json.loads(state_path.read_text()) if state_path.exists() and frame_path.exists() else None
    new, hwm, recent = new_store_files(store, since, state["hwm"] if state else 0.0,
                                       state["recent"] if state else [], MARGIN_SECONDS)
    if state is not None:
        frames = [labelled(f) for f in (_read(p) for p in new) if f is not None]
        rows, opened = pd.concat([read_frame(frame_path), *frames], ignore_index=True), len(frames)
    else:
        rows, opened = _scan(store, window_rows)
    kept = newest(rows, window_rows)
    write_atomic(frame_path, _parquet(kept))
    write_atomic(state_path, json.dumps({"hwm": hwm, "recent": recent}).encode())
    if kept.empty:
        return pd.DataFrame(columns=COLUMNS), opened
    version = kept["model_version"].iloc[-1]
    return kept[kept["model_version"] == version].tail(window_rows).reset_index(drop=True), opened


def _read(path) -> pd.DataFrame | None:
    try:
        return read_frame(path)
    except FileNotFoundError:  # removed by retention after the listing
        return None


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame[COLUMNS].astype(str).to_parquet(buffer, index=False)
    return buffer.getvalue()
