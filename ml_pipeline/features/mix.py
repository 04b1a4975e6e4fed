"""Category spend and non-purchase activity features at one cutoff.

The categories and event types that get their own columns are learned once at fit time
(:class:`~ml_pipeline.features.builder.FeatureBuilder`) and mapped by name, so a log scored
later with other codes or new categories lines up with the training columns.
"""

from __future__ import annotations

import numpy as np

from ml_pipeline.features.declare import CATEGORY, Block, Feature
from ml_pipeline.features.slices import Slice, ratio
from ml_pipeline.features.visits import category_firsts_of


def category_slots(log_categories: list[str], top: list[str]) -> np.ndarray:
    """Map each of the log's category codes to a slot: its index in ``top``, or len(top) for other."""
    index = {name: i for i, name in enumerate(top)}
    return np.array([index.get(name, len(top)) for name in log_categories] + [len(top)], dtype=np.int64)


# What category_features computes, in its order (nothing without a top category).
# fmt: off
CATEGORY_FEATURES = Block(
    (
        Feature("cat_<category>_spend_30d", "net spend in the category in the last 30 days", "cat:<category>"),
        Feature("cat_<category>_spend_90d", "net spend in the category in the last 90 days", "cat:<category>"),
        Feature("cat_<category>_spend_all", "net spend in the category over the whole history", "cat:<category>"),
        Feature("cat_<category>_share", "the category's share of the customer's lifetime spend", "cat:<category>"),
        Feature("category_entropy", "entropy of the spend shares over the top categories and other", "mix"),
        Feature("n_categories_all", "distinct categories bought over the whole history", "mix"),
    ),
    only_with=CATEGORY,
)
# fmt: on


def category_features(s: Slice, top: list[str], slugs: list[str]) -> dict[str, np.ndarray]:
    """Spend per top category (and pooled other) over 30/90 days and lifetime, shares, diversity."""
    f: dict[str, np.ndarray] = {}
    if not top:
        return f
    k = len(top) + 1
    slots = category_slots(s.log.categories, top)
    spend_rows = s.is_purchase | s.is_refund
    c, a = s.customer[spend_rows], s.amount[spend_rows]
    slot = slots[s.category[spend_rows]]  # code -1 (no category) picks the final "other" entry
    age = s.cutoff - s.day[spend_rows]
    key = c.astype(np.int64) * k + slot
    total = None
    for window, suffix in ((30, "30d"), (90, "90d"), (None, "all")):
        sel = slice(None) if window is None else age <= window
        spend = np.bincount(key[sel], weights=a[sel], minlength=s.n * k).reshape(s.n, k)
        for j, slug in enumerate(slugs):
            f[f"cat_{slug}_spend_{suffix}"] = spend[:, j]
        if window is None:
            total = spend
    positive = np.maximum(total, 0.0)
    denom = positive.sum(axis=1)
    for j, slug in enumerate(slugs):
        f[f"cat_{slug}_share"] = np.nan_to_num(ratio(positive[:, j], denom))
    p = positive / np.where(denom > 0, denom, 1.0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        f["category_entropy"] = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    f["n_categories_all"] = _distinct_categories(s, spend_rows)
    return f


def _distinct_categories(s: Slice, spend_rows: np.ndarray) -> np.ndarray:
    """Distinct raw categories each customer bought before the cutoff."""
    if len(s.log.categories) <= 63:
        # One bit per category: an OR per row is far cheaper than sorting (customer, category) pairs.
        rows = spend_rows & (s.category >= 0)
        bits = np.zeros(s.n, dtype=np.int64)
        np.bitwise_or.at(bits, s.customer[rows], np.left_shift(1, s.category[rows].astype(np.int64)))
        return np.bitwise_count(bits).astype(np.float64)
    firsts = category_firsts_of(s.log, s.log.is_spend())
    return s.count(firsts.customer[firsts.day < s.cutoff])


# What event_type_features computes, in its order: the two counts of each type side by side.
# fmt: off
EVENT_TYPE_FEATURES = Block(
    (
        Feature("other_events_30d", "non-purchase events (logins, visits, tickets, ...) in the last 30 days", "other_events"),
        Feature("other_events_all", "non-purchase events over the whole history", "other_events"),
        Feature("days_since_other_event", "days since the last non-purchase event (empty if none)", "other_events"),
        (
            Feature("events_<type>_30d", "events of that non-purchase type in the last 30 days", "events:<type>"),
            Feature("events_<type>_all", "events of that non-purchase type over the whole history", "events:<type>"),
        ),
    )
)
# fmt: on


def event_type_features(s: Slice, types: list[str], slugs: list[str]) -> dict[str, np.ndarray]:
    """Counts of non-purchase events (logins, tickets, failed payments, ...) and their recency."""
    f: dict[str, np.ndarray] = {}
    other = ~(s.is_purchase | s.is_refund)
    oc, oage = s.customer[other], s.cutoff - s.day[other]
    f["other_events_30d"] = s.count(oc[oage <= 30])
    f["other_events_all"] = s.count(oc)
    last = np.full(s.n, -np.inf)
    np.maximum.at(last, oc, -oage.astype(np.float64))
    f["days_since_other_event"] = np.where(np.isinf(last), np.nan, -last)
    codes = {name: i for i, name in enumerate(s.log.event_types)}
    for name, slug in zip(types, slugs):
        sel = s.etype == codes.get(name, -999)
        c, age = s.customer[sel], s.cutoff - s.day[sel]
        f[f"events_{slug}_30d"] = s.count(c[age <= 30])
        f[f"events_{slug}_all"] = s.count(c)
    return f
