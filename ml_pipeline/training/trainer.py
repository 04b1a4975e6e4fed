"""Training: rolling-window dataset, per-target model vs baseline on time-based validation, refit.

Validation is honest: the validation model is fit on the cutoffs whose labels end before the
latest *training* cutoff and stopped early on that training cutoff; it is then scored on the
validation cutoffs, which nothing has seen. Only then is the production model refit on every
cutoff with the number of rounds early stopping chose.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from tqdm import tqdm

from ml_pipeline.data.days import check_as_of
from ml_pipeline.data.eventlog import PURCHASE, EventLog
from ml_pipeline.errors import PipelineError
from ml_pipeline.features import FeatureBuilder
from ml_pipeline.models.baselines import LastWindowSpendBaseline, RecencyRateBaseline
from ml_pipeline.models.registry import DEFAULT_MODELS, make_model
from ml_pipeline.models.rows import TrainingRows
from ml_pipeline.training.metrics import better, reliability_table, score, target_kind
from ml_pipeline.training.targets import build_targets, target_names
from ml_pipeline.training.windows import WindowPlan, plan_windows

logger = logging.getLogger(__name__)

MIN_CUSTOMERS = 10


@dataclass
class TrainConfig:
    """Training settings; the defaults are the documented ones."""

    horizon_days: int = 30
    churn_horizon_days: int = 30
    n_cutoffs: int = 12
    step_days: int | None = None
    top_categories: int = 5
    calibrate_churn: bool = True  # shift the churn model's level to the latest labelled window
    models: tuple[str, ...] = DEFAULT_MODELS  # the zoo's families tried per target (ml_pipeline.models)
    selection_rows: int = 250_000  # rows the candidate models are fit on when there are more
    min_train_rows: int = 200
    fixed_rounds: int = 100  # when there is no earlier cutoff to stop early on
    random_state: int = 0
    num_threads: int = 0


@dataclass
class TargetResult:
    """One target's production predictor and its validation record."""

    name: str
    estimator: object
    baseline: object
    selected: str
    metrics: dict
    note: str = ""


@dataclass
class TrainResult:
    """Everything a bundle needs: builder, plan, per-target results, facts about the data."""

    builder: FeatureBuilder
    plan: WindowPlan
    config: TrainConfig
    targets: dict[str, TargetResult]
    dataset: dict
    timings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def check_trainable(log: EventLog) -> None:
    """Refuse logs no model can learn from, with the reason."""
    if log.n_customers < MIN_CUSTOMERS:
        raise PipelineError(
            f"the log has {log.n_customers} customer(s); training needs at least {MIN_CUSTOMERS}"
        )
    if log.type_code(PURCHASE) < 0 or not (log.etype == log.type_code(PURCHASE)).any():
        raise PipelineError("the log has no purchase events; churn and spend are defined by purchases")
    if np.bincount(log.customer, minlength=log.n_customers).max() <= 1:
        raise PipelineError(
            "every customer has exactly one event; there is no repeat behaviour to learn churn or spend from"
        )


