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
from ml_pipeline.models.base import LinkedModel, Predictor, TrainingRows, as_values, sample_index
from ml_pipeline.models.baselines import Baseline, LastWindowSpendBaseline, RecencyRateBaseline
from ml_pipeline.models.registry import MODEL_TYPES, make_model
from ml_pipeline.training.config import TrainConfig
from ml_pipeline.training.lanes import lane_workers, run_lanes, thread_budget
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
        self._X_train: pd.DataFrame | None = None
        self.X_valid, self.X_inner_valid = X[split.valid], X[split.inner_valid]
        # The float32 matrices every candidate is scored and calibrated on, converted once.
        self.values_valid, self.values_inner_valid = as_values(self.X_valid), as_values(self.X_inner_valid)

    def train(self, target: str, y: np.ndarray) -> TargetResult:
        """Baseline and candidate models of ``target`` (labels ``y``, rows,) on validation, then
        the selected one refit on every row."""
        baseline = self.baseline_for(target).fit(self.X_train, y[self.split.train])
        metrics = {"baseline": self._scores(target, y, baseline.predict(self.X_valid))}
        selected, note = self.select(target, y, metrics)
        if selected == "baseline":
            estimator = self.baseline_for(target).fit(self.X, y)
        else:
            estimator = self.production_model(target, selected, y, metrics["candidates"][selected]["rounds"])
        logger.info("trained %s: %s", target, selected)
        return TargetResult(target, estimator, baseline, selected, metrics, note)

    @property
    def X_train(self) -> pd.DataFrame:
        """The training cutoffs' rows, selected once for every target's baseline."""
        if self._X_train is None:
            self._X_train = self.X[self.split.train]
        return self._X_train

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
        training cutoff for churn) and scored on the validation cutoffs: (scores, predictions).

        Every type is fit on the same rows (:meth:`sample`) and stopped early on the latest
        training cutoff; the types are fit side by side on the cores (:meth:`_fit_candidates`),
        which changes when each is fit, not its fit or scores.
        """
        fitted = self._fit_candidates(target, list(self.config.models), y, self.sample(y))
        return {kind: fitted[kind][0] for kind in self.config.models}, {k: f[1] for k, f in fitted.items()}

    def _fit_candidates(self, target: str, kinds: list[str], y: np.ndarray, rows: np.ndarray) -> dict:
        """{kind: (scores, predictions)} of :meth:`_candidate` for every one of ``kinds``, side by
        side on the cores when there are several (:mod:`ml_pipeline.training.lanes`: one thread
        each; types sharing a library form of the rows in one lane)."""
        lanes: dict[str, list[str]] = {}
        for kind in kinds:
            lanes.setdefault(MODEL_TYPES[kind].shares, []).append(kind)
        budget = thread_budget(self.config.num_threads)
        workers = lane_workers(self.config.candidate_workers, len(lanes), budget)
        threads = self.config.num_threads
        if workers > 1:
            threads = max(1, budget // workers)
            _ = self.rows.values  # every library's form starts from the matrix: built before the lanes
        return run_lanes(
            list(lanes.values()), lambda kind, n: self._candidate(target, kind, y, rows, n), workers, threads
        )

    def _candidate(
        self, target: str, kind: str, y: np.ndarray, rows: np.ndarray, threads: int
    ) -> tuple[dict, np.ndarray]:
        """A ``kind`` model on ``threads`` native threads fit for validation on ``rows``
        (:meth:`validation_model`): its validation scores and predictions."""
        model = self.validation_model(self._make(target, kind, threads), y, rows)
        if self._calibrates(target) and self.split.inner_valid.any():
            # Level set on the latest training cutoff: still before the validation cutoff.
            model.calibrate(self.values_inner_valid, y[self.split.inner_valid])
        predicted = model.predict(self.values_valid)
        scores = score(target, y[self.split.valid], predicted)
        scores["rounds"] = model.best_rounds_
        scores["calibration_shift"] = model.shift_
        return scores, predicted

    def stops_early(self, y: np.ndarray) -> bool:
        """Whether candidates are fit on the inner cutoffs and stopped early on the latest
        training cutoff (else: on every training cutoff with ``config.fixed_rounds``)."""
        inner = self.split.inner
        return bool(inner.any()) and len(np.unique(y[inner])) > 1

    def sample(self, y: np.ndarray) -> np.ndarray:
        """The rows candidates are fit on (ascending positions): the inner cutoffs' rows (every
        training cutoff's when there is nothing to stop early on), at most
        ``config.selection_rows`` of them drawn at random."""
        rows = self.split.inner if self.stops_early(y) else self.split.train
        return sample_index(np.flatnonzero(rows), self.config.selection_rows, self.config.random_state)

    def validation_model(
        self, model: LinkedModel, y: np.ndarray, rows: np.ndarray | None = None
    ) -> LinkedModel:
        """``model`` fit so that its validation score is honest: on the cutoffs before the latest
        training cutoff and stopped early on it, so the validation cutoff stays unseen.

        With more than ``config.selection_rows`` rows the candidates are fit on a random sample of
        them (the same for every type, :meth:`sample`; ``rows`` when given): choosing a type
        needs far fewer rows than the final fit, which always uses every row.
        """
        idx = self.sample(y) if rows is None else rows
        if self.stops_early(y):
            return model.fit_on(
                self.rows, idx, y[idx], eval_set=(self.X_inner_valid, y[self.split.inner_valid])
            )
        return model.fit_on(self.rows, idx, y[idx], n_rounds=self.config.fixed_rounds)

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

    def _make(self, target: str, kind: str, threads: int | None = None) -> LinkedModel:
        objective = "binary" if target == "churn" else "tweedie"
        threads = self.config.num_threads if threads is None else threads
        return make_model(kind, objective, self.config.random_state, threads)

    def _calibrates(self, target: str) -> bool:
        return self.config.calibrate_churn and target == "churn"
