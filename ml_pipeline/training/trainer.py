"""Training: the rolling-window dataset, then every target's model or baseline chosen on
time-based validation (:mod:`ml_pipeline.training.selection`) and refit on every row."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from ml_pipeline.data.days import check_as_of
from ml_pipeline.data.eventlog import EventLog, no_purchase_message
from ml_pipeline.errors import PipelineError
from ml_pipeline.features import FeatureBuilder
from ml_pipeline.monitoring.reference import training_reference
from ml_pipeline.training.config import TrainConfig
from ml_pipeline.training.fallback import challenge_with_btyd, check_purchase_days, train_fallback
from ml_pipeline.training.importance import importance
from ml_pipeline.training.labelled import check_labels, header_of, train_churn_on_labels, unused_label_warning
from ml_pipeline.training.selection import TargetResult, TargetSelection, TimeSplit
from ml_pipeline.training.targets import build_targets, target_names
from ml_pipeline.training.windows import WindowPlan, choose_plan

__all__ = ["TargetResult", "TrainConfig", "TrainResult", "build_dataset", "check_trainable", "train"]

MIN_CUSTOMERS = 10


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
    # which model was used and why: {"model": "rolling_windows" or "btyd_fallback", "why": ...}
    training: dict = field(default_factory=dict)
    reference: dict | None = None  # drift reference (ml_pipeline.monitoring); None: the fallback

    @property
    def importance(self) -> dict[str, dict]:
        """Every target's feature importance (see :mod:`ml_pipeline.training.importance`)."""
        return {name: r.importance for name, r in self.targets.items() if r.importance is not None}


def add_importance(results: dict[str, TargetResult], X_valid: pd.DataFrame | None, seed: int) -> float:
    """Set the importance of every target that has none yet, its contributions averaged over
    ``X_valid`` (None: no validation rows); returns the seconds it took."""
    started = time.perf_counter()
    for result in results.values():
        if result.importance is None:
            result.importance = importance(result.estimator, X_valid, seed)
    return round(time.perf_counter() - started, 3)


def check_trainable(log: EventLog) -> None:
    """Refuse logs no model can learn from, with the reason."""
    if log.n_customers < MIN_CUSTOMERS:
        raise PipelineError(
            f"the log has {log.n_customers} customer(s); training needs at least {MIN_CUSTOMERS}: "
            f"send a longer log, or if the customers were read from the wrong column "
            f"({log.info.get('columns', {}).get('customer_id', 'customer_id')}), map it with --column customer_id=HEADER"
        )
    if not log.has_purchases():
        raise PipelineError(
            f"churn and spend are defined by purchases, and the log has {no_purchase_message(log)}"
        )
    if np.bincount(log.customer, minlength=log.n_customers).max() <= 1:
        raise PipelineError(
            "every customer has exactly one event; there is no repeat behaviour to learn churn or spend from: "
            f"if the customer id column ({log.info.get('columns', {}).get('customer_id', 'customer_id')}) "
            "holds an order or row number, map the right one with --column customer_id=HEADER"
        )
    check_purchase_days(log)


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


def _summary(log: EventLog, builder: FeatureBuilder, X: pd.DataFrame, split: TimeSplit) -> dict:
    """Facts about the training data, kept in the bundle."""
    return {
        "rows": int(len(X)),
        "training_rows": int(split.train.sum()),
        "validation_rows": int(split.valid.sum()),
        "features": len(builder.feature_names_),
        "customers": int(log.n_customers),
        "events": int(log.n_events),
    }


