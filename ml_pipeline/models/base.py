"""The one predictor interface that baselines and the zoo's models share, and what every model of
the zoo adds to it: a raw score, a calibration shift and the link back to a probability (churn) or
an amount (spend).

Every predictor follows scikit-learn's estimator contract (``doc/developers/develop.rst``):
``__init__`` stores parameters only, ``fit`` learns and returns ``self``, learned state ends in
``_``; it persists like :class:`~ml_pipeline.features.FeatureBuilder`: ``save(folder, name)``
writes any native file into ``folder`` and returns the JSON-able entry a bundle's metadata.json
keeps, and ``load(entry, folder)`` rebuilds the fitted predictor from them.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ml_pipeline.errors import PipelineError

# Churn trees are kept shallow: on both shared logs depth 4 validated as well as unlimited depth
# (log loss equal or lower, LightGBM and XGBoost), and tree SHAP, which explains every churn
# prediction, costs leaves × depth² per tree: a quarter of depth 6's.
CHURN_TREE_DEPTH = 4


def as_values(X) -> np.ndarray:
    """A frame or array as the float32 matrix the libraries score."""
    return X.to_numpy(dtype=np.float32) if hasattr(X, "to_numpy") else np.asarray(X, dtype=np.float32)


def feature_names(X) -> np.ndarray | None:
    """A frame's column names (object array, scikit-learn's ``feature_names_in_``), None for a matrix."""
    return np.asarray(X.columns, dtype=object) if hasattr(X, "columns") else None


class Predictor(ABC):
    """What serving and training ask of every predictor, baseline or model.

    ``X`` is always the float32 matrix (rows, features) in the bundle's feature order, or a
    DataFrame with those columns; ``feature_names_in_`` names the matrix's columns (recorded by
    ``fit`` from a frame, set by the bundle at load from its feature list).
    """

    kind: str  # a bundle target's "selected": "baseline" or a model type of the registry

    @property
    @abstractmethod
    def description(self) -> str:
        """One line saying what the predictor is, for people (kept in the bundle)."""

    @abstractmethod
    def fit(self, X, y: np.ndarray) -> Predictor:
        """Learn from (rows, features) ``X`` and labels ``y`` (rows,); returns self."""

    @abstractmethod
    def predict(self, X) -> np.ndarray:
        """(rows,) float64 predictions: churn probability or spend amount."""

    @abstractmethod
    def contributions(self, X, method: str = "exact", project: np.ndarray | None = None) -> np.ndarray:
        """(rows, features) float64 contribution of each feature to the score behind each
        prediction, or (rows, groups) summed with ``project`` (features × groups) weights.
        ``method`` is ``exact`` or ``path`` (see ml_pipeline.models.tree_shap)."""

    @property
    def contribution_unit(self) -> str:
        """The unit of :meth:`contributions` (what they add up to), for people."""
        return "score"

    # Why :meth:`gain` is None for this predictor (kept with its importance).
    no_gain: str = "it learns no gain per feature"

    def gain(self) -> np.ndarray | None:
        """(features,) the library's own total gain of each feature in the fitted predictor, in
        the input's feature order (not normalised), or None when it has none (:attr:`no_gain`
        says why)."""
        return None

    @abstractmethod
    def save(self, folder: Path, name: str) -> dict:
        """Write any native file into ``folder`` (named from ``name``); return the JSON-able entry."""

    @classmethod
    @abstractmethod
    def load(cls, entry: dict, folder: Path) -> Predictor:
        """The fitted predictor from :meth:`save`'s entry and folder.

        Raises PipelineError when a file the entry names is missing."""


def sample_index(index: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """``index`` (row positions, ascending) when it has at most ``limit`` entries, else ``limit``
    of them drawn at random without replacement (numpy ``default_rng(seed)``), ascending: the one
    way model selection, importance and the drift reference thin large row sets."""
    if len(index) <= limit:
        return index
    return np.sort(np.random.default_rng(seed).choice(index, limit, replace=False))


class TrainingRows:
    """Stacked training rows (a frame or a matrix) and the forms models train on, built once on
    first use and shared by every target's models (e.g. LightGBM's binned rows)."""

    def __init__(self, X):
        self.X = X
        self._forms: dict = {}

    @property
    def feature_names(self) -> np.ndarray | None:
        return feature_names(self.X)

    @property
    def values(self) -> np.ndarray:
        """The rows as one float32 matrix."""
        return self.form("values", lambda: as_values(self.X))

    def form(self, name, build):
        """The rows in the form ``name`` (any hashable key), built by ``build()`` on first use."""
        if name not in self._forms:
            self._forms[name] = build()
        return self._forms[name]

    def subset_form(self, name: str, index: np.ndarray, build):
        """The rows at ``index`` (ascending positions) in the form ``name``, built by
        ``build()`` on first use and shared by every target fit on the same rows (e.g. XGBoost's
        DMatrix of the candidates' sample: its quantile bins do not depend on the labels)."""
        key = (name, len(index), hashlib.blake2b(np.ascontiguousarray(index).tobytes()).hexdigest())
        return self.form(key, build)

    def eval_form(self, name: str, X, build):
        """A form of ``X`` (rows other than these, e.g. the early-stopping rows), built by
        ``build()`` on first use; keyed by the object itself, which the cache keeps alive so that
        its identity cannot be reused."""
        key = (name, id(X))
        if key not in self._forms:
            self._forms[key] = (X, build())
        return self._forms[key][1]


class LinkedModel(Predictor):
    """Shared by the model zoo: a raw score (log-odds for churn, log of the mean for spend), a
    calibration shift added to it, and the link back to a probability or an amount.

    Subclasses set ``objective`` ("binary" or "tweedie") in ``__init__``, learn in :meth:`fit_rows`
    and write their native file in :meth:`save_file` (its name: ``name + suffix``).
    """

    suffix: str  # the native file's ending, e.g. ".lgb.txt"
    # The form of :class:`TrainingRows` this type trains on; types sharing one never fit at the same
    # time (a fit sets the form's labels; ml_pipeline.training.lanes).
    shares: str

    def fit(
        self, X, y: np.ndarray, eval_set: tuple | None = None, n_rounds: int | None = None
    ) -> LinkedModel:
        """Fit on every row of ``X``; with ``eval_set`` (X, y) stop early on it, else fit ``n_rounds``."""
        return self.fit_on(TrainingRows(X), np.arange(len(X)), np.asarray(y, dtype=float), eval_set, n_rounds)

    def fit_on(
        self, rows: TrainingRows, index: np.ndarray, y: np.ndarray, eval_set=None, n_rounds: int | None = None
    ) -> LinkedModel:
        """Fit on the training rows at ``index`` (ascending), labels ``y`` aligned with it: the
        zoo's common entry point, so every target's models share one set of rows."""
        names = rows.feature_names
        if names is not None:
            self.feature_names_in_ = names
        self.shift_ = 0.0
        self.fit_rows(rows, index, y, eval_set, n_rounds)
        return self

    @abstractmethod
    def fit_rows(self, rows: TrainingRows, index: np.ndarray, y: np.ndarray, eval_set, n_rounds) -> None:
        """The library's fit; sets ``best_rounds_`` (None for a model without rounds)."""

    @abstractmethod
    def raw(self, X) -> np.ndarray:
        """The model's score before the link, without the calibration shift."""

    @abstractmethod
    def save_file(self, path: Path) -> None:
        """Write the fitted model in its library's own format to ``path``."""

    @abstractmethod
    def load_file(self, path: Path) -> None:
        """Read the fitted model from ``path``; sets the learned state but ``shift_``."""

    @property
    def contribution_unit(self) -> str:
        return "log-odds" if self.objective == "binary" else "log of the mean spend"

    def predict(self, X) -> np.ndarray:
        raw = self.raw(X) + self.shift_
        return 1.0 / (1.0 + np.exp(-raw)) if self.objective == "binary" else np.exp(raw)

    def save(self, folder: Path, name: str) -> dict:
        """The native file ``name + suffix`` in ``folder``; the entry: file, objective, shift."""
        file = name + self.suffix
        self.save_file(Path(folder) / file)
        return {"file": file, "objective": self.objective, "shift": self.shift_}

    @classmethod
    def load(cls, entry: dict, folder: Path) -> LinkedModel:
        path = Path(folder) / entry["file"]
        if not path.exists():
            raise PipelineError(f"{folder}: model file {entry['file']} is missing")
        model = cls(entry["objective"])
        model.load_file(path)
        model.shift_ = float(entry.get("shift", 0.0))
        return model

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
