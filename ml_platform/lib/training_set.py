"""Choosing the batches to train on and splitting them reproducibly."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from ml_platform.lib.spec import DatasetSpec

SPLIT, BATCH = "split", "batch"


@dataclass(frozen=True)
class Window:
    batches: list[str]
    excluded: dict[str, str]


def choose_window(valid_counts: dict[str, int], rejected_counts: dict[str, int],
                  spec: DatasetSpec) -> Window:
    """The newest `window_batches` batches whose rejected share is within the limit."""
    excluded, eligible = {}, []
    for key in sorted(valid_counts):
        rows_in = valid_counts[key] + rejected_counts.get(key, 0)
        share = rejected_counts.get(key, 0) / rows_in if rows_in else 1.0
        if share > spec.thresholds.max_rejected_share:
            excluded[key] = f"{share:.1%} of rows rejected (limit {spec.thresholds.max_rejected_share:.1%})"
        elif valid_counts[key] == 0:
            excluded[key] = "no valid rows"
        else:
            eligible.append(key)
    return Window(batches=eligible[-spec.training.window_batches:], excluded=excluded)


def build_training_set(frames: dict[str, pd.DataFrame], window: Window, spec: DatasetSpec) -> pd.DataFrame:
    """Concatenate the window's batches and mark a stratified, seeded train/test split."""
    if not window.batches:
        raise ValueError(f"no batch is eligible for training; excluded: {window.excluded or 'none landed'}")
    data = pd.concat([frames[k].assign(**{BATCH: k}) for k in window.batches], ignore_index=True)
    labels = data[spec.target.name]
    counts = labels.value_counts()
    too_rare = counts[counts < 2].index.tolist()
    if too_rare or labels.nunique() < 2:
        raise ValueError(f"cannot stratify: classes {too_rare or list(counts.index)} have fewer than 2 rows")
    # Stratify on the labels' ranks: the same split as on the strings, without sorting a million of them.
    ranks = pd.factorize(labels, sort=True)[0]
    _, test_index = train_test_split(data.index, test_size=spec.training.test_size,
                                     random_state=spec.training.seed, stratify=ranks)
    data[SPLIT] = "train"
    data.loc[test_index, SPLIT] = "test"
    return data


def content_version(frame: pd.DataFrame) -> str:
    """A short hash of the rows, so a model can name exactly the data it was trained on."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    return hashlib.sha256(hashed).hexdigest()[:16]
