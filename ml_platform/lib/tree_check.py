"""Refuse a decision tree whose structure could make `predict` read outside its arrays.

skops leaves `sklearn.tree._tree.Tree` off its default allow-list because `Tree.__setstate__` does not
bounds-check node indices: a crafted tree (a child index past the end, a cycle, a feature index past
the input's width) crashes or reads wild memory in every process that predicts with it. We trust the
type (forests need it) and check what skops does not, after the load and before any use. The check
holds for every tree scikit-learn builds: nodes are numbered as they are added, so each child's index
is greater than its parent's, which rules out cycles as well as out-of-range indices.

Gradient boosting's `TreePredictor`s are off skops' list for the same reason: the Cython predict follows
`left`/`right`, reads `X[row, feature_idx]`, `raw_left_cat_bitsets[bitset_idx]` and the bin mapper's
known-category bitsets by feature, all unchecked. sklearn numbers their nodes depth first (grower's
`_fill_predictor_arrays`), so there too a child comes after its parent. Each is checked against what its
estimator's predict passes it: the width `_preprocess_X` gives (probed with a row of NaN) and the bin
mapper's categories; no instance attribute may hide a method predict calls, and a predictor outside an
estimator's `_predictors` is refused. Unchecked, as nothing in them indexes memory: `_loss` and
`_baseline_prediction` (numpy arithmetic: crafted, they give wrong or non-finite probabilities, which
`ServedModel` refuses), `_bin_mapper`'s thresholds (binning runs only in fit), the leaves' values.
"""

from __future__ import annotations

import functools
import types
import warnings
from typing import Any

import numpy as np

LEAF, UNDEFINED_FEATURE = -1, -2
_ATOMS = (str, bytes, int, float, complex, type(None), np.generic, type, types.ModuleType, types.FunctionType,
          types.BuiltinFunctionType, np.ufunc)


class MalformedTreeError(ValueError):
    """A tree's structure is not one scikit-learn builds; loading it is refused."""


def check_trees(model: Any, where: str) -> int:
    """Raise MalformedTreeError for the first malformed tree inside `model`; returns how many were checked."""
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting as Boosting
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    found = _find(model, (Tree, TreePredictor, Boosting))
    trees = found[Tree]
    for index, tree in enumerate(trees):
        if problem := _problem(tree):
            raise MalformedTreeError(f"{where}: tree {index} of {len(trees)} is malformed ({problem}); not loaded")
    checked = {id(p) for boosting in found[Boosting] for p in _checked_predictors(boosting, TreePredictor, where)}
    if stray := [p for p in found[TreePredictor] if id(p) not in checked]:
        raise MalformedTreeError(f"{where}: {len(stray)} boosted tree(s) outside an estimator's _predictors; "
                                 "not loaded")
    return len(trees) + len(checked)


def _problem(tree: Any) -> str | None:
    count = int(tree.node_count)
    left, right, feature = (np.asarray(a) for a in (tree.children_left, tree.children_right, tree.feature))
    if count < 1 or not (len(left) == len(right) == len(feature) == count) or np.asarray(tree.value).shape[0] != count:
        return f"arrays do not hold node_count={count} nodes"
    leaf = left == LEAF
    if not np.array_equal(leaf, right == LEAF):
        return "a node with exactly one child"
    return _children_problem(left, right, ~leaf) or _feature_problem(feature[~leaf], int(tree.n_features))


def _children_problem(left: np.ndarray, right: np.ndarray, inner: np.ndarray) -> str | None:
    nodes, count = np.arange(len(left)), len(left)
    for side, children in (("left", left.astype(np.int64)), ("right", right.astype(np.int64))):
        if np.any((children[inner] <= nodes[inner]) | (children[inner] >= count)):
            return f"a {side} child index out of range or not after its parent"
    if inner.any() and len(np.unique(np.concatenate([left[inner], right[inner]]))) != 2 * int(inner.sum()):
        return "a node with two parents"
    return None


def _feature_problem(features: np.ndarray, width: int) -> str | None:
    return "a split on a feature index outside the input" if np.any((features < 0) | (features >= width)) else None


