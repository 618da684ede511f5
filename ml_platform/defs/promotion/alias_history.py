"""The journal of alias moves: each move of `champion` (or `challenger`, or its canary share) is a
materialization of `model_alias_history`, whether a run made it (promotion) or an operator did
(`make rollback`).

A move is two writes to two systems, the registry and then the journal, so a process killed between
them would leave a move the journal never lists. `Journal` closes that gap: it records the intent (an
observation of the asset) before the registry call and the move after it, and every journalled move,
and every decision, first reconciles: an alias or share that differs from the journal's last entry is
journalled from the latest matching intent (a writer killed in the gap: its actor, reason and time), or,
with no intent, as moved outside the platform (the MLflow UI, say), so the journal never skips a move.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import dagster as dg

from ml_platform.lib.alias_moves import AliasMove, move_alias
from ml_platform.lib.canary import set_share, share_of
from ml_platform.lib.registry import CHALLENGER, CHAMPION
from ml_platform.model_scope import ModelScope

MODEL_ALIAS_HISTORY = dg.AssetKey("model_alias_history")  # the single-model shortcut's journal


def alias_history_spec(model: ModelScope) -> dg.AssetSpec:
    return dg.AssetSpec(
        model.key("model_alias_history"),
        group_name=model.named("promotion"),
        kinds={"mlflow"},
        owners=["team:ml-platform"],
        description="Every move of a model alias in the MLflow registry: alias, from and to version, who moved "
                    "it, why and when, one materialization per move, in order (canary share changes too). "
                    "Observations are the intents recorded before each move. MLflow keeps only the present.",
    )


def materialization(move: AliasMove, history: dg.AssetKey = MODEL_ALIAS_HISTORY) -> dg.AssetMaterialization:
    to = f"v{move.to_version}" if move.to_version else "nothing"
    return dg.AssetMaterialization(history, description=f"{move.alias} -> {to}: {move.reason}",
                                   metadata=move.as_metadata())


def _moves(records) -> list[AliasMove]:
    values = ({k: v.value for k, v in r.asset_event.metadata.items()} for r in records)
    return sorted((AliasMove.from_metadata(v) for v in values), key=lambda move: move.at)


def recorded_moves(instance: dg.DagsterInstance, limit: int = 1000,
                   history: dg.AssetKey = MODEL_ALIAS_HISTORY) -> list[AliasMove]:
    """The journal, oldest first. Two reconciles running at once may both journal the move they found;
    a move the same as the previous one of its alias (same versions, same share) cannot have happened
    twice in a row, so the repeat is left out."""
    kept: list[AliasMove] = []
    last: dict[tuple[str, bool], tuple] = {}
    for move in _moves(instance.fetch_materializations(history, limit=limit).records):
        kind, what = (move.alias, move.share_change), (move.from_version, move.to_version, move.canary_percent)
        if last.get(kind) != what:
            kept.append(move)
        last[kind] = what
    return kept


class Journal:
    """Alias moves and share changes with their journal entries, in a crash-safe order.

    `log` writes an event: a run's `context.log_event`, or the instance's runless report; `history` is the
    model's journal asset (`model.key("model_alias_history")`)."""

    def __init__(self, instance: dg.DagsterInstance, log: Callable[[Any], None] | None = None,
                 history: dg.AssetKey = MODEL_ALIAS_HISTORY):
        self.instance, self.log, self.history = instance, log or instance.report_runless_asset_event, history

    def record(self, registry: Any, intended: AliasMove, act: Callable[[], AliasMove]) -> AliasMove:
        """Reconcile, record the intent, make the move (`act`), then journal the move it returns."""
        self.reconcile(registry)
        self.log(dg.AssetObservation(self.history, description=f"intent: {intended.reason}",
                                     metadata=intended.as_metadata()))
        move = act()
        self.log(materialization(move, self.history))
        return move

    def move(self, registry: Any, alias: str, to_version: str | None, actor: str, reason: str,
             act: Callable[[], AliasMove] | None = None, canary_percent: str | None = None) -> AliasMove:
        """Move `alias` (by `act`, e.g. a promotion that stages the model first; else one registry call)."""
        intended = AliasMove(alias, registry.alias_version(alias), to_version, actor, reason, _now(), canary_percent)
        return self.record(registry, intended, act or (lambda: move_alias(registry, alias, to_version, actor, reason)))

    def share(self, registry: Any, version: str, percent: float, actor: str, reason: str) -> AliasMove:
        """Set the challenger's canary share (the replicas read it on their next poll)."""
        intended = AliasMove(CHALLENGER, version, version, actor, reason, _now(), f"{percent:g}")
        return self.record(registry, intended, lambda: set_share(registry, version, percent, actor, reason))

    def reconcile(self, registry: Any) -> list[AliasMove]:
        """Journal whatever the registry holds that the journal does not; returns the moves journalled."""
        moves = recorded_moves(self.instance, history=self.history)
        intents = _moves(self.instance.fetch_observations(self.history, limit=200).records)
        found = []
        for alias in (CHAMPION, CHALLENGER):
            version, tags = registry.alias_tags(alias)
            named = [m for m in moves if m.alias == alias and not m.share_change]
            journalled = named[-1].to_version if named else None
            if version != journalled:
                found.append(_recovered(AliasMove(alias, journalled, version, "", "", ""), intents,
                                        named[-1].at if named else ""))
                moves.append(found[-1])
            if alias == CHALLENGER and version is not None:
                shares = [m.canary_percent for m in moves if m.to_version == version and m.canary_percent is not None]
                share = f"{share_of(tags):g}"
                if share != (shares[-1] if shares else "0"):
                    found.append(_recovered(AliasMove(alias, version, version, "", "", "", share), intents,
                                            max((m.at for m in moves), default="")))
        for move in found:
            self.log(materialization(move, self.history))
        return found


def _recovered(seen: AliasMove, intents: list[AliasMove], after: str) -> AliasMove:
    """The move the registry shows, with the actor, reason and time of the latest intent that matches it
    (an alias move by alias and versions, a share change by its share too)."""
    def key(move: AliasMove) -> tuple:
        return (move.alias, move.from_version, move.to_version, move.canary_percent if move.share_change else None)

    matching = [i for i in intents if i.at > after and key(i) == key(seen)]
    if matching:
        intent = matching[-1]
        return AliasMove(seen.alias, seen.from_version, seen.to_version, intent.actor,
                         f"{intent.reason} (journalled on reconcile: its writer stopped before the entry)",
                         intent.at, intent.canary_percent)
    return AliasMove(seen.alias, seen.from_version, seen.to_version, "reconcile",
                     "the registry moved outside the journal; found on reconcile", _now(), seen.canary_percent)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()

