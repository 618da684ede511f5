"""Models are skops files: the allow-list is exactly what `build_pipeline` needs, and nothing else loads;
a tree whose structure scikit-learn would not build is refused even when its checksum matches."""

import copy
import os

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
SMALL = {"logistic_regression": {"C": 1.0}, "random_forest": {"n_estimators": 10, "max_depth": 8}}


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


def forest_with_one_tree_altered(fitted, field: str, node: int, value: int):
    """The forest pipeline with one tree rewritten as an attacker who can write the store would: its
    node array changed, saved again, and the checksum recorded beside it replaced to match."""
    model, _ = fitted[("random_forest", len(SPEC.features), "four classes")]
    model = copy.deepcopy(model)
    tree = model.steps[-1][1].estimators_[3].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes[field][node] = value
    tree.__setstate__({**state, "nodes": nodes})
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


def test_every_tree_the_platform_builds_passes_the_structure_check(fitted):
    for (estimator, _, _), (model, _) in fitted.items():
        assert check_trees(model, "fitted") == (10 if estimator == "random_forest" else 0)
