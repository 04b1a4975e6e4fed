"""FeatureBuilder: learns which categories and event types get columns, then builds features.

Follows the scikit-learn estimator contract: ``__init__`` stores parameters, ``fit`` learns
``categories_`` and ``event_types_`` and returns self, ``transform`` builds the feature frame
of every customer with an event before the cutoff.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ml_pipeline.data.eventlog import PURCHASE, REFUND, EventLog
from ml_pipeline.features.behaviour import behaviour_features
from ml_pipeline.features.mix import category_features, event_type_features
from ml_pipeline.features.scores import SCORED, reference, score_features
from ml_pipeline.features.slices import Slice


def slugify(names: list[str]) -> list[str]:
    """Feature-name-safe, unique, lower-case slugs for category or event-type names."""
    out: list[str] = []
    for name in names:
        slug = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "x"
        base, i = slug, 2
        while slug in out or slug == "other":
            slug, i = f"{base}_{i}", i + 1
        out.append(slug)
    return out


class FeatureBuilder:
    """Builds the per-customer feature frame at a cutoff (see docs/features.md)."""

    def __init__(self, top_categories: int = 5, top_event_types: int = 5):
        self.top_categories = top_categories
        self.top_event_types = top_event_types

    def fit(self, log: EventLog, until_day: int | None = None) -> FeatureBuilder:
        """Learn the top categories by net spend and the most common non-purchase event types."""
        end = log.n_events if until_day is None else log.end_before(until_day)
        spend = log.is_spend()[:end]
        cats = log.category[:end][spend & (log.category[:end] >= 0)]
        revenue = np.bincount(
            cats, weights=log.amount[:end][spend & (log.category[:end] >= 0)], minlength=len(log.categories)
        )
        order = np.argsort(-revenue, kind="stable")
        top = [log.categories[i] for i in order[: self.top_categories] if revenue[i] > 0]
        self.categories_ = top
        # "other" pools the remaining categories and uncategorized spend, when there is any.
        has_other = bool(top) and (
            len(log.categories) > len(top) or bool((log.category[:end][spend] < 0).any())
        )
        self.category_slugs_ = slugify(top) + (["other"] if has_other else [])
        self.category_targets_ = top + (["other"] if has_other else [])
        kinds = log.etype[:end][~spend]
        counts = np.bincount(kinds, minlength=len(log.event_types))
        types = [
            log.event_types[i]
            for i in np.argsort(-counts, kind="stable")
            if counts[i] > 0 and log.event_types[i] not in (PURCHASE, REFUND)
        ]
        self.event_types_ = types[: self.top_event_types]
        self.event_type_slugs_ = slugify(self.event_types_)
        at = until_day if until_day is not None else int(log.day[-1]) + 1
        self.reference_ = {}
        frame = self.transform(log, at)
        self.reference_ = {raw: reference(frame[raw].to_numpy(dtype=float)) for raw in SCORED.values()}
        self.feature_names_ = list(frame.columns)
        return self

    def transform(self, log: EventLog, cutoff: int) -> pd.DataFrame:
        """Features at ``cutoff`` for every customer with an event before it, indexed by customer code."""
        s = Slice.of(log, cutoff)
        # The blocks in the order of features.catalog.CATALOG (a test holds them together). Each
        # block's float64 columns become float32 rows of the customers present as soon as it is
        # built, and are dropped: at 1M customers the float64 columns of every block held
        # together cost 0.6 GB more at the peak (docs/benchmarks.md).
        f = behaviour_features(s)
        present = np.flatnonzero(~np.isnan(f["tenure_days"]))
        cols = _float32_rows(f, present)
        cols.update(_float32_rows(category_features(s, self.categories_, self.category_slugs_), present))
        cols.update(_float32_rows(event_type_features(s, self.event_types_, self.event_type_slugs_), present))
        cols.update(score_features(cols, self.reference_))
        names = list(cols)
        # One 2-D block: a frame built column by column pays pandas' cost per column, which
        # dominated scoring a single customer (docs/benchmarks.md).
        values = np.empty((len(present), len(names)), dtype=np.float32)
        for j, name in enumerate(names):
            values[:, j] = cols.pop(name)
        return pd.DataFrame(values, columns=names, index=pd.Index(present, name="customer_code"), copy=False)

    def save(self, folder: Path, name: str = "features") -> dict:
        """The learned state as the JSON-able entry a bundle's metadata.json keeps; like every
        persisted piece (see ml_pipeline.models.base). The state is small: ``folder`` gets no file."""
        return {
            "top_categories": self.top_categories,
            "top_event_types": self.top_event_types,
            "categories": self.categories_,
            "category_slugs": self.category_slugs_,
            "category_targets": self.category_targets_,
            "event_types": self.event_types_,
            "event_type_slugs": self.event_type_slugs_,
            "feature_names": self.feature_names_,
            "score_reference": self.reference_,
        }

    @classmethod
    def load(cls, params: dict, folder: Path | None = None) -> FeatureBuilder:
        """Rebuild a fitted builder from :meth:`save` output."""
        fb = cls(params["top_categories"], params["top_event_types"])
        fb.categories_ = params["categories"]
        fb.category_slugs_ = params["category_slugs"]
        fb.category_targets_ = params["category_targets"]
        fb.event_types_ = params["event_types"]
        fb.event_type_slugs_ = params["event_type_slugs"]
        fb.feature_names_ = params["feature_names"]
        fb.reference_ = params["score_reference"]
        return fb


def _float32_rows(block: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """``block``'s columns at ``rows`` as float32, emptying ``block`` as it goes (so each float64
    column is freed once copied)."""
    return {name: block.pop(name)[rows].astype(np.float32) for name in list(block)}
