"""The search as Dagster steps: a step per candidate and rung, the failed one dropped, every one a nested MLflow run."""

import dagster as dg
import pytest
from mlflow import MlflowClient

from ml_platform.defs.training.search_steps import cpu_share

SEARCH = {"estimators": ["logistic_regression", "hist_gradient_boosting"], "logistic_c": [-1.0, 0.01, 1.0],
          "hgb_max_iter": [20], "min_rung_rows": 100}  # C=-1 is refused by scikit-learn; 100 rows make two rungs


def test_each_candidate_is_a_step_the_best_go_on_to_every_row_and_a_failed_one_only_drops_out(trained_platform):
    platform = trained_platform
    result = platform.retrain(run_config={"ops": {"trained_model": {"config": SEARCH}}})
    assert result.success
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    search = sorted(step.removeprefix("trained_model.") for step in started if step.startswith("trained_model."))
    screened, final = [s for s in search if s.startswith("screen_")], [s for s in search if s.startswith("final_")]
    assert screened == ["screen_hist_gradient_boosting[c3]", "screen_logistic_regression[c0]",
                        "screen_logistic_regression[c1]", "screen_logistic_regression[c2]"]
    assert len(final) == 2 and {s.split("[")[1] for s in final} == {"f0]", "f1]"}
    assert set(search) - set(screened) - set(final) == {"plan_search", "choose_finalists", "register_winner"}

    [record] = platform.instance.fetch_materializations(dg.AssetKey("trained_model"), limit=1).records
    metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    rows = metadata["rung_rows"][-1]
    assert metadata["rung_rows"] == [rows // 3, rows] and metadata["search_steps"] == 4 + 2
    assert metadata["failed_candidates"] == 1 and metadata["search_fits"] >= 6 * 3
    model = result.output_for_node("trained_model", "trained_model")
    assert model["params"] != {"C": -1.0} and model["version"] == "2"

    client = MlflowClient(platform.resources["mlflow_tracking"].tracking_uri)
    nested = client.search_runs([client.get_run(model["run_id"]).info.experiment_id],
                                f"tags.mlflow.parentRunId = '{model['run_id']}'")
    assert len(nested) == 4
    failed = [run for run in nested if run.info.status == "FAILED"]
    assert [run.data.params["C"] for run in failed] == ["-1.0"]
    assert failed[0].data.tags["error"].startswith("InvalidParameterError")
    finalists = [run for run in nested if run.data.tags["rows"] == str(rows)]
    assert len(finalists) == 2 and all(len(client.get_metric_history(run.info.run_id, "cv_f1_macro")) == 2
                                       for run in finalists)  # scored on the sample, then on every row


@pytest.mark.parametrize("executor, max_concurrent, siblings, expected", [
    ("k8s", None, 6, 4), ("in_process", None, 6, 4),  # a pod of its own, or one step at a time: all of it
    ("multiprocess", None, 6, 1), ("multiprocess", 2, 6, 2), ("multiprocess", 2, 1, 4), ("multiprocess", 8, 3, 1)])
def test_steps_side_by_side_on_one_host_share_its_cpus(executor, max_concurrent, siblings, expected):
    assert cpu_share(4, executor, max_concurrent, siblings) == expected
