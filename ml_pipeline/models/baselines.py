"""The naive baselines every target's model must beat: churn rate by recency decile, and spend
in the last window of the horizon's length. They are predictors like the models (same X, same
save/load); their state is a few JSON-able numbers, so they write no file."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ml_pipeline.errors import PipelineError
from ml_pipeline.models.base import Predictor, feature_names


class Baseline(Predictor):
    """A naive predictor reading one named feature; :meth:`load` rebuilds any baseline type from
    its entry's ``type``."""

    kind = "baseline"
    no_gain = "a baseline is a fixed rule reading one feature: it learns no gain"
    type: ClassVar[str]  # the entry's "type"
    _types: ClassVar[dict[str, type[Baseline]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Baseline._types[cls.type] = cls

    def _record_features(self, X) -> None:
        names = feature_names(X)
        if names is not None:
            self.feature_names_in_ = names

    def _position(self, X, name: str) -> int:
        """The column of feature ``name`` in ``X``: a frame's own, else by ``feature_names_in_``.

        Raises PipelineError when the feature is not there (or a matrix comes without names)."""
        if isinstance(X, pd.DataFrame):
            names = list(X.columns)
        else:
            names = list(getattr(self, "feature_names_in_", []))
        if name not in names:
            raise PipelineError(f"{self.description}: feature '{name}' is not among the input's features")
        return names.index(name)

    def _column(self, X, name: str) -> np.ndarray:
        """Feature ``name`` of ``X`` (frame or matrix) as float64."""
        if isinstance(X, pd.DataFrame):
            return X[name].to_numpy(dtype=float)
        return np.asarray(X)[:, self._position(X, name)].astype(float)

    def save(self, folder: Path, name: str) -> dict:
        """The parameters (with ``type``); ``folder`` gets no file."""
        return {"type": self.type, **self._state()}

    @abstractmethod
    def _state(self) -> dict:
        """The learned numbers and parameters, JSON-able."""

    @classmethod
    def load(cls, entry: dict, folder: Path | None = None) -> Baseline:
        return Baseline._types[entry["type"]]._restore(entry)

    @classmethod
    @abstractmethod
    def _restore(cls, entry: dict) -> Baseline:
        """The fitted baseline from :meth:`_state`'s numbers."""


class RecencyRateBaseline(Baseline):
    """Churn baseline: the training churn rate of customers in the same recency decile, shrunk
    towards the overall rate by ``smoothing`` pseudo-customers."""

    type = "recency_rate"
    description = "churn rate of training customers in the same recency decile"
    contribution_unit = "log-odds"

    def __init__(self, bins: int = 10, smoothing: float = 20.0):
        self.bins = bins
        self.smoothing = smoothing

    def fit(self, X, y: np.ndarray) -> RecencyRateBaseline:
        self._record_features(X)
        r = self._column(X, "recency_days")
        edges = np.unique(np.quantile(r, np.linspace(0, 1, self.bins + 1)[1:-1]))
        idx = np.searchsorted(edges, r, side="right")
        prior = float(np.mean(y))
        count = np.bincount(idx, minlength=len(edges) + 1)
        pos = np.bincount(idx, weights=y, minlength=len(edges) + 1)
        self.edges_ = edges.tolist()
        self.rates_ = ((pos + self.smoothing * prior) / (count + self.smoothing)).tolist()
        return self

    def predict(self, X) -> np.ndarray:
        idx = np.searchsorted(np.asarray(self.edges_), self._column(X, "recency_days"), side="right")
        return np.asarray(self.rates_)[idx]

    def contributions(self, X, method: str = "exact", project: np.ndarray | None = None) -> np.ndarray:
        """Recency is its only factor: the log-odds of its decile's rate against the mean rate
        (the same for either ``method``)."""
        p = np.clip(self.predict(X), 1e-6, 1 - 1e-6)
        mean = float(np.clip(np.mean(self.rates_), 1e-6, 1 - 1e-6))
        out = np.zeros(X.shape)
        out[:, self._position(X, "recency_days")] = np.log(p / (1 - p)) - np.log(mean / (1 - mean))
        return out if project is None else out @ project

    def _state(self) -> dict:
        return {"edges": self.edges_, "rates": self.rates_}

    @classmethod
    def _restore(cls, entry: dict) -> RecencyRateBaseline:
        baseline = cls()
        baseline.edges_, baseline.rates_ = entry["edges"], entry["rates"]
        return baseline


class LastWindowSpendBaseline(Baseline):
    """Spend baseline: what the customer spent in the last window, ``feature`` (an amount
    feature, e.g. ``monetary_30d``), times ``scale`` (horizon / window length)."""

    type = "last_window"
    contribution_unit = "spend amount"

    def __init__(self, feature: str, scale: float = 1.0):
        self.feature = feature
        self.scale = scale

    @property
    def description(self) -> str:
        return f"spend in the last window ({self.feature} x {self.scale:g})"

    def fit(self, X, y: np.ndarray) -> LastWindowSpendBaseline:
        """Learns nothing but the feature names: the window's spend is the prediction."""
        self._record_features(X)
        return self

    def predict(self, X) -> np.ndarray:
        return np.maximum(self._column(X, self.feature) * self.scale, 0.0)

    def contributions(self, X, method: str = "exact", project: np.ndarray | None = None) -> np.ndarray:
        """The whole prediction (an amount, base value 0) is its one feature's."""
        out = np.zeros(X.shape)
        out[:, self._position(X, self.feature)] = self.predict(X)
        return out if project is None else out @ project

    def _state(self) -> dict:
        return {"feature": self.feature, "scale": self.scale}

    @classmethod
    def _restore(cls, entry: dict) -> LastWindowSpendBaseline:
        return cls(entry["feature"], entry["scale"])
