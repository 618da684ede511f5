"""The search as Dagster steps: one step per candidate and rung, the winner chosen once all have reported.

`plan_search` fans the candidates out, one dynamic step each, on the screening sample; `choose_finalists`
sends the best on to every training row; `register_winner` ranks them, logs every candidate as a nested
MLflow run and refits the winner (`trained_model.py`). The multiprocess executor runs the candidates side
by side; `k8s_job_executor` gives each its own pod, sized by its estimator family (`CANDIDATE_OP_TAGS`).
A candidate that raises is reported as failed by its step and drops out; an infrastructure failure of the
step (a lost pod) is retried.
"""


import time
from dataclasses import asdict

import dagster as dg
import pandas as pd

from ml_platform.defs.policy import TRANSIENT_RETRY
from ml_platform.defs.training.config import TrainingConfig
from ml_platform.k8s import CANDIDATE_OP_TAGS, PLAN_OP_TAGS
from ml_platform.lib.cpus import granted_cpus
from ml_platform.lib.features import model_spec
from ml_platform.lib.modeling import ESTIMATORS, candidates
from ml_platform.lib.search import PARALLEL_FROM_ROWS, Fits, Scored, advance, rung_rows
from ml_platform.lib.spec import DatasetSpec
from ml_platform.lib.training_set import SPLIT
from ml_platform.model_scope import ModelScope

FAMILIES = tuple(ESTIMATORS)
JSON = "json_io_manager"  # never pickle between steps (a step may run in another pod)


def train_rows(training_set: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, pd.Series]:
    """The training split: the model's inputs and the target."""
    train = training_set[training_set[SPLIT] == "train"]
    return train[model_spec(spec).feature_names], train[spec.target.name]


def step_cpus(context: dg.OpExecutionContext, limit: int | None, siblings: int) -> int:
    """The fit processes a step may start (`cpu_share`) under the run's executor and its configuration."""
    execution = (context.run_config.get("execution") or {}).get("config") or {}
    return cpu_share(granted_cpus(limit), context.job_def.executor_def.name, execution.get("max_concurrent"), siblings)


