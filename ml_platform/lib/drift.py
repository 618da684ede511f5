"""A batch against the reference profile: one family of tests, Bonferroni-corrected, judged by effect size.

Each column gets tests fit for its type: numbers a KS test on the profile's quantile grid plus a
location (mean) and a scale (absolute deviation) z-test, which see small shifts KS misses, and a tail-mass
test, which sees a shift confined to a sub-population (`drift_numeric`); categories a
chi-squared test with rare categories pooled; nullable columns a test on the null share; and the model's
predicted probability of each class a KS test (Rabanser et al., 2019). All p-values share one Bonferroni
family, so a batch without drift is flagged with probability at most `drift_p_value`; a test counts only
when its effect is at least `drift_min_effect`, so huge batches do not flag trivial shifts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ml_platform.lib.drift_numeric import numeric_tests, z_p
from ml_platform.lib.drift_profile import categorical_profile
from ml_platform.lib.spec import DatasetSpec


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    test: str
    p_value: float
    effect: float
    effect_measure: str
    tests: int
    drifted: bool = False


@dataclass(frozen=True)
class DriftDecision:
    columns: list[ColumnDrift]
    drifted_share: float
    drift: bool
    alpha_per_test: float

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(c) for c in self.columns])


def numeric_drift(name: str, ref: dict[str, Any], values: np.ndarray, ks_only: bool = False) -> ColumnDrift | None:
    """The column's numeric tests as one entry of the family; the effect is the Wasserstein distance in SDs."""
    result = numeric_tests(ref, values, ks_only)
    if result is None:
        return None
    return ColumnDrift(name, result.test, min(result.p_values.values()), result.effect, "wasserstein_sd",
                       len(result.p_values))


def categorical_drift(name: str, ref: dict[str, Any], values: pd.Series) -> ColumnDrift | None:
    """Chi-squared on the category counts (categories rarer than 5 expected rows pooled); effect: TVD."""
    current = categorical_profile(values)["counts"]
    categories = sorted(set(ref["counts"]) | set(current))
    table = np.array([[ref["counts"].get(c, 0) for c in categories],
                      [int(current.get(c, 0)) for c in categories]], dtype=float)
    if table[0].sum() == 0 or table[1].sum() == 0:
        return None
    tvd = 0.5 * float(np.abs(table[0] / table[0].sum() - table[1] / table[1].sum()).sum())
    expected = table.sum(axis=0) * table[1].sum() / table.sum()
    rare = expected < 5
    if rare.any():
        table = np.column_stack([table[:, ~rare], table[:, rare].sum(axis=1)])
        table = table[:, table.sum(axis=0) > 0]
    p_value = float(stats.chi2_contingency(table).pvalue) if table.shape[1] >= 2 else 1.0
    return ColumnDrift(name, "chi2", p_value, tvd, "total_variation", 1)


def null_share_drift(name: str, ref_share: float, ref_rows: int, values: pd.Series) -> ColumnDrift:
    """Two-proportion z-test on the share of missing values; effect: the difference in share."""
    share, m = float(values.isna().mean()), len(values)
    pooled = (ref_share * ref_rows + share * m) / (ref_rows + m)
    p_value = z_p(share - ref_share, pooled * (1 - pooled) * (1 / ref_rows + 1 / m)) if pooled > 0 else 1.0
    return ColumnDrift(f"{name} (missing)", "two_proportion_z", p_value, abs(share - ref_share), "share_difference", 1)


def detect_drift(profile: dict[str, Any], current: pd.DataFrame, spec: DatasetSpec,
                 probabilities: pd.DataFrame | None = None) -> DriftDecision:
    """Every test on the batch, then one decision: drift when any test is significant and large enough."""
    results: list[ColumnDrift | None] = []
    for name in spec.numeric_features:
        values = pd.to_numeric(current[name], errors="coerce").to_numpy(float)
        results.append(numeric_drift(name, profile["numeric"][name], values))
    for name in spec.categorical_features:
        results.append(categorical_drift(name, profile["categorical"][name], current[name]))
    for feature in spec.features:
        if feature.nullable:
            results.append(null_share_drift(feature.name, profile["null_share"][feature.name],
                                            profile["rows"], current[feature.name]))
    predictions = profile.get("predictions")
    if predictions and probabilities is not None:
        for label in predictions["classes"]:
            results.append(numeric_drift(f"proba[{label}]", predictions["columns"][label],
                                         probabilities[label].to_numpy(float), ks_only=True))
    tested = [r for r in results if r is not None]
    limits = spec.thresholds
    alpha = limits.drift_p_value / max(1, sum(r.tests for r in tested))
    judged = [replace(r, drifted=r.p_value < alpha and r.effect >= limits.drift_min_effect) for r in tested]
    features = [r for r in judged if not r.column.startswith("proba[")]
    share = sum(r.drifted for r in features) / len(features) if features else 0.0
    return DriftDecision(judged, share, any(r.drifted for r in judged), alpha)


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
    return {m["config"]["column"]: float(m["value"]) for m in snapshot.dict()["metrics"]
            if m.get("config", {}).get("column") and isinstance(m.get("value"), (int, float))}
