"""The promotion decision's running counts, kept in `predictions/state/decision.json`, so each run reads
only the store files that arrived since the last one (a high-water mark on their modification time, with
the names read inside a short margin before it) and never the records it has already counted.

The counts are what `live_comparison.from_log` yields, summed: records, unanswered and canary records
(from each log file's own rows, once), the four paired outcomes for McNemar (from labelled rows, which
the store holds once per record: in the file's rows or in one late file), and the canary answers'
latencies in 1 ms buckets (the p99 is its bucket's upper edge: the same outcome against a whole-ms SLO).
A new challenger, champion or start time starts the counts afresh.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from ml_platform.lib.live_comparison import from_log
from ml_platform.lib.prediction_store import STATE, PredictionStore, new_store_files, read_frame
from ml_platform.lib.storage import write_atomic

MARGIN_SECONDS = 120.0


@dataclass
class Counts:
    key: list = field(default_factory=list)
    hwm: float = 0.0
    recent: list[str] = field(default_factory=list)
    records: int = 0
    unanswered: int = 0
    canary: int = 0
    both: int = 0
    only_champion: int = 0
    only_challenger: int = 0
    neither: int = 0
    latency_buckets: dict[str, int] = field(default_factory=dict)  # ceil(ms) -> answers
    files_read: int = 0

    def p99(self) -> tuple[int, float | None]:
        """How many canary answers were timed, and their nearest-rank p99 (a bucket's upper edge)."""
        timed = sum(self.latency_buckets.values())
        rank, seen = max(1, math.ceil(0.99 * timed)), 0
        for edge in sorted(self.latency_buckets, key=int):
            seen += self.latency_buckets[edge]
            if seen >= rank:
                return timed, float(edge)
        return timed, None

    def add(self, frame: pd.DataFrame, late: bool, champion: str, challenger: str, since: datetime,
            grace_seconds: float) -> None:
        records = [_record(row) for row in frame.to_dict("records")]
        labels = {r["record_id"]: r["label"] for r in records if r["label"] is not None}
        live = from_log(records, labels, champion, challenger, since, grace_seconds)
        if not late:  # a late file repeats rows already counted, now with their label
            self.records, self.unanswered, self.canary = (self.records + live.records,
                                                          self.unanswered + live.unanswered, self.canary + live.canary)
            for ms in live.canary_latencies_ms:
                edge = str(math.ceil(ms))
                self.latency_buckets[edge] = self.latency_buckets.get(edge, 0) + 1
        for a, b in zip(live.champion_right, live.challenger_right):
            self.both += a and b
            self.only_champion += a and not b
            self.only_challenger += b and not a
            self.neither += not a and not b


def _record(row: dict) -> dict:
    """A store row as the log record `from_log` reads."""
    record = {k: row[k] for k in ("record_id", "timestamp", "model_version", "prediction", "label")}
    record["label"] = None if pd.isna(row["label"]) else row["label"]
    if isinstance(row["answered_by"], str):
        record["answered_by"] = row["answered_by"]
    if row["latency_ms"] is not None and not pd.isna(row["latency_ms"]):
        record["latency_ms"] = float(row["latency_ms"])
    if isinstance(row["shadow_version"], str):
        record["shadow"] = {"model_version": row["shadow_version"], "prediction": row["shadow_prediction"]}
    return record


def update(store: PredictionStore, champion: str, challenger: str, since: datetime, grace_seconds: float) -> Counts:
    """Load the counts, add the store files that arrived since the last run, save and return them."""
    path, key = store.root / STATE / "decision.json", [champion, challenger, since.isoformat(), grace_seconds]
    counts = Counts(key=key)
    if path.exists() and (saved := json.loads(path.read_text())).get("key") == key:
        counts = Counts(**{**saved, "files_read": 0})
    new, counts.hwm, counts.recent = new_store_files(store, since - timedelta(hours=1), counts.hwm, counts.recent,
                                                     MARGIN_SECONDS)
    for file in new:
        counts.add(read_frame(file), ".late-" in file.name, champion, challenger, since, grace_seconds)
        counts.files_read += 1
    write_atomic(path, json.dumps(asdict(counts)).encode())
    return counts
