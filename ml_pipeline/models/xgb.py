"""XGBoost (hist trees) for one target, early-stopped on a later cutoff, with its contributions
(tree SHAP shared per split pattern, or the library's own)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ml_pipeline.models import tree_shap
from ml_pipeline.models.base import CHURN_TREE_DEPTH, LinkedModel, TrainingRows, as_values
from ml_pipeline.models.tree_shap import TreeSplits, cached, shared_tree_shap


class XGBoostModel(LinkedModel):
    """XGBoost (hist trees) for one target, early-stopped on a later cutoff; saved as XGBoost JSON."""

    kind = "xgboost"
    suffix = ".xgb.json"
    shares = "xgboost"

    def __init__(
        self, objective: str, random_state: int = 0, num_threads: int = 0, learning_rate: float = 0.1
    ):
        self.objective = objective
        self.random_state = random_state
        self.num_threads = num_threads
        self.learning_rate = learning_rate

    @property
    def description(self) -> str:
        return f"XGBoost ({self.objective})"

    def params(self) -> dict:
        p = {
            "objective": "binary:logistic" if self.objective == "binary" else "reg:tweedie",
            "eta": self.learning_rate,
            "max_depth": 6,
            "min_child_weight": 5,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "lambda": 1.0,
            "tree_method": "hist",
            "seed": self.random_state,
            "nthread": self.num_threads or None,
            "verbosity": 0,
        }
        if self.objective == "tweedie":
            p["tweedie_variance_power"] = 1.5
        else:
            p["max_depth"] = CHURN_TREE_DEPTH
        return {k: v for k, v in p.items() if v is not None}

    def fit_rows(self, rows: TrainingRows, index: np.ndarray, y: np.ndarray, eval_set, n_rounds) -> None:
        import xgboost as xgb

        # One DMatrix per set of rows, shared by every target (only the labels differ): its
        # quantile cuts and binned index are built once, and they depend on the rows alone.
        train = rows.subset_form("xgboost", index, lambda: xgb.DMatrix(rows.values[index]))
        train.set_label(y)  # index ascending, y aligned with it
        evals, kwargs = [], {}
        if eval_set is not None:
            valid = rows.eval_form("xgboost", eval_set[0], lambda: xgb.DMatrix(as_values(eval_set[0])))
            valid.set_label(eval_set[1])
            evals = [(valid, "valid")]
            kwargs["early_stopping_rounds"] = 30
        self.booster_ = xgb.train(
            self.params(), train, num_boost_round=n_rounds or 2000, evals=evals, verbose_eval=False, **kwargs
        )
        best = getattr(self.booster_, "best_iteration", None)
        self.best_rounds_ = (
            int(best + 1)
            if eval_set is not None and best is not None
            else int(self.booster_.num_boosted_rounds())
        )

    def raw(self, X) -> np.ndarray:
        """The booster's margin (log-odds for churn, log of the mean for spend), shape (rows,).

        ``Booster.inplace_predict`` reads the float32 matrix where it lies: the same numbers as
        ``predict`` on a DMatrix (tests/unit/test_training.py holds it), without building one,
        which was about 40 % of a one-customer call."""
        return self.booster_.inplace_predict(
            as_values(X), predict_type="margin", iteration_range=(0, self.best_rounds_)
        ).astype(np.float64)

    def contributions(self, X, method: str = "exact", project: np.ndarray | None = None) -> np.ndarray:
        """Tree SHAP (``exact``) or the path attribution (``path``) to :meth:`raw`; see
        :func:`xgboost_contributions`."""
        return xgboost_contributions(self, as_values(X), method, project)

    def gain(self) -> np.ndarray:
        """XGBoost's total gain per feature (``get_score(importance_type="total_gain")``, keyed
        ``f<column>`` as the model trains on unnamed matrices); 0 for a feature never split on."""
        out = np.zeros(self.booster_.num_features())
        names = list(self.booster_.feature_names or [])
        for key, value in self.booster_[: self.best_rounds_].get_score(importance_type="total_gain").items():
            column = names.index(key) if key in names else int(key.lstrip("f"))
            out[column] = value
        return out

    def save_file(self, path: Path) -> None:
        self.booster_.save_model(str(path))

    def load_file(self, path: Path) -> None:
        import xgboost as xgb

        self.booster_ = xgb.Booster()
        self.booster_.load_model(str(path))
        self.best_rounds_ = int(self.booster_.num_boosted_rounds())


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


def xgboost_contributions(model, values: np.ndarray, method: str, project: np.ndarray | None = None):
    import xgboost as xgb

    booster, n_iter = model.booster_, model.best_rounds_
    if project is None:
        project = np.eye(booster.num_features())
    if method == "exact" and len(values) >= tree_shap.SHARE_FROM_ROWS:
        splits = cached(model, "_splits", lambda: _xgboost_splits(booster, n_iter))
        if splits is not None:
            # contributions take whole models only: one single-tree model per tree, sliced once
            trees = cached(model, "_tree_models", lambda: [booster[t : t + 1] for t in range(n_iter)])
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
