"""Live promotion: a challenger in shadow or canary is promoted or reverted on labelled live traffic.

`promoted_model` makes a candidate `challenger` when the spec's `promotion.mode` is `shadow` or
`canary`; every replica then logs both models' answers per record (in canary mode a share of clients,
set by the challenger's `canary_percent` tag, gets the challenger's). As labels arrive,
`challenger_sensor` asks for `promotion_decision`, which joins both answers to the labels per record,
applies the test stated in `ml_platform/lib/live_comparison.py`, and in canary mode steps the share up
while the challenger holds. Each run adds only the prediction-store files that arrived since the last one
to running counts (`lib/decision_counts.py`); it never reads the raw log history. Every alias move and share change is journalled in `model_alias_history`.
"""

import hashlib
import json
import time
from contextlib import nullcontext
from datetime import datetime, timezone

import dagster as dg

from ml_platform.defs.policy import frequent_tags, waiting_run
from ml_platform.defs.promotion.alias_history import Journal, recorded_moves
from ml_platform.lib import model_store
from ml_platform.lib.alias_moves import AliasMove
from ml_platform.lib.arrivals import new_files, new_log_files
from ml_platform.lib.canary import share_of
from ml_platform.lib.decision_counts import update
from ml_platform.lib.high_water import Mark
from ml_platform.lib.live_comparison import decide, paired_counts, with_canary
from ml_platform.lib.prediction_store import PredictionStore
from ml_platform.lib.promotion import promote, verify_stored
from ml_platform.lib.registry import CHALLENGER, CHAMPION
from ml_platform.lib.run_cost import RunCost
from ml_platform.lib.store_refresh import refresh
from ml_platform.loop_resources import LoopStorage
from ml_platform.model_scope import ModelScope
from ml_platform.resources import BentoStore, MlflowTracking


class DecisionConfig(dg.Config):
    grace_seconds: float = 60.0  # after the alias moves, replicas load the challenger within one poll


def promotion_decision_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(key=model.key("promotion_decision"), group_name=model.named("promotion"), kinds={"mlflow"},
              io_manager_key="json_io_manager", owners=["team:ml-platform"])
    def promotion_decision(context: dg.AssetExecutionContext, config: DecisionConfig, loop_storage: LoopStorage,
                           mlflow_tracking: MlflowTracking, bento_store: BentoStore) -> dg.Output[dict]:
        """Promote, keep waiting or revert the challenger (in canary mode: or raise its share), with every
        figure the outcome rests on."""
        cost, spec, loop_storage = RunCost(), model.spec(), loop_storage.scoped(model)
        registry, history = mlflow_tracking.registry(spec.name), model.key("model_alias_history")
        journal = Journal(context.instance, context.log_event, history)
        journal.reconcile(registry)
        champion, challenger = registry.champion_version(), registry.alias_version(CHALLENGER)
        if challenger is None or champion is None:
            return dg.Output({"outcome": "none"}, metadata={"outcome": "none", "reason": "no challenger to judge"})
        moves = [m for m in recorded_moves(context.instance, history=history) if m.alias == CHALLENGER and m.to_version == challenger]
        since, share_since = _set_at(moves, share_change=False), _set_at(moves, share_change=None)
        refresh(loop_storage.predictions_path, loop_storage.inference_log_path, loop_storage.labels_path,
                loop_storage.label_wait_minutes * 60, time.time())
        live = update(PredictionStore(loop_storage.predictions_path), champion, challenger, since, config.grace_seconds)
        now = datetime.now(timezone.utc)
        decision = decide(paired_counts(live.both, live.only_champion, live.only_challenger, live.neither,
                                        spec.promotion.alpha), live.records, live.unanswered,
                          (now - since).total_seconds() / 3600, spec.promotion, timed=live.p99())
        share, step = share_of(registry.version_tags(challenger)), None
        if spec.promotion.mode == "canary":
            decision, step = with_canary(decision, spec.promotion, share, (now - share_since).total_seconds() / 60)
        actor = f"promotion_decision (run {context.run_id[:8]})"
        if decision.outcome == "promote":
            tag = model_store.tag_for(spec.name, challenger)
            journal.move(registry, CHAMPION, challenger, actor, decision.reason, act=lambda: promote(
                registry, challenger, nullcontext(), actor=actor, reason=decision.reason,
                verify=lambda: verify_stored(bento_store.home_path, tag)))
        if decision.outcome in ("promote", "revert") and share > 0:
            journal.share(registry, challenger, 0, actor, decision.outcome)
        if decision.outcome in ("promote", "revert"):
            journal.move(registry, CHALLENGER, None, actor, decision.reason)
        if step is not None:
            journal.share(registry, challenger, step, actor, f"step {share:g}% held; {decision.reason}")
        context.log.info(f"challenger v{challenger} vs champion v{champion}: {decision.outcome}: {decision.reason}")
        result = {"outcome": decision.outcome, "reason": decision.reason, "champion": champion, "challenger": challenger,
                  "since": since.isoformat(), "mode": spec.promotion.mode, "canary_records": live.canary,
                  "store_files_read": live.files_read,
                  "canary_step_to": step if step is not None else "", **decision.figures}
        metadata = {k: v for k, v in result.items() if isinstance(v, (str, int, float, bool))}
        return dg.Output(result, metadata={**metadata, **cost.metadata()})

    return promotion_decision


