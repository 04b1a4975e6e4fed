"""The predictors: one interface (baselines and the short-history BG/NBD fallback too), one module per
library, the registry of model types, and the reconciliation of spend forecasts."""

from ml_pipeline.models.base import LinkedModel, Predictor, TrainingRows
from ml_pipeline.models.baselines import Baseline, LastWindowSpendBaseline, RecencyRateBaseline
from ml_pipeline.models.btyd_fallback import BTYDFallback
from ml_pipeline.models.lgbm import LightGBMModel, RandomForestModel
from ml_pipeline.models.linear import LinearModel
from ml_pipeline.models.reconcile import reconcile_named, reconcile_spend
from ml_pipeline.models.registry import (
    DEFAULT_MODELS,
    MODEL_KINDS,
    PREDICTORS,
    load_predictor,
    make_model,
    parse_models,
)
from ml_pipeline.models.xgb import XGBoostModel

__all__ = [
    "DEFAULT_MODELS",
    "MODEL_KINDS",
    "PREDICTORS",
    "BTYDFallback",
    "Baseline",
    "LastWindowSpendBaseline",
    "LightGBMModel",
    "LinearModel",
    "LinkedModel",
    "Predictor",
    "RandomForestModel",
    "RecencyRateBaseline",
    "TrainingRows",
    "XGBoostModel",
    "load_predictor",
    "make_model",
    "parse_models",
    "reconcile_named",
    "reconcile_spend",
]
