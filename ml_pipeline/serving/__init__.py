"""Serving: model bundles on disk, and scoring an event log with one."""

from ml_pipeline.serving.bundle import Bundle, load_bundle, save_bundle
from ml_pipeline.serving.scoring import SEGMENTS, predict, risk_segments

__all__ = ["SEGMENTS", "Bundle", "load_bundle", "predict", "risk_segments", "save_bundle"]
