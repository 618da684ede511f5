"""The search: parallel fits give exactly the sequential scores, halving keeps the best, CPUs come from the quota."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from ml_platform.lib.cpus import granted_cpus
from ml_platform.lib.features import add_features, model_spec
from ml_platform.lib.generator import customer_segmentation
from ml_platform.lib.learning_curve import more_rows_verdict
from ml_platform.lib.search import SearchFailed, rung_rows, search
from ml_platform.lib.shared_frame import read_columns, write_columns
from ml_platform.lib.spec import load_spec
from ml_platform_tests.conftest import DEFAULT_SPEC

SPACE = {"logistic_regression": {"C": [0.01, 1.0]}, "random_forest": {"n_estimators": [20], "max_depth": [4, 12]}}


@pytest.fixture(scope="module")
def rows():
    spec = load_spec(DEFAULT_SPEC)
    frame = add_features(spec, customer_segmentation(6000, seed=3))
    return spec, frame[model_spec(spec).feature_names], frame[spec.target.name]


def test_one_screening_rung_leaves_at_most_factor_candidates_and_is_never_below_the_minimum():
    assert rung_rows(1_000_000, 6, 3, 20_000) == [333_333, 1_000_000]
    assert rung_rows(1_000_000, 27, 3, 20_000) == [111_111, 1_000_000]  # two rungs: each is a barrier of steps
    assert rung_rows(1_000_000, 27, 3, 200_000) == [333_333, 1_000_000]  # a first rung of 111k is too small
    assert rung_rows(30_000, 6, 3, 20_000) == [30_000]
    assert rung_rows(1_000_000, 3, 3, 20_000) == rung_rows(1_000_000, 1, 3, 20_000) == [1_000_000]
    assert rung_rows(1_000_000, 27, 1, 20_000) == [1_000_000]  # factor 1: no halving


def test_two_processes_score_exactly_what_one_does(rows):
    spec, x, y = rows
    one = search(spec, SPACE, x, y, cpus=1, factor=1)
    two = search(spec, SPACE, x, y, cpus=2, factor=1, parallel_from_rows=0)
    assert [(s.estimator, s.params, s.cv_score, s.cv_std) for s in two.ranked] == \
           [(s.estimator, s.params, s.cv_score, s.cv_std) for s in one.ranked]
    assert [(s.rows, s.cv_score) for s in two.curve()] == [(s.rows, s.cv_score) for s in one.curve()]
    assert one.fits == two.fits == (4 + 2) * spec.training.cv_folds and two.cpus == 2  # + the winner at 666, 2000 rows
    assert [len(rung) for rung in one.rungs] == [4] and all(s.rows == len(x) for s in one.ranked)


def test_halving_takes_the_best_of_each_rung_to_more_rows_and_the_winner_has_a_curve(rows):
    spec, x, y = rows
    result = search(spec, SPACE, x, y, cpus=2, factor=3, min_rows=1000, parallel_from_rows=0)
    first, last = result.rungs
    assert [s.rows for s in first] == [2000] * 4 and [s.rows for s in last] == [6000] * 2
    best_two = sorted(first, key=lambda s: s.cv_score, reverse=True)[:2]
    assert {(s.estimator, str(s.params)) for s in last} == {(s.estimator, str(s.params)) for s in best_two}
    assert result.fits == (6 + 1) * spec.training.cv_folds  # + the winner on 666 rows for its curve
    assert result.ranked[0] == max(last, key=lambda s: s.cv_score)  # the furthest rung ranks first
    assert [s.rows for s in result.ranked] == [6000, 6000, 2000, 2000]
    assert [s.rows for s in result.curve()] == [666, 2000, 6000]
    assert result.worker_peak_rss_mib > 50 and result.cpus == 2
    assert search(spec, SPACE, x, y, cpus=2, factor=1, curve=False).cpus == 1  # 6,000 rows: not worth a process


def test_a_failing_candidate_drops_out_and_the_others_go_on_but_all_failing_is_an_error(rows):
    spec, x, y = rows
    space = {"logistic_regression": {"C": [-1.0, 0.01, 1.0]}, "random_forest": {"n_estimators": [20], "max_depth": [-3]}}
    result = search(spec, space, x, y, cpus=2, factor=3, min_rows=1000, parallel_from_rows=0)
    best = result.ranked[0]
    assert best.estimator == "logistic_regression" and best.params["C"] > 0 and not best.error and best.rows == 6000
    failed = {(s.estimator, str(s.params)): s.error for s in result.ranked if s.error}
    assert set(failed) == {("logistic_regression", "{'C': -1.0}"), ("random_forest", "{'max_depth': -3, 'n_estimators': 20}")}
    assert all(error.startswith("InvalidParameterError") for error in failed.values()), failed
    assert [len(rung) for rung in result.rungs] == [4, 2]  # the failed never reach the next rung
    assert [s.error == "" for s in result.ranked] == [True, True, False, False]  # the failed rank last
    with pytest.raises(SearchFailed, match=r"every candidate failed: logistic_regression \{'C': -1.0\}: InvalidParameterError"):
        search(spec, {"logistic_regression": {"C": [-1.0]}}, x, y, cpus=1, factor=3)


def test_columns_are_shared_as_memory_maps_and_read_back_equal(tmp_path):
    frame = pd.DataFrame({"n": [1.5, np.nan, 3.0], "i": np.array([1, 2, 3], dtype="int64"),
                          "s": ["a", None, "b"], "c": pd.Categorical(["x", "y", "x"])})
    back = read_columns(write_columns(frame, tmp_path / "cols"))
    assert isinstance(np.asarray(back["n"]).base, np.memmap) or isinstance(back["n"].to_numpy(), np.memmap)
    pd.testing.assert_series_equal(back["n"], frame["n"])
    assert back["i"].tolist() == [1, 2, 3] and back["c"].tolist() == ["x", "y", "x"]
    assert back["s"].tolist()[0::2] == ["a", "b"] and pd.isna(back["s"][1])
    assert not any(name.endswith((".pkl", ".pickle")) for name in os.listdir(tmp_path / "cols"))


@pytest.mark.parametrize("cpu_max, requested, expected", [
    ("max 100000", None, "all"), ("250000 100000", None, 2), ("50000 100000", None, 1),
    ("400000 100000", 1, 1), ("max 100000", 1, 1)])
def test_the_cpus_are_the_pods_quota_within_the_affinity_and_the_spec(tmp_path, cpu_max, requested, expected):
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    available = len(os.sched_getaffinity(0))
    want = available if expected == "all" else min(expected, available)
    assert granted_cpus(requested, root=tmp_path) == want


def test_cgroup_v1_quota_and_no_cgroup_at_all(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert granted_cpus(root=tmp_path) == 1
    assert granted_cpus(root=tmp_path / "missing") == len(os.sched_getaffinity(0))


def test_the_verdict_on_more_rows_follows_the_last_gain_against_the_fold_spread():
    assert more_rows_verdict([{"rows": 1000, "score": 0.7, "std": 0.01}]).startswith("not measured")
    rising = [{"rows": 1000, "score": 0.70, "std": 0.004}, {"rows": 3000, "score": 0.72, "std": 0.003}]
    assert more_rows_verdict(rising).startswith("likely: 1,000 to 3,000 rows changed the score by +0.0200")
    flat = [{"rows": 1000, "score": 0.720, "std": 0.004}, {"rows": 3000, "score": 0.722, "std": 0.003}]
    assert more_rows_verdict(flat).startswith("unlikely")


def test_each_candidate_is_a_nested_mlflow_run_and_a_failed_one_is_failed_with_its_error(rows, tmp_path):
    import mlflow

    from ml_platform.lib.mlflow_logging import log_search

    spec, x, y = rows
    space, previous = {"logistic_regression": {"C": [-1.0, 1.0]}}, mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("search", artifact_location=(tmp_path / "artifacts").as_uri())
        mlflow.set_experiment(experiment_id=experiment)  # as dagster-mlflow does
        with mlflow.start_run() as parent:
            log_search(mlflow, spec, space, x, y, cpus=1)
        runs = mlflow.MlflowClient().search_runs([experiment])
    finally:
        mlflow.set_tracking_uri(previous)
    nested = {run.data.params["C"]: run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(nested) == {"-1.0", "1.0"} and len(runs) == 3
    assert nested["1.0"].info.status == "FINISHED" and nested["1.0"].data.metrics["cv_f1_macro"] > 0.5
    assert nested["-1.0"].info.status == "FAILED" and nested["-1.0"].data.tags["error"].startswith("InvalidParameterError")
    assert "cv_f1_macro" not in nested["-1.0"].data.metrics
