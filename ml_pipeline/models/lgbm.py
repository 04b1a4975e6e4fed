"""LightGBM for one target (binary churn, Tweedie spend, or its random-forest mode), with its
contributions: tree SHAP by the library, or the path attribution of a leaf table."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

from ml_pipeline.models import tree_shap
from ml_pipeline.models.base import CHURN_TREE_DEPTH, LinkedModel, TrainingRows, as_values
from ml_pipeline.models.tree_shap import (
    TreeSplits,
    cached,
    float32_at_most,
    one_per_tree,
    shared_tree_shap,
)

_DATASET_PARAMS = {"max_bin": 255, "feature_pre_filter": False, "verbose": -1}


RF_TREES = 150
SMALL_BATCH = 10_000


def predict_threads(n_rows: int) -> int:
    """LightGBM threads for scoring ``n_rows``: one for small batches. Waking LightGBM's OpenMP
    threads while XGBoost's are still spinning made one customer's predictions many times slower
    on 2 cores (docs/benchmarks.md)."""
    return 1 if n_rows < SMALL_BATCH else 0


class BinnedRows:
    """All stacked training rows, binned once by LightGBM; every target trains on subsets of it
    (each subset built once too, see :meth:`TrainingRows.subset_form`)."""

    def __init__(self, values: np.ndarray, names: np.ndarray | None = None):
        self.full = lgb.Dataset(
            values,
            feature_name="auto" if names is None else list(names),
            params=_DATASET_PARAMS,
            free_raw_data=False,
        ).construct()

    def other(self, X) -> lgb.Dataset:
        """Other rows ``X`` (e.g. early-stopping rows) binned with these rows' bins, no labels yet."""
        return lgb.Dataset(as_values(X), reference=self.full, params=_DATASET_PARAMS).construct()


