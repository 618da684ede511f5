"""The reference side of drift detection, summarised once per training set.

A profile holds, per column, what the tests need from the reference: quantile edges with the reference
CDF at each edge, moments, category counts and null shares. A batch is then compared against the
profile in O(rows x log(edges)) without touching the reference rows again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml_platform.lib.spec import DatasetSpec

QUANTILES = 1000
CLIP = 0.01


def numeric_profile(values: np.ndarray) -> dict[str, Any]:
    """Quantile edges (unique), the reference CDF at each, and the moments the location/scale tests use.

    The moments are of the values clipped to the reference's 1st and 99th percentiles (`clip`): with heavy
    tails a raw sample mean is skewed and its variance unstable, so a z-test on it cries wolf; clipped
    values are bounded, and what lies beyond the clip is the tail test's to judge.
    """
    values = np.sort(values[~np.isnan(values)])
    if len(values) < 2:
        return {"n": int(len(values))}
    edges = np.unique(np.quantile(values, np.linspace(0, 1, QUANTILES + 1)))
    clip = [float(values[int(CLIP * (len(values) - 1))]), float(values[int((1 - CLIP) * (len(values) - 1))])]
    clipped = np.clip(values, *clip)
    median = float(clipped[len(clipped) // 2])
    deviation = np.abs(clipped - median)
    return {
        "n": int(len(values)),
        "edges": edges.tolist(),
        "cdf": (np.searchsorted(values, edges, side="right") / len(values)).tolist(),
        "sd": float(values.std(ddof=1)),
        "clip": clip,
        "mean": float(clipped.mean()),
        "clipped_sd": float(clipped.std(ddof=1)),
        "median": median,
        "abs_dev_mean": float(deviation.mean()),
        "abs_dev_sd": float(deviation.std(ddof=1)),
    }


def categorical_profile(values: pd.Series) -> dict[str, Any]:
    counts = values.value_counts()
    counts = counts.groupby(counts.index.astype(str)).sum()
    return {"n": int(counts.sum()), "counts": {str(k): int(v) for k, v in counts.items()}}


def build_profile(reference: pd.DataFrame, spec: DatasetSpec,
                  probabilities: pd.DataFrame | None = None) -> dict[str, Any]:
    """The reference's per-column summary; `probabilities` are the model's outputs on held-out rows."""
    profile: dict[str, Any] = {"rows": int(len(reference)), "numeric": {}, "categorical": {}, "null_share": {}}
    for name in spec.numeric_features:
        column = pd.to_numeric(reference[name], errors="coerce").to_numpy(float)
        profile["numeric"][name] = numeric_profile(column)
    for name in spec.categorical_features:
        profile["categorical"][name] = categorical_profile(reference[name])
    for name in spec.feature_names:
        profile["null_share"][name] = float(reference[name].isna().mean()) if len(reference) else 0.0
    if probabilities is not None:
        profile["predictions"] = {
            "rows": int(len(probabilities)),
            "classes": [str(c) for c in probabilities.columns],
            "columns": {str(c): numeric_profile(probabilities[c].to_numpy(float)) for c in probabilities.columns},
        }
    return profile


def predicted_probabilities(model: Any, frame: pd.DataFrame, spec: DatasetSpec, max_rows: int = 20_000,
                            seed: int = 0) -> pd.DataFrame:
    """The model's class probabilities on (a sample of) the rows, one column per class.

    The prediction test's power is capped by the held-out reference size, so beyond `max_rows` a
    sample answers as well as every row does, at a fraction of the model's cost.
    """
    if len(frame) > max_rows:
        frame = frame.sample(max_rows, random_state=seed)
    proba = model.predict_proba(frame[spec.feature_names])
    return pd.DataFrame(proba, columns=[str(c) for c in model.classes_])
