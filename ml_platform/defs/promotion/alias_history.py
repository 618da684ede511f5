"""The journal of alias moves: each move of `champion` (or `challenger`) is a materialization of
`model_alias_history`, whether a run made it (promotion) or an operator did (`make rollback`)."""

import dagster as dg

from ml_platform.lib.alias_moves import AliasMove

MODEL_ALIAS_HISTORY = dg.AssetKey("model_alias_history")

model_alias_history = dg.AssetSpec(
    MODEL_ALIAS_HISTORY,
    group_name="promotion",
    kinds={"mlflow"},
    owners=["team:ml-platform"],
    description="Every move of a model alias in the MLflow registry: alias, from and to version, who moved "
                "it, why and when, one materialization per move, in order. MLflow keeps only the present.",
)


def materialization(move: AliasMove) -> dg.AssetMaterialization:
    to = f"v{move.to_version}" if move.to_version else "nothing"
    return dg.AssetMaterialization(MODEL_ALIAS_HISTORY, description=f"{move.alias} -> {to}: {move.reason}",
                                   metadata=move.as_metadata())


def recorded_moves(instance: dg.DagsterInstance, limit: int = 1000) -> list[AliasMove]:
    """The journal, oldest first."""
    records = instance.fetch_materializations(MODEL_ALIAS_HISTORY, limit=limit).records
    moves = [AliasMove.from_metadata({k: v.value for k, v in r.asset_materialization.metadata.items()})
             for r in records]
    return sorted(moves, key=lambda move: move.at)


defs = dg.Definitions(assets=[model_alias_history])
