"""Per-prediction feature contributions to a model's raw score (log-odds for churn).

Two ways for trees:

- ``exact``: path-dependent tree SHAP, computed by the library itself (LightGBM ``pred_contrib``,
  XGBoost ``pred_contribs``). Called on every customer it costs leaves × depth² per tree: 126 s
  for a million customers with the 65-tree churn model of the benchmark. Customers who take the
  same side at every split of a tree share that tree's values, so for large inputs the library
  is called once per distinct pattern of each tree (:func:`shared_tree_shap`): the same numbers
  (tested to 1e-5 of the library's) in about 11 s per million.
- ``path``: the path attribution of each tree (Saabas; XGBoost's ``approx_contribs``): the change
  of the node value at every split on the customer's path is credited to that split's feature.
  Cheaper still, but on the shared logs its first reason is tree SHAP's for only 61-89% of the
  customers.

A random-forest churn model (127-leaf trees, too many splits to pack a pattern into 64 bits)
gets the library's tree SHAP on every customer: about 0.5 ms each.

Both sum, with the tree's base value, to the raw score. Linear models have one exact answer,
coefficient × standardized value, which is what both methods return for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml_pipeline.estimators import predict_threads

SHARE_FROM_ROWS = 5_000  # below this, one library call beats one call per tree


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


def _cached(model, name: str, build: Callable):
    """State derived from a model's trees (may be None), built on first use and kept on the model."""
    if name not in model.__dict__:
        model.__dict__[name] = build()
    return model.__dict__[name]


def _one_per_tree(picks: np.ndarray, width: int) -> sp.csr_matrix:
    """(rows, width) 0/1 matrix with a 1 at each row's pick of every tree (``picks``: rows × trees,
    already offset into one shared table), so ``matrix @ table`` sums the picked table rows."""
    n, trees = picks.shape
    return sp.csr_matrix(
        (np.ones(n * trees), picks.ravel(), np.arange(0, n * trees + 1, trees)), shape=(n, width)
    )


@dataclass
class TreeSplits:
    """One tree's internal nodes as arrays: where a customer goes at each split."""

    feature: np.ndarray  # int64
    threshold: np.ndarray  # float32: float32 inputs compare against it exactly as the library does
    strict: bool  # XGBoost goes left on x < t, LightGBM on x <= t
    nan_left: np.ndarray  # bool: the side of a missing value
    zero_left: np.ndarray  # int8: -1 = compare zero normally, else the side of 0 (LightGBM "Zero")

    def patterns(self, columns: np.ndarray, nan_rows: dict[int, np.ndarray]) -> np.ndarray:
        """One integer per row: the bits of the side taken at every split of the tree."""
        bits = np.zeros(columns.shape[1], dtype=np.uint64)
        for k, (f, t) in enumerate(zip(self.feature.tolist(), self.threshold)):
            x = columns[f]
            left = x < t if self.strict else x <= t
            if f in nan_rows:
                left[nan_rows[f]] = self.nan_left[k]
            if self.zero_left[k] >= 0:
                left[(x == 0) | np.isnan(x)] = bool(self.zero_left[k])
            bits |= left.astype(np.uint64) << np.uint64(k)
        return bits


def _float32_at_most(t: float) -> np.float32:
    """The largest float32 <= t: for a float32 x, x <= t (in double) iff x <= this."""
    with np.errstate(over="ignore"):  # beyond float32: inf, and the step below gives its largest
        f = np.float32(t)
    return np.nextafter(f, np.float32(-np.inf)) if float(f) > t else f


