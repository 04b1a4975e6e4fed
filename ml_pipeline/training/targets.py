"""Labels at a cutoff: churn, total spend and spend per category (SPEC §2).

Labels look only at ``[cutoff, cutoff + horizon)``: churn is 1 when the customer makes no
purchase in the churn horizon; spend is the net amount of purchases and refunds in the spend
horizon, floored at 0 (a customer who only returns goods spends nothing, not a negative amount).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_pipeline.data.eventlog import PURCHASE, EventLog
from ml_pipeline.features.mix import category_slots


def target_names(category_targets: list[str]) -> list[str]:
    """Target columns in order: churn, spend_total, spend_<category>..."""
    return ["churn", "spend_total", *[f"spend_{c}" for c in category_targets]]


def build_targets(
    log: EventLog,
    cutoff: int,
    customers: np.ndarray,
    *,
    horizon_days: int,
    churn_horizon_days: int,
    top_categories: list[str],
    category_targets: list[str],
) -> pd.DataFrame:
    """Targets for ``customers`` (codes) at ``cutoff``; ``category_targets`` are the top names plus
    "other" when the log has spend outside them."""
    n = log.n_customers
    lo = log.end_before(cutoff)
    hi_churn = log.end_before(cutoff + churn_horizon_days)
    hi_spend = log.end_before(cutoff + horizon_days)
    purchase = log.etype[lo:hi_churn] == log.type_code(PURCHASE)
    bought = np.bincount(log.customer[lo:hi_churn][purchase], minlength=n) > 0
    spend_rows = log.is_spend()[lo:hi_spend]
    c, a = log.customer[lo:hi_spend][spend_rows], log.amount[lo:hi_spend][spend_rows]
    out = {
        "churn": (~bought[customers]).astype(np.float32),
        "spend_total": np.maximum(np.bincount(c, weights=a, minlength=n), 0.0)[customers],
    }
    if category_targets:
        k = len(top_categories) + 1
        slot = category_slots(log.categories, top_categories)[log.category[lo:hi_spend][spend_rows]]
        spend = np.bincount(c.astype(np.int64) * k + slot, weights=a, minlength=n * k).reshape(n, k)
        for j, name in enumerate(category_targets):
            out[f"spend_{name}"] = np.maximum(spend[customers, j], 0.0)
    return pd.DataFrame(out, index=customers)
