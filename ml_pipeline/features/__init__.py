"""Per-customer features at a cutoff, computed for all customers at once (docs/features.md)."""

from ml_pipeline.features.builder import FeatureBuilder, slugify
from ml_pipeline.features.docs import FEATURE_DOCS, describe_feature, features_markdown

__all__ = ["FEATURE_DOCS", "FeatureBuilder", "describe_feature", "features_markdown", "slugify"]
