"""Scoring: features at the as-of date for every customer with an earlier event, every target."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ml_pipeline.data.days import check_as_of
from ml_pipeline.data.eventlog import EventLog
from ml_pipeline.errors import PipelineError
from ml_pipeline.explain.reasons import METHODS
from ml_pipeline.models.reconcile import reconcile_named
from ml_pipeline.serving.bundle import Bundle

SEGMENTS = ("Low", "Medium", "High", "Critical")


def risk_segments(p: np.ndarray, thresholds: dict) -> np.ndarray:
    """Low < medium <= Medium < high <= High < critical <= Critical."""
    edges = [thresholds["medium"], thresholds["high"], thresholds["critical"]]
    return np.asarray(SEGMENTS, dtype=object)[np.searchsorted(edges, p, side="right")]


REASON_CHUNK = 200_000  # rows per contributions call: customers share tree-SHAP work within one


def churn_reasons(bundle: Bundle, values: np.ndarray, method: str = "exact") -> list[str]:
    """The reasons behind each customer's churn risk (see ml_pipeline.explain.reasons), from the churn
    model's own per-prediction contributions.

    Blocks of ``REASON_CHUNK`` rows: while one block is phrased (Python, one core), the next
    block's contributions are computed in a second thread (mostly in the libraries, without the GIL).
    """
    predictor, reasons = bundle.predictors["churn"], bundle.reasons

    def grouped(start: int) -> np.ndarray:
        return predictor.contributions(values[start : start + REASON_CHUNK], method, reasons.weights)

    if len(values) <= REASON_CHUNK:  # one block, as for every API request: no second thread
        return reasons.texts(values, grouped(0)) if len(values) else []
    starts = list(range(0, len(values), REASON_CHUNK))
    out: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(grouped, starts[0])
        for i, start in enumerate(starts):
            block = pending.result()
            if i + 1 < len(starts):
                pending = pool.submit(grouped, starts[i + 1])
            out += reasons.texts(values[start : start + REASON_CHUNK], block)
    return out


def predict(
    bundle: Bundle,
    log: EventLog,
    as_of: int | None = None,
    risk_thresholds: dict | None = None,
    reasons: str | None = "exact",
) -> pd.DataFrame:
    """One row per customer with an event before ``as_of`` (default: the day after the last event):
    customer_id, churn_probability, risk_segment, spend_total, spend_<category>..., reasons

    The category spends (with ``other``) add up to ``spend_total`` (models.reconcile).

    ``risk_thresholds`` overrides the bundle's (an organization may set its own). ``reasons`` is
    the contribution method (``exact`` tree SHAP or ``path``; see ml_pipeline.models.tree_shap),
    or None for no reasons column. A log without events and an ``as_of`` gives no rows.
    """
    return score(bundle, log, as_of, risk_thresholds, reasons).frame


@dataclass(frozen=True)
class Scored:
    """What one scoring built: ``columns`` (:func:`predict`'s output columns in order, each an
    array of one value per customer; ``frame`` is them as a DataFrame, built when first asked
    for), ``features`` (the feature matrix the predictors read, one row per row of ``frame``, in
    the bundle's column order) and ``predictions`` (by the frame's column names, as the
    predictors gave them, clipped but before the categories were reconciled: what a drift
    reference describes, monitoring.reference).

    A single prediction request reads ``columns``: a frame with text columns costs more to build
    than scoring one customer's features (docs/benchmarks.md)."""

    columns: dict[str, np.ndarray | list]
    features: pd.DataFrame
    predictions: dict[str, np.ndarray]

    @cached_property
    def frame(self) -> pd.DataFrame:
        if not len(self.features):
            return pd.DataFrame(columns=list(self.columns))
        return pd.DataFrame(self.columns)


def score(
    bundle: Bundle,
    log: EventLog,
    as_of: int | None = None,
    risk_thresholds: dict | None = None,
    reasons: str | None = "exact",
) -> Scored:
    """:func:`predict` with the features and raw predictions it built (see :class:`Scored`), for
    a caller that also measures drift without building the features twice. Raises PipelineError
    for an unknown reasons method, an as-of date before the log, or a bundle whose features this
    version does not build."""
    if reasons is not None and reasons not in METHODS:
        raise PipelineError(f"unknown reasons method '{reasons}'; choose from {', '.join(METHODS)}")
    if log.n_events == 0 and as_of is not None:
        # A bulk partition whose every row was left out as an implausible date: nobody to score.
        names = [n for n in bundle.target_names if n != "churn"]
        columns = [
            "customer_id",
            "churn_probability",
            "risk_segment",
            *names,
            *(["reasons"] if reasons else []),
        ]
        features = pd.DataFrame(columns=bundle.metadata["features"], dtype=np.float64)
        return Scored({name: np.empty(0, dtype=object) for name in columns}, features, {})
    as_of = check_as_of(log.day, as_of)
    kept = set(log.cache)
    X = bundle.builder.transform(log, as_of)
    for key in set(log.cache) - kept:  # groupings built for this one cutoff (0.2 GB at 1M customers)
        del log.cache[key]
    missing = [f for f in bundle.metadata["features"] if f not in X.columns]
    if missing:
        raise PipelineError(
            f"{bundle.path}: the bundle expects features this version does not build: {missing[:5]}"
        )
    if list(X.columns) != bundle.metadata["features"]:
        X = X[bundle.metadata["features"]]  # the models read columns by position
    values = X.to_numpy(dtype=np.float32)  # converted once for every predictor

    churn = np.clip(bundle.predictors["churn"].predict(values), 0.0, 1.0)
    out = {
        "customer_id": log.customer_ids[X.index.to_numpy()],
        "churn_probability": churn,
        "risk_segment": risk_segments(churn, risk_thresholds or bundle.metadata["risk_thresholds"]),
    }
    for name in bundle.target_names:
        if name != "churn":
            out[name] = np.maximum(bundle.predictors[name].predict(values), 0.0)
    raw = {k: v for k, v in out.items() if k not in ("customer_id", "risk_segment")}
    out = reconcile_named(out)  # the categories (with "other") add up to the total
    if reasons:  # last: the contract's columns keep their places
        out["reasons"] = churn_reasons(bundle, values, reasons)
    return Scored(out, X, raw)


PROBABILITY_DECIMALS = 4
MONEY_DECIMALS = 2


def rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """Predictions as files and stored rows carry them: churn probability to 4 decimals, spend
    (currency units) to cents. ``frame``: ``predict``'s output; a new frame is returned."""
    # pandas copies on write: the columns not rounded are shared, not copied (the text columns
    # of 1M customers were the CLI's peak memory).
    out = frame.copy(deep=False)
    if "churn_probability" in out:
        out["churn_probability"] = out["churn_probability"].astype(float).round(PROBABILITY_DECIMALS)
    for col in out.columns:
        if col.startswith("spend_"):
            out[col] = out[col].astype(float).round(MONEY_DECIMALS)
    return out