class LightGBMModel(LinkedModel):
    """LightGBM for one target: binary for churn, Tweedie for spend (zero-inflated, heavy-tailed),
    stopped early on a later cutoff. Saved in LightGBM's text format."""

    kind = "lightgbm"
    suffix = ".lgb.txt"
    shares = "lightgbm"  # the binned rows, random forests included
    boosting = "gbdt"

    def __init__(
        self,
        objective: str,
        n_estimators: int = 2000,
        learning_rate: float = 0.1,
        early_stopping_rounds: int = 30,
        random_state: int = 0,
        num_threads: int = 0,
    ):
        self.objective = objective
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.num_threads = num_threads

    @property
    def description(self) -> str:
        return f"LightGBM ({self.objective})"

    def params(self, n_rows: int) -> dict:
        p = {
            "objective": self.objective,
            "learning_rate": self.learning_rate,
            "num_leaves": 31,
            "min_data_in_leaf": int(min(100, max(5, n_rows // 50))),
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": self.random_state,
            "deterministic": True,
            "num_threads": self.num_threads,
            # Row-wise histograms: LightGBM 4.7's column-wise ones abort the process (heap
            # corruption) on some subsets of a Dataset with bundled sparse features, e.g. the
            # buying rows of CDNOW's training rows; row-wise was also the faster on the
            # benchmark's training rows (docs/benchmarks.md).
            "force_row_wise": True,
            **_DATASET_PARAMS,
        }
        if self.objective == "tweedie":
            p["tweedie_variance_power"] = 1.5
        elif self.boosting != "rf":
            p.update(max_depth=CHURN_TREE_DEPTH, num_leaves=2**CHURN_TREE_DEPTH)
        if self.boosting == "rf":
            p.update(boosting="rf", bagging_fraction=0.632, feature_fraction=0.5, num_leaves=127)
        return p

    def fit_rows(self, rows: TrainingRows, index: np.ndarray, y: np.ndarray, eval_set, n_rounds) -> None:
        """Fit on the LightGBM-binned rows at ``index`` (binned once per :class:`TrainingRows`)."""
        if self.boosting == "rf":  # a forest does not stop early: a fixed number of trees
            eval_set, n_rounds = None, n_rounds or RF_TREES
        binned = rows.form("lightgbm", lambda: BinnedRows(rows.values, rows.feature_names))
        valid = None
        if eval_set is not None:
            # Binned once with the training rows' bins and shared by every target (labels differ).
            valid = rows.eval_form("lightgbm", eval_set[0], lambda: binned.other(eval_set[0]))
            valid.set_label(eval_set[1])
        train = rows.subset_form("lightgbm", index, lambda: binned.full.subset(index).construct())
        train.set_label(y)  # a subset takes its parent's labels unless set after construction
        self._train(train, valid, n_rounds)

    def _train(self, train: lgb.Dataset, valid: lgb.Dataset | None, n_rounds: int | None) -> None:
        """Fit on binned rows; with ``valid`` (binned rows with labels) stop early on it,
        keeping the best round."""
        callbacks, valid_sets = [], []
        if valid is not None:
            valid_sets = [valid]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        rounds = n_rounds or self.n_estimators
        self.booster_ = lgb.train(
            self.params(train.num_data()),
            train,
            num_boost_round=rounds,
            valid_sets=valid_sets,
            callbacks=callbacks,
        )
        self.best_rounds_ = int(self.booster_.best_iteration or self.booster_.current_iteration())

    def raw(self, X) -> np.ndarray:
        """The booster's raw score (log-odds for churn, log of the mean for spend)."""
        data = as_values(X)
        raw = self.booster_.predict(
            data, num_iteration=self.best_rounds_, raw_score=True, num_threads=predict_threads(len(data))
        )
        # A forest's raw score is the sum over its trees; its prediction is their average.
        return raw / self.best_rounds_ if self.boosting == "rf" else raw

    def contributions(self, X, method: str = "exact", project: np.ndarray | None = None) -> np.ndarray:
        """Tree SHAP (``exact``) or the path attribution (``path``) to :meth:`raw`; see
        :func:`lightgbm_contributions`."""
        return lightgbm_contributions(self, as_values(X), method, project)

    def gain(self) -> np.ndarray:
        """LightGBM's total split gain per feature (``importance_type="gain"``); for the random
        forest mode, the same sum over its trees: the decrease of the loss (impurity) at the
        feature's splits."""
        return self.booster_.feature_importance(importance_type="gain", iteration=self.best_rounds_).astype(
            np.float64
        )

    def save_file(self, path: Path) -> None:
        self.booster_.save_model(str(path), num_iteration=self.best_rounds_)

    def load_file(self, path: Path) -> None:
        self.booster_ = lgb.Booster(model_file=str(path))
        self.best_rounds_ = self.booster_.current_iteration()


class RandomForestModel(LightGBMModel):
    """LightGBM's random forest mode: ``RF_TREES`` bagged, fully grown trees, averaged; never
    stopped early."""

    kind = "random_forest"
    suffix = ".rf.lgb.txt"
    boosting = "rf"

    @property
    def description(self) -> str:
        return f"random forest (LightGBM rf, {self.objective})"


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
                threshold=np.array([float32_at_most(n["threshold"]) for n in nodes], dtype=np.float32),
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


def lightgbm_contributions(model, values: np.ndarray, method: str, project: np.ndarray | None = None):
    """(n, features) contributions of a LightGBM booster (gbdt or rf) to its raw score, or
    (n, groups) when ``project`` (features × groups) is given."""
    booster, n_iter = model.booster_, model.best_rounds_
    scale = 1.0 / n_iter if model.boosting == "rf" else 1.0
    if project is None:
        project = np.eye(booster.num_feature())
    if method == "exact":
        splits = None
        if len(values) >= tree_shap.SHARE_FROM_ROWS:
            splits = cached(model, "_splits", lambda: _lightgbm_splits(booster, n_iter))
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
    table, offsets = cached(model, "_leaf_table", lambda: _lightgbm_leaf_table(booster, n_iter))
    leaves = booster.predict(
        values, num_iteration=n_iter, pred_leaf=True, num_threads=predict_threads(len(values))
    ).astype(np.int64)
    leaves = leaves.reshape(len(values), -1) + offsets
    return scale * np.asarray(one_per_tree(leaves, table.shape[0]) @ (table[:, :-1] @ project))
