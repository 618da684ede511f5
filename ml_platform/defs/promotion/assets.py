from dataclasses import replace

import dagster as dg

from ml_platform.defs.policy import TRANSIENT_RETRY
from ml_platform.defs.promotion.alias_history import Journal
from ml_platform.lib import model_store
from ml_platform.lib.alias_moves import AliasMove
from ml_platform.lib.canary import CANARY_TAG
from ml_platform.lib.promotion import promote, verify_stored
from ml_platform.lib.registry import CHALLENGER, CHAMPION, MODEL_SHA256_TAG
from ml_platform.lib.training_identity import same_training
from ml_platform.model_scope import ModelScope
from ml_platform.resources import BentoStore, MlflowTracking


def promoted_model_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=model.key("promoted_model"),
        ins={"evaluation_report": dg.AssetIn(key=model.key("evaluation_report")),
             "trained_model": dg.AssetIn(key=model.key("trained_model"))},
        group_name=model.named("promotion"),
        kinds={"mlflow", "bentoml"},
        io_manager_key="json_io_manager",
        owners=["team:ml-platform"],
        code_version="1",
        retry_policy=TRANSIENT_RETRY,
    )
    def promoted_model(context: dg.AssetExecutionContext, evaluation_report: dict, trained_model: dict,
                       mlflow_tracking: MlflowTracking, bento_store: BentoStore) -> dg.Output[dict]:
        """The champion: the candidate if it passed the gate, else the model that was already serving.

        With the spec's `promotion.mode: shadow` or `canary` a candidate that passes becomes `challenger`
        instead, and `promotion_decision` promotes or reverts it on live traffic. In canary mode its version
        is tagged with the first canary share before the alias moves, so no replica sees it without one.

        Promotion commits the model to the BentoML store, verifies it there, and only then moves the
        MLflow alias `champion` (one registry call): stopped anywhere, the alias names a stored model.
        """
        spec = model.spec()
        registry = mlflow_tracking.registry(spec.name)
        current = registry.champion_version()
        candidate = trained_model["version"]
        promote_now = evaluation_report["gate"]["promote"]
        reason = evaluation_report["gate"]["reason"]
        if promote_now and current != evaluation_report["champion_version"]:
            promote_now, reason = False, (f"the champion changed to v{current} after this candidate was "
                                          f"evaluated against v{evaluation_report['champion_version']}")
        if promote_now and current is not None:
            repeated = same_training(candidate, registry.version_tags(candidate), current, registry.version_tags(current))
            promote_now, reason = (False, repeated) if repeated else (True, reason)
        challenger, share = None, None
        if promote_now:
            live = current is not None and spec.promotion.live
            share = spec.promotion.canary.steps[0] if live and spec.promotion.mode == "canary" else None
            if live:
                reason = f"passed the offline gate ({reason}); now challenger, judged on live traffic"
            percent = None if share is None else f"{share:g}"  # as the registry tag and the journal hold it
            if percent is not None:
                reason += f", answering {percent}% of clients (canary)"
            stage = _stage(bento_store, registry, spec, candidate, evaluation_report["candidate"])
            candidate_tag = model_store.tag_for(spec.name, candidate)
            actor, alias = f"promoted_model (run {context.run_id[:8]})", CHALLENGER if live else CHAMPION

            def act() -> AliasMove:
                if percent is not None:  # the share first: no replica sees the new challenger without it
                    registry.tag_version(candidate, {CANARY_TAG: percent})
                moved = promote(registry, candidate, stage, actor=actor, reason=reason, alias=alias,
                                verify=lambda: verify_stored(bento_store.home_path, candidate_tag))
                return moved if percent is None else replace(moved, canary_percent=percent)

            move = Journal(context.instance, context.log_event, model.key("model_alias_history")).move(
                registry, alias, candidate, actor, reason, act=act, canary_percent=percent)
            context.log.info(f"{move.alias} v{candidate} (was {move.from_version or 'none'}): {reason}")
            promote_now, challenger = not live, candidate if live else None
        if promote_now:
            champion, metrics = candidate, evaluation_report["candidate"]
        elif current is None:
            raise dg.Failure(f"No champion: the first candidate v{candidate} was not promoted: {reason}")
        else:
            champion, metrics = current, evaluation_report["champion"]
            if model_store.find(bento_store.home_path, model_store.tag_for(spec.name, current)) is None:
                with _stage(bento_store, registry, spec, current, metrics):
                    pass  # the store lost the champion (e.g. .bentoml was cleaned): put it back
            context.log.info(f"kept champion v{current}: {reason}")
        tag = model_store.tag_for(spec.name, champion)
        result = {"champion_version": champion, "bento_model_tag": tag, "promoted": promote_now, "challenger": challenger,
                  "candidate_version": candidate, "reason": reason, "metrics": metrics,
                  "data_version": registry.version_tags(champion).get("data_version", "")}
        return dg.Output(result, data_version=dg.DataVersion(tag), metadata={
            "champion_version": champion,
            "promoted": promote_now,
            "reason": reason,
            "challenger_version": challenger or "",
            "canary_percent": share or 0,
            "bento_model_tag": tag,
            **{f"champion_{k}": v for k, v in (metrics or {}).items()},
        })

    return promoted_model


def _stage(bento_store: BentoStore, registry, spec, version: str, metrics: dict):
    tags = registry.version_tags(version)
    return model_store.staged_champion(
        bento_store.home_path, spec.name, version, registry.load_model(version, tags.get(MODEL_SHA256_TAG)),
        spec.model_dump_json(),
        labels={"dataset": spec.name, "data_version": tags.get("data_version", ""),
                model_store.REGISTRY_SHA256_LABEL: tags.get(MODEL_SHA256_TAG, "")},  # which logged model
        metadata={"metrics": metrics, "estimator": tags.get("estimator", "")},
    )
