"""Tests of one numeric column against its reference profile, all read off the profile's quantile grid.

KS sees a shift of the bulk; the mean and scale z-tests see small location and spread changes KS misses;
the tail test sees what all three dilute: a shift confined to a sub-population, which piles mass into a
tail (5% of rows moved by 2 SD doubles the share beyond the reference's 99th percentile, while it moves
the CDF by under 0.04 anywhere). The mean and scale tests work on values clipped to the reference's 1st
and 99th percentiles and divide by the reference's variance alone: under no shift both samples share it,
while a heavy-tailed batch's own variance is too unstable to divide by (with it, a Pareto column was
flagged eight times too often). The tail test is exact for any distribution, ties included, because both
sides count "at or below an edge" the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

TAIL_CUTS = (0.01, 0.05, 0.95, 0.99)


@dataclass(frozen=True)
class NumericTests:
    """Each test's p-value (the caller corrects for all of them in one family) and W1 in reference SDs."""

    p_values: dict[str, float]
    effect: float

    @property
    def test(self) -> str:
        return "+".join(self.p_values)


def z_p(difference: float, variance: float) -> float:
    """Two-sided p-value of a z statistic; with no variance, any difference at all is certain."""
    if variance > 0:
        return float(2 * stats.norm.sf(abs(difference) / np.sqrt(variance)))
    return 1.0 if difference == 0 else 0.0


def tail_p(ref_cdf: np.ndarray, n: int, cur_cdf: np.ndarray, m: int) -> float:
    """Smallest p over the tail cuts, Bonferroni-corrected within: Fisher's exact test at each cut.

    At each cut (the grid edge whose reference CDF is nearest 1%, 5%, 95%, 99%), the rows at or below it
    from both samples are pooled; under no shift the current's part is hypergeometric. Exact even for 10
    expected rows, where a normal approximation would overstate significance tenfold.
    """
    cuts = np.unique([int(np.abs(ref_cdf - q).argmin()) for q in TAIL_CUTS])
    below_cur = np.rint(cur_cdf[cuts] * m)
    pooled = np.rint(ref_cdf[cuts] * n) + below_cur
    inside = (pooled > 0) & (pooled < n + m)
    if not inside.any():
        return 1.0
    below_cur, pooled = below_cur[inside], pooled[inside]
    high = below_cur > pooled * m / (n + m)
    one_sided = np.concatenate([stats.hypergeom.sf(below_cur[high] - 1, n + m, pooled[high], m),
                                stats.hypergeom.cdf(below_cur[~high], n + m, pooled[~high], m)])
    return float(min(1.0, len(TAIL_CUTS) * 2 * one_sided.min()))


def numeric_tests(ref: dict[str, Any], values: np.ndarray, ks_only: bool = False) -> NumericTests | None:
    """KS on the grid, plus (unless `ks_only`) mean, scale and tail tests; None when there is nothing to test."""
    values = values[~np.isnan(values)]
    m, n = len(values), ref["n"]
    if m < 2 or "edges" not in ref:
        return None
    edges, ref_cdf = np.asarray(ref["edges"]), np.asarray(ref["cdf"])
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    cur_cdf = np.cumsum(counts)[: len(edges)] / m
    gap = np.abs(ref_cdf - cur_cdf)
    n_eff = n * m / (n + m)
    p_values = {"ks": float(stats.kstwo.sf(gap.max(), max(1, int(round(n_eff)))))}
    if not ks_only:
        clipped = np.clip(values, *ref["clip"]) if "clip" in ref else values
        deviation = np.abs(clipped - ref["median"])
        n_inv = 1 / n + 1 / m
        p_values["mean"] = z_p(clipped.mean() - ref["mean"], ref.get("clipped_sd", ref["sd"]) ** 2 * n_inv)
        p_values["scale"] = z_p(deviation.mean() - ref["abs_dev_mean"], ref["abs_dev_sd"] ** 2 * n_inv)
        p_values["tail"] = tail_p(ref_cdf, n, cur_cdf, m)
    outside = np.clip(edges[0] - values, 0, None).sum() + np.clip(values - edges[-1], 0, None).sum()
    wasserstein = float((gap[:-1] * np.diff(edges)).sum() + outside / m)
    return NumericTests(p_values, wasserstein / (ref["sd"] or 1.0))
