"""A fitted gradient-boosting pipeline as a few numpy operations per batch, for serving.

scikit-learn predicts a `HistGradientBoostingClassifier` one tree at a time: 43 iterations of 4 classes
are 172 calls of about 20 us each, most of it call overhead, and its `ColumnTransformer` adds about 3 ms
of pandas per batch. Measured on the default champion, a 32-row batch took 9 ms, and the service's tail
latency at half load is made of such batches. Here every tree's nodes sit in flat arrays (a leaf points
to itself) and the pipeline's ordinal encoding is a dict lookup. The trees are answered through leaf
masks (`forest_masks.py`: a fixed dozen numpy calls, about 40 us for one row), or, for trees of over 64
leaves, by walking all rows down all trees at once, one level per step (about 260 us for one row).
Both repeat `_predictor.pyx`'s decisions exactly (NaN by the node's missing side, categories by the
node's bitset, unknown categories as missing), so the result is scikit-learn's; it is used only after
it reproduces the pipeline's probabilities on probe rows (`compiled_pipeline`).

It reads scikit-learn's private fitted state (`_predictors`, `_baseline_prediction`, `_bin_mapper`,
`_loss`, the predictor node layout): scikit-learn is pinned exactly in the locks, and
`test_compiled_forest.py` fails loudly if an upgrade changes any of it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ml_platform.lib.forest_masks import LeafMasks, leaf_masks

_CATEGORIES = 256  # HGB codes categories as uint8 bins


@dataclass(frozen=True)
class CompiledForest:
    feature: np.ndarray  # per node: the column it splits on (0 for a leaf)
    threshold: np.ndarray  # go left if value <= threshold (+inf for a leaf: it stays put)
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray  # where NaN (and an unknown category) goes
    categorical: np.ndarray  # per node: a split on categories
    category_row: np.ndarray  # per node: its row of `goes_left` (categorical nodes only)
    goes_left: np.ndarray  # (categorical nodes + 1, 256): category code -> left
    known: np.ndarray  # (features, 256): the categories seen in training, per categorical feature
    value: np.ndarray  # per node: the leaf's value
    roots: np.ndarray  # per tree, iteration-major: (iteration 0: class 0..K-1), (iteration 1: ...)
    depth: int
    baseline: np.ndarray  # (K,)
    classifier: Any  # for its loss's link: raw scores -> probabilities
    masks: LeafMasks | None = None  # the same trees for the fixed-cost evaluation (`forest_masks.py`)

    def raw_predict(self, features: np.ndarray) -> np.ndarray:
        """Columns as the trees see them: the classifier's own `_preprocess_X` output (categories first)."""
        features = np.ascontiguousarray(features, dtype=float)
        leaves = self.masks.exit_values(features) if self.masks is not None else self.walk(features)
        return self.baseline + leaves.reshape(len(features), -1, len(self.baseline)).sum(axis=1)

    def walk(self, features: np.ndarray) -> np.ndarray:
        """(rows, trees): each tree's exit leaf's value, all rows down all trees one level per step."""
        rows, width = features.shape
        node = np.repeat(self.roots[None, :], rows, axis=0)
        flat, offsets = features.ravel(), (np.arange(rows) * width)[:, None]
        for _ in range(self.depth):
            value = flat[offsets + self.feature[node]]
            missing = np.isnan(value)
            go_left = value <= self.threshold[node]
            split_on_category = self.categorical[node] & ~missing if len(self.goes_left) > 1 else None
            if split_on_category is not None and split_on_category.any():
                go_left[split_on_category] = self._category_decisions(node[split_on_category],
                                                                     value[split_on_category])
            go_left = np.where(missing, self.missing_left[node], go_left)
            node = np.where(go_left, self.left[node], self.right[node])
        return self.value[node]

    def _category_decisions(self, node: np.ndarray, value: np.ndarray) -> np.ndarray:
        outside = (value < 0) | (value >= _CATEGORIES)
        code = np.where(outside, 0, value).astype(np.uint8)
        in_left = self.goes_left[self.category_row[node], code]
        unknown = outside | (~in_left & ~self.known[self.feature[node], code])
        return np.where(unknown, self.missing_left[node], in_left)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.classifier._loss.predict_proba(self.raw_predict(features))


