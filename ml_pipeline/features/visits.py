"""Per-log groupings computed once and reused at every cutoff.

A *visit* is a day on which a customer made at least one purchase; gaps between visits drive
the overdue and regularity features. Visits are sorted by (customer, day), so restricting them
to days before a cutoff keeps, for each customer, a prefix of that customer's visits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml_pipeline.data.eventlog import PURCHASE, EventLog


@dataclass
class Visits:
    """Purchase days per customer, sorted by (customer, day)."""

    customer: np.ndarray  # int32
    day: np.ndarray  # int32
    spend: np.ndarray  # float64, purchase amount on that day
    gap: np.ndarray  # float64, days since the customer's previous visit; NaN on the first


@dataclass
class CategoryFirsts:
    """For each (customer, raw category) pair bought, the first day it was bought."""

    customer: np.ndarray
    day: np.ndarray


def _sorted_by_customer(log: EventLog, rows: np.ndarray) -> np.ndarray:
    """Row indices ordered by customer, keeping day order within a customer (events are day-sorted)."""
    return rows[np.argsort(log.customer[rows], kind="stable")]


def visits_of(log: EventLog) -> Visits:
    """Visits of a log, computed once and cached on it."""
    cached = log.cache.get("visits")
    if cached is not None:
        return cached
    pcode = log.type_code(PURCHASE)
    rows = np.flatnonzero(log.etype == pcode)
    order = _sorted_by_customer(log, rows)
    c, d, a = log.customer[order], log.day[order], log.amount[order]
    new = np.ones(len(c), dtype=bool)
    if len(c) > 1:
        new[1:] = (c[1:] != c[:-1]) | (d[1:] != d[:-1])
    starts = np.flatnonzero(new)
    vc, vd = c[starts], d[starts]
    spend = np.add.reduceat(a, starts) if len(starts) else np.zeros(0)
    gap = np.full(len(vc), np.nan)
    if len(vc) > 1:
        same = vc[1:] == vc[:-1]
        gap[1:][same] = (vd[1:] - vd[:-1])[same]
    visits = Visits(vc, vd, spend, gap)
    log.cache["visits"] = visits
    return visits


def category_firsts_of(log: EventLog, spend_rows: np.ndarray) -> CategoryFirsts:
    """First purchase day of each (customer, category) pair, cached on the log."""
    cached = log.cache.get("category_firsts")
    if cached is not None:
        return cached
    rows = np.flatnonzero(spend_rows & (log.category >= 0))
    key = log.customer[rows].astype(np.int64) * max(len(log.categories), 1) + log.category[rows]
    # Rows are in day order, so the first index of each key is its earliest day.
    _, first = np.unique(key, return_index=True)
    firsts = CategoryFirsts(log.customer[rows][first], log.day[rows][first])
    log.cache["category_firsts"] = firsts
    return firsts
