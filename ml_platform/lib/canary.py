"""Canary mode: a share of clients, sticky per client id, is answered by the challenger.

The share lives in the registry, as the `canary_percent` tag of the challenger's version, so every
replica reads it on the poll that follows the alias (no restart, no second source of truth) and
`promotion_decision` moves it: up one step of the spec's `promotion.canary.steps` once the current
step has held for `step_minutes`, to 0 on revert. A client is routed by a stable hash of its id and
the challenger's version into 0..9999 against share x 100: a client keeps its model while the share
holds, raising the share only adds clients, and each new challenger draws its own set of clients.

Both answers are logged either way: the model that answered a record is its `model_version` (with
`answered_by: challenger` on canary records) and the other model's answer is its `shadow`, so the
paired comparison covers every record and `champion_view` gives the champion's answers back.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from ml_platform.lib.alias_moves import AliasMove
from ml_platform.lib.registry import CHALLENGER
from ml_platform.lib.spec import Canary

CANARY_TAG = "canary_percent"
BUCKETS = 10_000
ANSWERED_BY = "answered_by"


def bucket(client_id: str, version: str) -> int:
    """Where a client falls, 0..9999: the same for the same client and challenger, uniform over clients."""
    digest = hashlib.blake2b(f"{version}\0{client_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def routed_to_challenger(client_id: str, version: str, percent: float) -> bool:
    return percent > 0 and bucket(client_id, version) < percent * BUCKETS / 100


def share_of(tags: dict[str, str]) -> float:
    """The canary share a version's tags set (0 when none, or when the tag cannot be read as a percent)."""
    try:
        percent = float(tags.get(CANARY_TAG) or 0)
    except ValueError:
        return 0.0
    return min(max(percent, 0.0), 100.0)


def set_share(registry: Any, version: str, percent: float, actor: str, reason: str) -> AliasMove:
    """Tag the challenger's share (one registry call) and return the move for the alias journal."""
    previous = share_of(registry.version_tags(version))
    registry.tag_version(version, {CANARY_TAG: f"{percent:g}"})
    return AliasMove(CHALLENGER, version, version, actor, f"canary share {previous:g}% -> {percent:g}%: {reason}",
                     datetime.now(timezone.utc).isoformat(), canary_percent=f"{percent:g}")


def next_step(policy: Canary, current: float, minutes_held: float) -> float | None:
    """The share to move to now: the next step once the current one has held `step_minutes`, else None."""
    later = [step for step in policy.steps if step > current]
    return later[0] if later and minutes_held >= policy.step_minutes else None


def complete(policy: Canary, current: float, minutes_held: float) -> bool:
    """The last step has held for `step_minutes`: the challenger has served its full canary share."""
    return current >= policy.steps[-1] and minutes_held >= policy.step_minutes


def answers(record: dict, champion: str, challenger: str) -> tuple[str | None, str | None] | None:
    """(champion's, challenger's) prediction of one logged record, either None when that model gave
    none; None when the record was answered by neither version."""
    shadow = record.get("shadow") or {}
    own, other = str(record.get("model_version")), str(shadow.get("model_version"))
    if record.get(ANSWERED_BY) == "challenger" and own == challenger:
        return (shadow["prediction"] if other == champion else None), record["prediction"]
    if own == champion:
        return record["prediction"], (shadow["prediction"] if other == challenger else None)
    return None


def champion_view(record: dict) -> dict | None:
    """The record as the champion answered it: a canary record's shadow answer put back in front
    (None if the champion's answer is missing), any other record unchanged."""
    if record.get(ANSWERED_BY) != "challenger":
        return record
    shadow = record.get("shadow")
    if not shadow:
        return None
    swapped = ("model_version", "prediction", "probabilities", "model_sha256")  # the last one is optional
    front = {k: shadow[k] for k in swapped if k in shadow}
    behind = {k: record.get(k) for k in swapped if k in record or k != "model_sha256"}
    rest = {k: v for k, v in record.items() if k != "model_sha256"}  # the challenger's, not the champion's
    return {**rest, **front, ANSWERED_BY: "champion", "shadow": behind}
