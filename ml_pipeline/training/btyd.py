"""BG/NBD + Gamma-Gamma, the buy-till-you-die models analysts use today, as a reference to beat.

Fitting is done by the ``lifetimes`` package (an optional dependency: ``pip install lifetimes``).
This module only turns an :class:`EventLog` into the per-customer summary those models take
(repeat purchase days, recency, age, average repeat spend; days with several purchases count
once, the usual convention) and their fitted parameters into the two quantities we compare:

- churn: the probability of no purchase in the next ``horizon`` days,
  ``1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + horizon)) ** (r + x)``
  (a customer still alive buys as a Poisson process with a gamma-distributed rate);
- spend: expected purchases in the horizon times Gamma-Gamma's expected average spend.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_pipeline.data.eventlog import EventLog
from ml_pipeline.errors import PipelineError
from ml_pipeline.features.visits import visits_of


@dataclass
class Summary:
    """Per-customer inputs of BG/NBD and Gamma-Gamma, for customer codes ``customers``."""

    customers: np.ndarray
    frequency: np.ndarray  # repeat purchase days
    recency: np.ndarray  # days between first and last purchase day
    T: np.ndarray  # days between first purchase day and as_of
    monetary: np.ndarray  # average spend of the repeat purchase days (0 when none)


def summarize(log: EventLog, as_of: int, customers: np.ndarray) -> Summary:
    """Summary for ``customers`` from purchases before ``as_of``.

    Built on the log's purchase days (:func:`~ml_pipeline.features.visits.visits_of`, sorted by
    customer and day). A customer with no purchase (only other events) is treated as if their
    first event were a purchase of 0, so both models still give them a prediction.
    """
    n = log.end_before(as_of)
    first_event = np.full(log.n_customers, np.iinfo(np.int64).max)
    np.minimum.at(first_event, log.customer[:n], log.day[:n].astype(np.int64))
    v = visits_of(log)
    before = v.day < as_of
    d_cust, d_day, d_spend = (
        v.customer[before].astype(np.int64),
        v.day[before].astype(np.int64),
        v.spend[before],
    )
    count = np.bincount(d_cust, minlength=log.n_customers)
    total = np.bincount(d_cust, weights=d_spend, minlength=log.n_customers)
    first = np.full(log.n_customers, np.iinfo(np.int64).max)
    last = np.full(log.n_customers, -1)
    np.minimum.at(first, d_cust, d_day)
    np.maximum.at(last, d_cust, d_day)
    # a customer's purchase days are consecutive and in day order: the first is where they start
    starts = np.flatnonzero(np.r_[True, d_cust[1:] != d_cust[:-1]]) if len(d_cust) else np.zeros(0, int)
    first_amount = np.zeros(log.n_customers)
    first_amount[d_cust[starts]] = d_spend[starts]
    c = customers
    none = count[c] == 0
    frequency = np.maximum(count[c] - 1, 0).astype(float)
    first_c = np.where(none, first_event[c], first[c])
    recency = np.where(none, 0, last[c] - first[c]).astype(float)
    T = (as_of - first_c).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, (total[c] - first_amount[c]) / frequency, 0.0)
    return Summary(c, frequency, recency, T, np.maximum(monetary, 0.0))


def _fit(make, *data, penalizer: float = 0.0):
    """Fit a lifetimes model; on its "did not converge" retry with a small penalizer, as it advises."""
    try:
        from lifetimes.utils import ConvergenceError
    except ImportError as exc:  # pragma: no cover - a pinned dependency
        raise PipelineError("BG/NBD needs the lifetimes package: pip install lifetimes==0.11.3") from exc
    for coef in (penalizer, 0.001, 0.01):
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # lifetimes prints scipy's result
                return make(penalizer_coef=coef).fit(*data)
        except ConvergenceError:
            continue
    raise PipelineError(f"{make.__name__} did not converge, even with a penalizer of 0.01")


def fit_bgnbd(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> dict[str, float]:
    """BG/NBD's four parameters (r, alpha, a, b) fitted by lifetimes."""
    from lifetimes import BetaGeoFitter

    bg = _fit(BetaGeoFitter, *(pd.Series(np.asarray(v, dtype=float)) for v in (frequency, recency, T)))
    return {k: float(bg.params_[k]) for k in ("r", "alpha", "a", "b")}


def bgnbd_quantities(
    params: dict[str, float], frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, horizon_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P(alive), expected purchases in the horizon, P(no purchase in the horizon)) per customer."""
    from lifetimes import BetaGeoFitter

    bg = BetaGeoFitter()
    bg.params_ = pd.Series(params)
    f, r, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    with np.errstate(all="ignore"):
        alive = np.asarray(bg.conditional_probability_alive(f, r, t), dtype=float)
        purchases = np.asarray(bg.conditional_expected_number_of_purchases_up_to_time(horizon_days, f, r, t))
        shape, alpha = params["r"], params["alpha"]
        p_none = 1 - alive + alive * ((alpha + t) / (alpha + t + horizon_days)) ** (shape + f)
    return alive, purchases.astype(float), np.clip(p_none, 0.0, 1.0)


def btyd_predict(summary: Summary, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(probability of no purchase in the horizon, expected spend in the horizon) per customer."""
    from lifetimes import GammaGammaFitter

    params = fit_bgnbd(summary.frequency, summary.recency, summary.T)
    _, purchases, p_none = bgnbd_quantities(
        params, summary.frequency, summary.recency, summary.T, horizon_days
    )
    f = pd.Series(summary.frequency)
    repeat = (summary.frequency > 0) & (summary.monetary > 0)
    m = pd.Series(np.where(repeat, summary.monetary, 1.0))
    gg = _fit(GammaGammaFitter, f[repeat], m[repeat])
    # Gamma-Gamma's expectation for a customer with no repeat spend is the population mean.
    average = np.asarray(gg.conditional_expected_average_profit(f.where(repeat, 0), m), dtype=float)
    return p_none, np.maximum(purchases * average, 0.0)
