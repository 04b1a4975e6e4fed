"""BG/NBD + Gamma-Gamma, the buy-till-you-die models analysts use today, as a reference to beat.

Fitting is done by the ``lifetimes`` package, through :mod:`ml_pipeline.models.bgnbd` (which also
serves the short-history fallback, :mod:`ml_pipeline.models.btyd_fallback`). This module only
turns an :class:`EventLog` into the per-customer summary those models take (repeat purchase days,
recency, age, average repeat spend; days with several purchases count once, the usual
convention) and their fitted parameters into the two quantities we compare:

- churn: the probability of no purchase in the next ``horizon`` days,
  ``1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + horizon)) ** (r + x)``
  (a customer still alive buys as a Poisson process with a gamma-distributed rate);
- spend: expected purchases in the horizon times Gamma-Gamma's expected average spend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml_pipeline.data.eventlog import EventLog
from ml_pipeline.features.visits import visits_of
from ml_pipeline.models.bgnbd import bgnbd_quantities, fit_bgnbd, fit_gamma_gamma, gamma_gamma_average


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


def btyd_predict(summary: Summary, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(probability of no purchase in the horizon, expected spend in the horizon) per customer."""
    params = fit_bgnbd(summary.frequency, summary.recency, summary.T)
    _, purchases, p_none = bgnbd_quantities(
        params, summary.frequency, summary.recency, summary.T, horizon_days
    )
    repeat = (summary.frequency > 0) & (summary.monetary > 0)
    gg = fit_gamma_gamma(summary.frequency, summary.monetary)
    # Gamma-Gamma's expectation for a customer with no repeat spend is the population mean.
    average = gamma_gamma_average(
        gg, np.where(repeat, summary.frequency, 0), np.where(repeat, summary.monetary, 1.0)
    )
    return p_none, np.maximum(purchases * average, 0.0)
