"""Linear models: logistic regression for churn, a Tweedie GLM with log link for spend
(scikit-learn), on signed-log, standardized features; saved as plain JSON."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ml_pipeline.models.base import LinkedModel, TrainingRows, as_values

# Rows per block of the score: the design matrix of 1M rows x 87 features is 700 MB of float64 per
# temporary (sign, log1p, standardizing, ...); in blocks of 65,536 rows the same arithmetic holds
# about 45 MB at a time and gives the same numbers, bit for bit (tests/unit/test_training.py). On
# 1M rows the first whole-matrix call took 5.5 s (fresh pages for every temporary), later ones
# 1.0-1.2 s; the blocks take 1.05 s every time (docs/benchmarks.md).
SCORE_BLOCK_ROWS = 65_536


class LinearModel(LinkedModel):
    """Logistic regression (churn) or a Tweedie GLM with log link (spend) on transformed features.

    Features are mapped by sign(x)·log1p(|x|) (amounts and counts are heavy-tailed), standardized
    with the training rows' mean and spread, and missing values set to the mean (0).
    """

    kind = "linear"
    suffix = ".linear.json"
    shares = "linear"  # the float32 matrix, only read

    def __init__(self, objective: str, alpha: float = 1e-3):
        self.objective = objective
        self.alpha = alpha

    @property
    def description(self) -> str:
        return "logistic regression" if self.objective == "binary" else "Tweedie GLM (log link)"

    def _design(self, values: np.ndarray) -> np.ndarray:
        z = np.sign(values) * np.log1p(np.abs(values))
        z = (z - self.mean_) / self.scale_
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)

    def fit_rows(self, rows: TrainingRows, index: np.ndarray, y: np.ndarray, eval_set, n_rounds) -> None:
        """Newton steps to the penalized optimum; ``eval_set`` and ``n_rounds`` do not apply."""
        from sklearn.linear_model import LogisticRegression, TweedieRegressor

        values = rows.values[index].astype(np.float64)
        z = np.sign(values) * np.log1p(np.abs(values))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-empty column has no mean
            self.mean_ = np.nan_to_num(np.nanmean(z, axis=0))
            scale = np.nan_to_num(np.nanstd(z, axis=0))
        self.scale_ = np.where(scale > 1e-9, scale, 1.0)
        design = self._design(values)
        # Newton steps with a Cholesky solve: a few iterations for ~100 features, however many rows.
        if self.objective == "binary":
            model = LogisticRegression(
                C=1.0 / max(self.alpha * len(y), 1e-9), solver="newton-cholesky", max_iter=100
            )
        else:
            model = TweedieRegressor(
                power=1.5, link="log", alpha=self.alpha, solver="newton-cholesky", max_iter=100
            )
        model.fit(design, y)
        self.coef_ = np.ravel(model.coef_).astype(float)
        self.intercept_ = float(np.ravel([model.intercept_])[0])
        self.best_rounds_ = None

    def raw(self, X) -> np.ndarray:
        """The linear score (log-odds or log of the mean spend) of each row, in blocks of
        :data:`SCORE_BLOCK_ROWS`; shape (rows,)."""
        values = as_values(X)
        out = np.empty(len(values), dtype=np.float64)
        for start in range(0, len(values), SCORE_BLOCK_ROWS):
            block = values[start : start + SCORE_BLOCK_ROWS].astype(np.float64)
            out[start : start + SCORE_BLOCK_ROWS] = self._design(block) @ self.coef_ + self.intercept_
        return out

    def contributions(self, X, method: str = "exact", project: np.ndarray | None = None) -> np.ndarray:
        """Coefficient × standardized value: exact for a linear score, whichever the method."""
        contrib = self._design(as_values(X).astype(np.float64)) * self.coef_
        return contrib if project is None else contrib @ project

    def gain(self) -> np.ndarray:
        """Not a gain (a linear model has none) but its analogue: |coefficient| × the standard
        deviation of the feature the coefficient multiplies on the training rows. Features are
        standardized on the training rows, so that spread is 1 (a little less where missing
        values were set to the mean) and the analogue is |coefficient|: how far one typical
        difference in the feature moves the score."""
        return np.abs(self.coef_)

    def save_file(self, path: Path) -> None:
        state = {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_}
        path.write_text(
            json.dumps({**{k: v.tolist() for k, v in state.items()}, "intercept": self.intercept_})
        )

    def load_file(self, path: Path) -> None:
        state = json.loads(path.read_text())
        self.mean_, self.scale_ = np.asarray(state["mean"]), np.asarray(state["scale"])
        self.coef_, self.intercept_, self.best_rounds_ = (
            np.asarray(state["coef"]),
            float(state["intercept"]),
            None,
        )
