"""One line per feature: the source of docs/features.md and of people-readable reasons."""

from __future__ import annotations

import re

from ml_pipeline.features.behaviour import WINDOWS

FEATURE_DOCS: dict[str, str] = {
    "recency_days": "days since the last purchase (tenure_days when the customer never bought)",
    "days_since_last_event": "days since the last event of any type",
    "tenure_days": "days since the customer's first event of any type",
    "days_since_first_purchase": "days since the first purchase (empty if none)",
    **{f"frequency_{w}d": f"purchase days (visits) in the last {w} days" for w in WINDOWS},
    **{f"monetary_{w}d": f"net spend (purchases minus refunds) in the last {w} days" for w in WINDOWS},
    "frequency_all": "purchase days over the customer's whole history",
    "monetary_all": "net spend over the customer's whole history",
    "avg_transaction_value": "lifetime net spend per purchase day",
    "expected_visits_per_30d": "purchase days per 30 days of tenure",
    "days_between_transactions": "mean gap in days between consecutive purchase days",
    "gap_std_days": "standard deviation of the gaps between purchase days",
    "gap_max_days": "longest gap between purchase days",
    "last_gap_days": "gap between the last two purchase days",
    "overdue_ratio": "recency_days divided by the mean gap: how overdue the next purchase is",
    "spend_prev_90d": "net spend 91-180 days ago (the window before monetary_90d)",
    "spend_trend_30d": "change of spend, last 30 days vs the 30 before, scaled to [-1, 1]",
    "spend_trend_90d": "change of spend, last 90 days vs the 90 before, scaled to [-1, 1]",
    "frequency_trend_30d": "change of purchase days, last 30 days vs the 30 before, in [-1, 1]",
    "frequency_trend_90d": "change of purchase days, last 90 days vs the 90 before, in [-1, 1]",
    "activity_trend": "(purchase days last 90 d - previous 90 d) / max(previous 90 d, 1)",
    "weekly_slope_12w": "least-squares slope of weekly purchase days over the last 12 weeks",
    "active_months_6": "30-day blocks out of the last 6 with at least one purchase",
    "active_months_12": "30-day blocks out of the last 12 with at least one purchase",
    "purchase_events_all": "purchase rows (order lines) over the whole history",
    "lines_per_visit": "purchase rows per purchase day (basket breadth)",
    "basket_avg": "mean amount of a purchase row",
    "basket_max": "largest amount of a purchase row",
    "basket_std": "standard deviation of purchase row amounts",
    "visit_spend_max": "largest spend on a single purchase day",
    "quantity_all": "items bought over the whole history (empty without a quantity column)",
    "quantity_per_visit": "items per purchase day",
    "refund_count_all": "refund events over the whole history",
    "refund_amount_all": "refunded amount over the whole history",
    "refund_count_90d": "refund events in the last 90 days",
    "refund_share": "refunded amount as a share of gross purchases",
    "weekend_share": "share of purchase days on Saturday or Sunday",
    "weekday_concentration": "share of purchase days on the customer's most common weekday",
    "category_entropy": "entropy of the spend shares over the top categories and other",
    "n_categories_all": "distinct categories bought over the whole history",
    "other_events_30d": "non-purchase events (logins, visits, tickets, ...) in the last 30 days",
    "other_events_all": "non-purchase events over the whole history",
    "days_since_other_event": "days since the last non-purchase event (empty if none)",
    "recency_score": "RFM recency score, 0-100: 100 minus the percentile of recency_days among the training customers at the as-of date (100 = most recent)",
    "frequency_score": "RFM frequency score, 0-100: percentile of frequency_all among the training customers",
    "monetary_score": "RFM monetary score, 0-100: percentile of monetary_all among the training customers",
    "engagement_score": "mean of the recency, frequency and monetary scores, 0-100",
}

PATTERN_DOCS: dict[str, str] = {
    "cat_<category>_spend_30d": "net spend in the category in the last 30 days",
    "cat_<category>_spend_90d": "net spend in the category in the last 90 days",
    "cat_<category>_spend_all": "net spend in the category over the whole history",
    "cat_<category>_share": "the category's share of the customer's lifetime spend",
    "events_<type>_30d": "events of that non-purchase type in the last 30 days",
    "events_<type>_all": "events of that non-purchase type over the whole history",
}
_PATTERNS = [
    (re.compile("^" + re.escape(p).replace("<category>", "(.+)").replace("<type>", "(.+)") + "$"), d)
    for p, d in PATTERN_DOCS.items()
]


def describe_feature(name: str) -> str | None:
    """The documented one-line meaning of a feature name, or None if undocumented."""
    if name in FEATURE_DOCS:
        return FEATURE_DOCS[name]
    for rx, doc in _PATTERNS:
        m = rx.match(name)
        if m:
            return f"{doc} ({m.group(1)})"
    return None


def features_markdown() -> str:
    """docs/features.md, generated from the registry above."""
    lines = [
        "# Features",
        "",
        "Generated by `python -m ml_pipeline features --markdown` from `ml_pipeline/features/docs.py`;",
        "a test keeps this page and the code in step. Every feature at cutoff *t* uses only events",
        "dated strictly before *t*. A *purchase day* (visit) is a day with at least one purchase;",
        "*net spend* is purchases minus refunds.",
        "",
        "| feature | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | {v} |" for k, v in FEATURE_DOCS.items()]
    lines += [
        "",
        "Per top category by revenue (default 5, `--top-categories`; the rest pooled as `other`) and",
        "per common non-purchase event type (default 5), with the name turned into a lower-case slug:",
        "",
        "| feature | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | {v} |" for k, v in PATTERN_DOCS.items()]
    return "\n".join(lines) + "\n"
