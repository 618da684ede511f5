"""The promotion gate, and a promotion whose every interrupted state still serves a champion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ml_platform.lib import model_store
from ml_platform.lib.alias_moves import AliasMove, move_alias
from ml_platform.lib.registry import CHAMPION
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


def promote(registry: Any, version: str, stage: Any, verify: Callable[[], None] = lambda: None,
            actor: str = "promotion", reason: str = "", alias: str = CHAMPION) -> AliasMove:
    """Commit the model to the serving store, then move `alias` (the champion) in one registry call.

    `stage` is a context manager that commits the model to the serving store on clean exit; `verify`
    checks the store holds it intact. Only then is the version tagged with the champion it replaces
    and the alias moved, so a promotion stopped anywhere (even by SIGKILL) leaves the alias naming a
    version every service can load: the old champion before the move, the new one after it.
    Returns the move, for the alias journal.
    """
    with stage:
        pass
    verify()
    if alias == CHAMPION:
        registry.tag_version(version, {"previous_champion": registry.champion_version() or ""})
    return move_alias(registry, alias, version, actor, reason)


def verify_stored(home: str, tag: str) -> None:
    """The model must be in the serving store and load with the checksum recorded when it was saved."""
    stored = model_store.find(home, tag)
    if stored is None:
        raise model_store.ModelNotInStore(f"{tag} is not in the BentoML store at {home}")
    model_store.load_verified(stored.path, stored.info.metadata["sha256"])
