"""Recency, frequency, monetary, gap, trend and basket features at one cutoff, for all customers.

Every function takes a :class:`Slice` — the events strictly before the cutoff — and returns
arrays indexed by customer code. Nothing here can see an event at or after the cutoff, because
the slice does not hold one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml_pipeline.data.eventlog import PURCHASE, REFUND, EventLog
from ml_pipeline.features.declare import Block, Feature, interleave, per_window
from ml_pipeline.features.visits import Visits, visits_of

WINDOWS = (7, 30, 90, 180, 365)


@dataclass
class Slice:
    """Events and visits strictly before ``cutoff``, plus shared masks."""

    log: EventLog
    cutoff: int
    customer: np.ndarray
    day: np.ndarray
    amount: np.ndarray
    etype: np.ndarray
    category: np.ndarray
    quantity: np.ndarray
    is_purchase: np.ndarray
    is_refund: np.ndarray
    visits: Visits
    n: int  # number of customer codes

    @classmethod
    def of(cls, log: EventLog, cutoff: int) -> Slice:
        k = log.end_before(cutoff)
        v = visits_of(log)
        vm = v.day < cutoff
        etype = log.etype[:k]
        return cls(
            log=log,
            cutoff=cutoff,
            customer=log.customer[:k],
            day=log.day[:k],
            amount=log.amount[:k],
            etype=etype,
            category=log.category[:k],
            quantity=log.quantity[:k],
            is_purchase=etype == log.type_code(PURCHASE),
            is_refund=etype == log.type_code(REFUND),
            visits=Visits(v.customer[vm], v.day[vm], v.spend[vm], v.gap[vm]),
            n=log.n_customers,
        )

    def count(self, customer: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per-customer count (or weighted sum) of the given customer codes."""
        return np.bincount(customer, weights=weights, minlength=self.n).astype(np.float64)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


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


# What behaviour_features computes, in its order: name, meaning (docs/features.md), reason group.
# fmt: off
FEATURES = Block(
    (
        Feature("recency_days", "days since the last purchase (tenure_days when the customer never bought)", "recency"),
        Feature("days_since_last_event", "days since the last event of any type", "recency"),
        Feature("tenure_days", "days since the customer's first event of any type", "tenure"),
        Feature("days_since_first_purchase", "days since the first purchase (empty if none)", "tenure"),
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
        Feature("days_between_transactions", "mean gap in days between consecutive purchase days", "regularity"),
        Feature("gap_std_days", "standard deviation of the gaps between purchase days", "regularity"),
        Feature("gap_max_days", "longest gap between purchase days", "regularity"),
        Feature("last_gap_days", "gap between the last two purchase days", "regularity"),
        Feature("overdue_ratio", "recency_days divided by the mean gap: how overdue the next purchase is", "recency"),
        Feature("spend_prev_90d", "net spend 91-180 days ago (the window before monetary_90d)", "spend_trend"),
        Feature("spend_trend_30d", "change of spend, last 30 days vs the 30 before, scaled to [-1, 1]", "spend_trend"),
        Feature("spend_trend_90d", "change of spend, last 90 days vs the 90 before, scaled to [-1, 1]", "spend_trend"),
        Feature("frequency_trend_30d", "change of purchase days, last 30 days vs the 30 before, in [-1, 1]", "visit_trend"),
        Feature("frequency_trend_90d", "change of purchase days, last 90 days vs the 90 before, in [-1, 1]", "visit_trend"),
        Feature("activity_trend", "(purchase days last 90 d - previous 90 d) / max(previous 90 d, 1)", "visit_trend"),
        Feature("weekly_slope_12w", "least-squares slope of weekly purchase days over the last 12 weeks", "visit_trend"),
        Feature("active_months_6", "30-day blocks out of the last 6 with at least one purchase", "frequency"),
        Feature("active_months_12", "30-day blocks out of the last 12 with at least one purchase", "frequency"),
        Feature("purchase_events_all", "purchase rows (order lines) over the whole history", "frequency"),
        Feature("lines_per_visit", "purchase rows per purchase day (basket breadth)", "basket"),
        Feature("basket_avg", "mean amount of a purchase row", "basket"),
        Feature("basket_max", "largest amount of a purchase row", "basket"),
        Feature("basket_std", "standard deviation of purchase row amounts", "basket"),
        Feature("visit_spend_max", "largest spend on a single purchase day", "basket"),
        Feature("quantity_all", "items bought over the whole history (empty without a quantity column)", "basket"),
        Feature("quantity_per_visit", "items per purchase day", "basket"),
        Feature("refund_count_all", "refund events over the whole history", "refunds"),
        Feature("refund_amount_all", "refunded amount over the whole history", "refunds"),
        Feature("refund_count_90d", "refund events in the last 90 days", "refunds"),
        Feature("refund_share", "refunded amount as a share of gross purchases", "refunds"),
        Feature("weekend_share", "share of purchase days on Saturday or Sunday", "regularity"),
        Feature("weekday_concentration", "share of purchase days on the customer's most common weekday", "regularity"),
    )
)
# fmt: on


