"""Live promotion: a challenger in shadow is promoted or reverted on the champion's labelled traffic.

`promoted_model` makes a candidate `challenger` when the spec's `promotion.mode` is `shadow`; every
replica then answers with the champion and logs the challenger's answer beside it. As labels arrive,
`challenger_sensor` asks for `promotion_decision`, which joins both answers to the labels per record
and applies the test stated in `ml_platform/lib/live_comparison.py`.
"""

from contextlib import nullcontext
from datetime import datetime, timezone

import dagster as dg

from ml_platform.defs.promotion.alias_history import materialization, recorded_moves
from ml_platform.lib import model_store
from ml_platform.lib.alias_moves import move_alias
from ml_platform.lib.inference_log import all_closed_files, read_records
from ml_platform.lib.labels import label_files, read_labels
from ml_platform.lib.live_comparison import decide, from_log, paired
from ml_platform.lib.promotion import promote, verify_stored
from ml_platform.lib.registry import CHALLENGER
from ml_platform.loop_resources import LoopStorage
from ml_platform.resources import BentoStore, DatasetResource, MlflowTracking


@dg.asset(group_name="promotion", kinds={"mlflow"}, io_manager_key="json_io_manager", owners=["team:ml-platform"])
def promotion_decision(context: dg.AssetExecutionContext, dataset: DatasetResource, loop_storage: LoopStorage,
                       mlflow_tracking: MlflowTracking, bento_store: BentoStore) -> dg.Output[dict]:
    """Promote, keep waiting or revert the challenger, with every figure the outcome rests on."""
    spec, registry = dataset.load(), mlflow_tracking.registry()
    champion, challenger = registry.champion_version(), registry.alias_version(CHALLENGER)
    if challenger is None or champion is None:
        return dg.Output({"outcome": "none"}, metadata={"outcome": "none", "reason": "no challenger to judge"})
    since = _challenger_set_at(context.instance, challenger)
    records = [r for path in all_closed_files(loop_storage.inference_log_path) for r in read_records(path)]
    live = from_log(records, read_labels(loop_storage.labels_path).by_record, champion, challenger, since)
    hours = (datetime.now(timezone.utc) - since).total_seconds() / 3600
    decision = decide(paired(live.champion_right, live.challenger_right, spec.promotion.alpha), live.records,
                      live.unanswered, hours, spec.promotion)
    actor = f"promotion_decision (run {context.run_id[:8]})"
    if decision.outcome == "promote":
        tag = model_store.tag_for(spec.name, challenger)
        context.log_event(materialization(promote(registry, challenger, nullcontext(), actor=actor,
                                                  reason=decision.reason,
                                                  verify=lambda: verify_stored(bento_store.home_path, tag))))
    if decision.outcome in ("promote", "revert"):
        context.log_event(materialization(move_alias(registry, CHALLENGER, None, actor, decision.reason)))
    context.log.info(f"challenger v{challenger} vs champion v{champion}: {decision.outcome}: {decision.reason}")
    result = {"outcome": decision.outcome, "reason": decision.reason, "champion": champion,
              "challenger": challenger, "since": since.isoformat(), **decision.figures}
    return dg.Output(result, metadata={k: v for k, v in result.items() if isinstance(v, (str, int, float, bool))})


def _challenger_set_at(instance: dg.DagsterInstance, version: str) -> datetime:
    """When the alias last moved to `version`, from the journal (now, if it was moved outside it)."""
    moves = [m for m in recorded_moves(instance) if m.alias == CHALLENGER and m.to_version == version]
    return datetime.fromisoformat(moves[-1].at) if moves else datetime.now(timezone.utc)


decide_promotion = dg.define_asset_job("decide_promotion", selection=[promotion_decision],
                                       description="Judge the challenger on the labelled live records.")


@dg.sensor(job=decide_promotion, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def challenger_sensor(context: dg.SensorEvaluationContext, loop_storage: LoopStorage,
                      mlflow_tracking: MlflowTracking) -> dg.SensorResult | dg.SkipReason:
    """Asks for a decision whenever labels or closed log files change while a challenger is out, and at
    least hourly, so the maximum duration is enforced even when no label arrives."""
    challenger = mlflow_tracking.registry().alias_version(CHALLENGER)
    if challenger is None:
        return dg.SkipReason("no challenger under live evaluation")
    files = [*label_files(loop_storage.labels_path), *all_closed_files(loop_storage.inference_log_path)]
    state = f"v{challenger}-{len(files)}-{max((p.stat().st_mtime_ns for p in files), default=0)}"
    hour = datetime.now(timezone.utc).strftime("%Y%m%d%H")
    if context.cursor == f"{state}-{hour}":
        return dg.SkipReason(f"nothing new for challenger v{challenger}")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"{state}-{hour}")], cursor=f"{state}-{hour}")
