"""The naive baselines every target's model must beat: churn rate by recency decile, and spend
in the last window of the horizon's length. Their state is a few JSON-able numbers."""

from __future__ import annotations

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
