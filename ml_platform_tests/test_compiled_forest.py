"""The compiled gradient-boosting forest answers exactly as scikit-learn does, or fails loudly.

It reads scikit-learn's private fitted state (`compiled_forest.py`), so an upgrade that changes any of
it must fail here rather than change what the service answers: binary and multiclass, NaNs on either
side of a split, native categorical splits, categories the trees never saw, numbers far outside the
training range, and the served pipeline (ordinal codes folded through the classifier's own encoder).
Both evaluations are held to it: the leaf masks (`forest_masks.py`) and the level walk they fall back to."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier

from ml_platform.lib.compiled_forest import CompiledBoosting, compile_forest
from ml_platform.lib.compiled_pipeline import compile_pipeline, probe_rows
from ml_platform.lib.features import add_features, add_features_to_rows, model_spec
from ml_platform.lib.generator import customer_segmentation
from ml_platform.lib.modeling import build_pipeline
from ml_platform.lib.spec import load_spec
from ml_platform_tests.conftest import DEFAULT_SPEC

SPEC = load_spec(DEFAULT_SPEC)
INPUTS = model_spec(SPEC)


def both_evaluations(forest):
    """The forest as served (leaf masks) and as the walk it falls back to for trees over 64 leaves."""
    assert forest.masks is not None, "the leaf masks were not built"
    return [forest, dataclasses.replace(forest, masks=None)]


def matrix(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two numbers (a fifth of one missing) and a category code 0-5; labels from all three."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(size=rows), rng.uniform(-3, 3, rows), rng.integers(0, 6, rows)]).astype(float)
    x[rng.random(rows) < 0.2, 0] = np.nan
    score = np.nan_to_num(x[:, 0], nan=1.5) + x[:, 1] * (x[:, 2] % 2) + (x[:, 2] == 4)
    return x, np.digitize(score, [-0.5, 0.7, 1.8])


@pytest.mark.parametrize("classes", [2, 4])
def test_the_forest_reproduces_scikit_learn_on_nans_categories_and_out_of_range_numbers(classes):
    x, y = matrix(3000, seed=1)
    y = y if classes == 4 else (y >= 2).astype(int)
    model = HistGradientBoostingClassifier(max_iter=40, categorical_features=[False, False, True], random_state=0)
    model.fit(x, y)
    forest = compile_forest(model)
    assert forest.categorical.any() and (forest.missing_left != forest.missing_left[0]).any(), "both paths used"
    splits = forest.left != np.arange(len(forest.left))
    if classes == 4:  # a split that parts missing values from all others: +inf, and NaN goes right
        assert (splits & np.isinf(forest.threshold) & ~forest.categorical & ~forest.missing_left).any()
    probe, _ = matrix(2000, seed=2)
    probe[::7, 2] = 9.0  # a category code the trees never saw
    probe[::11, 2] = np.nan
    probe[::13, 1] = 1e6
    as_trees_see_it = model._preprocess_X(probe, reset=False)  # categories re-coded and moved first
    for evaluation in both_evaluations(forest):
        np.testing.assert_allclose(evaluation.predict_proba(as_trees_see_it), model.predict_proba(probe),
                                   rtol=0, atol=1e-12)
    for batch in (1, 2, 5):  # the sizes a lightly loaded service runs
        np.testing.assert_array_equal(forest.raw_predict(as_trees_see_it[:batch]),
                                      both_evaluations(forest)[1].raw_predict(as_trees_see_it[:batch]))


@pytest.mark.parametrize("max_leaf_nodes, masks", [(48, "uint64"), (90, None)])
def test_trees_over_32_leaves_take_wider_masks_and_over_64_the_walk(max_leaf_nodes, masks):
    x, y = matrix(6000, seed=5)
    model = HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=max_leaf_nodes, min_samples_leaf=2,
                                           categorical_features=[False, False, True], random_state=0).fit(x, y)
    leaves = max(predictor.get_n_leaf_nodes() for iteration in model._predictors for predictor in iteration)
    assert leaves > (32 if masks else 64), f"the case needs bigger trees than {leaves} leaves"
    forest = compile_forest(model)
    assert (forest.masks.masks.dtype.name if forest.masks else None) == masks
    probe = matrix(1000, seed=6)[0]
    np.testing.assert_allclose(forest.predict_proba(model._preprocess_X(probe, reset=False)),
                               model.predict_proba(probe), rtol=0, atol=1e-12)


def test_a_forest_with_numbers_only_reproduces_scikit_learn_too():
    """No categorical split at all (iris's shape): the walk skips the category lookups."""
    x, y = matrix(2000, seed=3)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x[:, :2], y)
    forest = compile_forest(model)
    assert not forest.categorical.any()
    probe = matrix(1000, seed=4)[0][:, :2]
    for evaluation in both_evaluations(forest):
        np.testing.assert_allclose(evaluation.predict_proba(probe), model.predict_proba(probe), rtol=0, atol=1e-12)


def test_the_served_gradient_boosting_pipeline_compiles_and_answers_as_the_pipeline():
    frame = add_features(SPEC, customer_segmentation(1500, seed=3))
    pipeline = build_pipeline(SPEC, "hist_gradient_boosting", {"max_iter": 30}, seed=1).fit(
        frame[INPUTS.feature_names], frame[SPEC.target.name])
    compiled = compile_pipeline(pipeline, probe_rows(INPUTS))
    assert isinstance(compiled, CompiledBoosting), "the fast path fell back: see compiled_forest.py"
    raw = json.loads(customer_segmentation(500, seed=99)[SPEC.feature_names].to_json(orient="records"))
    for row in raw[::9]:
        row["occupation"] = "Astronaut"
    rows = add_features_to_rows(SPEC, raw)
    expected = pipeline.predict_proba(pd.DataFrame(rows, columns=INPUTS.feature_names))
    np.testing.assert_allclose(compiled.predict_proba(rows), expected, rtol=0, atol=1e-12)


def test_scikit_learn_is_the_exact_version_the_forest_was_written_against():
    """Its private state is read only behind an exact pin: a relock to another version must re-prove the
    two tests above (they run on whatever is installed) and then move this pin."""
    from ml_platform.definitions import PROJECT_DIR

    locked = re.search(r"^scikit-learn==(\S+) ", (PROJECT_DIR / "requirements.lock").read_text(), re.MULTILINE)
    assert locked and locked[1] == sklearn.__version__ == "1.9.1"
