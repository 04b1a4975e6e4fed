"""Per-prediction feature contributions to a model's raw score (log-odds for churn).

Two ways for trees:

- ``exact``: tree SHAP, the library's own (LightGBM ``pred_contrib``, XGBoost ``pred_contribs``).
  Its cost grows with leaves × depth² per tree: about 90 µs per customer for a 40-tree churn
  model on 2 cores, 90 s for a million customers.
- ``path``: the path attribution of each tree (Saabas; XGBoost's ``approx_contribs``): the change
  of the node value at every split on the customer's path is credited to that split's feature.
  It depends only on the leaf reached, so a table of leaf → contributions is built once per
  model, and scoring is a leaf lookup (``pred_leaf``) and a sparse sum: about 2.5 µs per customer.

Both sum, with the tree's base value, to the raw score. Linear models have one exact answer,
coefficient × standardized value, which is what both methods return for them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

METHODS = ("path", "exact")


def _lightgbm_leaf_table(booster, n_iter: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse (all leaves × features + 1) table of the path contributions of each leaf, and the
    offset of each tree's first leaf in it; the last column holds each tree's root value."""
    dump = booster.dump_model(num_iteration=n_iter)
    n_features = len(dump["feature_names"])
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    offsets = []
    base = 0
    for tree in dump["tree_info"]:
        offsets.append(base)
        root = tree["tree_structure"]
        if "leaf_value" in root:  # a tree of one leaf
            rows.append(base), cols.append(n_features), vals.append(root["leaf_value"])
        else:
            stack = [(root, [(n_features, root["internal_value"])])]
            while stack:
                node, path = stack.pop()
                for side in ("left_child", "right_child"):
                    child = node[side]
                    is_leaf = "leaf_value" in child
                    value = child["leaf_value"] if is_leaf else child["internal_value"]
                    step = path + [(node["split_feature"], value - node["internal_value"])]
                    if is_leaf:
                        for feature, delta in step:
                            rows.append(base + child["leaf_index"]), cols.append(feature), vals.append(delta)
                    else:
                        stack.append((child, step))
        base += tree["num_leaves"]
    table = sp.csr_matrix((vals, (rows, cols)), shape=(base, n_features + 1))
    return table, np.asarray(offsets, dtype=np.int64)


def lightgbm_contributions(model, values: np.ndarray, method: str) -> np.ndarray:
    """(n, features) contributions of a LightGBM booster (gbdt or rf) to its raw score."""
    booster, n_iter = model.booster_, model.best_rounds_
    if method == "exact":
        contrib = booster.predict(values, num_iteration=n_iter, pred_contrib=True)
    else:
        cached = getattr(model, "_leaf_table", None)
        if cached is None:
            cached = model._leaf_table = _lightgbm_leaf_table(booster, n_iter)
        table, offsets = cached
        leaves = booster.predict(values, num_iteration=n_iter, pred_leaf=True).astype(np.int64)
        leaves = leaves.reshape(len(values), -1) + offsets
        n, trees = leaves.shape
        hits = sp.csr_matrix(
            (np.ones(n * trees), leaves.ravel(), np.arange(0, n * trees + 1, trees)),
            shape=(n, table.shape[0]),
        )
        contrib = (hits @ table).toarray()
    contrib = np.asarray(contrib, dtype=np.float64)[:, :-1]
    return contrib / n_iter if model.boosting == "rf" else contrib


def xgboost_contributions(model, values: np.ndarray, method: str) -> np.ndarray:
    import xgboost as xgb

    contrib = model.booster_.predict(
        xgb.DMatrix(values),
        pred_contribs=True,
        approx_contribs=method == "path",
        iteration_range=(0, model.best_rounds_),
    )
    return np.asarray(contrib, dtype=np.float64)[:, :-1]
