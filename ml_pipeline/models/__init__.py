"""The model zoo: one module per library, the naive baselines, and the registry of model types."""

from ml_pipeline.models.base import LinkedModel
from ml_pipeline.models.baselines import LastWindowSpendBaseline, RecencyRateBaseline, baseline_from_params
from ml_pipeline.models.lgbm import LightGBMModel
from ml_pipeline.models.linear import LinearModel
from ml_pipeline.models.registry import (
    DEFAULT_MODELS,
    MODEL_KINDS,
    load_model,
    make_model,
    model_file,
    parse_models,
)
from ml_pipeline.models.rows import TrainingRows
from ml_pipeline.models.xgb import XGBoostModel

__all__ = [
    "DEFAULT_MODELS",
    "MODEL_KINDS",
    "LastWindowSpendBaseline",
    "LightGBMModel",
    "LinearModel",
    "LinkedModel",
    "RecencyRateBaseline",
    "TrainingRows",
    "XGBoostModel",
    "baseline_from_params",
    "load_model",
    "make_model",
    "model_file",
    "parse_models",
]
