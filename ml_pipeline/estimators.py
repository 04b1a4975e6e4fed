"""Per-target predictors: the naive baselines and LightGBM, with native save/load.

Both follow the estimator contract (``fit`` returns self, learned state ends in ``_``) and
serialize to JSON-able parameters or LightGBM's own text format, never pickles.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from ml_pipeline.features.behaviour import WINDOWS


class RecencyRateBaseline:
    """Churn baseline: the training churn rate of customers in the same recency decile."""

    kind = "baseline"
    description = "churn rate of training customers in the same recency decile"

    def __init__(self, bins: int = 10, smoothing: float = 20.0):
        self.bins = bins
        self.smoothing = smoothing

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> RecencyRateBaseline:
        r = X["recency_days"].to_numpy(dtype=float)
        edges = np.unique(np.quantile(r, np.linspace(0, 1, self.bins + 1)[1:-1]))
        idx = np.searchsorted(edges, r, side="right")
        prior = float(np.mean(y))
        count = np.bincount(idx, minlength=len(edges) + 1)
        pos = np.bincount(idx, weights=y, minlength=len(edges) + 1)
        self.edges_ = edges.tolist()
        self.rates_ = ((pos + self.smoothing * prior) / (count + self.smoothing)).tolist()
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        idx = np.searchsorted(np.asarray(self.edges_), X["recency_days"].to_numpy(dtype=float), side="right")
        return np.asarray(self.rates_)[idx]

    def to_params(self) -> dict:
        return {"type": "recency_rate", "edges": self.edges_, "rates": self.rates_}

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Recency is its only factor: the log-odds of its decile's rate against the mean rate."""
        p = np.clip(self.predict(X), 1e-6, 1 - 1e-6)
        mean = float(np.clip(np.mean(self.rates_), 1e-6, 1 - 1e-6))
        out = np.zeros(X.shape)
        out[:, X.columns.get_loc("recency_days")] = np.log(p / (1 - p)) - np.log(mean / (1 - mean))
        return out


class LastWindowSpendBaseline:
    """Spend baseline: what the customer spent in the last window of the horizon's length."""

    kind = "baseline"

    def __init__(self, feature: str, scale: float = 1.0):
        self.feature = feature
        self.scale = scale
        self.description = f"spend in the last window ({feature} x {scale:g})"

    @classmethod
    def for_target(cls, target_slug: str | None, horizon_days: int) -> LastWindowSpendBaseline:
        """The last-window baseline for spend_total (slug None) or one category's spend."""
        if target_slug is None:
            w = next((w for w in WINDOWS if w >= horizon_days), WINDOWS[-1])
            return cls(f"monetary_{w}d", horizon_days / w)
        w = 30 if horizon_days <= 30 else 90
        return cls(f"cat_{target_slug}_spend_{w}d", horizon_days / w)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LastWindowSpendBaseline:
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.maximum(X[self.feature].to_numpy(dtype=float) * self.scale, 0.0)

    def to_params(self) -> dict:
        return {"type": "last_window", "feature": self.feature, "scale": self.scale}


def baseline_from_params(params: dict):
    """Rebuild a fitted baseline from :meth:`to_params` output."""
    if params["type"] == "recency_rate":
        b = RecencyRateBaseline()
        b.edges_, b.rates_ = params["edges"], params["rates"]
        return b
    return LastWindowSpendBaseline(params["feature"], params["scale"])


_DATASET_PARAMS = {"max_bin": 255, "feature_pre_filter": False, "verbose": -1}


RF_TREES = 150
SMALL_BATCH = 10_000


def predict_threads(n_rows: int) -> int:
    """LightGBM threads for scoring ``n_rows``: one for small batches. Waking LightGBM's OpenMP
    threads while XGBoost's are still spinning made one customer's 8 predictions take 8 ms
    instead of 0.4 ms on 2 cores."""
    return 1 if n_rows < SMALL_BATCH else 0


# Churn trees are kept shallow: on both shared logs depth 4 validated as well as unlimited depth
# (log loss equal or lower, LightGBM and XGBoost), and tree SHAP, which explains every churn
# prediction, costs leaves × depth² per tree: a quarter of depth 6's.
CHURN_TREE_DEPTH = 4


class TrainingRows:
    """The stacked feature rows in the forms the zoo's models train on, each built on first use."""

    def __init__(self, X: pd.DataFrame):
        self.X = X
        self._binned: BinnedRows | None = None
        self._values: np.ndarray | None = None

    @property
    def binned(self) -> BinnedRows:
        if self._binned is None:
            self._binned = BinnedRows(self.X)
        return self._binned

    @property
    def values(self) -> np.ndarray:
        if self._values is None:
            self._values = self.X.to_numpy(dtype=np.float32)
        return self._values


class BinnedRows:
    """All stacked training rows, binned once by LightGBM; every target trains on subsets of it."""

    def __init__(self, X: pd.DataFrame):
        self.columns = list(X.columns)
        self.full = lgb.Dataset(
            X.to_numpy(dtype=np.float32),
            feature_name=self.columns,
            params=_DATASET_PARAMS,
            free_raw_data=False,
        ).construct()

    def rows(self, index: np.ndarray, y: np.ndarray) -> lgb.Dataset:
        """The rows at ``index`` with labels ``y`` (aligned with ``index``)."""
        subset = self.full.subset(np.sort(index)).construct()
        subset.set_label(y)  # a subset takes its parent's labels unless set after construction
        return subset