def _lightgbm_splits(booster, n_iter: int) -> list[TreeSplits] | None:
    """Every tree's splits, or None when a tree has too many splits to pack into 64 bits."""
    out = []
    for tree in booster.dump_model(num_iteration=n_iter)["tree_info"]:
        nodes, stack = [], [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                nodes.append(node)
                stack += [node["left_child"], node["right_child"]]
        if len(nodes) > 64 or any(n.get("decision_type", "<=") != "<=" for n in nodes):
            return None
        missing = [n.get("missing_type", "None") for n in nodes]
        out.append(
            TreeSplits(
                feature=np.array([n["split_feature"] for n in nodes], dtype=np.int64),
                threshold=np.array([_float32_at_most(n["threshold"]) for n in nodes], dtype=np.float32),
                strict=False,
                # "None": a missing value is read as 0; "NaN" and "Zero": it takes the default side
                nan_left=np.array(
                    [
                        (n["threshold"] >= 0.0) if m == "None" else bool(n["default_left"])
                        for n, m in zip(nodes, missing)
                    ]
                ),
                zero_left=np.array(
                    [int(bool(n["default_left"])) if m == "Zero" else -1 for n, m in zip(nodes, missing)],
                    dtype=np.int8,
                ),
            )
        )
    return out


def _xgboost_splits(booster, n_iter: int) -> list[TreeSplits] | None:
    out = []
    for text in booster[:n_iter].get_dump(dump_format="json"):
        nodes, stack = [], [json.loads(text)]
        while stack:
            node = stack.pop()
            if "children" in node:
                nodes.append(node)
                stack += node["children"]
        if len(nodes) > 64:
            return None
        out.append(
            TreeSplits(
                feature=np.array([int(n["split"].lstrip("f")) for n in nodes], dtype=np.int64),
                threshold=np.array([n["split_condition"] for n in nodes], dtype=np.float32),
                strict=True,
                nan_left=np.array([n["missing"] == n["yes"] for n in nodes]),
                zero_left=np.full(len(nodes), -1, dtype=np.int8),
            )
        )
    return out


def shared_tree_shap(
    splits: list[TreeSplits], values: np.ndarray, tree_shap: Callable, project: np.ndarray
) -> np.ndarray:
    """Exact tree SHAP, computed once per distinct path pattern of each tree.

    Path-dependent tree SHAP of one tree depends on a customer only through the side taken at
    each split of that tree (not only the leaf reached: a split off the customer's path counts
    when its own feature is left out). Customers with the same sides share the values, and a
    40-tree model sees a few thousand patterns per tree among 100,000 customers; so the library
    computes SHAP for one representative of each pattern (``tree_shap(rows, tree)``), and the
    values are spread back, already projected onto ``project``'s columns (features × groups).
    """
    n = len(values)
    columns = np.ascontiguousarray(values.T)
    nan_rows = {f: np.flatnonzero(np.isnan(columns[f])) for f in range(len(columns))}
    nan_rows = {f: rows for f, rows in nan_rows.items() if len(rows)}
    out = np.zeros((n, project.shape[1]))
    # Trees are summed in batches by one sparse product: row i picks its pattern's row of each tree.
    batch = 32
    for start in range(0, len(splits), batch):
        picks, tables, offset = [], [], 0
        for t in range(start, min(start + batch, len(splits))):
            codes, uniques = pd.factorize(splits[t].patterns(columns, nan_rows))
            first = np.empty(len(uniques), dtype=np.int64)
            first[codes[::-1]] = np.arange(n - 1, -1, -1)  # the first row of each pattern
            shap = np.asarray(tree_shap(values[first], t), dtype=np.float64)[:, :-1]
            tables.append(shap @ project)
            picks.append(codes + offset)
            offset += len(uniques)
        out += _one_per_tree(np.column_stack(picks), offset) @ np.vstack(tables)
    return out


def lightgbm_contributions(model, values: np.ndarray, method: str, project: np.ndarray | None = None):
    """(n, features) contributions of a LightGBM booster (gbdt or rf) to its raw score, or
    (n, groups) when ``project`` (features × groups) is given."""
    booster, n_iter = model.booster_, model.best_rounds_
    scale = 1.0 / n_iter if model.boosting == "rf" else 1.0
    if project is None:
        project = np.eye(booster.num_feature())
    if method == "exact":
        splits = None
        if len(values) >= SHARE_FROM_ROWS:
            splits = _cached(model, "_splits", lambda: _lightgbm_splits(booster, n_iter))
        if splits is None:  # the library on every row
            contrib = booster.predict(
                values, num_iteration=n_iter, pred_contrib=True, num_threads=predict_threads(len(values))
            )[:, :-1]
            return scale * (np.asarray(contrib, dtype=np.float64) @ project)
        return scale * shared_tree_shap(
            splits,
            values,
            lambda rows, t: booster.predict(rows, start_iteration=t, num_iteration=1, pred_contrib=True),
            project,
        )
    table, offsets = _cached(model, "_leaf_table", lambda: _lightgbm_leaf_table(booster, n_iter))
    leaves = booster.predict(
        values, num_iteration=n_iter, pred_leaf=True, num_threads=predict_threads(len(values))
    ).astype(np.int64)
    leaves = leaves.reshape(len(values), -1) + offsets
    return scale * np.asarray(_one_per_tree(leaves, table.shape[0]) @ (table[:, :-1] @ project))


def xgboost_contributions(model, values: np.ndarray, method: str, project: np.ndarray | None = None):
    import xgboost as xgb

    booster, n_iter = model.booster_, model.best_rounds_
    if project is None:
        project = np.eye(booster.num_features())
    if method == "exact" and len(values) >= SHARE_FROM_ROWS:
        splits = _cached(model, "_splits", lambda: _xgboost_splits(booster, n_iter))
        if splits is not None:
            # contributions take whole models only: one single-tree model per tree, sliced once
            trees = _cached(model, "_tree_models", lambda: [booster[t : t + 1] for t in range(n_iter)])
            return shared_tree_shap(
                splits,
                values,
                lambda rows, t: trees[t].predict(xgb.DMatrix(rows, nthread=1), pred_contribs=True),
                project,
            )
    contrib = booster.predict(
        xgb.DMatrix(values),
        pred_contribs=True,
        approx_contribs=method == "path",
        iteration_range=(0, n_iter),
    )
    return np.asarray(contrib, dtype=np.float64)[:, :-1] @ project
