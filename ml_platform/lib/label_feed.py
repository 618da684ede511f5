"""Delayed labels fed into the prediction store incrementally (`prediction_store.py`).

Each sync reads only label files newer than a high-water mark kept in `predictions/state/labels.json`
(with the names read inside a short margin before it, so a file written slowly is not skipped), keeps the
labels of the wait window in `state/labels_window.parquet`, and joins them to the records still pending.
A log file's records are added with the labels already in the window; the rest wait in `pending/` for
the window and are then counted as expired, and a label that matches no record within the window (and
an hour past it) is counted as unknown (it names no record, or arrived after the window): counted, never
joined forever.
Of two labels for one record the first joined wins; the second is counted (duplicate or conflict).

Concurrent syncs are safe: the window is a set (a lost state write only means a file read twice), and a
pending set of generation g yields exactly one late file `<stem>.late-<g>` (the first writer's), from
which the next generation is derived, so a record is never labelled twice.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import pandas as pd
from upath import UPath

from ml_platform.lib.labels import LABEL_COLUMNS, Labels
from ml_platform.lib.prediction_store import ADDED, PENDING, STATE, PredictionStore, listed_with_times, read_frame, rows, to_bytes
from ml_platform.lib.storage import write_atomic, write_new

MARGIN_SECONDS = 120.0  # a label file written this long before the newest one read is still looked for
# A label stays in the window this long past the wait: a log file closes up to its rotation time (5 min
# locally, 1 on an object store) or the orphan timeout (10 min) after its records, and when its wait
# ends its consumer lands it with the labels in the window (`labels()`).
KEPT_PAST_WAIT_SECONDS = 3600.0
COUNTERS = ("joined", "unknown", "duplicates", "conflicts", "expired_records", "unreadable_files")
UNREADABLE_KEPT = 20  # the newest unreadable files are named; all of them are counted


@dataclass
class LabelFeed:
    store: PredictionStore
    labels_dir: UPath
    window_seconds: float
    now: float
    hwm: float = 0.0
    recent: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    unreadable: dict[str, str] = field(default_factory=dict)
    window: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=[*LABEL_COLUMNS, "arrived", "matched"]))
    files_read: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, store: PredictionStore, labels_dir: UPath, window_seconds: float, now: float) -> LabelFeed:
        """The feed's state, then the label files that arrived since it was saved."""
        feed = cls(store, labels_dir, window_seconds, now)
        state_path = store.root / STATE / "labels.json"
        if state_path.exists():
            state = json.loads(state_path.read_text())
            feed.hwm, feed.recent, feed.unreadable = state["hwm"], state["recent"], state["unreadable"]
            feed.counters.update(state["counters"])
            if (window := store.root / STATE / "labels_window.parquet").exists():
                feed.window = read_frame(window)
        feed._read_new()
        return feed

    def _read_new(self) -> None:
        listed = listed_with_times(self.labels_dir, "*.csv")
        new = [(p, t) for p, t in listed if t >= self.hwm - MARGIN_SECONDS and p.name not in self.recent]
        frames = []  # added to the window at once: the window (an hour of labels) is copied once a sync
        for path, arrived in sorted(new, key=lambda item: (item[1], item[0].name)):
            self.files_read.append(path.name)
            try:
                frame = pd.read_csv(io.BytesIO(path.read_bytes()), dtype=str)
            except (ValueError, OSError, UnicodeDecodeError) as exc:
                self._refuse(path.name, f"cannot be read: {exc}"[:200])
                continue
            if missing := [c for c in LABEL_COLUMNS if c not in frame.columns]:
                self._refuse(path.name, f"missing column(s) {missing}; found {list(frame.columns)}")
                continue
            frames.append(frame[LABEL_COLUMNS].dropna().assign(arrived=arrived, matched=False))
        if frames:
            self._add_labels(pd.concat(frames, ignore_index=True))
        self.unreadable = dict(list(self.unreadable.items())[-UNREADABLE_KEPT:])
        if listed:
            self.hwm = max(self.hwm, max(t for _, t in listed))
            self.recent = sorted(p.name for p, t in listed if t >= self.hwm - MARGIN_SECONDS)

    def _refuse(self, name: str, reason: str) -> None:
        self.unreadable[name] = reason
        self.counters["unreadable_files"] += 1

    def _add_labels(self, new: pd.DataFrame) -> None:
        both = pd.concat([self.window, new], ignore_index=True) if len(self.window) else new.reset_index(drop=True)
        repeated = both[both.duplicated("record_id", keep="first")]
        first = both.drop_duplicates("record_id", keep="first").set_index("record_id")["label"]
        conflicts = int((repeated["label"].to_numpy() != first.loc[repeated["record_id"]].to_numpy()).sum())
        self.counters["conflicts"] += conflicts
        self.counters["duplicates"] += len(repeated) - conflicts
        self.window = both.drop_duplicates("record_id", keep="first").reset_index(drop=True)

    def _take(self, record_ids: pd.Series) -> dict[str, str]:
        hit = self.window["record_id"].isin(record_ids)
        self.window.loc[hit, "matched"] = True
        return dict(zip(self.window.loc[hit, "record_id"], self.window.loc[hit, "label"]))

    def labels(self) -> Labels:
        """The labels in the window: what the log consumer lands closed files with, so a tick reads the
        label files that arrived since the last one, never every label received so far."""
        return Labels(self.window[LABEL_COLUMNS].reset_index(drop=True))

    def added(self, stem: str) -> bool:
        return (self.store.root / ADDED / stem).exists()

    def add_log_file(self, stem: str, records: list[dict]) -> bool:
        """Store a closed log file's records once; False if it was added before."""
        marker = self.store.root / ADDED / stem
        if not records or marker.exists():
            return False
        frame = rows(records, {})
        frame["label"] = frame["record_id"].map(self._take(frame["record_id"]))
        stored = self.store.write_split(frame, stem)
        self.counters["joined"] += int(stored["label"].notna().sum())
        if (waiting := stored[stored["label"].isna()]).size:
            write_new(self.store.root / PENDING / f"{int(self.now)}~{stem}~0.parquet", to_bytes(waiting))
        write_new(marker, b"")
        return True

    def join_pending(self) -> None:
        """Join the window's labels to the pending records; expire what waited past the window."""
        for path, _ in listed_with_times(self.store.root / PENDING, "*.parquet"):
            added, stem, generation = path.name.removesuffix(".parquet").split("~")
            try:
                waiting = read_frame(path)
            except FileNotFoundError:  # another sync joined it first
                continue
            labelled = waiting["record_id"].map(self._take(waiting["record_id"]))
            rest = waiting[labelled.isna()]
            if labelled.notna().any():
                late = self.store.write_split(waiting[labelled.notna()].assign(label=labelled.dropna()),
                                              f"{stem}.late-{generation}")
                self.counters["joined"] += len(late)
                rest = waiting[~waiting["record_id"].isin(late["record_id"])]
            expired = self.now - float(added) > self.window_seconds
            if expired:
                self.counters["expired_records"] += len(rest)
            elif labelled.notna().any() and len(rest):
                write_new(self.store.root / PENDING / f"{added}~{stem}~{int(generation) + 1}.parquet", to_bytes(rest))
            if expired or labelled.notna().any():
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass

    def save(self) -> None:
        """Labels past the window leave it; those that never matched a record are counted as unknown."""
        old = self.window["arrived"].astype(float) < self.now - self.window_seconds - KEPT_PAST_WAIT_SECONDS
        self.counters["unknown"] += int((old & ~self.window["matched"].astype(bool)).sum())
        self.window = self.window[~old]
        state = {"hwm": self.hwm, "recent": self.recent, "counters": self.counters, "unreadable": self.unreadable}
        write_atomic(self.store.root / STATE / "labels_window.parquet", _window_bytes(self.window))
        write_atomic(self.store.root / STATE / "labels.json", json.dumps(state).encode())

    @property
    def unknown_labels(self) -> int:
        """Labels that matched no record: past the window, and those in it still unmatched."""
        return self.counters["unknown"] + int((~self.window["matched"].astype(bool)).sum())


def _window_bytes(window: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    window.astype({"record_id": str, "label": str, "arrived": float, "matched": bool}).to_parquet(buffer, index=False)
    return buffer.getvalue()
