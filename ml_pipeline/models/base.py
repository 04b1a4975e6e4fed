"""What every model of the zoo shares: a raw score, a calibration shift and the link back to a
probability (churn) or an amount (spend)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

# Churn trees are kept shallow: on both shared logs depth 4 validated as well as unlimited depth
# (log loss equal or lower, LightGBM and XGBoost), and tree SHAP, which explains every churn
# prediction, costs leaves × depth² per tree: a quarter of depth 6's.
CHURN_TREE_DEPTH = 4


def as_values(X) -> np.ndarray:
    """A frame or array as the float32 matrix the libraries score."""
    return X.to_numpy(dtype=np.float32) if hasattr(X, "to_numpy") else np.asarray(X, dtype=np.float32)


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
        with ``project`` (features × groups) weights; see ml_pipeline.models.tree_shap."""

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
