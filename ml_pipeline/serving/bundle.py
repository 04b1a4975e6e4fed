"""Model bundles: a directory of native model files (LightGBM text, XGBoost JSON, linear JSON)
plus metadata.json.

metadata.json holds everything needed to rebuild features and predictors (feature list,
categories, horizons, risk thresholds, baseline parameters), which model was trained and why
(``training``: rolling windows, or the BG/NBD + Gamma-Gamma fallback for a short log), the
validation metrics, each target's feature importance (``importance``: gain shares and mean
|contribution| on validation, :mod:`ml_pipeline.training.importance`; absent in older bundles),
a hash of the training data and the library versions. ``reference.json`` beside it (named by
metadata's ``reference``; absent in older bundles and for the short-log fallback) holds the
training population's drift reference (:mod:`ml_pipeline.monitoring`). A bundle is written to a
temporary sibling directory and renamed into place, so a failure never leaves half a bundle.
"""

from __future__ import annotations

import functools
import json
import platform
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import sklearn
import xgboost

from ml_pipeline import __version__
from ml_pipeline.data.days import day_to_date
from ml_pipeline.data.eventlog import EventLog
from ml_pipeline.errors import PipelineError
from ml_pipeline.explain.reasons import Reasons
from ml_pipeline.features import FeatureBuilder
from ml_pipeline.models.base import Predictor
from ml_pipeline.models.registry import load_predictor
from ml_pipeline.training.selection import TargetResult
from ml_pipeline.training.trainer import TrainResult

FORMAT_VERSION = 2  # 2: RFM scores against a stored reference distribution
DEFAULT_RISK_THRESHOLDS = {"medium": 0.3, "high": 0.5, "critical": 0.7}
REFERENCE_FILE = "reference.json"  # the drift reference (ml_pipeline.monitoring), when trained with one


def fingerprint(log: EventLog) -> str:
    """SHA-256 of the normalized events (ids, days, amounts, types, categories) and churn labels."""
    import hashlib

    h = hashlib.sha256()
    ids = pd.util.hash_array(log.customer_ids.astype(str)) if log.n_customers else np.zeros(0, np.uint64)
    h.update(ids[log.customer].tobytes())
    for arr in (log.day, log.amount, log.etype, log.category):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(json.dumps([log.event_types, log.categories]).encode())
    if log.churn_label is not None:  # only then, so a log without labels keeps its hash
        h.update(np.ascontiguousarray(log.churn_label).tobytes())
    return h.hexdigest()


def _target_slugs(builder: FeatureBuilder) -> dict[str, str]:
    slugs = {"churn": "churn", "spend_total": "spend_total"}
    for name, slug in zip(builder.category_targets_, builder.category_slugs_):
        slugs[f"spend_{name}"] = f"spend_cat_{slug}"
    return slugs


# Format 2 keeps a production baseline's entry under its own key, and a model's entry (file,
# objective, shift) in the target's entry itself.
_NESTED = {"baseline": "production_baseline"}


def _target_entry(r: TargetResult, folder: Path, stem: str) -> dict:
    """A target's entry in metadata.json; its predictors' native files go into ``folder``."""
    entry = {
        "selected": r.selected,
        "baseline": r.baseline.save(folder, stem) if r.baseline is not None else None,
        "note": r.note,
        "description": r.estimator.description,
    }
    saved = r.estimator.save(folder, stem)
    entry.update({_NESTED[r.selected]: saved} if r.selected in _NESTED else saved)
    return entry


def _load_target(entry: dict, folder: Path, features: list[str]) -> Predictor:
    """A target's production predictor from its entry; it reads matrices in ``features``' order."""
    kind = entry["selected"]
    predictor = load_predictor(kind, entry[_NESTED[kind]] if kind in _NESTED else entry, folder)
    predictor.feature_names_in_ = np.asarray(features, dtype=object)
    return predictor


