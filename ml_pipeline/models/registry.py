"""The registry of model types: every family a target may be trained with, made, saved and loaded by name.

- ``lightgbm``: gradient-boosted trees (binary / Tweedie), stopped early on time.
- ``xgboost``: the same idea in XGBoost (``binary:logistic`` / ``reg:tweedie``), stopped early.
- ``random_forest``: LightGBM's random forest mode: bagged trees, averaged.
- ``linear``: logistic regression for churn, a Tweedie GLM with log link for spend (scikit-learn),
  on signed-log, standardized features.

Each saves to its library's own format (LightGBM text, XGBoost JSON) or plain JSON (linear),
never a pickle, and shares :class:`~ml_pipeline.models.base.LinkedModel`'s calibration. Every type,
the baselines and the short-history fallback (:class:`~ml_pipeline.models.btyd_fallback.BTYDFallback`,
not a zoo type: training picks it only when no window plan fits) load by name through
:func:`load_predictor`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ml_pipeline.errors import PipelineError
from ml_pipeline.models.base import LinkedModel, Predictor
from ml_pipeline.models.baselines import Baseline
from ml_pipeline.models.btyd_fallback import BTYDFallback
from ml_pipeline.models.lgbm import LightGBMModel, RandomForestModel
from ml_pipeline.models.linear import LinearModel
from ml_pipeline.models.xgb import XGBoostModel

# Each type built with its own parameters: (objective, random_state, num_threads) -> unfitted model.
_BUILD: dict[str, Callable[[str, int, int], LinkedModel]] = {
    "lightgbm": lambda objective, seed, threads: LightGBMModel(
        objective, random_state=seed, num_threads=threads
    ),
    "xgboost": lambda objective, seed, threads: XGBoostModel(
        objective, random_state=seed, num_threads=threads
    ),
    "random_forest": lambda objective, seed, threads: RandomForestModel(
        objective, random_state=seed, num_threads=threads
    ),
    "linear": lambda objective, seed, threads: LinearModel(objective),  # deterministic, one thread
}
MODEL_KINDS = tuple(_BUILD)
MODEL_TYPES: dict[str, type[LinkedModel]] = {
    cls.kind: cls for cls in (LightGBMModel, XGBoostModel, RandomForestModel, LinearModel)
}
DEFAULT_MODELS = MODEL_KINDS
PREDICTORS: dict[str, type[Predictor]] = {
    cls.kind: cls
    for cls in (LightGBMModel, XGBoostModel, RandomForestModel, LinearModel, Baseline, BTYDFallback)
}


def make_model(kind: str, objective: str, random_state: int = 0, num_threads: int = 0) -> LinkedModel:
    """A fresh, unfitted model of the zoo. Raises PipelineError for an unknown type."""
    if kind not in _BUILD:
        raise PipelineError(f"unknown model type '{kind}'; choose from {', '.join(MODEL_KINDS)}")
    return _BUILD[kind](objective, random_state, num_threads)


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


def load_predictor(kind: str, entry: dict, folder: Path) -> Predictor:
    """The fitted predictor of type ``kind`` ("baseline" or a model type) from its saved entry
    (see :meth:`Predictor.save`). Raises PipelineError for an unknown type or a missing file."""
    if kind not in PREDICTORS:
        raise PipelineError(f"{folder}: unknown model type '{kind}' in the bundle")
    return PREDICTORS[kind].load(entry, folder)