class LinkedModel(ABC):
    """Shared by the model zoo: a raw score (log-odds for churn, log of the mean for spend), a
    calibration shift added to it, and the link back to a probability or an amount."""

    objective = "binary"  # or "tweedie"
    shift_ = 0.0

    @abstractmethod
    def raw(self, X) -> np.ndarray:
        """The model's score before the link, without the calibration shift."""

    @abstractmethod
    def contributions(self, values: np.ndarray, method: str = "exact", project: np.ndarray | None = None):
        """(rows, features) contributions of each feature to :meth:`raw`, or (rows, groups) summed
        with ``project`` (features × groups) weights; see ml_pipeline.contributions."""

    def predict(self, X) -> np.ndarray:
        raw = self.raw(X) + self.shift_
        return 1.0 / (1.0 + np.exp(-raw)) if self.objective == "binary" else np.exp(raw)

    def calibrate(self, X, y: np.ndarray) -> LinkedModel:
        """Shift the raw score so that predictions on (X, y) match its mean (churn rate, spend total).

        Customers' behaviour drifts (a customer base ages, spend moves with the season), and a
        model pooled over a year of cutoffs predicts the year's average; this one number moves it
        to the level of the most recent labelled window.
        """
        raw, y = self.raw(X), np.asarray(y, dtype=float)
        if self.objective == "binary":
            lo, hi = -5.0, 5.0  # bisection: the mean of sigmoid(raw + s) rises with s
            for _ in range(60):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if (1 / (1 + np.exp(-(raw + mid)))).mean() < y.mean() else (lo, mid)
            self.shift_ = float((lo + hi) / 2)
        else:
            total = np.exp(raw).sum()
            self.shift_ = (
                float(np.clip(np.log(y.sum() / total), -2.0, 2.0)) if total > 0 and y.sum() > 0 else 0.0
            )
        return self


class LightGBMTarget(LinkedModel):
    """LightGBM for one target: binary for churn, Tweedie for spend (zero-inflated, heavy-tailed).

    ``boosting="rf"`` makes it a random forest (bagged, fully grown trees averaged), LightGBM's own.
    """

    kind = "lightgbm"

    def __init__(
        self,
        objective: str,
        n_estimators: int = 2000,
        learning_rate: float = 0.1,
        early_stopping_rounds: int = 30,
        random_state: int = 0,
        num_threads: int = 0,
        boosting: str = "gbdt",
    ):
        self.objective = objective
        self.boosting = boosting
        self.kind = "random_forest" if boosting == "rf" else "lightgbm"
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.num_threads = num_threads
        self.description = (
            f"random forest (LightGBM rf, {objective})" if boosting == "rf" else f"LightGBM ({objective})"
        )

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
            # buying rows of CDNOW's training rows; row-wise is also the faster here (4.2 vs
            # 5.0 s per 100 rounds on 1.2M rows).
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

    def fit_on(self, rows: TrainingRows, index: np.ndarray, y: np.ndarray, eval_set=None, n_rounds=None):
        """Fit on the training rows at ``index`` (the zoo's common entry point)."""
        if self.boosting == "rf":  # a forest does not stop early: a fixed number of trees
            eval_set, n_rounds = None, n_rounds or RF_TREES
        return self.fit_rows(rows.binned.rows(index, y), eval_set, n_rounds)

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, eval_set: tuple | None = None, n_rounds: int | None = None
    ) -> LightGBMTarget:
        """Fit on a frame; see :meth:`fit_rows`."""
        return self.fit_rows(BinnedRows(X).rows(np.arange(len(X)), y), eval_set, n_rounds)

    def fit_rows(
        self, train: lgb.Dataset, eval_set: tuple | None = None, n_rounds: int | None = None
    ) -> LightGBMTarget:
        """Fit on binned rows; with ``eval_set`` (X, y) stop early on it, keeping the best round."""
        callbacks, valid = [], []
        if eval_set is not None:
            Xv = eval_set[0].to_numpy(dtype=np.float32) if hasattr(eval_set[0], "to_numpy") else eval_set[0]
            valid = [lgb.Dataset(Xv, label=eval_set[1], reference=train, params=_DATASET_PARAMS)]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        rounds = n_rounds or self.n_estimators
        self.booster_ = lgb.train(
            self.params(train.num_data()),
            train,
            num_boost_round=rounds,
            valid_sets=valid,
            callbacks=callbacks,
        )
        self.best_rounds_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        return self

    def raw(self, X) -> np.ndarray:
        """The booster's raw score (log-odds for churn, log of the mean for spend)."""
        data = X.to_numpy(dtype=np.float32) if hasattr(X, "to_numpy") else X
        raw = self.booster_.predict(
            data, num_iteration=self.best_rounds_, raw_score=True, num_threads=predict_threads(len(data))
        )
        # A forest's raw score is the sum over its trees; its prediction is their average.
        return raw / self.best_rounds_ if self.boosting == "rf" else raw

    def contributions(self, values: np.ndarray, method: str = "exact", project: np.ndarray | None = None):
        from ml_pipeline.contributions import lightgbm_contributions

        return lightgbm_contributions(self, values, method, project)

    def save(self, path: Path) -> None:
        self.booster_.save_model(str(path), num_iteration=self.best_rounds_)

    @classmethod
    def load(cls, path: Path, objective: str, boosting: str = "gbdt") -> LightGBMTarget:
        m = cls(objective, boosting=boosting)
        m.booster_ = lgb.Booster(model_file=str(path))
        m.best_rounds_ = m.booster_.current_iteration()
        return m
