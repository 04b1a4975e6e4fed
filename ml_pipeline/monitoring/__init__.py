"""Monitoring: drift of scored populations against the training reference kept in a bundle."""

from ml_pipeline.monitoring.drift import (
    DEFAULT_THRESHOLDS,
    build_reference,
    compare,
    counts,
    psi,
    report,
    sum_counts,
)
from ml_pipeline.monitoring.reference import (
    category_weights,
    counts_of_scoring,
    drift_of_scoring,
    scored,
    training_reference,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "build_reference",
    "category_weights",
    "compare",
    "counts",
    "counts_of_scoring",
    "drift_of_scoring",
    "psi",
    "report",
    "scored",
    "sum_counts",
    "training_reference",
]