def behaviour_features(s: Slice) -> dict[str, np.ndarray]:
    """Recency, tenure, windowed frequency/monetary, gaps, trends, baskets, refunds, calendar."""
    t, n = s.cutoff, s.n
    f: dict[str, np.ndarray] = {}
    v = s.visits
    first_event = np.full(n, np.iinfo(np.int32).max, dtype=np.int64)
    np.minimum.at(first_event, s.customer, s.day)
    last_event = np.full(n, np.iinfo(np.int32).min, dtype=np.int64)
    np.maximum.at(last_event, s.customer, s.day)
    present = first_event < np.iinfo(np.int32).max
    tenure = np.where(present, t - first_event, np.nan).astype(np.float64)

    n_visits = s.count(v.customer)
    last_visit = _group_max(n, v.customer, v.day.astype(np.float64))
    first_visit = np.full(n, np.inf)
    np.minimum.at(first_visit, v.customer, v.day.astype(np.float64))
    first_visit[np.isinf(first_visit)] = np.nan
    recency = np.where(n_visits > 0, t - last_visit, tenure)
    f["recency_days"] = recency
    f["days_since_last_event"] = np.where(present, t - last_event, np.nan)
    f["tenure_days"] = tenure
    f["days_since_first_purchase"] = t - first_visit

    spend_rows = s.is_purchase | s.is_refund
    sc, sa, sage = s.customer[spend_rows], s.amount[spend_rows], t - s.day[spend_rows]
    vage = t - v.day
    for w in WINDOWS:
        f[f"frequency_{w}d"] = s.count(v.customer[vage <= w])
        f[f"monetary_{w}d"] = s.count(sc[sage <= w], sa[sage <= w])
    f["frequency_all"] = n_visits
    monetary_all = s.count(sc, sa)
    f["monetary_all"] = monetary_all
    f["avg_transaction_value"] = np.nan_to_num(_ratio(monetary_all, n_visits))
    f["expected_visits_per_30d"] = _ratio(n_visits * 30.0, np.maximum(tenure, 1.0))

    has_gap = ~np.isnan(v.gap)
    gc, g = v.customer[has_gap], v.gap[has_gap]
    n_gaps = s.count(gc)
    mean_gap = _ratio(s.count(gc, g), n_gaps)
    f["days_between_transactions"] = mean_gap
    f["gap_std_days"] = np.sqrt(np.maximum(_ratio(s.count(gc, g * g), n_gaps) - mean_gap**2, 0.0))
    f["gap_max_days"] = _group_max(n, gc, g)
    last_gap = np.full(n, np.nan)
    if len(v.customer):
        is_last = np.ones(len(v.customer), dtype=bool)
        is_last[:-1] = v.customer[1:] != v.customer[:-1]
        last_gap[v.customer[is_last]] = v.gap[is_last]
    f["last_gap_days"] = last_gap
    f["overdue_ratio"] = _ratio(recency, mean_gap)

    m_prev30 = s.count(sc[(sage > 30) & (sage <= 60)], sa[(sage > 30) & (sage <= 60)])
    m_prev90 = s.count(sc[(sage > 90) & (sage <= 180)], sa[(sage > 90) & (sage <= 180)])
    f_prev30 = s.count(v.customer[(vage > 30) & (vage <= 60)])
    f_prev90 = s.count(v.customer[(vage > 90) & (vage <= 180)])
    f["spend_prev_90d"] = m_prev90
    f["spend_trend_30d"] = _trend(f["monetary_30d"], m_prev30)
    f["spend_trend_90d"] = _trend(f["monetary_90d"], m_prev90)
    f["frequency_trend_30d"] = _trend(f["frequency_30d"], f_prev30)
    f["frequency_trend_90d"] = _trend(f["frequency_90d"], f_prev90)
    f["activity_trend"] = (f["frequency_90d"] - f_prev90) / np.maximum(f_prev90, 1.0)

    recent = vage <= 84
    week = 11 - (vage[recent] - 1) // 7  # 0 = oldest of the last 12 weeks, 11 = newest
    sy = s.count(v.customer[recent])
    sxy = s.count(v.customer[recent], week.astype(np.float64))
    f["weekly_slope_12w"] = (sxy - 5.5 * sy) / 143.0
    for months, name in ((6, "active_months_6"), (12, "active_months_12")):
        sel = vage <= 30 * months
        bits = np.zeros(n, dtype=np.int64)
        np.bitwise_or.at(bits, v.customer[sel], np.left_shift(1, (vage[sel] - 1) // 30).astype(np.int64))
        f[name] = np.bitwise_count(bits).astype(np.float64)

    pc, pa_ = s.customer[s.is_purchase], s.amount[s.is_purchase]
    lines = s.count(pc)
    f["purchase_events_all"] = lines
    f["lines_per_visit"] = _ratio(lines, n_visits)
    basket_avg = _ratio(s.count(pc, pa_), lines)
    f["basket_avg"] = basket_avg
    f["basket_max"] = _group_max(n, pc, pa_)
    f["basket_std"] = np.sqrt(np.maximum(_ratio(s.count(pc, pa_ * pa_), lines) - basket_avg**2, 0.0))
    f["visit_spend_max"] = _group_max(n, v.customer, v.spend)
    q = s.quantity[s.is_purchase]
    known = ~np.isnan(q)
    qty = s.count(pc[known], q[known])
    f["quantity_all"] = np.where(s.count(pc[known]) > 0, qty, np.nan)
    f["quantity_per_visit"] = _ratio(f["quantity_all"], n_visits)

    rc, ra = s.customer[s.is_refund], -s.amount[s.is_refund]
    f["refund_count_all"] = s.count(rc)
    f["refund_amount_all"] = s.count(rc, ra)
    f["refund_count_90d"] = s.count(rc[(t - s.day[s.is_refund]) <= 90])
    gross = s.count(pc, np.maximum(pa_, 0.0))
    f["refund_share"] = np.nan_to_num(_ratio(f["refund_amount_all"], gross))

    weekday = (v.day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    by_day = np.bincount(v.customer.astype(np.int64) * 7 + weekday, minlength=n * 7).reshape(n, 7)
    f["weekend_share"] = _ratio(by_day[:, 5:].sum(axis=1).astype(np.float64), n_visits)
    f["weekday_concentration"] = _ratio(by_day.max(axis=1).astype(np.float64), n_visits)
    return f
