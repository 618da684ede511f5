"""Every move of a model alias as one record: which alias, from which version to which, who, why, when.

MLflow keeps only where an alias points now. Promotion and `make rollback` move aliases through
`move_alias`, and each move is journalled as a materialization of the `model_alias_history` asset
(`ml_platform/defs/promotion/alias_history.py`), so the Dagster UI lists every move in order and
`serving_at` answers "which model answered at 14:05 last Tuesday". A canary share change is journalled
too, as a move of `challenger` onto the version it already names, with the new `canary_percent`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from ml_platform.lib.registry import CHAMPION


@dataclass(frozen=True)
class AliasMove:
    alias: str
    from_version: str | None
    to_version: str | None
    actor: str
    reason: str
    at: str  # ISO 8601, UTC
    canary_percent: str | None = None  # set on a canary share change (the alias stays on its version)

    @property
    def share_change(self) -> bool:
        return self.canary_percent is not None and self.from_version == self.to_version

    def as_metadata(self) -> dict[str, str]:
        return {key: "" if value is None else str(value) for key, value in asdict(self).items()}

    @classmethod
    def from_metadata(cls, values: dict[str, Any]) -> AliasMove:
        optional = ("from_version", "to_version", "canary_percent")  # journalled before canary mode: no share
        return cls(**{key: (str(values.get(key, "")) or None) if key in optional else str(values[key])
                      for key in cls.__dataclass_fields__})


def move_alias(registry: Any, alias: str, to_version: str | None, actor: str, reason: str) -> AliasMove:
    """Point `alias` at `to_version` (None removes it) in one registry call; returns the move made."""
    previous = registry.alias_version(alias)
    if to_version is None:
        registry.delete_alias(alias)
    elif alias == CHAMPION:
        registry.set_champion(to_version)
    else:
        registry.set_alias(alias, to_version)
    return AliasMove(alias, previous, to_version, actor, reason, datetime.now(timezone.utc).isoformat())


def serving_at(moves: list[AliasMove], when: datetime, alias: str = CHAMPION) -> str | None:
    """The version `alias` named at `when`, from the journal (None before its first move)."""
    named = None
    for move in sorted((m for m in moves if m.alias == alias), key=lambda m: m.at):
        if datetime.fromisoformat(move.at) > when:
            break
        named = move.to_version
    return named
