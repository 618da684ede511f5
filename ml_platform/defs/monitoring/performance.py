import time

import dagster as dg

from ml_platform.lib.bounded_metadata import bounded_dict
from ml_platform.lib.label_feed import KEPT_PAST_WAIT_SECONDS
from ml_platform.lib.live_performance import window_metrics
from ml_platform.lib.live_window import store_window
from ml_platform.lib.prediction_store import PredictionStore
from ml_platform.lib.run_cost import RunCost
from ml_platform.lib.store_refresh import refresh
from ml_platform.loop_resources import LoopStorage, RetrainPolicy
from ml_platform.model_scope import ModelScope


def live_performance_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=model.key("live_performance"),
        group_name=model.named("monitoring"),
        kinds={"sklearn"},
        io_manager_key="json_io_manager",
        owners=["team:ml-platform"],
        code_version="1",
    )
    def live_performance(context: dg.AssetExecutionContext, loop_storage: LoopStorage,
                         retrain_policy: RetrainPolicy) -> dg.Output[dict]:
        """The served model's accuracy and F1 on its own traffic, from labels that arrived after the fact.

        `below_threshold` is what the retrain sensor reads: the spec's metric under the spec's minimum,
        judged only once enough predictions of the serving version have been labelled. Labels join on
        `record_id`; labels naming no logged record, repeated or conflicting labels and unreadable label
        files are counted here, never dropped silently. Reads only new label files and the store files that
        arrived since the last run (`lib/live_window.py`), never the raw log history.
        """
        cost, spec, loop_storage = RunCost(), model.spec(), loop_storage.scoped(model)
        feed = refresh(loop_storage.predictions_path, loop_storage.inference_log_path, loop_storage.labels_path,
                       loop_storage.label_wait_minutes * 60, time.time())
        joined, opened = store_window(PredictionStore(loop_storage.predictions_path),
                                      retrain_policy.performance_window_rows,
                                      lookback_seconds=loop_storage.label_wait_minutes * 60 + KEPT_PAST_WAIT_SECONDS)
        metrics = window_metrics(joined, retrain_policy.performance_window_rows)
        metric = spec.thresholds.metric if spec.thresholds.metric in metrics else "f1_macro"
        enough = metrics["labelled"] >= retrain_policy.performance_min_labelled
        below = bool(enough and metrics[metric] < spec.thresholds.min_metric)
        result = {**metrics, "metric": metric, "threshold": spec.thresholds.min_metric, "enough_labels": enough,
                  "below_threshold": below, "labelled_total": feed.counters["joined"],
                  "unknown_labels": feed.unknown_labels, "duplicate_labels": feed.counters["duplicates"],
                  "conflicting_labels": feed.counters["conflicts"], "expired_unlabelled": feed.counters["expired_records"],
                  "store_files_read": opened, "unreadable_label_files": feed.unreadable}
        for name, reason in feed.unreadable.items():
            context.log.warning(f"label file {name} not used: {reason}")
        context.log.info(f"live {metric} of v{metrics['model_version']}: {metrics.get(metric, float('nan')):.4f} "
                         f"on {metrics['labelled']} labelled predictions; below threshold: {below}")
        metadata = {k: v for k, v in result.items() if v is not None and k != "unreadable_label_files"}
        unreadable = bounded_dict("unreadable_label_files", feed.unreadable, total=feed.counters["unreadable_files"])
        return dg.Output(result, metadata={**metadata, **cost.metadata(), **unreadable})

    return live_performance
