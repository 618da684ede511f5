"""The promotion gate, and a promotion that either happens everywhere or nowhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml_platform.lib.spec import Thresholds


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


def gate(candidate: dict[str, float], champion: dict[str, float] | None, limits: Thresholds) -> GateDecision:
    """Promote when the candidate meets the minimum and is not worse than the champion beyond tolerance."""
    metric = limits.metric
    score = candidate.get(metric)
    if score is None:
        return GateDecision(False, f"candidate has no {metric} on the test set")
    if score < limits.min_metric:
        return GateDecision(False, f"candidate {metric} {score:.4f} is below the minimum {limits.min_metric:.4f}")
    if champion is None:
        return GateDecision(True, f"candidate {metric} {score:.4f} meets the minimum; there is no champion yet")
    best = champion[metric]
    if score < best - limits.promotion_tolerance:
        return GateDecision(False, f"candidate {metric} {score:.4f} is worse than the champion's {best:.4f} "
                                   f"by more than {limits.promotion_tolerance:.4f}")
    return GateDecision(True, f"candidate {metric} {score:.4f} vs champion {best:.4f} "
                              f"(tolerance {limits.promotion_tolerance:.4f})")


def promote(registry: Any, version: str, stage: Any) -> str | None:
    """Stage the model for serving, move the `champion` alias, then let the stage commit.

    `stage` is a context manager that commits the model to the serving store on clean exit. The alias
    moves inside it, so a failure before the commit discards the staged model, and a failure in the
    commit itself puts the alias back. Returns the previous champion version.
    """
    previous = registry.champion_version()
    try:
        with stage:
            registry.set_champion(version)
    except BaseException:
        registry.restore_champion(previous)
        raise
    return previous