def compile_forest(classifier: Any) -> CompiledForest:
    """The classifier's trees as flat arrays; raises if it is not a fitted HGB classifier we can read."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    if type(classifier) is not HistGradientBoostingClassifier:
        raise ValueError(f"not a HistGradientBoostingClassifier: {type(classifier).__name__}")
    trees = [predictor for iteration in classifier._predictors for predictor in iteration]
    n_features = classifier.n_features_in_
    known = np.zeros((n_features, _CATEGORIES), dtype=bool)
    known_bitsets, feature_rows = classifier._bin_mapper.make_known_categories_bitsets()
    remapped = getattr(classifier, "_is_categorical_remapped", None)  # categorical columns moved first
    for feature in np.flatnonzero(remapped if remapped is not None else []):
        known[feature] = _bits(known_bitsets[feature_rows[feature]])
    parts: dict[str, list] = {name: [] for name in ("feature", "threshold", "left", "right", "missing_left",
                                                     "categorical", "category_row", "value")}
    goes_left, roots, offset, depth = [np.zeros(_CATEGORIES, dtype=bool)], [], 0, 0
    for tree in trees:
        nodes, leaf = tree.nodes, tree.nodes["is_leaf"].astype(bool)
        own = np.arange(len(nodes)) + offset
        categorical = nodes["is_categorical"].astype(bool) & ~leaf
        rows = np.zeros(len(nodes), dtype=np.int64)
        for index in np.flatnonzero(categorical):
            rows[index] = len(goes_left)
            goes_left.append(_bits(tree.raw_left_cat_bitsets[nodes["bitset_idx"][index]]))
        parts["feature"].append(np.where(leaf, 0, nodes["feature_idx"]))
        parts["threshold"].append(np.where(leaf, np.inf, nodes["num_threshold"]))
        parts["left"].append(np.where(leaf, own, nodes["left"].astype(np.int64) + offset))
        parts["right"].append(np.where(leaf, own, nodes["right"].astype(np.int64) + offset))
        parts["missing_left"].append(leaf | nodes["missing_go_to_left"].astype(bool))
        parts["categorical"].append(categorical)
        parts["category_row"].append(rows)
        parts["value"].append(np.where(leaf, nodes["value"], 0.0))
        roots.append(offset)
        offset += len(nodes)
        depth = max(depth, int(nodes["depth"].max()))
    arrays = {name: np.concatenate(values) for name, values in parts.items()}
    forest = CompiledForest(**arrays, goes_left=np.array(goes_left), known=known, roots=np.array(roots),
                            depth=depth, baseline=np.asarray(classifier._baseline_prediction, dtype=float).ravel(),
                            classifier=classifier)
    return replace(forest, masks=leaf_masks(forest, n_features))


def _bits(bitset: np.ndarray) -> np.ndarray:
    """A 256-bit set (eight uint32 words, bit i of word i // 32) as 256 booleans."""
    words = np.asarray(bitset, dtype=np.uint32)
    return ((words[np.arange(_CATEGORIES) // 32] >> (np.arange(_CATEGORIES) % 32).astype(np.uint32)) & 1).astype(bool)


@dataclass(frozen=True)
class CompiledBoosting:
    """`modeling._hist_gradient_boosting`'s pipeline: numbers passed through, categories as ordinal codes,
    which the classifier itself encodes once more and moves first (sklearn's `_preprocessor`): both
    encodings are folded into one lookup per category, in the classifier's own column order."""

    numeric: list[str]
    categorical: list[str]
    columns: list[tuple[str, dict[Any, float] | None]]  # the forest's columns: a number, or a category's code
    forest: CompiledForest

    def transform(self, rows: list[dict[str, Any]]) -> np.ndarray:
        return np.array([[row[name] if codes is None else codes.get(row[name], np.nan) for name, codes in self.columns]
                         for row in rows], dtype=float)

    def predict_proba(self, rows: list[dict[str, Any]]) -> np.ndarray:
        return self.forest.predict_proba(self.transform(rows))


def read_boosting_pipeline(pipeline: Any) -> CompiledBoosting:
    """Only the exact shape `build_pipeline` makes for gradient boosting; raises on anything else."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    if type(pipeline) is not Pipeline or list(pipeline.named_steps) != ["features", "classifier"]:
        raise ValueError(f"unexpected pipeline {pipeline!r:.200}")
    features, classifier = pipeline.named_steps["features"], pipeline.named_steps["classifier"]
    if type(features) is not ColumnTransformer:
        raise ValueError("unexpected feature step")
    transformers = {name: (step, list(columns)) for name, step, columns in features.transformers_}
    declared = {name: step for name, step, _ in features.transformers}  # fitted, "passthrough" is a function
    (_, numeric), (encoder, categorical) = transformers.get("numeric"), transformers.get("categorical")
    if declared.get("numeric") != "passthrough" or set(transformers) - {"numeric", "categorical", "remainder"} or \
            transformers.get("remainder", ("drop",))[0] != "drop":
        raise ValueError(f"unexpected transformers {list(transformers)}")
    ours: list[tuple[str, dict[Any, float] | None]] = [(name, None) for name in numeric]
    if categorical:
        if type(encoder) is not OrdinalEncoder or encoder.handle_unknown != "use_encoded_value" or not (
                np.isnan(encoder.unknown_value) and np.isnan(encoder.encoded_missing_value)):
            raise ValueError("an ordinal encoder the compiled form does not reproduce")
        ours += [(name, {value: float(i) for i, value in enumerate(values.tolist())})
                 for name, values in zip(categorical, encoder.categories_)]
    return CompiledBoosting(numeric, categorical, _as_classifier_sees(ours, classifier), compile_forest(classifier))


def _as_classifier_sees(columns: list, classifier: Any) -> list[tuple[str, dict[Any, float] | None]]:
    """The classifier's input columns: its categorical ones first, each code mapped through its own encoder."""
    mask = classifier.is_categorical_
    if mask is None:
        return columns
    inner = classifier._preprocessor.named_transformers_["encoder"].categories_
    first = []
    for (name, codes), categories in zip([c for c, is_cat in zip(columns, mask) if is_cat], inner):
        position = {float(code): float(i) for i, code in enumerate(categories.tolist())}
        first.append((name, {value: position[code] for value, code in (codes or {}).items() if code in position}))
    return first + [column for column, is_cat in zip(columns, mask) if not is_cat]
