"""Vectorised predict_proba for fitted scikit-learn tree classifiers.

scikit-learn walks each tree separately and pays a per-call dispatch cost of several milliseconds;
Anchors and KernelShap call the model thousands of times on small batches, so that fixed cost
dominates. Here every tree is flattened into one node table and all trees are walked at once, one
numpy step per tree level. Results equal `predict_proba` (same float32 split rule).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class FlatForest:
    """All nodes of all trees in shared arrays; leaves point to themselves so walking stays put."""

    def __init__(self, trees: list[Any], n_classes: int) -> None:
        roots, feature, threshold, left, right, values = [], [], [], [], [], []
        offset, depth = 0, 0
        for tree in trees:
            t = tree.tree_
            n = t.node_count
            is_leaf = t.children_left == -1
            own = np.arange(n) + offset
            roots.append(offset)
            feature.append(np.where(is_leaf, 0, t.feature))
            threshold.append(np.where(is_leaf, np.inf, t.threshold))
            left.append(np.where(is_leaf, own, t.children_left + offset))
            right.append(np.where(is_leaf, own, t.children_right + offset))
            value = t.value[:, 0, :].astype(np.float64)
            totals = value.sum(axis=1, keepdims=True)
            values.append(np.divide(value, totals, out=np.zeros_like(value), where=totals > 0))
            offset += n
            depth = max(depth, int(t.max_depth))
        self.roots = np.asarray(roots, dtype=np.intp)
        self.feature = np.concatenate(feature).astype(np.intp)
        self.threshold = np.concatenate(threshold)
        self.left = np.concatenate(left).astype(np.intp)
        self.right = np.concatenate(right).astype(np.intp)
        self.values = np.concatenate(values)
        self.depth = depth
        self.n_classes = n_classes

    @classmethod
    def from_estimator(cls, estimator: Any) -> FlatForest | None:
        """A flat forest for RandomForest/ExtraTrees/DecisionTree classifiers, else None."""
        if getattr(estimator, "n_outputs_", 1) != 1 or not hasattr(estimator, "classes_"):
            return None
        if hasattr(estimator, "tree_"):
            trees = [estimator]
        elif hasattr(estimator, "estimators_") and all(hasattr(t, "tree_") for t in estimator.estimators_):
            trees = list(estimator.estimators_)
        else:
            return None
        if type(estimator).__name__ not in {
            "RandomForestClassifier",
            "ExtraTreesClassifier",
            "DecisionTreeClassifier",
            "ExtraTreeClassifier",
        }:
            return None
        return cls(trees, len(estimator.classes_))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        # scikit-learn compares float32 features with float64 thresholds; do the same.
        x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
        n = x32.shape[0]
        node = np.repeat(self.roots[:, None], n, axis=1)
        rows = np.arange(n)[None, :]
        for _ in range(self.depth):
            go_left = x32[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        return self.values[node].mean(axis=0)
