"""Reasons: the few factors that push a customer's churn risk up the most, in words, with the
customer's own numbers ("no purchase for 64 days, 3.0x the usual gap of 21 days").

The churn model's per-prediction contributions (each model's ``contributions``;
:mod:`ml_pipeline.models.tree_shap`) are summed over groups of features that say the same thing
in people's terms: recency_days, days_since_last_event, overdue_ratio and recency_score are all
"no purchase for N days". Each feature's groups are declared beside its computation
(:mod:`ml_pipeline.features.catalog`); each group's phrase is in :mod:`ml_pipeline.explain.phrases`.
The groups with the largest positive sums are the reasons, largest first; a customer whose risk
no group pushes up gets none. A group about an optional activity (non-purchase events, refunds,
a category, ...) is a reason only for a customer whose own count or amount of it is above zero
(:func:`ml_pipeline.explain.phrases.evidence`): the absence of something the customer never did
is not phrased as a cause, and the next supported group takes its place.
"""

from __future__ import annotations

import numpy as np

from ml_pipeline.explain.phrases import evidence, phraser
from ml_pipeline.features import reason_groups

TOP_REASONS = 3
METHODS = ("exact", "path")  # how contributions are computed: see ml_pipeline.models.tree_shap
SEPARATOR = "; "


def _groups_of(name: str) -> tuple[str, ...]:
    """The groups declared beside the feature's computation (ml_pipeline.features.catalog)."""
    return reason_groups(name) or (f"feature:{name}",)  # a feature without a phrase of its own


def group_matrix(features: list[str]) -> tuple[list[str], np.ndarray]:
    """The reason groups of a feature list and the (features × groups) weights summing into them."""
    groups: list[str] = []
    pairs = []
    for j, name in enumerate(features):
        owners = _groups_of(name)
        for g in owners:
            if g not in groups:
                groups.append(g)
            pairs.append((j, groups.index(g), 1.0 / len(owners)))
    weights = np.zeros((len(features), len(groups)))
    for j, g, w in pairs:
        weights[j, g] = w
    return groups, weights


class Reasons:
    """Turns contributions into reason texts for one feature list (built once per bundle)."""

    def __init__(self, features: list[str], names: dict[str, dict[str, str]], top: int = TOP_REASONS):
        self.features = features
        self.column = {f: j for j, f in enumerate(features)}
        self.groups, self.weights = group_matrix(features)
        self.phrasers = [phraser(g, names) for g in self.groups]
        # Per group, the columns of which one must be above zero ([] = always supported); a
        # feature the bundle lacks supports nothing.
        self.evidence = [[self.column.get(f, -1) for f in evidence(g)] for g in self.groups]
        self.top = top

    def supported(self, values: np.ndarray) -> np.ndarray:
        """(rows, groups): whether the customer's own numbers support the group as a reason."""
        out = np.ones((len(values), len(self.groups)), dtype=bool)
        for g, cols in enumerate(self.evidence):
            if cols:
                have = [values[:, j].astype(float) > 0 for j in cols if j >= 0]
                out[:, g] = np.logical_or.reduce(have) if have else False
        return out

    def top_groups(self, grouped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, top) group indices, largest first, and whether each pushes risk up."""
        k = min(self.top, grouped.shape[1])
        order = np.argsort(-grouped, axis=1, kind="stable")[:, :k]
        return order, np.take_along_axis(grouped, order, axis=1) > 1e-9

    def texts(self, values: np.ndarray, grouped: np.ndarray) -> list[str]:
        """One text per row from its (groups,) contributions (features summed with ``weights``):
        up to ``top`` reasons joined by "; ", or "" when none raises the risk. A group the
        customer's numbers do not support (:meth:`supported`) is skipped."""
        grouped = np.where(self.supported(values), grouped, -np.inf)
        order, up = self.top_groups(grouped)
        n = len(values)
        slots = [np.full(n, "", dtype=object) for _ in range(order.shape[1])]
        for rank in range(order.shape[1]):
            picked = np.where(up[:, rank], order[:, rank], -1)
            for g in np.unique(picked[picked >= 0]):
                rows = np.flatnonzero(picked == g)

                # Only the columns a phrase reads are gathered for its rows, not every feature.
                def column(feature: str, rows=rows) -> list[float]:
                    j = self.column.get(feature)
                    return (
                        (values[rows, j] if j is not None else np.full(len(rows), np.nan))
                        .astype(float)
                        .tolist()
                    )

                slots[rank][rows] = self.phrasers[g](column)
        return joined(slots, n)


def joined(slots: list[np.ndarray], n: int) -> list[str]:
    """Per row, its non-empty texts of ``slots`` (object arrays of n str) joined by SEPARATOR, in
    slot order: ``SEPARATOR.join(p for p in parts if p)`` row by row, as whole-array operations."""
    if not slots:
        return [""] * n
    out = slots[0].copy()
    has = out != ""
    for slot in slots[1:]:
        more = slot != ""
        both = has & more
        out[both] = out[both] + SEPARATOR + slot[both]
        alone = more & ~has
        out[alone] = slot[alone]
        has |= more
    return out.tolist()


def split(text: str) -> list[str]:
    """The reasons of one prediction as a list (the API's form of the CSV column)."""
    return text.split(SEPARATOR) if text else []
