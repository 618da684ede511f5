"""Models are skops files: the allow-list is exactly what `build_pipeline` needs, and nothing else loads;
a tree (a forest's or gradient boosting's) whose structure scikit-learn would not build is refused even
when its checksum matches."""

import copy
import os
import re

import numpy as np
import pytest
import skops.io
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from ml_platform.lib.features import add_features, model_spec
from ml_platform.lib.generator import customer_segmentation
from ml_platform.lib.model_format import (
    TRUSTED_TYPES,
    ModelIntegrityError,
    UntrustedTypesError,
    dumps,
    loads_verified,
    sha256,
)
from ml_platform.lib.modeling import ESTIMATORS, build_pipeline
from ml_platform.lib.tree_check import MalformedTreeError, check_trees
from ml_platform.lib.spec import load_spec
from ml_platform_tests.conftest import DEFAULT_SPEC

SPEC = load_spec(DEFAULT_SPEC)
NUMBERS_ONLY = SPEC.model_copy(update={"features": [f for f in SPEC.features if f.type == "numeric"]})
SMALL = {"logistic_regression": {"C": 1.0}, "random_forest": {"n_estimators": 10, "max_depth": 8},
         "hist_gradient_boosting": {"max_iter": 50}}


@pytest.fixture(scope="module")
def fitted() -> dict:
    """Every estimator, on mixed and numbers-only features, multi-class and binary, with some nulls."""
    frame = customer_segmentation(600, seed=3)
    x = frame[SPEC.feature_names].astype({f: float for f in SPEC.numeric_features})
    x.loc[::50, "income"] = np.nan
    x.loc[::70, "occupation"] = None
    targets = {"four classes": frame[SPEC.target.name],
               "binary": frame[SPEC.target.name].isin(["premium", "luxury"]).map({True: "high", False: "low"})}
    models = {}
    for estimator in ESTIMATORS:
        for spec in (SPEC, NUMBERS_ONLY):
            for target, y in targets.items():
                rows = add_features(spec, x[spec.feature_names])[model_spec(spec).feature_names]
                models[(estimator, len(spec.features), target)] = (
                    build_pipeline(spec, estimator, SMALL[estimator], seed=0).fit(rows, y), rows)
    return models


