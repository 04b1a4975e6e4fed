"""The model zoo: every family a target may be trained with, made, saved and loaded by name.

- ``lightgbm``: gradient-boosted trees (binary / Tweedie), stopped early on time.
- ``xgboost``: the same idea in XGBoost (``binary:logistic`` / ``reg:tweedie``), stopped early.
- ``random_forest``: LightGBM's random forest mode: bagged trees, averaged.
- ``linear``: logistic regression for churn, a Tweedie GLM with log link for spend (scikit-learn),
  on signed-log, standardized features.

Each saves to its library's own format (LightGBM text, XGBoost JSON) or plain JSON (linear),
never a pickle, and shares :class:`~ml_pipeline.estimators.LinkedModel`'s calibration.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ml_pipeline.errors import PipelineError
from ml_pipeline.estimators import CHURN_TREE_DEPTH, LightGBMTarget, LinkedModel, TrainingRows

MODEL_KINDS = ("lightgbm", "xgboost", "random_forest", "linear")
DEFAULT_MODELS = MODEL_KINDS
_SUFFIX = {
    "lightgbm": ".lgb.txt",
    "random_forest": ".rf.lgb.txt",
    "xgboost": ".xgb.json",
    "linear": ".linear.json",
}


def _values(X) -> np.ndarray:
    return X.to_numpy(dtype=np.float32) if hasattr(X, "to_numpy") else np.asarray(X, dtype=np.float32)


class XGBoostTarget(LinkedModel):
    """XGBoost (hist trees) for one target, early-stopped on a later cutoff."""

    kind = "xgboost"

    def __init__(
        self, objective: str, random_state: int = 0, num_threads: int = 0, learning_rate: float = 0.1
    ):
        self.objective = objective
        self.random_state = random_state
        self.num_threads = num_threads
        self.learning_rate = learning_rate
        self.description = f"XGBoost ({objective})"

    def params(self) -> dict:
        p = {
            "objective": "binary:logistic" if self.objective == "binary" else "reg:tweedie",
            "eta": self.learning_rate,
            "max_depth": 6,
            "min_child_weight": 5,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "lambda": 1.0,
            "tree_method": "hist",
            "seed": self.random_state,
            "nthread": self.num_threads or None,
            "verbosity": 0,
        }
        if self.objective == "tweedie":
            p["tweedie_variance_power"] = 1.5
        else:
            p["max_depth"] = CHURN_TREE_DEPTH
        return {k: v for k, v in p.items() if v is not None}

    def fit_on(self, rows: TrainingRows, index: np.ndarray, y: np.ndarray, eval_set=None, n_rounds=None):
        import xgboost as xgb

        train = xgb.DMatrix(rows.values[index], label=y)  # index ascending, y aligned with it
        evals, kwargs = [], {}
        if eval_set is not None:
            evals = [(xgb.DMatrix(_values(eval_set[0]), label=eval_set[1]), "valid")]
            kwargs["early_stopping_rounds"] = 30
        self.booster_ = xgb.train(
            self.params(), train, num_boost_round=n_rounds or 2000, evals=evals, verbose_eval=False, **kwargs
        )
        best = getattr(self.booster_, "best_iteration", None)
        self.best_rounds_ = (
            int(best + 1)
            if eval_set is not None and best is not None
            else int(self.booster_.num_boosted_rounds())
        )
        return self

    def raw(self, X) -> np.ndarray:
        import xgboost as xgb

        return self.booster_.predict(
            xgb.DMatrix(_values(X)), output_margin=True, iteration_range=(0, self.best_rounds_)
        ).astype(np.float64)

    def contributions(self, values: np.ndarray, method: str = "exact", project: np.ndarray | None = None):
        from ml_pipeline.contributions import xgboost_contributions

        return xgboost_contributions(self, values, method, project)

    def save(self, path: Path) -> None:
        self.booster_.save_model(str(path))

    @classmethod
    def load(cls, path: Path, objective: str) -> XGBoostTarget:
        import xgboost as xgb

        m = cls(objective)
        m.booster_ = xgb.Booster()
        m.booster_.load_model(str(path))
        m.best_rounds_ = int(m.booster_.num_boosted_rounds())
        return m


class LinearTarget(LinkedModel):
    """Logistic regression (churn) or a Tweedie GLM with log link (spend) on transformed features.

    Features are mapped by sign(x)·log1p(|x|) (amounts and counts are heavy-tailed), standardized
    with the training rows' mean and spread, and missing values set to the mean (0).
    """

    kind = "linear"

    def __init__(self, objective: str, alpha: float = 1e-3, **_ignored):
        self.objective = objective
        self.alpha = alpha
        self.description = "logistic regression" if objective == "binary" else "Tweedie GLM (log link)"

    def _design(self, values: np.ndarray) -> np.ndarray:
        z = np.sign(values) * np.log1p(np.abs(values))
        z = (z - self.mean_) / self.scale_
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)

    def fit_on(self, rows: TrainingRows, index: np.ndarray, y: np.ndarray, eval_set=None, n_rounds=None):
        from sklearn.linear_model import LogisticRegression, TweedieRegressor

        values = rows.values[index].astype(np.float64)
        z = np.sign(values) * np.log1p(np.abs(values))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-empty column has no mean
            self.mean_ = np.nan_to_num(np.nanmean(z, axis=0))
            scale = np.nan_to_num(np.nanstd(z, axis=0))
        self.scale_ = np.where(scale > 1e-9, scale, 1.0)
        design = self._design(values)
        # Newton steps with a Cholesky solve: a few iterations for ~100 features, however many rows.
        if self.objective == "binary":
            model = LogisticRegression(
                C=1.0 / max(self.alpha * len(y), 1e-9), solver="newton-cholesky", max_iter=100
            )
        else:
            model = TweedieRegressor(
                power=1.5, link="log", alpha=self.alpha, solver="newton-cholesky", max_iter=100
            )
        model.fit(design, y)
        self.coef_ = np.ravel(model.coef_).astype(float)
        self.intercept_ = float(np.ravel([model.intercept_])[0])
        self.best_rounds_ = None
        return self

    def raw(self, X) -> np.ndarray:
        return self._design(_values(X).astype(np.float64)) @ self.coef_ + self.intercept_

    def contributions(self, values: np.ndarray, method: str = "exact", project: np.ndarray | None = None):
        """Coefficient × standardized value: exact for a linear score, whichever the method."""
        contrib = self._design(np.asarray(values, dtype=np.float64)) * self.coef_
        return contrib if project is None else contrib @ project

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {
                    "mean": self.mean_.tolist(),
                    "scale": self.scale_.tolist(),
                    "coef": self.coef_.tolist(),
                    "intercept": self.intercept_,
                }
            )
        )

    @classmethod
    def load(cls, path: Path, objective: str) -> LinearTarget:
        m, state = cls(objective), json.loads(path.read_text())
        m.mean_, m.scale_ = np.asarray(state["mean"]), np.asarray(state["scale"])
        m.coef_, m.intercept_, m.best_rounds_ = np.asarray(state["coef"]), float(state["intercept"]), None
        return m


def make_model(kind: str, objective: str, random_state: int = 0, num_threads: int = 0) -> LinkedModel:
    """A fresh, unfitted model of the zoo."""
    if kind == "lightgbm":
        return LightGBMTarget(objective, random_state=random_state, num_threads=num_threads)
    if kind == "random_forest":
        return LightGBMTarget(objective, random_state=random_state, num_threads=num_threads, boosting="rf")
    if kind == "xgboost":
        return XGBoostTarget(objective, random_state=random_state, num_threads=num_threads)
    if kind == "linear":
        return LinearTarget(objective)
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
        return LightGBMTarget.load(path, objective, boosting="rf" if kind == "random_forest" else "gbdt")
    if kind == "xgboost":
        return XGBoostTarget.load(path, objective)
    if kind == "linear":
        return LinearTarget.load(path, objective)
    raise PipelineError(f"{path}: unknown model type '{kind}' in the bundle")
