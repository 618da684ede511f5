"""A compiled forest answered in a fixed dozen numpy operations, whatever the trees' depth (QuickScorer).

The level walk (`CompiledForest.walk`) takes about ten numpy calls per level, and the default champion's
trees are 17 levels deep: about 260 us for a single row, nearly all call overhead. A service at moderate
load runs batches of one to four rows, so that fixed cost is what it pays per request. Here every split
of every tree is decided at once, and each tree's exit leaf read off bit masks (Lucchese et al.,
"QuickScorer", SIGIR 2015): number a tree's leaves left to right; a split that sends the row right rules
out the leaves of its left subtree; the exit leaf is the leftmost leaf no split ruled out. A 1-row batch
takes about 40 us, a 32-row one about half the walk's time, and the answers are the walk's, bit for bit.

Every split becomes one comparison, `column <= threshold`, over a widened row: the features with NaN as
-inf (read by splits that send missing values left: -inf <= any threshold), the features as they are
(read by the others: NaN <= x is false, even for the +inf threshold of a split that parts missing values
from the rest), and one column per categorical split holding its decision (0 left, 1 right) from a
257-entry table per split (256 codes, then unknown, missing or out of range: the split's missing side).
Only for trees of at most 64 leaves (scikit-learn's default is 31); larger ones keep the walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_CODES = 256  # category codes a split can name; entry 256 of a table is everything else
MAX_LEAVES = 64


@dataclass(frozen=True)
class LeafMasks:
    columns: np.ndarray  # per split (trees' splits in order, each tree led by a no-op): its widened column
    thresholds: np.ndarray  # (splits, 1): go left if the widened value <= threshold
    masks: np.ndarray  # (splits, 1): the tree's leaves a right turn leaves possible
    starts: np.ndarray  # per tree: its first split
    leaf_values: np.ndarray
    leaf_offsets: np.ndarray  # per tree: its first leaf in `leaf_values`
    category_features: np.ndarray  # per categorical split: the feature it reads
    category_rows: np.ndarray  # per categorical split: its table's offset in `decisions`
    decisions: np.ndarray  # (categorical splits * 257,): 0.0 left, 1.0 right
    everything: Any  # all bits set, in the masks' dtype

    def exit_values(self, features: np.ndarray) -> np.ndarray:
        """(rows, trees): each tree's exit leaf's value."""
        codes = np.take(features, self.category_features, axis=1)
        codes = np.where((codes >= 0) & (codes < _CODES), codes, _CODES).astype(np.intp) + self.category_rows
        widened = np.concatenate([np.where(np.isnan(features), -np.inf, features), features,
                                  np.take(self.decisions, codes)], axis=1).T
        goes_left = np.take(np.ascontiguousarray(widened), self.columns, axis=0) <= self.thresholds
        possible = np.bitwise_and.reduceat(np.where(goes_left, self.everything, self.masks), self.starts, axis=0)
        leftmost = np.bitwise_count((possible & (~possible + self.everything.dtype.type(1))) - 1)
        return np.ascontiguousarray(np.take(self.leaf_values, self.leaf_offsets[:, None] + leftmost).T)


def leaf_masks(forest: Any, width: int) -> LeafMasks | None:
    """The forest's masks (`width`: the columns the trees read), or None if a tree has over 64 leaves."""
    ends = [*forest.roots[1:], len(forest.feature)]
    columns, thresholds, masks, starts, leaf_values, leaf_offsets = [], [], [], [], [], []
    category_features, tables = [], []

    def split(column: int, threshold: float, mask: int) -> None:
        columns.append(column)
        thresholds.append(threshold)
        masks.append(mask)

    for root, end in zip(forest.roots, ends):
        leaves = [node for node in _preorder(forest, int(root)) if forest.left[node] == node]  # left to right
        if len(leaves) > MAX_LEAVES:
            return None
        under = _leaves_under(forest, int(root), {leaf: i for i, leaf in enumerate(leaves)})
        starts.append(len(columns))
        split(0, np.inf, ~0)  # a no-op that rules nothing out: no tree is without a split
        for node in range(int(root), int(end)):
            if forest.left[node] == node:
                continue
            keeps = ~under[int(forest.left[node])]  # a right turn keeps every leaf but the left subtree's
            if forest.categorical[node]:
                feature, missing_left = int(forest.feature[node]), bool(forest.missing_left[node])
                goes_left = forest.goes_left[forest.category_row[node]]
                table = np.append(np.where(~goes_left & ~forest.known[feature], missing_left, goes_left), missing_left)
                split(2 * width + len(tables), 0.5, keeps)
                category_features.append(feature)
                tables.append(~table)
            else:
                column = int(forest.feature[node]) + (0 if forest.missing_left[node] else width)
                split(column, float(forest.threshold[node]), keeps)
        leaf_offsets.append(len(leaf_values))
        leaf_values += [float(forest.value[leaf]) for leaf in leaves]
    dtype = np.uint32 if max(np.diff([*leaf_offsets, len(leaf_values)])) <= 32 else np.uint64
    everything = dtype(np.iinfo(dtype).max)
    return LeafMasks(np.array(columns), np.array(thresholds)[:, None],
                     np.array([int(m) & int(everything) for m in masks], dtype=dtype)[:, None],
                     np.array(starts), np.array(leaf_values), np.array(leaf_offsets),
                     np.array(category_features, dtype=np.intp), np.arange(len(tables), dtype=np.intp) * (_CODES + 1),
                     np.array(tables, dtype=float).reshape(-1), everything)


def _leaves_under(forest: Any, root: int, number: dict[int, int]) -> dict[int, int]:
    """Per node of the tree: the bits of the leaves below it (a leaf: its own)."""
    bits: dict[int, int] = {}
    for node in reversed(_preorder(forest, root)):
        if node in number:
            bits[node] = 1 << number[node]
        else:
            bits[node] = bits[int(forest.left[node])] | bits[int(forest.right[node])]
    return bits


def _preorder(forest: Any, root: int) -> list[int]:
    order, stack = [], [root]
    while stack:
        node = stack.pop()
        order.append(node)
        if forest.left[node] != node:
            stack += [int(forest.right[node]), int(forest.left[node])]
    return order