def _checked_predictors(estimator: Any, predictor_type: type, where: str) -> list[Any]:
    """The estimator's TreePredictors, each checked against the input and categories its predict passes."""
    def malformed(problem: str) -> MalformedTreeError:
        return MalformedTreeError(f"{where}: gradient boosting model is malformed ({problem}); not loaded")

    mapper = getattr(estimator, "_bin_mapper", None)
    hidden = _hidden_methods(estimator) + _hidden_methods(mapper)
    if hidden or getattr(estimator, "_in_fit", False):  # _in_fit: predict would take X as binned data
        raise malformed(f"attributes hide methods: {', '.join(hidden)}" if hidden else "_in_fit is set")
    try:
        width = int(estimator.n_features_in_)
        with warnings.catch_warnings():  # one fitted with column names warns about an unnamed probe
            warnings.simplefilter("ignore")
            probed = np.asarray(estimator._preprocess_X(np.full((1, width), np.nan), reset=False))
        _, f_idx_map = mapper.make_known_categories_bitsets()
        categorical = np.asarray(mapper.is_categorical_).ravel() != 0
        iterations = estimator._predictors
    except Exception as exc:  # whatever fails here would fail (or worse) in predict
        raise malformed(f"its inputs cannot be read: {type(exc).__name__}: {exc}"[:300]) from None
    if probed.shape != (1, width) or len(f_idx_map) != width or categorical.size != width:
        raise malformed("its preprocessing, bin mapper and n_features_in_ disagree on the input's width")
    if type(iterations) is not list or any(type(i) is not list for i in iterations) or \
            any(type(p) is not predictor_type for i in iterations for p in i):
        raise malformed("_predictors is not a list of lists of TreePredictor")
    predictors = [p for iteration in iterations for p in iteration]
    for index, predictor in enumerate(predictors):
        if problem := _predictor_problem(predictor, width, categorical):
            raise MalformedTreeError(f"{where}: boosted tree {index} of {len(predictors)} is malformed ({problem}); "
                                     "not loaded")
    return predictors


def _predictor_problem(predictor: Any, width: int, categorical: np.ndarray) -> str | None:
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    if hidden := _hidden_methods(predictor):
        return f"attributes hide methods: {', '.join(hidden)}"
    nodes = getattr(predictor, "nodes", None)
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.ndim != 1 or not len(nodes):
        return "nodes are not a non-empty array of sklearn's PREDICTOR_RECORD_DTYPE"
    bitsets = [getattr(predictor, name, None) for name in ("raw_left_cat_bitsets", "binned_left_cat_bitsets")]
    if any(not isinstance(b, np.ndarray) or b.dtype != np.uint32 or b.ndim != 2 or b.shape[1] != 8 for b in bitsets) \
            or len(bitsets[0]) != len(bitsets[1]):
        return "category bitsets are not two (n, 8) uint32 arrays of one length"
    inner = nodes["is_leaf"] == 0  # the Cython predict takes any non-zero byte as a leaf
    if problem := _children_problem(nodes["left"], nodes["right"], inner) or \
            _feature_problem(nodes["feature_idx"][inner], width):
        return problem
    on_category = inner & (nodes["is_categorical"] != 0)
    if np.any(nodes["bitset_idx"][on_category] >= len(bitsets[0])):
        return "a categorical split's bitset index out of range"
    if not categorical[nodes["feature_idx"][on_category]].all():
        return "a categorical split on a feature the bin mapper does not call categorical"
    return None


def _hidden_methods(value: Any) -> list[str]:
    """Instance attributes named like one of the class's methods: Python would call them instead."""
    state = getattr(value, "__dict__", None)
    return sorted(k for k in state if callable(getattr(type(value), k, None))) if isinstance(state, dict) else []


def _find(root: Any, kinds: tuple[type, ...]) -> dict[type, list[Any]]:
    """Every instance of `kinds` reachable through attributes, containers, partials and object arrays: no
    depth limit (a tree one pipeline deeper would escape one), each object visited once."""
    found: dict[type, list[Any]] = {kind: [] for kind in kinds}
    stack, seen = [root], set()
    while stack:
        value = stack.pop()
        if isinstance(value, _ATOMS) or id(value) in seen:
            continue
        seen.add(id(value))
        for kind in (k for k in kinds if isinstance(value, k)):
            found[kind].append(value)
        if isinstance(value, np.ndarray):
            stack.extend(value.ravel().tolist() if value.dtype == object else [])
        elif isinstance(value, dict):
            stack.extend([*value.keys(), *value.values()])
        elif isinstance(value, (list, tuple, set, frozenset)):
            stack.extend(value)
        elif isinstance(value, functools.partial):
            stack.extend([value.func, *value.args, *value.keywords.values()])
        elif isinstance(getattr(value, "__dict__", None), dict):
            stack.extend(vars(value).values())
    return found
