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
    landing_order: list[str]
    rows: int = 0  # valid rows in `batches`, before any sampling
    sample_rows: int | None = None  # set when the one newest batch exceeds the row budget: sample it to this
    full: bool = False  # the batch count or the row budget was reached: older batches cannot enter


def training_columns(spec: DatasetSpec) -> list[str]:
    """The columns a training set keeps, in the `features` files' order: the spec's fields, the target, the
    derived features. Anything else a batch carries is never read (Parquet column pruning)."""
    return [*spec.columns, *(d.name for d in spec.derived)]


def choose_window(valid_counts: dict[str, int], rejected_counts: dict[str, int],
                  spec: DatasetSpec, landing_order: list[str]) -> Window:
    """The newest batches, by landing time, whose rejected share is within the limit: at most
    `window_batches` of them and, newest first, only while their rows fit `window_rows` (a batch is never
    split, unless the newest alone exceeds the budget: then it is sampled down to it).

    Landing order, not name order: names come from many writers (`batch-*`, `inference-*`), so the
    newest name is not the newest batch, and a retrain must include the batch whose drift triggered it.
    A batch missing from `landing_order` counts as landed before all others; one with rejected rows but
    no features (its run stopped at the blocking check) is excluded with that reason.
    """
    landed_at = {key: position for position, key in enumerate(landing_order)}
    ordered = sorted(set(valid_counts) | set(rejected_counts), key=lambda key: (landed_at.get(key, -1), key))
    excluded, eligible = {}, []
    for key in ordered:
        if key not in valid_counts:
            excluded[key] = "no features: its rejected share failed the blocking check, or it is not processed yet"
            continue
        rows_in = valid_counts[key] + rejected_counts.get(key, 0)
        share = rejected_counts.get(key, 0) / rows_in if rows_in else 1.0
        if share > spec.thresholds.max_rejected_share:
            excluded[key] = f"{share:.1%} of rows rejected (limit {spec.thresholds.max_rejected_share:.1%})"
        elif valid_counts[key] == 0:
            excluded[key] = "no valid rows"
        else:
            eligible.append(key)
    chosen, rows, budget = [], 0, spec.training.window_rows
    full = len(eligible) >= spec.training.window_batches
    for key in reversed(eligible[-spec.training.window_batches:]):
        if chosen and rows + valid_counts[key] > budget:
            full = True
            break
        chosen.append(key)
        rows += valid_counts[key]
    return Window(batches=chosen[::-1], excluded=excluded, landing_order=ordered, rows=rows,
                  sample_rows=budget if rows > budget else None, full=full or rows >= budget)


def sample_share(frame: pd.DataFrame, window: Window, spec: DatasetSpec) -> pd.DataFrame:
    """This batch's share of `training.sample_rows` (its rows / the window's), stratified by the target and
    seeded; the batch itself when the window fits the budget. Sampled as each batch is read, so a month of
    batches is never held at once."""
    budget = spec.training.sample_rows
    if window.rows <= budget or not len(frame):
        return frame
    share = budget / window.rows
    return (frame.groupby(spec.target.name, group_keys=False, observed=True)
            .sample(frac=share, random_state=spec.training.seed).sort_index())


def build_training_set(frames: dict[str, pd.DataFrame], window: Window, spec: DatasetSpec) -> pd.DataFrame:
    """Concatenate the window's batches and mark a stratified, seeded train/test split."""
    if not window.batches:
        raise ValueError(f"no batch is eligible for training; excluded: {window.excluded or 'none landed'}")
    data = pd.concat([frames[k].assign(**{BATCH: k}) for k in window.batches], ignore_index=True)
    if window.sample_rows is not None and len(data) > window.sample_rows:  # one batch over the row budget
        data = data.sample(n=window.sample_rows, random_state=spec.training.seed).sort_index().reset_index(drop=True)
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


def unseen_batches(landing_order: list[str], usable: set[str], trained_on: set[str], window: int) -> list[str]:
    """Usable batches within the training window that the champion was not trained on, in landing order.

    Only the newest `window` usable batches count: an older one would not enter a retrain either, so
    it must not keep requesting one."""
    newest = [key for key in landing_order if key in usable][-window:]
    return [key for key in newest if key not in trained_on]


def content_version(frame: pd.DataFrame) -> str:
    """A short hash of the rows, so a model can name exactly the data it was trained on."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    return hashlib.sha256(hashed).hexdigest()[:16]
