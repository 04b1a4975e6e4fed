"""Monitoring: drift of scored populations against the training reference kept in a bundle."""

from ml_pipeline.monitoring.drift import DEFAULT_THRESHOLDS, build_reference, compare, psi
from ml_pipeline.monitoring.reference import category_weights, drift_of_scoring, scored, training_reference

__all__ = [
    "DEFAULT_THRESHOLDS",
    "build_reference",
    "category_weights",
    "compare",
    "drift_of_scoring",
    "psi",
    "scored",
    "training_reference",
]