def train(
    log: EventLog,
    config: TrainConfig | None = None,
    as_of: int | None = None,
    progress: bool = False,
    on_progress: Callable[[str, float], None] | None = None,
) -> TrainResult:
    """Train every target on ``log`` as of ``as_of`` (default: the day after the last event).

    Rolling windows when a plan fits (a shorter one when the default does not; see
    :func:`~ml_pipeline.training.windows.choose_plan`), else BG/NBD + Gamma-Gamma on the whole
    history (:mod:`ml_pipeline.training.fallback`); ``TrainResult.training`` says which and why.
    ``on_progress(stage, fraction)`` is called as work advances (the service records it).
    With ``config.churn_label`` churn is learned from the log's churn label column instead
    (:mod:`ml_pipeline.training.labelled`); spend targets are trained the same either way.
    Raises PipelineError for a log no model can learn from, an ``as_of`` before its events, or
    churn labels asked for that are missing, too few or of a single class.
    """
    report = on_progress or (lambda stage, fraction: None)
    config = config or TrainConfig()
    started = time.perf_counter()
    as_of = check_as_of(log.day, as_of)
    check_trainable(log)
    if config.churn_label:
        check_labels(log)
    unused = [] if config.churn_label else [w for w in [unused_label_warning(log)] if w]
    plan, why = choose_plan(
        int(log.day[0]),
        as_of,
        horizon_days=config.horizon_days,
        churn_horizon_days=config.churn_horizon_days,
        n_cutoffs=config.n_cutoffs,
        step_days=config.step_days,
    )
    builder = FeatureBuilder(top_categories=config.top_categories).fit(log, until_day=as_of)
    if plan is None:
        report("models", 0.3)
        plan, results, dataset, timings = train_fallback(log, config, as_of, why, builder)
        training = {"model": "btyd_fallback", "why": why}
        notes = [f"model: BG/NBD + Gamma-Gamma fitted on the whole history, not validated: {why}", *unused]
        if config.churn_label:
            results["churn"], label_notes = train_churn_on_labels(log, builder, plan, config, as_of)
            training["churn_label"] = header_of(log)
            churn_note = [f"churn: {results['churn'].note}"] if results["churn"].note else []
            notes += churn_note + label_notes
        timings["importance_s"] = add_importance(results, None, config.random_state)
        timings["total_s"] = round(time.perf_counter() - started, 3)
        return TrainResult(builder, plan, config, results, dataset, timings, notes, training)
    X, Y, cut = build_dataset(log, builder, plan, progress, lambda s, f: report(s, 0.3 * f))
    t_features = time.perf_counter() - started

    split = TimeSplit.of(cut, plan)
    selection = TargetSelection(X, split, builder, plan, config)
    results: dict[str, TargetResult] = {}
    label_notes: list[str] = []
    names = target_names(builder.category_targets_)
    bar = tqdm(names, desc="models", unit="target", disable=None if progress else True, leave=False)
    target_s: dict[str, float] = {}
    for i, target in enumerate(bar):
        report("models", 0.3 + 0.7 * i / len(names))
        target_started = time.perf_counter()
        if target == "churn" and config.churn_label:
            results[target], label_notes = train_churn_on_labels(log, builder, plan, config, as_of)
        else:
            results[target] = selection.train(target, Y[target].to_numpy())
        target_s[target] = round(time.perf_counter() - target_started, 3)
    challenge = []
    # The customers as scoring sees them on the as-of day: the drift reference, and BG/NBD's input.
    X_now = builder.transform(log, as_of)[builder.feature_names_]
    if why:  # a shortened plan: BG/NBD + Gamma-Gamma, the model for short logs, competes too
        # Not with a churn label: BG/NBD predicts the derived churn, not the label's.
        derived = {k: r for k, r in results.items() if not (k == "churn" and config.churn_label)}
        challenge = challenge_with_btyd(derived, X[split.valid], Y[split.valid], X_now, builder, config)
    t_importance = add_importance(results, X[split.valid], config.random_state)
    warnings = ([why] if why else []) + [f"{name}: {r.note}" for name, r in results.items() if r.note]
    warnings += [n for n in challenge if "not compared" in n] + label_notes + unused
    timings = {
        "features_s": round(t_features, 3),
        "targets_s": target_s,  # selection and the winner's refit, per target
        "importance_s": t_importance,
        "total_s": round(time.perf_counter() - started, 3),
    }
    training = {
        "model": "rolling_windows",
        "why": why or "the log is long enough for the default window plan",
    }
    if config.churn_label:
        training["churn_label"] = header_of(log)
    summary = _summary(log, builder, X, split)
    reference = training_reference(X_now, {k: r.estimator for k, r in results.items()}, log, as_of)
    return TrainResult(builder, plan, config, results, summary, timings, warnings, training, reference)