def cpu_share(granted: int, executor: str, max_concurrent: int | None, siblings: int) -> int:
    """Its pod's grant (`lib/cpus.py`), or, under the multiprocess executor, the host's grant shared by the
    steps it runs side by side: at most `max_concurrent` (its default: the CPUs) and `siblings` of them."""
    if executor != "multiprocess":  # in_process: one step at a time; k8s: a pod each
        return granted
    return max(1, granted // max(1, min(max_concurrent or granted, siblings, granted)))


def _candidate(estimator: str, params: dict, rows: int, siblings: int) -> dict:
    return {"estimator": estimator, "params": params, "rows": rows, "siblings": siblings}


def _plan_op(model: ModelScope) -> dg.OpDefinition:
    @dg.op(name=model.named("plan_search"), out={"plan": dg.Out(dict, io_manager_key=JSON),
           **{family: dg.DynamicOut(dict, io_manager_key=JSON) for family in FAMILIES}},
           tags=PLAN_OP_TAGS, retry_policy=TRANSIENT_RETRY)
    def plan_search(context: dg.OpExecutionContext, config: TrainingConfig, training_set: pd.DataFrame):
        """Every candidate of the grid, each a step of its own on the screening rung's rows."""
        spec = model.spec()
        rows, space = int((training_set[SPLIT] == "train").sum()), config.search_space()
        pool = list(candidates(space))
        rungs = rung_rows(rows, len(pool), config.halving_factor, config.min_rung_rows)
        context.log.info(f"{len(pool)} candidates of {spec.name} on rungs of {rungs} rows")
        yield dg.Output({"space": space, "rungs": rungs, "started": time.time(), "candidates": len(pool)}, "plan",
                        metadata={"candidates": len(pool), "rung_rows": dg.MetadataValue.json(rungs)})
        for index, (estimator, params) in enumerate(pool):
            yield dg.DynamicOutput(_candidate(estimator, params, rungs[0], len(pool)), output_name=estimator,
                                   mapping_key=f"c{index}")

    return plan_search


def _score_op(model: ModelScope, family: str) -> dg.OpDefinition:
    @dg.op(name=model.named(f"score_{family}"), out=dg.Out(dict, io_manager_key=JSON),
           tags=CANDIDATE_OP_TAGS[family], retry_policy=TRANSIENT_RETRY)
    def score(context: dg.OpExecutionContext, candidate: dict, training_set: pd.DataFrame) -> dg.Output[dict]:
        """One candidate cross-validated on its rung's rows, its folds at once on the step's CPUs."""
        spec = model.spec()
        x, y = train_rows(training_set, spec)
        cpus = step_cpus(context, spec.training.cpus, candidate["siblings"]) if len(x) >= PARALLEL_FROM_ROWS else 1
        with Fits(spec, x, y, min(cpus, spec.training.cv_folds)) as fits:
            [scored] = fits.score([(candidate["estimator"], candidate["params"], candidate["rows"])])
        if scored.error:
            context.log.warning(f"candidate {scored.estimator} {scored.params} failed: {scored.error}")
        return dg.Output(asdict(scored), metadata={
            "estimator": scored.estimator, "params": dg.MetadataValue.json(scored.params), "rows": scored.rows,
            f"cv_{spec.thresholds.metric}": scored.cv_score, "cv_std": scored.cv_std, "cpus": scored.cpus,
            "fit_seconds": round(scored.fit_seconds, 1), "peak_rss_mib": scored.peak_rss_mib, "error": scored.error})

    return score


def _choose_op(model: ModelScope) -> dg.OpDefinition:
    @dg.op(name=model.named("choose_finalists"), ins={"plan": dg.In(dict), **{f: dg.In(list) for f in FAMILIES}},
           out={"screened": dg.Out(list, io_manager_key=JSON),
                **{family: dg.DynamicOut(dict, io_manager_key=JSON) for family in FAMILIES}},
           # Never used: the graph's output asks run config for "io_manager", and a job subset (the UI's
           # "Materialize selected") keeps only the resources its ops require (dagster 1.13), so one op requires it.
           required_resource_keys={"io_manager"})
    def choose_finalists(context: dg.OpExecutionContext, plan: dict, **screened: list[dict]):
        """The best of the screening rung go on to every training row, each a step of its own again."""
        rung = [Scored(**s) for family in FAMILIES for s in screened[family]]
        first, last = plan["rungs"][0], plan["rungs"][-1]
        finalists = advance(rung, first, last)
        context.log.info(f"{len(finalists)} of {len(rung)} candidates go on from {first} to {last} rows")
        yield dg.Output([asdict(s) for s in rung], "screened")
        for index, scored in enumerate(finalists):
            yield dg.DynamicOutput(_candidate(scored.estimator, scored.params, last, len(finalists)),
                                   output_name=scored.estimator, mapping_key=f"f{index}")

    return choose_finalists


def search_graph_for(model: ModelScope):
    """The model's search steps (each op named for the model), composed for `trained_model`'s graph."""
    plan_search, choose_finalists = _plan_op(model), _choose_op(model)
    score = {family: _score_op(model, family) for family in FAMILIES}

    def run_on(training_set, rung: str, candidates) -> dict:
        return {f: getattr(candidates, f).map(lambda c, f=f: score[f].alias(model.named(f"{rung}_{f}"))(
            c, training_set)).collect() for f in FAMILIES}

    def search_graph(training_set):
        """The fan-out: returns (plan, screened rung, {family: final scores})."""
        planned = plan_search(training_set)
        chosen = choose_finalists(planned.plan, **run_on(training_set, "screen", planned))
        return planned.plan, chosen.screened, run_on(training_set, "final", chosen)

    return search_graph
