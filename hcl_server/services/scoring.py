"""Scoring with an organization's production model: bundle cache, inline predictions."""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from hcl_server.db import ModelVersion
from hcl_server.errors import Conflict, Unprocessable
from hcl_server.generation import LookupCache, current_generation
from hcl_server.repositories import model_versions, organizations
from hcl_server.storage import get_dir
from ml_pipeline.data.days import date_to_day
from ml_pipeline.data.eventlog import from_records
from ml_pipeline.errors import PipelineError
from ml_pipeline.explain.reasons import split as split_reasons
from ml_pipeline.serving.bundle import Bundle, load_bundle
from ml_pipeline.serving.scoring import score

_CACHE: OrderedDict[str, Bundle] = OrderedDict()
_CACHE_SIZE = 8
_LOCK = threading.Lock()
_PRODUCTION = LookupCache()


def production_model(org_id: str):
    """The organization's production model (id, version, storage_prefix) with the organization's
    risk_thresholds, in one query; Conflict when it has none yet.

    Kept in this process's memory under the shared lookup generation, which a promotion, a
    rollback or new risk thresholds bump (hcl_server/generation.py): the next request scores
    with the new version."""
    generation = current_generation()
    cached, mv = _PRODUCTION.get(org_id, generation)
    if not cached:
        mv = model_versions.production_for_scoring(org_id)
        if mv is not None:
            _PRODUCTION.put(org_id, generation, mv)
    if mv is None:
        raise Conflict("no production model yet: train one with POST /api/v1/training-jobs")
    return mv


def bundle_for(mv: ModelVersion) -> Bundle:
    """The loaded bundle of a model version, downloaded once per process and kept in a small LRU
    (``_CACHE_SIZE`` versions).

    The bundle is read whole into memory (metadata, feature builder, each model file), so its
    downloaded folder is removed as soon as it is loaded: nothing is left on disk, whether the
    entry stays in the cache, leaves it or the process ends. Raises StorageUnavailable when the
    storage does not answer, PipelineError for a folder that is not a bundle.
    """
    with _LOCK:
        if mv.id in _CACHE:
            _CACHE.move_to_end(mv.id)
            return _CACHE[mv.id]
    with tempfile.TemporaryDirectory(prefix=f"hcl-bundle-{mv.version}-") as folder:
        get_dir(mv.storage_prefix, Path(folder))
        bundle = load_bundle(folder)
    with _LOCK:
        _CACHE[mv.id] = bundle
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return bundle


def risk_thresholds(org_id: str, bundle: Bundle) -> dict:
    """Risk thresholds: the organization's own, else the model's."""
    return organizations.risk_thresholds(org_id) or bundle.metadata["risk_thresholds"]


def spend_columns(bundle: Bundle) -> dict[str, str]:
    """Prediction column -> key in predicted_spend ("spend_total" -> "total", "spend_GROCERY" -> "GROCERY")."""
    return {
        name: ("total" if name == "spend_total" else name[len("spend_") :])
        for name in bundle.target_names
        if name != "churn"
    }


def predict_inline(org_id: str, customers: list[dict]) -> list[dict]:
    """Predictions for customers sent with their transactions (the single and batch endpoints).

    Raises Conflict without a production model, Unprocessable for transactions that do not score.
    """
    mv = production_model(org_id)
    bundle = bundle_for(mv)
    limits = mv.risk_thresholds or bundle.metadata["risk_thresholds"]
    today = datetime.now(UTC).date().isoformat()
    groups: dict[str, list[dict]] = {}
    for c in customers:
        groups.setdefault(c["as_of"].isoformat() if c.get("as_of") else today, []).append(c)
    out: dict[str, dict] = {}
    for as_of, group in groups.items():
        rows = [
            (
                c["customer_id"],
                t["event_date"],
                t.get("amount") or 0.0,
                t.get("event_type"),
                t.get("category"),
            )
            for c in group
            for t in c["transactions"]
        ]
        try:
            log = from_records(rows)
            columns = score(bundle, log, as_of=date_to_day(as_of), risk_thresholds=limits).columns
        except PipelineError as exc:
            raise Unprocessable(f"transactions cannot be scored: {exc}") from exc
        out.update(_as_dicts(columns, bundle, mv.version))
    return [out[c["customer_id"]] for c in customers]


def _as_dicts(columns: dict, bundle: Bundle, version: int) -> dict[str, dict]:
    """The answer's records by customer id, from ``Scored.columns`` (no data frame: see Scored)."""
    spend = spend_columns(bundle)
    records = {}
    values = {col: np.asarray(columns[col], dtype=np.float64) for col in spend}
    churn = np.asarray(columns["churn_probability"], dtype=np.float64)
    for i, (cid, seg, why) in enumerate(
        zip(columns["customer_id"], columns["risk_segment"], columns["reasons"], strict=True)
    ):
        records[str(cid)] = {
            "customer_id": str(cid),
            "churn_probability": round(float(churn[i]), 6),
            "risk_segment": seg,
            "reasons": split_reasons(why),
            "predicted_spend": {key: round(float(values[col][i]), 2) for col, key in spend.items()},
            "model_version": version,
        }
    return records
