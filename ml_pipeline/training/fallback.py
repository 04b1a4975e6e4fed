"""Training for a log too short for rolling windows: BG/NBD + Gamma-Gamma fitted on the whole
history (:class:`~ml_pipeline.models.btyd_fallback.BTYDFallback`) for every target; and the
refusals of logs that not even it can be fit on (purchases on a single day, too few returns).

Nothing is validated: there is no later window to score on. The metrics of every target say so,
which model was used, and why (the window plan that did not fit).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ml_pipeline.data.days import day_to_date
from ml_pipeline.data.eventlog import EventLog
from ml_pipeline.errors import PipelineError
from ml_pipeline.features import FeatureBuilder
from ml_pipeline.features.visits import visits_of
from ml_pipeline.models.btyd_fallback import BTYDFallback
from ml_pipeline.training.config import TrainConfig
from ml_pipeline.training.metrics import better, reliability_table, score
from ml_pipeline.training.selection import TargetResult
from ml_pipeline.training.targets import target_names
from ml_pipeline.training.windows import WindowPlan

logger = logging.getLogger(__name__)

KIND = BTYDFallback.kind
# BG/NBD has four parameters and learns them from repeat purchases: with fewer customers who came
# back on another day, there is nothing to fit.
MIN_REPEAT_CUSTOMERS = 10


def check_purchase_days(log: EventLog) -> None:
    """Refuse a log whose purchases all fall on one day: no model learns returns from it."""
    days = np.unique(visits_of(log).day)
    if len(days) == 1:
        raise PipelineError(
            f"every purchase is on one day ({day_to_date(int(days[0]))}); no model can learn when "
            "customers come back from a single day: upload a log covering at least 2 days (CLI: --events; "
            "API: POST /api/v1/datasets)"
        )


def check_fallback_fits(X, as_of: int) -> None:
    """Refuse, with the numbers, features at ``as_of`` (rows = customers) BG/NBD cannot learn from."""
    repeat = int((np.nan_to_num(X["frequency_all"].to_numpy(dtype=float)) >= 2).sum())
    if repeat < MIN_REPEAT_CUSTOMERS:
        raise PipelineError(
            f"only {repeat} of {len(X)} customers bought on more than one day before "
            f"{day_to_date(as_of)}; BG/NBD + Gamma-Gamma, the model for short logs, needs at least "
            f"{MIN_REPEAT_CUSTOMERS}: upload a log with more customers or more days (a later --as-of / "
            "API as_of if the log goes on)"
        )


def fallback_predictors(X, builder: FeatureBuilder, config: TrainConfig) -> dict[str, BTYDFallback]:
    """Every target's BG/NBD + Gamma-Gamma predictor fitted on the customers of ``X`` (features at
    one date, rows = customers), sharing one fit. Raises PipelineError when it does not converge."""
    churn = BTYDFallback("churn", config.churn_horizon_days, categories=builder.category_slugs_).fit(X)
    slug = dict(zip(builder.category_targets_, builder.category_slugs_))
    predictors = {"churn": churn, "spend_total": churn.share_with("spend_total", config.horizon_days)}
    for name in target_names(builder.category_targets_)[2:]:
        predictors[name] = churn.share_with(name, config.horizon_days, slug[name[len("spend_") :]])
    return predictors


def challenge_with_btyd(
    results: dict[str, TargetResult],
    X_valid,
    Y_valid,
    X_now,
    builder: FeatureBuilder,
    config: TrainConfig,
) -> list[str]:
    """On a shortened window plan, BG/NBD + Gamma-Gamma competes with each target's selection.

    It is fitted on the features at the validation cutoff (``X_valid``: history before it only,
    no label) and scored on the validation labels ``Y_valid`` like every candidate; where it
    scores better than the selected predictor, it replaces it, refitted on the features at the
    as-of date (``X_now``). Its scores go into each target's metrics under "btyd". Returns notes
    for the targets it took over.
    """
    try:
        check_fallback_fits(X_valid, 0)
        challengers = fallback_predictors(X_valid, builder, config)
    except PipelineError as exc:
        return [f"BG/NBD + Gamma-Gamma not compared: {exc}"]
    production: dict[str, BTYDFallback] | None = None
    notes = []
    for name, result in results.items():
        y = Y_valid[name].to_numpy()
        predicted = challengers[name].predict(X_valid)
        scores = score(name, y, predicted)
        if name == "churn":
            scores["reliability"] = reliability_table(y, predicted)
        result.metrics["btyd"] = scores
        current = result.metrics.get("model") if result.selected != "baseline" else None
        if better(name, scores, current or result.metrics["baseline"]):
            was = result.selected if current else "the baseline"
            production = production or fallback_predictors(X_now, builder, config)
            result.estimator, result.selected = production[name], KIND
            result.note = f"BG/NBD + Gamma-Gamma used: it beat {was} on validation"
            notes.append(f"{name}: {result.note}")
    return notes


def train_fallback(
    log: EventLog, config: TrainConfig, as_of: int, why: str, builder: FeatureBuilder
) -> tuple[WindowPlan, dict[str, TargetResult], dict, dict]:
    """Every target's fallback predictor, fitted on the features at ``as_of``; returns the (empty)
    plan, the results, the dataset facts and the timings. Raises PipelineError when too few
    customers came back to fit BG/NBD, or when it does not converge."""
    started = time.perf_counter()
    X = builder.transform(log, as_of)
    t_features = time.perf_counter() - started
    check_fallback_fits(X, as_of)
    predictors = fallback_predictors(X, builder, config)
    churn = predictors["churn"]
    metrics = {
        "type": KIND,
        "why": why,
        "validated": False,
        "bgnbd": churn.bgnbd_,
        "gamma_gamma": churn.gamma_gamma_,
        "customers": len(X),
        "repeat_customers": int((X["frequency_all"].to_numpy() >= 2).sum()),
    }
    results = {
        name: TargetResult(name, p, None, KIND, {"model": dict(metrics)}, "")
        for name, p in predictors.items()
    }
    logger.info("trained the BG/NBD + Gamma-Gamma fallback: %s", why)
    plan = WindowPlan(as_of, config.horizon_days, config.churn_horizon_days, 0, (), (), ())
    dataset = {
        "rows": int(len(X)),
        "training_rows": int(len(X)),
        "validation_rows": 0,
        "features": len(builder.feature_names_),
        "customers": int(log.n_customers),
        "events": int(log.n_events),
    }
    return plan, results, dataset, {"features_s": round(t_features, 3)}
