"""The registry of model types: every family a target may be trained with, made, saved and loaded by name.

- ``lightgbm``: gradient-boosted trees (binary / Tweedie), stopped early on time.
- ``xgboost``: the same idea in XGBoost (``binary:logistic`` / ``reg:tweedie``), stopped early.
- ``random_forest``: LightGBM's random forest mode: bagged trees, averaged.
- ``linear``: logistic regression for churn, a Tweedie GLM with log link for spend (scikit-learn),
  on signed-log, standardized features.

Each saves to its library's own format (LightGBM text, XGBoost JSON) or plain JSON (linear),
never a pickle, and shares :class:`~ml_pipeline.models.base.LinkedModel`'s calibration.
"""

from __future__ import annotations

from pathlib import Path

from ml_pipeline.errors import PipelineError
from ml_pipeline.models.base import LinkedModel
from ml_pipeline.models.lgbm import LightGBMModel
from ml_pipeline.models.linear import LinearModel
from ml_pipeline.models.xgb import XGBoostModel

MODEL_KINDS = ("lightgbm", "xgboost", "random_forest", "linear")
DEFAULT_MODELS = MODEL_KINDS
_SUFFIX = {
    "lightgbm": ".lgb.txt",
    "random_forest": ".rf.lgb.txt",
    "xgboost": ".xgb.json",
    "linear": ".linear.json",
}


def make_model(kind: str, objective: str, random_state: int = 0, num_threads: int = 0) -> LinkedModel:
    """A fresh, unfitted model of the zoo."""
    if kind == "lightgbm":
        return LightGBMModel(objective, random_state=random_state, num_threads=num_threads)
    if kind == "random_forest":
        return LightGBMModel(objective, random_state=random_state, num_threads=num_threads, boosting="rf")
    if kind == "xgboost":
        return XGBoostModel(objective, random_state=random_state, num_threads=num_threads)
    if kind == "linear":
        return LinearModel(objective)
    raise PipelineError(f"unknown model type '{kind}'; choose from {', '.join(MODEL_KINDS)}")


def parse_models(text: str | list[str] | None) -> tuple[str, ...]:
    """A comma-separated list (or list) of model types, checked; None means every type."""
    if text is None:
        return DEFAULT_MODELS
    items = text.split(",") if isinstance(text, str) else list(text)
    kinds = tuple(dict.fromkeys(k.strip() for k in items if k.strip()))
    unknown = [k for k in kinds if k not in MODEL_KINDS]
    if unknown or not kinds:
        raise PipelineError(
            f"unknown model type(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(MODEL_KINDS)}"
        )
    return kinds


def model_file(kind: str, stem: str) -> str:
    return stem + _SUFFIX[kind]


def load_model(kind: str, path: Path, objective: str) -> LinkedModel:
    if kind in ("lightgbm", "random_forest"):
        return LightGBMModel.load(path, objective, boosting="rf" if kind == "random_forest" else "gbdt")
    if kind == "xgboost":
        return XGBoostModel.load(path, objective)
    if kind == "linear":
        return LinearModel.load(path, objective)
    raise PipelineError(f"{path}: unknown model type '{kind}' in the bundle")
