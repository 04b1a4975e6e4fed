"""Reasons: a churn model's per-prediction contributions, grouped and phrased with the customer's numbers."""

from ml_pipeline.explain.reasons import METHODS, SEPARATOR, Reasons, split

__all__ = ["METHODS", "SEPARATOR", "Reasons", "split"]
