"""Per-column drift between a batch and the training reference, judged by significance and effect size.

A p-value alone flags trivial shifts on large batches, so a column drifts only when the test is
significant *and* the shift is large enough to matter (`drift_min_effect`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ml_platform.lib.spec import DatasetSpec


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    test: str
    p_value: float
    effect: float
    effect_measure: str
    drifted: bool


@dataclass(frozen=True)
class DriftDecision:
    columns: list[ColumnDrift]
    drifted_share: float
    drift: bool

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(c) for c in self.columns])


def numeric_drift(reference: pd.Series, current: pd.Series) -> tuple[float, float]:
    """Kolmogorov-Smirnov p-value and the Wasserstein distance in reference standard deviations."""
    ref, cur = reference.dropna().to_numpy(float), current.dropna().to_numpy(float)
    if len(ref) == 0 or len(cur) == 0:
        return 1.0, 0.0
    p_value = float(stats.ks_2samp(ref, cur).pvalue)
    scale = float(np.std(ref)) or 1.0
    return p_value, float(stats.wasserstein_distance(ref, cur) / scale)


def categorical_drift(reference: pd.Series, current: pd.Series) -> tuple[float, float]:
    """Chi-squared p-value and the total variation distance between the category frequencies."""
    categories = sorted(set(reference.dropna()) | set(current.dropna()))
    ref = reference.value_counts().reindex(categories, fill_value=0).to_numpy(float)
    cur = current.value_counts().reindex(categories, fill_value=0).to_numpy(float)
    if ref.sum() == 0 or cur.sum() == 0 or len(categories) < 2:
        return 1.0, 0.0
    table = np.vstack([ref, cur])
    table = table[:, table.sum(axis=0) > 0]
    p_value = float(stats.chi2_contingency(table).pvalue)
    tvd = 0.5 * float(np.abs(ref / ref.sum() - cur / cur.sum()).sum())
    return p_value, tvd


def detect_drift(reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec) -> DriftDecision:
    limits = spec.thresholds
    results = []
    for name in spec.feature_names:
        numeric = name in spec.numeric_features
        p_value, effect = (numeric_drift if numeric else categorical_drift)(reference[name], current[name])
        drifted = p_value < limits.drift_p_value and effect >= limits.drift_min_effect
        results.append(ColumnDrift(
            column=name,
            test="ks" if numeric else "chi2",
            p_value=p_value,
            effect=effect,
            effect_measure="wasserstein_sd" if numeric else "total_variation",
            drifted=drifted,
        ))
    share = sum(c.drifted for c in results) / len(results)
    return DriftDecision(columns=results, drifted_share=share, drift=share >= limits.drift_share)


def evidently_html(reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec, path: str,
                   max_rows: int = 20_000, seed: int = 0) -> dict[str, float]:
    """Evidently's data-drift report for people, on a sample so it stays fast; returns its per-column scores."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=spec.numeric_features,
                                categorical_columns=spec.categorical_features)

    def sample(frame: pd.DataFrame) -> Dataset:
        frame = frame[spec.feature_names]
        if len(frame) > max_rows:
            frame = frame.sample(max_rows, random_state=seed)
        return Dataset.from_pandas(frame.reset_index(drop=True), data_definition=definition)

    snapshot = Report([DataDriftPreset()]).run(sample(current), sample(reference))
    snapshot.save_html(path)
    scores = {}
    for metric in snapshot.dict()["metrics"]:
        column = metric.get("config", {}).get("column")
        if column and isinstance(metric.get("value"), (int, float)):
            scores[column] = float(metric["value"])
    return scores
