"""Refuse a decision tree whose structure could make `predict` read outside its arrays.

skops leaves `sklearn.tree._tree.Tree` off its default allow-list because `Tree.__setstate__` does not
bounds-check node indices: a crafted tree (a child index past the end, a cycle, a feature index past
the input's width) crashes or reads wild memory in every process that predicts with it. We trust the
type (forests need it) and check what skops does not, after the load and before any use. The check
holds for every tree scikit-learn builds: nodes are numbered as they are added, so each child's index
is greater than its parent's, which rules out cycles as well as out-of-range indices.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LEAF, UNDEFINED_FEATURE = -1, -2
_MAX_DEPTH = 12  # how deep into nested estimators (pipeline > column transformer > forest > tree) to look


class MalformedTreeError(ValueError):
    """A tree's structure is not one scikit-learn builds; loading it is refused."""


def check_trees(model: Any, where: str) -> int:
    """Raise MalformedTreeError for the first malformed tree inside `model`; returns how many were checked."""
    from sklearn.tree._tree import Tree

    trees = list(_find(model, Tree, _MAX_DEPTH, set()))
    for index, tree in enumerate(trees):
        problem = _problem(tree)
        if problem:
            raise MalformedTreeError(f"{where}: tree {index} of {len(trees)} is malformed ({problem}); not loaded")
    return len(trees)


def _problem(tree: Any) -> str | None:
    count = int(tree.node_count)
    left, right, feature = (np.asarray(a) for a in (tree.children_left, tree.children_right, tree.feature))
    if count < 1 or not (len(left) == len(right) == len(feature) == count) or np.asarray(tree.value).shape[0] != count:
        return f"arrays do not hold node_count={count} nodes"
    nodes = np.arange(count)
    leaf = left == LEAF
    if not np.array_equal(leaf, right == LEAF):
        return "a node with exactly one child"
    inner = ~leaf
    for side, children in (("left", left), ("right", right)):
        if np.any((children[inner] <= nodes[inner]) | (children[inner] >= count)):
            return f"a {side} child index out of range or not after its parent"
    if inner.any() and len(np.unique(np.concatenate([left[inner], right[inner]]))) != 2 * int(inner.sum()):
        return "a node with two parents"
    if np.any((feature[inner] < 0) | (feature[inner] >= int(tree.n_features))):
        return "a split on a feature index outside the input"
    return None


def _find(value: Any, kind: type, depth: int, seen: set[int]):
    """Every `kind` reachable through estimators' attributes, lists, tuples and dicts (not arrays)."""
    if depth < 0 or id(value) in seen or isinstance(value, (str, bytes, int, float, np.ndarray)) or value is None:
        return
    seen.add(id(value))
    if isinstance(value, kind):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _find(item, kind, depth - 1, seen)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _find(item, kind, depth - 1, seen)
    elif type(value).__module__.startswith("sklearn"):
        yield from _find(vars(value) if hasattr(value, "__dict__") else {}, kind, depth - 1, seen)
