"""One target's predictor: its baseline and the zoo's candidate models scored on time-based
validation, the winner refit on every row.

Validation is honest: a candidate is fit on the cutoffs whose labels end before the latest
*training* cutoff and stopped early on that training cutoff; it is then scored on the
validation cutoffs, which nothing has seen. Only then is the production model refit on every
cutoff with the number of rounds early stopping chose.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_pipeline.features import FeatureBuilder
from ml_pipeline.features.behaviour import WINDOWS
from ml_pipeline.models.base import LinkedModel, Predictor, TrainingRows, sample_index
from ml_pipeline.models.baselines import Baseline, LastWindowSpendBaseline, RecencyRateBaseline
from ml_pipeline.models.registry import make_model
from ml_pipeline.training.config import TrainConfig
from ml_pipeline.training.metrics import better, reliability_table, score, target_kind
from ml_pipeline.training.windows import WindowPlan

logger = logging.getLogger(__name__)


@dataclass
class TargetResult:
    """One target's production predictor and its validation record."""

    name: str
    estimator: Predictor  # the production predictor, fit on every row
    baseline: Baseline | None  # fit on the training cutoffs, scored on validation (None: no windows)
    selected: str  # "baseline", the model type of ``estimator`` or "btyd_fallback"
    metrics: dict
    note: str = ""
    importance: dict | None = None  # gain and mean |contribution| (ml_pipeline.training.importance)


@dataclass(frozen=True)
class TimeSplit:
    """The stacked rows by the role of their cutoff (boolean masks over the rows).

    ``train``: the training cutoffs; ``valid``: the validation cutoffs, which no model sees before
    it is scored; ``inner``: the training cutoffs whose labels end before the latest training
    cutoff; ``inner_valid``: that latest training cutoff, where candidates stop early. A churn
    label without a date fills the same roles with customers instead of cutoffs
    (:func:`ml_pipeline.training.labelled.customer_split`).
    """

    train: np.ndarray
    valid: np.ndarray
    inner: np.ndarray
    inner_valid: np.ndarray

    @classmethod
    def of(cls, cut: np.ndarray, plan: WindowPlan) -> TimeSplit:
        """The split of the rows whose cutoff days are ``cut`` (rows,) under ``plan``."""
        inner_valid_cut = max(plan.training)
        return cls(
            train=np.isin(cut, plan.training),
            valid=np.isin(cut, plan.validation),
            inner=np.isin(cut, [t for t in plan.training if t + plan.label_days <= inner_valid_cut]),
            inner_valid=cut == inner_valid_cut,
        )