def build_dataset(
    log: EventLog,
    builder: FeatureBuilder,
    plan: WindowPlan,
    progress: bool = False,
    on_progress: Callable[[str, float], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Features and targets for every cutoff, stacked; returns (X, Y, cutoff per row)."""
    xs, ys, cuts = [], [], []
    bar = tqdm(plan.cutoffs, desc="features", unit="cutoff", disable=None if progress else True, leave=False)
    for i, t in enumerate(bar):
        if on_progress:
            on_progress("features", i / len(plan.cutoffs))
        x = builder.transform(log, t)
        y = build_targets(
            log,
            t,
            x.index.to_numpy(),
            horizon_days=plan.horizon_days,
            churn_horizon_days=plan.churn_horizon_days,
            top_categories=builder.categories_,
            category_targets=builder.category_targets_,
        )
        xs.append(x.reset_index(drop=True))
        ys.append(y.reset_index(drop=True))
        cuts.append(np.full(len(x), t, dtype=np.int32))
    return pd.concat(xs, ignore_index=True), pd.concat(ys, ignore_index=True), np.concatenate(cuts)


def _baseline_for(target: str, builder: FeatureBuilder, horizon_days: int):
    if target == "churn":
        return RecencyRateBaseline()
    if target == "spend_total":
        return LastWindowSpendBaseline.for_target(None, horizon_days)
    idx = builder.category_targets_.index(target[len("spend_") :])
    return LastWindowSpendBaseline.for_target(builder.category_slugs_[idx], horizon_days)


def _why_not_fit(target: str, y_train: np.ndarray, config: TrainConfig) -> str:
    if len(y_train) < config.min_train_rows:
        return f"only {len(y_train)} training rows (< {config.min_train_rows})"
    if target_kind(target) == "churn" and len(np.unique(y_train)) < 2:
        return "the training labels have a single class"
    if target_kind(target) == "spend" and not (y_train > 0).any():
        return "no spend in any training window"
    return ""


def _validation_model(model, rows, y, train_idx, inner_idx, inner_valid_rows, X_inner_valid, config):
    """A model whose validation score is honest: fit on the cutoffs before the latest training
    cutoff and stopped early on it, so the validation cutoff stays unseen.

    With more than ``config.selection_rows`` rows the candidates are fit on a random sample of
    them (the same for every type): choosing a type needs far fewer rows than the final fit,
    which always uses every row.
    """
    if len(inner_idx) and len(np.unique(y[inner_idx])) > 1:
        idx = _sample(inner_idx, config.selection_rows, config.random_state)
        return model.fit_on(rows, idx, y[idx], eval_set=(X_inner_valid, y[inner_valid_rows]))
    idx = _sample(train_idx, config.selection_rows, config.random_state)
    return model.fit_on(rows, idx, y[idx], n_rounds=config.fixed_rounds)


def _sample(index: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if len(index) <= limit:
        return index
    return np.sort(np.random.default_rng(seed).choice(index, limit, replace=False))


def train(
    log: EventLog,
    config: TrainConfig | None = None,
    as_of: int | None = None,
    progress: bool = False,
    on_progress: Callable[[str, float], None] | None = None,
) -> TrainResult:
    """Train every target on ``log`` as of ``as_of`` (default: the day after the last event).

    ``on_progress(stage, fraction)`` is called as work advances (the service records it).
    """
    report = on_progress or (lambda stage, fraction: None)
    config = config or TrainConfig()
    started = time.perf_counter()
    as_of = check_as_of(log.day, as_of)
    check_trainable(log)
    plan = plan_windows(
        int(log.day[0]),
        as_of,
        horizon_days=config.horizon_days,
        churn_horizon_days=config.churn_horizon_days,
        n_cutoffs=config.n_cutoffs,
        step_days=config.step_days,
    )
    builder = FeatureBuilder(top_categories=config.top_categories).fit(log, until_day=as_of)
    X, Y, cut = build_dataset(log, builder, plan, progress, lambda s, f: report(s, 0.3 * f))
    t_features = time.perf_counter() - started

    train_rows = np.isin(cut, plan.training)
    valid_rows = np.isin(cut, plan.validation)
    inner_valid_cut = max(plan.training)
    inner_rows = np.isin(cut, [t for t in plan.training if t + plan.label_days <= inner_valid_cut])
    inner_valid_rows = cut == inner_valid_cut

    rows = TrainingRows(X)  # LightGBM bins the rows once; every target trains on subsets
    all_idx, train_idx = np.arange(len(X)), np.flatnonzero(train_rows)
    inner_idx = np.flatnonzero(inner_rows)
    X_valid, X_inner_valid = X[valid_rows], X[inner_valid_rows]
    results: dict[str, TargetResult] = {}
    warnings: list[str] = []
    names = target_names(builder.category_targets_)
    bar = tqdm(names, desc="models", unit="target", disable=None if progress else True, leave=False)
    for i, target in enumerate(bar):
        report("models", 0.3 + 0.7 * i / len(names))
        y = Y[target].to_numpy()
        baseline = _baseline_for(target, builder, plan.horizon_days)
        baseline.fit(X[train_rows], y[train_rows])
        metrics = {"baseline": score(target, y[valid_rows], baseline.predict(X_valid))}
        if target == "churn":
            metrics["baseline"]["reliability"] = reliability_table(y[valid_rows], baseline.predict(X_valid))
        reason = _why_not_fit(target, y[train_rows], config)
        selected, estimator, note = "baseline", baseline, ""
        if reason:
            note = f"baseline used: {reason}"
            warnings.append(f"{target}: {note}")
        else:
            make = partial(
                make_model,
                objective="binary" if target == "churn" else "tweedie",
                random_state=config.random_state,
                num_threads=config.num_threads,
            )
            calibrate = config.calibrate_churn and target == "churn"
            candidates: dict[str, dict] = {}
            validation_predictions: dict[str, np.ndarray] = {}
            for kind in config.models:
                model = _validation_model(
                    make(kind), rows, y, train_idx, inner_idx, inner_valid_rows, X_inner_valid, config
                )
                if calibrate and inner_valid_rows.any():
                    # Level set on the latest training cutoff: still before the validation cutoff.
                    model.calibrate(X_inner_valid, y[inner_valid_rows])
                validation_predictions[kind] = model.predict(X_valid)
                candidates[kind] = score(target, y[valid_rows], validation_predictions[kind])
                candidates[kind]["rounds"] = model.best_rounds_
                candidates[kind]["calibration_shift"] = model.shift_
            best = None
            for kind, m in candidates.items():
                if best is None or better(target, m, candidates[best]):
                    best = kind
            metrics["model"] = {**candidates[best], "type": best}
            metrics["candidates"] = candidates
            if target == "churn":
                metrics["model"]["reliability"] = reliability_table(
                    y[valid_rows], validation_predictions[best]
                )
            if better(target, metrics["model"], metrics["baseline"]):
                selected = best
                estimator = make(best).fit_on(rows, all_idx, y, n_rounds=candidates[best]["rounds"])
                if calibrate:
                    # The production model's level is set on the latest labelled window.
                    estimator.calibrate(X_valid, y[valid_rows])
            else:
                note = f"baseline used: it beat {best} on validation"
                warnings.append(f"{target}: {note}")
        if selected == "baseline":
            estimator = _baseline_for(target, builder, plan.horizon_days).fit(X, y)
        results[target] = TargetResult(target, estimator, baseline, selected, metrics, note)
        logger.info("trained %s: %s", target, selected)

    dataset = {
        "rows": int(len(X)),
        "training_rows": int(train_rows.sum()),
        "validation_rows": int(valid_rows.sum()),
        "features": len(builder.feature_names_),
        "customers": int(log.n_customers),
        "events": int(log.n_events),
    }
    timings = {"features_s": round(t_features, 3), "total_s": round(time.perf_counter() - started, 3)}
    return TrainResult(builder, plan, config, results, dataset, timings, warnings)