def _set_at(moves: list[AliasMove], share_change: bool | None) -> datetime:
    """When the challenger alias last moved to its version (`share_change=False`), or when that or its
    canary share last changed (None), from the journal; now, if it was moved outside the journal."""
    chosen = [m for m in moves if share_change is None or m.share_change == share_change]
    return datetime.fromisoformat(chosen[-1].at) if chosen else datetime.now(timezone.utc)


def decide_promotion_job(model: ModelScope):
    return dg.define_asset_job(model.named("decide_promotion"), selection=[model.key("promotion_decision")],
                          tags=frequent_tags(model), description="Judge the challenger on the labelled live records.")


def _marks(cursor: str | None) -> dict:
    """The cursor as {"state", "labels", "log"}; a cursor from before marks (a plain string) starts over."""
    try:
        data = json.loads(cursor) if cursor else {}
    except json.JSONDecodeError:
        data = {}
    return data if isinstance(data, dict) else {}


def challenger_sensor_for(model: ModelScope, decide_promotion) -> dg.SensorDefinition:
    @dg.sensor(name=model.named("challenger_sensor"), job=decide_promotion, minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.RUNNING)
    def challenger_sensor(context: dg.SensorEvaluationContext, loop_storage: LoopStorage,
                          mlflow_tracking: MlflowTracking) -> dg.SensorResult | dg.SkipReason:
        """Asks for a decision whenever label files or closed log files arrive while a challenger is out, and at
        least hourly (in canary mode, at least once a step), so the maximum duration is enforced and the
        canary share stepped up even when no label arrives. While a decision is queued it asks for no other.

        The cursor holds high-water marks (`lib/arrivals.py`): log files are listed from the mark's name on,
        so a tick never lists the log's history; a log file that turns up later than the margin (a dead
        writer's, recovered) is still judged at the next hourly or step decision."""
        spec, loop_storage = model.spec(), loop_storage.scoped(model)
        challenger = mlflow_tracking.registry(spec.name).alias_version(CHALLENGER)
        if challenger is None:
            return dg.SkipReason("no challenger under live evaluation")
        policy = spec.promotion
        minutes = min(60.0, policy.canary.step_minutes) if policy.mode == "canary" else 60.0
        previous = _marks(context.cursor)
        labels, labels_mark, _ = new_files(loop_storage.labels_path, "*.csv", Mark.parse(previous.get("labels")))
        logs, log_mark, _ = new_log_files(loop_storage.inference_log_path, Mark.parse(previous.get("log")))
        period = int(datetime.now(timezone.utc).timestamp() // (minutes * 60))
        arrived = "\n".join(sorted(f"{item.path.name}@{item.stamp_ns}" for item in [*labels, *logs]))
        state = f"v{challenger}-{period}" + (f"-{hashlib.sha256(arrived.encode()).hexdigest()[:16]}" if arrived else "")
        cursor = json.dumps({"state": f"v{challenger}-{period}", "labels": labels_mark.dump(), "log": log_mark.dump()})
        if not arrived and previous.get("state") == f"v{challenger}-{period}":
            return dg.SensorResult(skip_reason=f"nothing new for challenger v{challenger}", cursor=cursor)
        if waiting := waiting_run(context.instance, decide_promotion.name):  # it will see this state when it starts
            return dg.SensorResult(skip_reason=f"run {waiting[:8]} of {decide_promotion.name} is queued", cursor=cursor)
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=state, tags=frequent_tags(model))], cursor=cursor)

    return challenger_sensor
