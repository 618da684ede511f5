"""The candidate model: the search's steps (`search_steps.py`), then the winner refit and registered."""


import dagster as dg
import pandas as pd

from ml_platform.defs.training.config import TrainingConfig
from ml_platform.defs.training.search_steps import FAMILIES, JSON, search_graph_for, train_rows
from ml_platform.k8s import TRAINING_OP_TAGS
from ml_platform.lib.cpus import granted_cpus
from ml_platform.lib.run_cost import RunCost
from ml_platform.lib.search import PARALLEL_FROM_ROWS, Fits, Scored, conclude
from ml_platform.lib.training_set import content_version
from ml_platform.model_scope import ModelScope
from ml_platform.resources import MlflowTracking

FINALS = tuple(f"final_{family}" for family in FAMILIES)  # register_winner's inputs, one per family


def _register_winner_op(model: ModelScope) -> dg.OpDefinition:
    @dg.op(name=model.named("register_winner"), ins={"plan": dg.In(dict), "screened": dg.In(list),
           "training_set": dg.In(pd.DataFrame), **{name: dg.In(list) for name in FINALS}},
           out=dg.Out(dict, io_manager_key=JSON), tags=TRAINING_OP_TAGS)
    def register_winner(context: dg.OpExecutionContext, mlflow_tracking: MlflowTracking, plan: dict, screened: list,
                        training_set: pd.DataFrame, **finals: list[dict]) -> dg.Output[dict]:
        """Ranks every candidate once all have reported, scores the winner on smaller samples for its learning
        curve, logs each candidate as a nested MLflow run, then refits the winner on every training row and
        registers it as a new version of the model named after the dataset."""
        from ml_platform.lib.mlflow_logging import log_candidates, log_winner
        from ml_platform.lib.training_identity import training_code_version

        cost, spec = RunCost(), model.spec()
        x, y = train_rows(training_set, spec)
        rungs = [[Scored(**s) for s in screened]]
        final = [Scored(**s) for name in FINALS for s in finals[name]]
        rungs += [final] if final else []
        with Fits(spec, x, y, granted_cpus(spec.training.cpus) if len(x) >= PARALLEL_FROM_ROWS else 1) as fits:
            result = conclude(rungs, fits, plan["started"])
        ranked, best = result.ranked, result.ranked[0]
        context.log.info(f"best of {len(ranked)} after {result.fits} fits in {result.seconds:.1f} s: "
                         f"{best.estimator} {best.params} cv={best.cv_score:.4f}")
        data_version, code_version = content_version(training_set), training_code_version(spec, plan["space"])
        curve = [{"rows": s.rows, "score": round(s.cv_score, 4), "std": round(s.cv_std, 4)} for s in result.curve()]
        with mlflow_tracking.run(context, spec.name) as tracking:
            log_candidates(tracking, spec, result)
            candidate = log_winner(tracking, spec, best, x, y, data_version, context.run_id, code_version)
            candidate["learning_curve"] = curve
        metric = f"cv_{spec.thresholds.metric}"
        leaderboard = pd.DataFrame([{"estimator": s.estimator, "params": str(s.params), "rows": s.rows,
                                     metric: round(s.cv_score, 4), "cv_std": round(s.cv_std, 4),
                                     "fit_seconds": round(s.fit_seconds, 1), "error": s.error} for s in ranked])
        return dg.Output(candidate, metadata={
            "model_version": candidate["version"],
            "estimator": best.estimator,
            "params": dg.MetadataValue.json(best.params),
            metric: best.cv_score,
            "data_version": data_version,
            "training_code_version": code_version,
            "mlflow_run": dg.MetadataValue.url(candidate["run_url"]),
            "search": dg.MetadataValue.md(leaderboard.to_markdown(index=False)),
            "search_cpus": result.cpus,  # the most processes one candidate's step ran its folds on
            "search_steps": len(rungs[0]) + len(final),
            "search_fits": result.fits,
            "failed_candidates": sum(bool(s.error) for s in ranked),
            "search_seconds": round(result.seconds, 1),  # from the plan to the ranking: every step and pod start
            "rung_rows": dg.MetadataValue.json([rung[0].rows for rung in rungs]),
            "learning_curve": dg.MetadataValue.json(curve),
            "search_worker_peak_rss_mib": result.worker_peak_rss_mib,
            **cost.metadata(),
        })

    return register_winner


def trained_model_asset(model: ModelScope) -> dg.AssetsDefinition:
    register_winner, search_graph = _register_winner_op(model), search_graph_for(model)

    @dg.config_mapping
    def search_config(config: TrainingConfig) -> dict:
        """The search's settings stay where a run sets them: `ops.<trained_model's op>.config`."""
        return {model.named("plan_search"): {"config": config.model_dump()}}

    @dg.graph_multi_asset(name=model.named("trained_model"), outs={"trained_model": dg.AssetOut(
        key=model.key("trained_model"), io_manager_key=JSON, group_name=model.named("training"),
        kinds={"sklearn", "mlflow"}, owners=["team:ml-platform"], code_version="3",
        description="The candidate: the best pipeline of a cross-validated search, refit and registered.")},
        ins={"training_set": dg.AssetIn(key=model.key("training_set"))}, group_name=model.named("training"),
        config=search_config)
    def trained_model(training_set: pd.DataFrame):
        """The candidate: the best pipeline of a cross-validated search, each candidate a step of its own.

        Successive halving (`lib/search.py`): every candidate on a stratified sample, the best on every row,
        their folds on the CPUs each step was granted (`lib/cpus.py`). Every candidate is a nested MLflow run;
        the refit winner is logged with its signature and an input example and registered.
        """
        plan, screened, finals = search_graph(training_set)
        return register_winner(plan=plan, screened=screened, training_set=training_set,
                               **{f"final_{family}": scores for family, scores in finals.items()})

    return trained_model
