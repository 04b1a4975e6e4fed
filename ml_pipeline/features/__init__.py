"""Per-customer features at a cutoff, computed for all customers at once (docs/features.md).

Each feature is declared once (:class:`Feature`: name, one-line doc, reason groups) beside the
code computing it; :mod:`ml_pipeline.features.catalog` collects the declarations.
"""

from ml_pipeline.features.builder import FeatureBuilder, slugify
from ml_pipeline.features.catalog import (
    FEATURE_DOCS,
    PATTERN_DOCS,
    declared_names,
    describe_feature,
    features_markdown,
    reason_groups,
)
from ml_pipeline.features.declare import Feature

__all__ = [
    "FEATURE_DOCS",
    "PATTERN_DOCS",
    "Feature",
    "FeatureBuilder",
    "declared_names",
    "describe_feature",
    "features_markdown",
    "reason_groups",
    "slugify",
]
