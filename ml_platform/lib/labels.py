"""Delayed labels: CSV files with the columns `record_id,label`, one row per record.

A label names the `record_id` the service returned for that record (unique per record, whatever
`X-Request-ID` the caller sent). Files are written whole (temporary name, then rename; one PUT on an
object store) into the labels folder, in any order and any time after the prediction. Nothing is dropped silently: a record labelled
twice is counted (a conflicting label too: of the two, the one read first is joined and landed), and a file without the two columns is
reported by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from upath import UPath

from ml_platform.lib.storage import files_in

LABEL_COLUMNS = ["record_id", "label"]


@dataclass(frozen=True)
class Labels:
    frame: pd.DataFrame  # one row per labelled record: record_id, label
    duplicates: int = 0  # extra rows that repeat a record's label
    conflicts: int = 0  # extra rows that give a record a different label than an earlier one
    unreadable: dict[str, str] = field(default_factory=dict)  # file name -> why it was not used

    @property
    def by_record(self) -> dict[str, str]:
        return dict(zip(self.frame["record_id"], self.frame["label"]))


def label_files(labels_dir: UPath) -> list[UPath]:
    return files_in(labels_dir, "*.csv")


def read_labels(labels_dir: UPath) -> Labels:
    """Every label received so far, with what could not be used counted rather than dropped."""
    frames, unreadable = [], {}
    for path in label_files(labels_dir):
        try:
            with path.open("rb") as f:
                frame = pd.read_csv(f, dtype=str)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            unreadable[path.name] = f"cannot be read: {exc}"[:200]
            continue
        missing = [c for c in LABEL_COLUMNS if c not in frame.columns]
        if missing:
            unreadable[path.name] = f"missing column(s) {missing}; found {list(frame.columns)}"
            continue
        frames.append(frame[LABEL_COLUMNS].dropna())
    if not frames:
        return Labels(pd.DataFrame(columns=LABEL_COLUMNS), unreadable=unreadable)
    every = pd.concat(frames, ignore_index=True)
    repeated = every[every.duplicated("record_id", keep="first")]
    first = every.drop_duplicates("record_id", keep="first").set_index("record_id")["label"]
    conflicts = int((repeated["label"].to_numpy() != first.loc[repeated["record_id"]].to_numpy()).sum())
    latest = every.drop_duplicates("record_id", keep="last").reset_index(drop=True)
    return Labels(latest, duplicates=len(repeated) - conflicts, conflicts=conflicts, unreadable=unreadable)
