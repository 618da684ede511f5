"""Drift detection's statistics on their own: a sub-population shift is seen, and a quiet batch stays quiet."""

import numpy as np
import pandas as pd
import pytest

from ml_platform.lib.drift import detect_drift
from ml_platform.lib.drift_numeric import numeric_tests
from ml_platform.lib.drift_profile import build_profile
from ml_platform.lib.spec import DatasetSpec

BEFORE_THE_TAIL_TEST = ("ks", "mean", "scale")


def numeric_spec(columns: list[str], p_value: float, min_effect: float) -> DatasetSpec:
    return DatasetSpec.model_validate({
        "name": "drift-test", "target": {"name": "label", "classes": ["a", "b"]},
        "features": [{"name": c, "type": "numeric"} for c in columns],
        "source": {"kind": "folder", "path": "."},
        "thresholds": {"drift_p_value": p_value, "drift_min_effect": min_effect}})


def sub_population_shift(rows: int, rng: np.random.Generator, share: float, sds: float) -> np.ndarray:
    values = rng.normal(0, 1, rows)
    values[rng.random(rows) < share] += sds
    return values


def test_the_tail_test_sees_a_sub_population_shift_the_old_family_missed():
    """5% of 1,000 rows moved by 2 SD: KS, mean and scale alone rarely reach the Bonferroni level; the tail does."""
    rng = np.random.default_rng(0)
    spec = numeric_spec(["x", "y", "z"], p_value=0.01, min_effect=0.05)
    reference = pd.DataFrame({c: rng.normal(0, 1, 15_000) for c in ["x", "y", "z"]})
    profile = build_profile(reference, spec)
    old_hits = new_hits = 0
    for _ in range(20):
        current = pd.DataFrame({c: rng.normal(0, 1, 1_000) for c in ["y", "z"]})
        current["x"] = sub_population_shift(1_000, rng, share=0.05, sds=2.0)
        decision = detect_drift(profile, current, spec)
        assert set(decision.drifted_columns) <= {"x"}
        new_hits += decision.drifted_columns == ["x"]
        p_values = numeric_tests(profile["numeric"]["x"], current["x"].to_numpy(float)).p_values
        old_hits += min(p_values[t] for t in BEFORE_THE_TAIL_TEST) < decision.alpha_per_test
    assert decision.alpha_per_test == pytest.approx(0.01 / 12)
    assert old_hits <= 8 and new_hits >= 17, (old_hits, new_hits)


def heavy_tailed(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Columns that break normal approximations: Cauchy-like floats, skewed integer counts, few distinct values."""
    return pd.DataFrame({
        "t2": rng.standard_t(2, rows),
        "claims": np.floor(rng.pareto(1.5, rows) * 3),
        "visits": rng.poisson(0.3, rows).astype(float),
        "lognormal": np.round(rng.lognormal(8, 1.5, rows), -2),
    })


@pytest.mark.parametrize("rows", [200, 2_000])
def test_no_shift_is_flagged_at_most_at_the_chosen_rate_with_heavy_tails_and_integers(rows):
    """Significance alone decides here (no effect floor), at a 5% budget: the family must hold it."""
    rng = np.random.default_rng(rows)
    reference = heavy_tailed(20_000, rng)
    spec = numeric_spec(list(reference.columns), p_value=0.05, min_effect=0.0)
    profile = build_profile(reference, spec)
    flagged = [detect_drift(profile, heavy_tailed(rows, rng), spec).drift for _ in range(200)]
    assert np.mean(flagged) <= 0.05, np.mean(flagged)


def test_the_tail_test_needs_no_tail_on_columns_with_a_handful_of_values():
    """A 0/1 column has no 1% quantile of its own: the cuts fall on its one edge, and a share change still shows."""
    rng = np.random.default_rng(3)
    reference = rng.binomial(1, 0.3, 10_000).astype(float)
    spec = numeric_spec(["flag"], p_value=0.01, min_effect=0.0)
    profile = build_profile(pd.DataFrame({"flag": reference}), spec)
    same = numeric_tests(profile["numeric"]["flag"], rng.binomial(1, 0.3, 1_000).astype(float)).p_values
    moved = numeric_tests(profile["numeric"]["flag"], rng.binomial(1, 0.4, 1_000).astype(float)).p_values
    assert same["tail"] > 0.01 and moved["tail"] < 1e-6