class TargetSelection:
    """Trains one target after another on the same stacked feature rows ``X`` (every cutoff's)
    split by ``split``; LightGBM bins the rows once for all of them."""

    def __init__(
        self,
        X: pd.DataFrame,
        split: TimeSplit,
        builder: FeatureBuilder,
        plan: WindowPlan,
        config: TrainConfig,
    ):
        self.X, self.split, self.builder, self.plan, self.config = X, split, builder, plan, config
        self.rows = TrainingRows(X)
        self.X_valid, self.X_inner_valid = X[split.valid], X[split.inner_valid]

    def train(self, target: str, y: np.ndarray) -> TargetResult:
        """Baseline and candidate models of ``target`` (labels ``y``, rows,) on validation, then
        the selected one refit on every row."""
        baseline = self.baseline_for(target).fit(self.X[self.split.train], y[self.split.train])
        metrics = {"baseline": self._scores(target, y, baseline.predict(self.X_valid))}
        selected, note = self.select(target, y, metrics)
        if selected == "baseline":
            estimator = self.baseline_for(target).fit(self.X, y)
        else:
            estimator = self.production_model(target, selected, y, metrics["candidates"][selected]["rounds"])
        logger.info("trained %s: %s", target, selected)
        return TargetResult(target, estimator, baseline, selected, metrics, note)

    def baseline_for(self, target: str) -> Baseline:
        """The naive predictor ``target``'s model must beat: the recency decile's churn rate, or
        the spend of the shortest feature window covering the horizon (categories: 30 or 90
        days), scaled to the horizon's length."""
        horizon = self.plan.horizon_days
        if target == "churn":
            return RecencyRateBaseline()
        if target == "spend_total":
            w = next((w for w in WINDOWS if w >= horizon), WINDOWS[-1])
            return LastWindowSpendBaseline(f"monetary_{w}d", horizon / w)
        b = self.builder
        slug = b.category_slugs_[b.category_targets_.index(target[len("spend_") :])]
        w = 30 if horizon <= 30 else 90
        return LastWindowSpendBaseline(f"cat_{slug}_spend_{w}d", horizon / w)

    def select(self, target: str, y: np.ndarray, metrics: dict) -> tuple[str, str]:
        """The type of ``target``'s production predictor (a model type or "baseline") and the
        note saying why the baseline is used ("" for a model); adds the models' scores to
        ``metrics``, which holds the baseline's."""
        reason = self._why_not_fit(target, y[self.split.train])
        if reason:
            return "baseline", f"baseline used: {reason}"
        candidates, predictions = self.candidates(target, y)
        best = None
        for kind, m in candidates.items():
            if best is None or better(target, m, candidates[best]):
                best = kind
        metrics["model"] = {**candidates[best], "type": best}
        metrics["candidates"] = candidates
        if target == "churn":
            metrics["model"]["reliability"] = reliability_table(y[self.split.valid], predictions[best])
        if better(target, metrics["model"], metrics["baseline"]):
            return best, ""
        return "baseline", f"baseline used: it beat {best} on validation"

    def candidates(self, target: str, y: np.ndarray) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
        """Every type of ``config.models`` fit for validation (its level set on the latest
        training cutoff for churn) and scored on the validation cutoffs: (scores, predictions)."""
        scores: dict[str, dict] = {}
        predictions: dict[str, np.ndarray] = {}
        for kind in self.config.models:
            model = self.validation_model(self._make(target, kind), y)
            if self._calibrates(target) and self.split.inner_valid.any():
                # Level set on the latest training cutoff: still before the validation cutoff.
                model.calibrate(self.X_inner_valid, y[self.split.inner_valid])
            predictions[kind] = model.predict(self.X_valid)
            scores[kind] = score(target, y[self.split.valid], predictions[kind])
            scores[kind]["rounds"] = model.best_rounds_
            scores[kind]["calibration_shift"] = model.shift_
        return scores, predictions

    def validation_model(self, model: LinkedModel, y: np.ndarray) -> LinkedModel:
        """``model`` fit so that its validation score is honest: on the cutoffs before the latest
        training cutoff and stopped early on it, so the validation cutoff stays unseen.

        With more than ``config.selection_rows`` rows the candidates are fit on a random sample of
        them (the same for every type): choosing a type needs far fewer rows than the final fit,
        which always uses every row.
        """
        config, split = self.config, self.split
        inner = np.flatnonzero(split.inner)
        if len(inner) and len(np.unique(y[inner])) > 1:
            idx = sample_index(inner, config.selection_rows, config.random_state)
            return model.fit_on(self.rows, idx, y[idx], eval_set=(self.X_inner_valid, y[split.inner_valid]))
        idx = sample_index(np.flatnonzero(split.train), config.selection_rows, config.random_state)
        return model.fit_on(self.rows, idx, y[idx], n_rounds=config.fixed_rounds)

    def production_model(self, target: str, kind: str, y: np.ndarray, rounds: int | None) -> LinkedModel:
        """A ``kind`` model refit on every row with the ``rounds`` validation chose; for churn,
        its level set on the latest labelled window."""
        model = self._make(target, kind).fit_on(self.rows, np.arange(len(self.X)), y, n_rounds=rounds)
        if self._calibrates(target):
            model.calibrate(self.X_valid, y[self.split.valid])
        return model

    def _scores(self, target: str, y: np.ndarray, predicted: np.ndarray) -> dict:
        """Validation scores of ``predicted`` (with the reliability table for churn)."""
        metrics = score(target, y[self.split.valid], predicted)
        if target == "churn":
            metrics["reliability"] = reliability_table(y[self.split.valid], predicted)
        return metrics

    def _why_not_fit(self, target: str, y_train: np.ndarray) -> str:
        if len(y_train) < self.config.min_train_rows:
            return f"only {len(y_train)} training rows (< {self.config.min_train_rows})"
        if target_kind(target) == "churn" and len(np.unique(y_train)) < 2:
            return "the training labels have a single class"
        if target_kind(target) == "spend" and not (y_train > 0).any():
            return "no spend in any training window"
        return ""

    def _make(self, target: str, kind: str) -> LinkedModel:
        objective = "binary" if target == "churn" else "tweedie"
        return make_model(kind, objective, self.config.random_state, self.config.num_threads)

    def _calibrates(self, target: str) -> bool:
        return self.config.calibrate_churn and target == "churn"
