"""Coherent spend forecasts: the per-category forecasts (with ``other``) add up to the total.

The total and each category are forecast by separate models, so their sums disagree. Three
reconciliations of a two-level hierarchy (Hyndman & Athanasopoulos, "Forecasting: Principles and
Practice", 3rd ed., ch. 11, "Forecast reconciliation"):

- ``bottom_up``: the total is the sum of the categories;
- ``top_down``: the categories keep their forecast shares and are scaled to the total (a customer
  whose categories are all forecast at 0 gets the population's mean shares);
- ``middle``: the level is the mean of the two, and the categories are scaled to it.

scripts/spend_reconciliation.py measures them on a log (docs/benchmarks.md has the figures
behind the default). ``serving.scoring.predict`` and ``training.evaluation.evaluate`` both apply
``reconcile_named``, so what is evaluated is what is delivered.
"""

from __future__ import annotations

import numpy as np

METHODS = ("top_down", "bottom_up", "middle")
# The one predict and evaluate use: chosen by scripts/spend_reconciliation.py (docs/benchmarks.md).
DEFAULT_METHOD = "middle"


def reconcile_spend(
    total: np.ndarray, categories: np.ndarray, method: str = DEFAULT_METHOD
) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts that add up: (total, categories) reconciled by ``method``.

    ``total``: shape (n,), currency units, non-negative; ``categories``: shape (n, k), every
    category including ``other``, non-negative. Returns new arrays of the same shapes whose rows
    satisfy ``categories.sum(axis=1) == total`` (to float precision). Raises ValueError for an
    unknown method.
    """
    if method not in METHODS:
        raise ValueError(f"unknown reconciliation {method!r}; choose from {', '.join(METHODS)}")
    total = np.asarray(total, dtype=float)
    cats = np.asarray(categories, dtype=float)
    if cats.shape[1] == 0:
        return total.copy(), cats.copy()
    summed = cats.sum(axis=1)
    if method == "bottom_up":
        return summed, cats.copy()
    level = total if method == "top_down" else (total + summed) / 2
    mean_shares = (
        cats.sum(axis=0) / cats.sum() if cats.sum() > 0 else np.full(cats.shape[1], 1 / cats.shape[1])
    )
    shares = np.where(summed[:, None] > 0, cats / np.where(summed > 0, summed, 1)[:, None], mean_shares)
    return level.copy(), shares * level[:, None]


def reconcile_named(spend: dict, method: str = DEFAULT_METHOD) -> dict:
    """``spend`` ({target name: array of shape (n,)}, with ``spend_total`` and ``spend_<category>``
    entries, other names passed through) with the categories reconciled to the total; a new dict.
    Without category entries it is returned as it is."""
    categories = [n for n in spend if n.startswith("spend_") and n != "spend_total"]
    if not categories or "spend_total" not in spend:
        return dict(spend)
    total, spent = reconcile_spend(
        spend["spend_total"], np.column_stack([spend[n] for n in categories]), method
    )
    return {**spend, "spend_total": total, **{n: spent[:, j] for j, n in enumerate(categories)}}
