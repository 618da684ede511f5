import dagster as dg
import pandas as pd

from ml_platform.defs.partitions import batches
from ml_platform.defs.policy import TRANSIENT_RETRY
from ml_platform.defs.training.config import TrainingConfig
from ml_platform.defs.training.window import window_from_records
from ml_platform.k8s import TRAINING_OP_TAGS
from ml_platform.lib.bounded_metadata import bounded_dict, bounded_list
from ml_platform.lib.features import model_spec
from ml_platform.lib.run_cost import RunCost
from ml_platform.lib.training_set import (SPLIT, build_training_set, content_version, sample_share,
                                          training_columns)
from ml_platform.resources import DatasetResource, MlflowTracking


@dg.asset(
    group_name="training",
    kinds={"pandas", "sklearn"},
    io_manager_key="parquet_io_manager",
    owners=["team:ml-platform"],
    code_version="3",
    retry_policy=TRANSIENT_RETRY,
    pool="retrain",  # with run granularity (dagster.yaml): at most one run holding a retrain's steps at a time
    deps=["features", "rejected_rows"],  # read by this step itself: only the window's partitions and columns
    required_resource_keys={"dataset", "parquet_io_manager"},  # the IO manager `features` is stored with
)
def training_set(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
    """The newest batches' features by landing time, minus any batch over the rejection limit, split with a fixed seed.

    The window (`window_batches`, `window_rows`) is chosen from the row counts in the newest
    batches' materialization metadata, then only its partitions and the model's columns are read,
    through the `features` IO manager: the cost follows the window, never the number of batches landed.
    Landing time is the order the partitions were added, so a newly landed batch is in the retrain
    it triggered, whatever its name. Above `sample_rows`, each batch gives its share of the sample as it
    is read (stratified, seeded): the step holds one batch and the sample, never the whole window.
    """
    cost, spec = RunCost(), context.resources.dataset.load()
    window = window_from_records(context.instance, spec)
    for key, reason in window.excluded.items():
        context.log.warning(f"batch {key} left out of training: {reason}")
    columns = training_columns(spec)
    io_manager = context.resources.parquet_io_manager
    frames = {key: sample_share(io_manager.load_input(dg.build_input_context(
        asset_key=dg.AssetKey("features"), partition_key=key, asset_partitions_def=batches,
        definition_metadata={"columns": columns}, instance=context.instance)), window, spec) for key in window.batches}
    data = build_training_set(frames, window, spec)
    version = content_version(data)
    split_counts = data[SPLIT].value_counts().to_dict()
    return dg.Output(data, data_version=dg.DataVersion(version), metadata={
        "dagster/row_count": len(data),
        "data_version": version,
        "train_rows": split_counts.get("train", 0),
        "test_rows": split_counts.get("test", 0),
        "batches": dg.MetadataValue.json(window.batches),  # at most `window_batches`
        "partitions_read": len(frames),
        "window_rows": window.rows,
        "sampled_to_rows": window.sample_rows or 0,
        "sample_rows": min(window.rows, spec.training.sample_rows),  # the budget `sample_share` drew each batch's share of
        **bounded_list("landing_order", window.landing_order),  # the batches looked at, newest last
        **bounded_dict("excluded_batches", window.excluded),
        "class_balance": dg.MetadataValue.json(data[spec.target.name].value_counts().to_dict()),
        **cost.metadata(),
    })


@dg.asset(
    group_name="training",
    kinds={"sklearn", "mlflow"},
    io_manager_key="json_io_manager",
    owners=["team:ml-platform"],
    code_version="2",
    op_tags=TRAINING_OP_TAGS,
)
def trained_model(context: dg.AssetExecutionContext, config: TrainingConfig, training_set: pd.DataFrame,
                  dataset: DatasetResource, mlflow_tracking: MlflowTracking) -> dg.Output[dict]:
    """The candidate: the best pipeline of a cross-validated search, refit and registered in MLflow.

    The search halves the candidates as it adds rows (`lib/search.py`) and runs each rung's fits on the
    CPUs the pod was granted (`lib/cpus.py`). Every candidate is a nested MLflow run; the refit model is
    logged with its signature and an input example and becomes a new version of the registered model
    named after the dataset.
    """
    from ml_platform.lib.cpus import granted_cpus
    from ml_platform.lib.mlflow_logging import log_search, log_winner
    from ml_platform.lib.training_identity import training_code_version

    cost, spec = RunCost(), dataset.load()
    train = training_set[training_set[SPLIT] == "train"]
    x, y = train[[*spec.feature_names, *(d.name for d in spec.derived)]], train[spec.target.name]
    data_version = content_version(training_set)
    cpus = granted_cpus(spec.training.cpus)
    with mlflow_tracking.run(context) as tracking:
        result = log_search(tracking, spec, config.search_space(), x[model_spec(spec).feature_names], y,
                            cpus, config.halving_factor)
        best = result.ranked[0]
        context.log.info(f"best of {len(result.ranked)} after {result.fits} fits on {result.cpus} of {cpus} CPUs in "
                         f"{result.seconds:.1f} s: {best.estimator} {best.params} cv={best.cv_score:.4f}")
        code_version = training_code_version(spec, config.search_space())
        curve = [{"rows": s.rows, "score": round(s.cv_score, 4), "std": round(s.cv_std, 4)} for s in result.curve()]
        candidate = log_winner(tracking, spec, best, x, y, data_version, context.run_id, code_version)
        candidate["learning_curve"] = curve
    metric = f"cv_{spec.thresholds.metric}"
    leaderboard = pd.DataFrame([{"estimator": s.estimator, "params": str(s.params), "rows": s.rows,
                                 metric: round(s.cv_score, 4), "cv_std": round(s.cv_std, 4),
                                 "fit_seconds": round(s.fit_seconds, 1), "error": s.error} for s in result.ranked])
    for failed in (s for s in result.ranked if s.error):
        context.log.warning(f"candidate {failed.estimator} {failed.params} failed: {failed.error}")
    return dg.Output(candidate, metadata={
        "model_version": candidate["version"],
        "estimator": best.estimator,
        "params": dg.MetadataValue.json(best.params),
        metric: best.cv_score,
        "data_version": data_version,
        "training_code_version": code_version,
        "mlflow_run": dg.MetadataValue.url(candidate["run_url"]),
        "search": dg.MetadataValue.md(leaderboard.to_markdown(index=False)),
        "search_cpus": result.cpus,  # 1 below search.PARALLEL_FROM_ROWS, else the pod's grant
        "search_fits": result.fits,
        "failed_candidates": sum(bool(s.error) for s in result.ranked),
        "search_seconds": round(result.seconds, 1),
        "rung_rows": dg.MetadataValue.json([rung[0].rows for rung in result.rungs]),
        "learning_curve": dg.MetadataValue.json(curve),
        "search_worker_peak_rss_mib": result.worker_peak_rss_mib,
        **cost.metadata(),
    })
