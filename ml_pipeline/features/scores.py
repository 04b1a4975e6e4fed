"""RFM scores: a customer's recency, frequency and monetary value as percentiles (0-100) of the
customers at the fit date, and engagement, their mean."""

from __future__ import annotations

import numpy as np

from ml_pipeline.features.declare import Block, Feature

# Each score and the feature it ranks.
SCORED = {
    "recency_score": "recency_days",
    "frequency_score": "frequency_all",
    "monetary_score": "monetary_all",
}
REFERENCE_POINTS = 1001

SCORE_FEATURES = Block(
    (
        Feature(
            "recency_score",
            "RFM recency score, 0-100: 100 minus the percentile of recency_days among the training "
            "customers at the as-of date (100 = most recent)",
            "recency",
        ),
        Feature(
            "frequency_score",
            "RFM frequency score, 0-100: percentile of frequency_all among the training customers",
            "frequency",
        ),
        Feature(
            "monetary_score",
            "RFM monetary score, 0-100: percentile of monetary_all among the training customers",
            "value",
        ),
        # The mean of three scores: its contribution is shared by the three groups.
        Feature(
            "engagement_score",
            "mean of the recency, frequency and monetary scores, 0-100",
            ("recency", "frequency", "value"),
        ),
    )
)


def reference(values: np.ndarray) -> list[float]:
    """Quantiles of a feature over the reference population (customers at the fit date):
    ``REFERENCE_POINTS`` floats, or ``[0.0]`` when every value is NaN."""
    values = values[~np.isnan(values)]
    if not len(values):
        return [0.0]
    return np.quantile(values, np.linspace(0, 1, REFERENCE_POINTS)).astype(float).tolist()


def _percentile(values: np.ndarray, reference: list[float]) -> np.ndarray:
    """Mid-rank percentile (0-100) of each value in the reference distribution.

    A fixed reference makes the score a function of the customer's own value, the same whether
    the customer is scored alone, in a partition, or in the whole file.
    """
    ref = np.asarray(reference)
    lo = np.searchsorted(ref, values, side="left")
    hi = np.searchsorted(ref, values, side="right")
    return (lo + hi) / (2.0 * len(ref)) * 100.0


def score_features(cols: dict[str, np.ndarray], references: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """The four scores (float32 arrays) from the ranked features in ``cols`` and each one's
    :func:`reference` keyed by feature name (a missing reference ranks everyone against 0)."""
    f: dict[str, np.ndarray] = {}
    for score, raw in SCORED.items():
        pct = _percentile(cols[raw].astype(float), references.get(raw, [0.0]))
        f[score] = (100.0 - pct if score == "recency_score" else pct).astype(np.float32)
    f["engagement_score"] = ((f["recency_score"] + f["frequency_score"] + f["monetary_score"]) / 3.0).astype(
        np.float32
    )
    return f
