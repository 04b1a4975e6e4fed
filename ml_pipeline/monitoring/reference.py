"""The drift reference of a trained model and the drift of a scored population against it.

The reference is the population the model scores on the day it is trained: every customer's
features at the training as-of date (the day after the log's last event, as scoring computes
them), the production predictors' predictions on them, and the shares of spend per product
category and of events per event type in the training log. A bulk job over the training log
itself therefore shows no drift; a later file shows how far the scored customers moved since.
(The validation cutoff's rows were the reference before: a population 30+ days younger, so every
later job showed tenure and recency drift that was only the passing of time.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_pipeline.data.eventlog import EventLog
from ml_pipeline.models.base import Predictor, sample_index
from ml_pipeline.monitoring.drift import build_reference, compare, counts

# The predictions a reference describes, by the column names scoring writes.
PREDICTIONS = {"churn_probability": "churn", "spend_total": "spend_total"}
# Deciles and bin shares of 200,000 rows are within a fraction of a percent of the population's;
# more rows would only cost training time and memory (a copy of the rows, their predictions).
MAX_REFERENCE_ROWS = 200_000


def scored(predictors: dict[str, Predictor], X: pd.DataFrame) -> dict[str, np.ndarray]:
    """The reference's predictions of ``predictors`` on ``X``, clipped as scoring clips them."""
    values = X.to_numpy(dtype=np.float32)
    out = {}
    for column, target in PREDICTIONS.items():
        if target in predictors:
            p = predictors[target].predict(values)
            out[column] = np.clip(p, 0.0, 1.0) if target == "churn" else np.maximum(p, 0.0)
    return out


def category_weights(log: EventLog, until_day: int | None = None) -> dict[str, dict[str, float]]:
    """Spend per product category and events per event type, of the events before ``until_day``."""
    end = log.n_events if until_day is None else log.end_before(until_day)
    spend = log.is_spend()[:end] & (log.category[:end] >= 0)
    amount = np.bincount(
        log.category[:end][spend], weights=log.amount[:end][spend], minlength=len(log.categories)
    )
    events = np.bincount(log.etype[:end], minlength=len(log.event_types))
    return {
        "category_spend": {c: float(w) for c, w in zip(log.categories, amount) if w > 0},
        "event_type": {t: float(n) for t, n in zip(log.event_types, events) if n > 0},
    }


def training_reference(
    X_now: pd.DataFrame, predictors: dict[str, Predictor], log: EventLog, as_of: int
) -> dict | None:
    """The reference of ``X_now``, the customers' features at the training ``as_of`` day (one row
    per customer, the bundle's feature columns), at most :data:`MAX_REFERENCE_ROWS` rows drawn at
    random; None without rows."""
    if len(X_now) == 0:
        return None
    sample = X_now.iloc[sample_index(np.arange(len(X_now)), MAX_REFERENCE_ROWS, 0)]
    return build_reference(sample, scored(predictors, sample), category_weights(log, as_of))


def drift_of_scoring(
    bundle,
    X: pd.DataFrame,
    predictions: dict[str, np.ndarray],
    categories: dict[str, dict[str, float]] | None = None,
    thresholds: dict | None = None,
) -> dict | None:
    """The drift report of a scored population against ``bundle``'s reference; None without one.

    ``predictions`` by scoring's column names (churn_probability, spend_total); ``categories``
    as :func:`category_weights` gives them.
    """
    reference = getattr(bundle, "reference", None)
    if reference is None:
        return None
    return compare(reference, X, predictions, categories, thresholds)


def counts_of_scoring(
    bundle, X: pd.DataFrame, predictions: dict[str, np.ndarray], log: EventLog, as_of: int
) -> dict | None:
    """The mergeable drift counts (monitoring.drift.counts) of one scored piece against
    ``bundle``'s reference, None without one: ``X`` and ``predictions`` as scoring built them
    (serving.scoring.score), the category weights of ``log``'s events before ``as_of``.

    One comparison per reference bin edge and one bincount per column: 0.11 s for a partition of
    100,000 customers (87 features, 1,000,000 events), against 0.9 s to score it without reasons
    (README, "Drift of bulk jobs").
    """
    reference = getattr(bundle, "reference", None)
    if reference is None:
        return None
    categories = category_weights(log, as_of) if log.n_events else {}
    return counts(reference, X, predictions, categories)
