"""Recency, frequency, monetary, gap, trend and basket features at one cutoff, for all customers.

Every function takes a :class:`~ml_pipeline.features.slices.Slice` (the events strictly before
the cutoff) and returns arrays indexed by customer code. Nothing here can see an event at or
after the cutoff, because the slice does not hold one.
"""

from __future__ import annotations

import numpy as np

from ml_pipeline.features.declare import Block, Feature, interleave, per_window
from ml_pipeline.features.slices import Slice, ratio

WINDOWS = (7, 30, 90, 180, 365)


def _trend(recent: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Symmetric change in [-1, 1]: +1 all in the recent window, -1 all in the earlier one."""
    total = np.abs(recent) + np.abs(before)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (recent - before) / np.where(total > 0, total, 1), 0.0)


def _group_max(n: int, customer: np.ndarray, values: np.ndarray, empty: float = np.nan) -> np.ndarray:
    out = np.full(n, -np.inf)
    np.maximum.at(out, customer, values)
    out[np.isneginf(out)] = empty
    return out


# Each step computes the features declared above it, in that order, from the slice and the
# features of the steps before it (``f``). behaviour_features runs them in FEATURES' order.
Features = dict[str, np.ndarray]

# fmt: off
RECENCY = (
    Feature("recency_days", "days since the last purchase (tenure_days when the customer never bought)", "recency"),
    Feature("days_since_last_event", "days since the last event of any type", "recency"),
    Feature("tenure_days", "days since the customer's first event of any type", "tenure"),
    Feature("days_since_first_purchase", "days since the first purchase (empty if none)", "tenure"),
)
# fmt: on


def _recency(s: Slice, f: Features) -> Features:
    t, n, v = s.cutoff, s.n, s.visits
    first_event = np.full(n, np.iinfo(np.int32).max, dtype=np.int64)
    np.minimum.at(first_event, s.customer, s.day)
    last_event = np.full(n, np.iinfo(np.int32).min, dtype=np.int64)
    np.maximum.at(last_event, s.customer, s.day)
    present = first_event < np.iinfo(np.int32).max
    tenure = np.where(present, t - first_event, np.nan).astype(np.float64)
    last_visit = _group_max(n, v.customer, v.day.astype(np.float64))
    first_visit = np.full(n, np.inf)
    np.minimum.at(first_visit, v.customer, v.day.astype(np.float64))
    first_visit[np.isinf(first_visit)] = np.nan
    return {
        "recency_days": np.where(s.visit_count > 0, t - last_visit, tenure),
        "days_since_last_event": np.where(present, t - last_event, np.nan),
        "tenure_days": tenure,
        "days_since_first_purchase": t - first_visit,
    }


# fmt: off
WINDOWED = (
    *interleave(
        per_window("frequency_{w}d", "purchase days (visits) in the last {w} days", "frequency", WINDOWS),
        # A year's spend is the customer's value; shorter windows show where spend is heading.
        per_window("monetary_{w}d", "net spend (purchases minus refunds) in the last {w} days",
                   lambda w: "value" if w == 365 else "spend_trend", WINDOWS),
    ),
    Feature("frequency_all", "purchase days over the customer's whole history", "frequency"),
    Feature("monetary_all", "net spend over the customer's whole history", "value"),
    Feature("avg_transaction_value", "lifetime net spend per purchase day", "value"),
    Feature("expected_visits_per_30d", "purchase days per 30 days of tenure", "frequency"),
)
# fmt: on


def _windowed(s: Slice, f: Features) -> Features:
    sc, sa, sage = s.spend
    out: Features = {}
    for w in WINDOWS:
        out[f"frequency_{w}d"] = s.count(s.visits.customer[s.visit_age <= w])
        out[f"monetary_{w}d"] = s.count(sc[sage <= w], sa[sage <= w])
    n_visits = s.visit_count
    out["frequency_all"] = n_visits
    out["monetary_all"] = s.count(sc, sa)
    out["avg_transaction_value"] = np.nan_to_num(ratio(out["monetary_all"], n_visits))
    out["expected_visits_per_30d"] = ratio(n_visits * 30.0, np.maximum(f["tenure_days"], 1.0))
    return out


# fmt: off
GAPS = (
    Feature("days_between_transactions", "mean gap in days between consecutive purchase days", "regularity"),
    Feature("gap_std_days", "standard deviation of the gaps between purchase days", "regularity"),
    Feature("gap_max_days", "longest gap between purchase days", "regularity"),
    Feature("last_gap_days", "gap between the last two purchase days", "regularity"),
    Feature("overdue_ratio", "recency_days divided by the mean gap: how overdue the next purchase is", "recency"),
)
# fmt: on


def _gaps(s: Slice, f: Features) -> Features:
    v = s.visits
    has_gap = ~np.isnan(v.gap)
    gc, g = v.customer[has_gap], v.gap[has_gap]
    n_gaps = s.count(gc)
    mean_gap = ratio(s.count(gc, g), n_gaps)
    last_gap = np.full(s.n, np.nan)
    if len(v.customer):
        is_last = np.ones(len(v.customer), dtype=bool)
        is_last[:-1] = v.customer[1:] != v.customer[:-1]
        last_gap[v.customer[is_last]] = v.gap[is_last]
    return {
        "days_between_transactions": mean_gap,
        "gap_std_days": np.sqrt(np.maximum(ratio(s.count(gc, g * g), n_gaps) - mean_gap**2, 0.0)),
        "gap_max_days": _group_max(s.n, gc, g),
        "last_gap_days": last_gap,
        "overdue_ratio": ratio(f["recency_days"], mean_gap),
    }


# fmt: off
TRENDS = (
    Feature("spend_prev_90d", "net spend 91-180 days ago (the window before monetary_90d)", "spend_trend"),
    Feature("spend_trend_30d", "change of spend, last 30 days vs the 30 before, scaled to [-1, 1]", "spend_trend"),
    Feature("spend_trend_90d", "change of spend, last 90 days vs the 90 before, scaled to [-1, 1]", "spend_trend"),
    Feature("frequency_trend_30d", "change of purchase days, last 30 days vs the 30 before, in [-1, 1]", "visit_trend"),
    Feature("frequency_trend_90d", "change of purchase days, last 90 days vs the 90 before, in [-1, 1]", "visit_trend"),
    Feature("activity_trend", "(purchase days last 90 d - previous 90 d) / max(previous 90 d, 1)", "visit_trend"),
)
# fmt: on


def _trends(s: Slice, f: Features) -> Features:
    sc, sa, sage = s.spend
    vc, vage = s.visits.customer, s.visit_age
    m_prev30 = s.count(sc[(sage > 30) & (sage <= 60)], sa[(sage > 30) & (sage <= 60)])
    m_prev90 = s.count(sc[(sage > 90) & (sage <= 180)], sa[(sage > 90) & (sage <= 180)])
    f_prev30 = s.count(vc[(vage > 30) & (vage <= 60)])
    f_prev90 = s.count(vc[(vage > 90) & (vage <= 180)])
    return {
        "spend_prev_90d": m_prev90,
        "spend_trend_30d": _trend(f["monetary_30d"], m_prev30),
        "spend_trend_90d": _trend(f["monetary_90d"], m_prev90),
        "frequency_trend_30d": _trend(f["frequency_30d"], f_prev30),
        "frequency_trend_90d": _trend(f["frequency_90d"], f_prev90),
        "activity_trend": (f["frequency_90d"] - f_prev90) / np.maximum(f_prev90, 1.0),
    }


# fmt: off
ACTIVITY = (
    Feature("weekly_slope_12w", "least-squares slope of weekly purchase days over the last 12 weeks", "visit_trend"),
    Feature("active_months_6", "30-day blocks out of the last 6 with at least one purchase", "frequency"),
    Feature("active_months_12", "30-day blocks out of the last 12 with at least one purchase", "frequency"),
)
# fmt: on


def _activity(s: Slice, f: Features) -> Features:
    vc, vage = s.visits.customer, s.visit_age
    recent = vage <= 84
    week = 11 - (vage[recent] - 1) // 7  # 0 = oldest of the last 12 weeks, 11 = newest
    sy = s.count(vc[recent])
    sxy = s.count(vc[recent], week.astype(np.float64))
    out: Features = {"weekly_slope_12w": (sxy - 5.5 * sy) / 143.0}
    for months, name in ((6, "active_months_6"), (12, "active_months_12")):
        sel = vage <= 30 * months
        bits = np.zeros(s.n, dtype=np.int64)
        np.bitwise_or.at(bits, vc[sel], np.left_shift(1, (vage[sel] - 1) // 30).astype(np.int64))
        out[name] = np.bitwise_count(bits).astype(np.float64)
    return out


# fmt: off
BASKETS = (
    Feature("purchase_events_all", "purchase rows (order lines) over the whole history", "frequency"),
    Feature("lines_per_visit", "purchase rows per purchase day (basket breadth)", "basket"),
    Feature("basket_avg", "mean amount of a purchase row", "basket"),
    Feature("basket_max", "largest amount of a purchase row", "basket"),
    Feature("basket_std", "standard deviation of purchase row amounts", "basket"),
    Feature("visit_spend_max", "largest spend on a single purchase day", "basket"),
    Feature("quantity_all", "items bought over the whole history (empty without a quantity column)", "basket"),
    Feature("quantity_per_visit", "items per purchase day", "basket"),
)
# fmt: on


def _baskets(s: Slice, f: Features) -> Features:
    pc, pa_ = s.purchases
    lines = s.count(pc)
    basket_avg = ratio(s.count(pc, pa_), lines)
    q = s.quantity[s.is_purchase]
    known = ~np.isnan(q)
    quantity = np.where(s.count(pc[known]) > 0, s.count(pc[known], q[known]), np.nan)
    return {
        "purchase_events_all": lines,
        "lines_per_visit": ratio(lines, s.visit_count),
        "basket_avg": basket_avg,
        "basket_max": _group_max(s.n, pc, pa_),
        "basket_std": np.sqrt(np.maximum(ratio(s.count(pc, pa_ * pa_), lines) - basket_avg**2, 0.0)),
        "visit_spend_max": _group_max(s.n, s.visits.customer, s.visits.spend),
        "quantity_all": quantity,
        "quantity_per_visit": ratio(quantity, s.visit_count),
    }


# fmt: off
REFUNDS = (
    Feature("refund_count_all", "refund events over the whole history", "refunds"),
    Feature("refund_amount_all", "refunded amount over the whole history", "refunds"),
    Feature("refund_count_90d", "refund events in the last 90 days", "refunds"),
    Feature("refund_share", "refunded amount as a share of gross purchases", "refunds"),
)
# fmt: on


def _refunds(s: Slice, f: Features) -> Features:
    rc, ra = s.customer[s.is_refund], -s.amount[s.is_refund]
    pc, pa_ = s.purchases
    amount = s.count(rc, ra)
    return {
        "refund_count_all": s.count(rc),
        "refund_amount_all": amount,
        "refund_count_90d": s.count(rc[(s.cutoff - s.day[s.is_refund]) <= 90]),
        "refund_share": np.nan_to_num(ratio(amount, s.count(pc, np.maximum(pa_, 0.0)))),
    }


# fmt: off
CALENDAR = (
    Feature("weekend_share", "share of purchase days on Saturday or Sunday", "regularity"),
    Feature("weekday_concentration", "share of purchase days on the customer's most common weekday", "regularity"),
)
# fmt: on


def _calendar(s: Slice, f: Features) -> Features:
    v = s.visits
    weekday = (v.day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    by_day = np.bincount(v.customer.astype(np.int64) * 7 + weekday, minlength=s.n * 7).reshape(s.n, 7)
    return {
        "weekend_share": ratio(by_day[:, 5:].sum(axis=1).astype(np.float64), s.visit_count),
        "weekday_concentration": ratio(by_day.max(axis=1).astype(np.float64), s.visit_count),
    }


_STEPS = (
    (RECENCY, _recency),
    (WINDOWED, _windowed),
    (GAPS, _gaps),
    (TRENDS, _trends),
    (ACTIVITY, _activity),
    (BASKETS, _baskets),
    (REFUNDS, _refunds),
    (CALENDAR, _calendar),
)
# What behaviour_features computes, in its order: name, meaning (docs/features.md), reason group.
FEATURES = Block(tuple(f for declared, _ in _STEPS for f in declared))


def behaviour_features(s: Slice) -> Features:
    """Recency, tenure, windowed frequency/monetary, gaps, trends, baskets, refunds, calendar:
    {feature name: (customers,) float64 array indexed by customer code}, in FEATURES' order."""
    f: Features = {}
    for _, step in _STEPS:
        f.update(step(s, f))
    return f