def test_the_trusted_types_are_exactly_what_build_pipeline_needs(fitted):
    needed = set()
    for model, _ in fitted.values():
        needed |= set(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    assert needed == set(TRUSTED_TYPES)


def test_a_round_trip_reproduces_predict_proba_exactly(fitted):
    for key, (model, rows) in fitted.items():
        data = dumps(model)
        loaded = loads_verified(data, sha256(data), str(key))
        assert type(loaded) is Pipeline and list(loaded.classes_) == list(model.classes_)
        assert np.array_equal(loaded.predict_proba(rows), model.predict_proba(rows)), key


def test_a_model_holding_an_untrusted_type_is_refused_with_the_type_named():
    model = Pipeline([("shell", FunctionTransformer(os.system))])
    with pytest.raises(UntrustedTypesError, match="posix.system") as refused:
        dumps(model, where="candidate")
    assert refused.value.types == ["posix.system"]
    crafted = skops.io.dumps(model)  # written by someone else, with a checksum that matches
    with pytest.raises(UntrustedTypesError, match=r"crafted: holds types that are not trusted: posix.system"):
        loads_verified(crafted, sha256(crafted), "crafted")


def test_altered_bytes_or_a_missing_checksum_are_refused_before_anything_is_built(fitted):
    model, _ = fitted[("random_forest", len(SPEC.features), "four classes")]
    data = dumps(model)
    middle = len(data) // 2
    altered = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
    with pytest.raises(ModelIntegrityError, match="does not match the recorded"):
        loads_verified(altered, sha256(data), "stored")
    with pytest.raises(ModelIntegrityError, match="no sha256 was recorded"):
        loads_verified(data, None, "stored")


def forest_with_one_tree_altered(fitted, field: str, node: int, value: int, nested: int = 0):
    """The forest pipeline with one tree rewritten as an attacker who can write the store would: its
    node array changed, saved again (inside `nested` more pipelines), and the checksum replaced to match."""
    model, _ = fitted[("random_forest", len(SPEC.features), "four classes")]
    model = copy.deepcopy(model)
    tree = model.steps[-1][1].estimators_[3].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes[field][node] = value
    tree.__setstate__({**state, "nodes": nodes})
    for _ in range(nested):
        model = Pipeline([("wrapped", model)])
    data = dumps(model)
    return data, sha256(data)


@pytest.mark.parametrize("field, node, value, problem", [
    ("left_child", 0, 10 ** 6, "left child index out of range"),
    ("right_child", 0, 0, "right child index out of range or not after its parent"),  # a cycle back to the root
    ("feature", 0, 10 ** 6, "feature index outside the input"),
    ("left_child", 0, -1, "exactly one child"),
])
def test_a_crafted_tree_with_a_matching_checksum_is_refused_before_it_predicts(fitted, field, node, value, problem):
    data, digest = forest_with_one_tree_altered(fitted, field, node, value)
    with pytest.raises(MalformedTreeError, match=problem):
        loads_verified(data, digest, "crafted")


def test_a_crafted_tree_nested_deep_inside_pipelines_is_still_found(fitted):
    data, digest = forest_with_one_tree_altered(fitted, "left_child", 0, 10 ** 6, nested=4)
    with pytest.raises(MalformedTreeError, match="left child index out of range"):
        loads_verified(data, digest, "crafted")


def boosting_with_one_tree_altered(fitted, field: str, categorical: bool, value: int):
    """The gradient boosting pipeline with one predictor's node rewritten (an inner node splitting on a
    category or on a number), saved again and the checksum replaced to match."""
    model, _ = fitted[("hist_gradient_boosting", len(SPEC.features), "four classes")]
    model = copy.deepcopy(model)
    for predictor in (p for iteration in model.steps[-1][1]._predictors for p in iteration):
        inner = predictor.nodes["is_leaf"] == 0
        split_on = np.flatnonzero(inner & ((predictor.nodes["is_categorical"] != 0) == categorical))
        if len(split_on) and (predictor.nodes["is_categorical"][inner] != 0).any():
            predictor.nodes[field][split_on[0]] = value
            data = dumps(model)
            return data, sha256(data)
    raise AssertionError("no predictor splits on both a category and a number")


@pytest.mark.parametrize("field, categorical, value, problem", [
    ("left", False, 10 ** 6, "left child index out of range"),
    ("right", True, 0, "right child index out of range or not after its parent"),  # a cycle back to the root
    ("feature_idx", False, 6, "feature index outside the input"),  # the inputs are 6 columns
    ("bitset_idx", True, 10 ** 6, "bitset index out of range"),
    ("is_categorical", False, 1, "a feature the bin mapper does not call categorical"),
])
def test_a_crafted_boosted_tree_with_a_matching_checksum_is_refused_before_it_predicts(
        fitted, field, categorical, value, problem):
    data, digest = boosting_with_one_tree_altered(fitted, field, categorical, value)
    with pytest.raises(MalformedTreeError, match=f"boosted tree .* is malformed .*{problem}"):
        loads_verified(data, digest, "crafted")


def test_boosted_trees_are_refused_with_another_record_layout_a_hidden_method_or_outside_predictors(fitted):
    model, _ = fitted[("hist_gradient_boosting", len(SPEC.features), "four classes")]
    for alter, problem in [
        (lambda p, _: setattr(p, "nodes", p.nodes.astype([(n, "<i8") for n in p.nodes.dtype.names])),
         "PREDICTOR_RECORD_DTYPE"),
        (lambda p, _: setattr(p, "raw_left_cat_bitsets", p.raw_left_cat_bitsets[:, :4].copy()), "(n, 8) uint32"),
        (lambda p, _: setattr(p, "predict", np.negative), "attributes hide methods: predict"),
        (lambda p, hgb: setattr(hgb, "spare", [copy.deepcopy(p)]), "outside an estimator's _predictors"),
    ]:
        altered = copy.deepcopy(model)
        boosting = altered.steps[-1][1]
        alter(boosting._predictors[0][0], boosting)
        with pytest.raises(MalformedTreeError, match=re.escape(problem)):
            check_trees(altered, "crafted")


def test_every_tree_the_platform_builds_passes_the_structure_check(fitted):
    for (estimator, _, _), (model, _) in fitted.items():
        classifier = model.steps[-1][1]
        expected = {"random_forest": 10, "logistic_regression": 0}.get(estimator)
        if estimator == "hist_gradient_boosting":
            expected = sum(len(iteration) for iteration in classifier._predictors)
            assert expected == classifier.n_iter_ * classifier.n_trees_per_iteration_ > 0
        assert check_trees(model, "fitted") == expected