def save_bundle(
    result: TrainResult, log: EventLog, out_dir: str | Path, risk_thresholds: dict | None = None
) -> Path:
    """Write the bundle for ``result`` to ``out_dir`` (replacing an existing bundle there)."""
    out = Path(out_dir)
    if out.exists() and not (out / "metadata.json").exists() and any(out.iterdir()):
        raise PipelineError(f"{out}: exists and is not a model bundle; choose an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        slugs = _target_slugs(result.builder)
        targets = {name: _target_entry(r, tmp, slugs[name]) for name, r in result.targets.items()}
        meta = {
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "as_of": day_to_date(result.plan.as_of),
            "horizon_days": result.plan.horizon_days,
            "churn_horizon_days": result.plan.churn_horizon_days,
            "training": result.training,
            "windows": result.plan.describe(),
            "features": result.builder.feature_names_,
            "feature_builder": result.builder.save(tmp),
            "categories": result.builder.category_targets_,
            "targets": targets,
            "risk_thresholds": risk_thresholds or DEFAULT_RISK_THRESHOLDS,
            "metrics": {name: r.metrics for name, r in result.targets.items()},
            "selection": {name: r.selected for name, r in result.targets.items()},
            "importance": result.importance,
            "dataset": result.dataset,
            "training_data": {
                "sha256": fingerprint(log),
                "first_date": day_to_date(int(log.day[0])),
                "last_date": day_to_date(int(log.day[-1])),
            },
            "timings": result.timings,
            "warnings": result.warnings,
            "reference": REFERENCE_FILE if result.reference is not None else None,
            "library_versions": {
                "ml_pipeline": __version__,
                "python": platform.python_version(),
                "lightgbm": lightgbm.__version__,
                "xgboost": xgboost.__version__,
                "scikit-learn": sklearn.__version__,
                "numpy": np.__version__,
                "pandas": pd.__version__,
            },
        }
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2, default=_json_default) + "\n")
        if result.reference is not None:
            (tmp / REFERENCE_FILE).write_text(json.dumps(result.reference, default=_json_default))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value)}")


class Bundle:
    """A loaded model bundle: rebuilds features and predicts every target."""

    def __init__(
        self,
        path: Path,
        metadata: dict,
        builder: FeatureBuilder,
        predictors: dict,
        reference: dict | None = None,
    ):
        self.path = path
        self.metadata = metadata
        self.builder = builder
        self.predictors = predictors
        self.reference = reference  # the drift reference; None for bundles without one

    @property
    def target_names(self) -> list[str]:
        return list(self.metadata["targets"])

    @property
    def importance(self) -> dict[str, dict]:
        """Each target's feature importance; empty for a bundle trained before it was kept."""
        return self.metadata.get("importance") or {}

    @functools.cached_property
    def reasons(self) -> Reasons:
        """The reason phrasing for this bundle's features, categories and event types."""
        b = self.builder
        names = {
            "categories": dict(zip(b.category_slugs_, b.category_targets_)),
            "event_types": dict(zip(b.event_type_slugs_, b.event_types_)),
        }
        return Reasons(self.metadata["features"], names)


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle written by :func:`save_bundle`."""
    path = Path(path)
    meta_file = path / "metadata.json"
    if not meta_file.exists():
        raise PipelineError(
            f"{path}: not a model bundle (no metadata.json); train one with `python -m ml_pipeline train`"
        )
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{meta_file}: unreadable metadata ({exc})") from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise PipelineError(
            f"{path}: bundle format {meta.get('format_version')} is not supported "
            f"(this version reads {FORMAT_VERSION})"
        )
    predictors = {
        name: _load_target(entry, path, meta["features"]) for name, entry in meta["targets"].items()
    }
    reference_file = path / REFERENCE_FILE
    reference = json.loads(reference_file.read_text()) if reference_file.exists() else None
    return Bundle(path, meta, FeatureBuilder.load(meta["feature_builder"], path), predictors, reference)
