"""Drift: a reference of the training population, and how far a scored population moved from it.

The reference (:func:`build_reference`) holds, per numeric feature and per prediction, bin
edges from the reference rows' deciles (de-duplicated) and the share of rows per bin, plus a
separate share for missing values (NaN). A column with at most ``bins`` distinct values keeps
those values as categories instead, with a slot for values the reference never had. Category
shares (e.g. of spend per product category, of events per event type) are kept so that
categories unseen in the reference can be counted later.

:func:`compare` reports the population stability index per column,

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

over the bins (missing included), with ``e`` the reference shares and ``a`` the new ones, each
floored at :data:`SHARE_FLOOR` (1e-4) so an empty bin adds a finite amount instead of infinity
(the floored shares are not renormalized). The usual reading (Siddiqi, *Credit Risk
Scorecards*, Wiley 2006): below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a large one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_pipeline.errors import PipelineError

REFERENCE_VERSION = 1
SHARE_FLOOR = 1e-4
DEFAULT_THRESHOLDS = {"feature_psi": 0.25, "prediction_psi": 0.25, "unseen_share": 0.05}
STABLE, MODERATE = 0.1, 0.25


def reading(psi: float) -> str:
    """The usual reading of a PSI value: stable, moderate shift or large shift."""
    return "stable" if psi < STABLE else "moderate shift" if psi <= MODERATE else "large shift"


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = SHARE_FLOOR) -> np.ndarray:
    """PSI over the last axis of share arrays; shares below ``floor`` count as ``floor``."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), floor)
    a = np.maximum(np.asarray(actual, dtype=np.float64), floor)
    return ((a - e) * np.log(a / e)).sum(axis=-1)


def _values_of(column) -> np.ndarray:
    return np.asarray(column, dtype=np.float64)


def _binning(v: np.ndarray, bins: int) -> dict:
    """A column's bins from its reference values: distinct values if few, else decile edges."""
    finite = v[np.isfinite(v)]  # infinities fall in the end bins; edges stay JSON numbers
    distinct = np.unique(finite)
    if len(distinct) <= bins:
        return {"kind": "values", "values": distinct.tolist()}
    qs = np.quantile(finite, np.arange(1, bins) / bins)
    return {"kind": "quantile", "edges": np.unique(qs).tolist()}


def _codes(v: np.ndarray, binning: dict) -> tuple[np.ndarray, int]:
    """Each value's bin code and the number of slots (the last slot: missing)."""
    missing = np.isnan(v)
    if binning["kind"] == "quantile":
        edges = np.asarray(binning["edges"], dtype=np.float64)
        # bin i holds edges[i-1] <= x < edges[i]; NaN sorts past every edge, then gets its own slot
        codes = np.searchsorted(edges, v, side="right")
        slots = len(edges) + 2
    else:
        values = np.asarray(binning["values"], dtype=np.float64)
        m = len(values)
        if m == 0:
            codes = np.zeros(len(v), dtype=np.intp)  # every value is one the reference never had
        else:
            at = np.minimum(np.searchsorted(values, v), m - 1)
            codes = np.where(values[at] == v, at, m)  # m: a value the reference never had
        slots = m + 2
    codes[missing] = slots - 1
    return codes, slots


def _shares(v: np.ndarray, binning: dict) -> np.ndarray:
    codes, slots = _codes(v, binning)
    counts = np.bincount(codes, minlength=slots).astype(np.float64)
    return counts / max(len(v), 1)


def _describe(v: np.ndarray, bins: int) -> dict:
    binning = _binning(v, bins)
    shares = _shares(v, binning)
    return {**binning, "shares": shares[:-1].tolist(), "missing": float(shares[-1])}


def _normalized(categories: dict[str, dict[str, float]] | None) -> dict[str, dict[str, float]]:
    """Category shares per group, summing to 1 in each group (groups with no weight dropped)."""
    out = {}
    for group, weights in (categories or {}).items():
        total = float(sum(max(float(w), 0.0) for w in weights.values()))
        if total > 0:
            out[group] = {str(k): max(float(w), 0.0) / total for k, w in weights.items()}
    return out


def build_reference(
    X: pd.DataFrame,
    predictions: dict[str, np.ndarray],
    categories: dict[str, dict[str, float]] | None = None,
    bins: int = 10,
) -> dict:
    """A JSON-able reference of ``X``'s numeric columns, the ``predictions`` and ``categories``.

    ``categories`` maps a group (e.g. ``category_spend``) to the weight of each category (spend,
    event counts); the shares are kept.
    """
    if len(X) == 0:
        raise PipelineError("a drift reference needs at least one row")
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c].dtype)]
    return {
        "version": REFERENCE_VERSION,
        "rows": int(len(X)),
        "bins": int(bins),
        "share_floor": SHARE_FLOOR,
        "features": {str(c): _describe(_values_of(X[c]), bins) for c in numeric},
        "predictions": {name: _describe(_values_of(p), bins) for name, p in predictions.items()},
        "categories": _normalized(categories),
    }


def _compare_columns(described: dict, columns: dict[str, np.ndarray]) -> tuple[dict, list[str]]:
    """PSI of every described column that ``columns`` has; and the names it lacks."""
    out, absent = {}, []
    for name, ref in described.items():
        if name not in columns:
            absent.append(name)
            continue
        expected = np.asarray([*ref["shares"], ref["missing"]])
        value = float(psi(expected, _shares(_values_of(columns[name]), ref)))
        out[name] = {"psi": round(value, 6), "reading": reading(value)}
    return out, absent


def _unseen(reference: dict[str, dict[str, float]], new: dict[str, dict[str, float]]) -> dict:
    """Per group in both: the share of the new weight on categories the reference never had."""
    out = {}
    for group, shares in new.items():
        if group not in reference:
            continue
        known = {k for k, s in reference[group].items() if s > 0}
        unseen = {k: s for k, s in shares.items() if k not in known and s > 0}
        top = sorted(unseen, key=unseen.get, reverse=True)[:10]
        out[group] = {"unseen_share": round(float(sum(unseen.values())), 6), "unseen": top}
    return out


def _thresholds(overrides: dict | None) -> dict:
    unknown = sorted(set(overrides or {}) - set(DEFAULT_THRESHOLDS))
    if unknown:
        raise PipelineError(
            f"unknown drift threshold(s) {unknown}; choose from {', '.join(DEFAULT_THRESHOLDS)}"
        )
    return {**DEFAULT_THRESHOLDS, **{k: float(v) for k, v in (overrides or {}).items()}}


def _alerts(report: dict, limits: dict) -> list[dict]:
    alerts = []
    for kind, key in (("feature", "features"), ("prediction", "predictions")):
        limit = limits[f"{kind}_psi"]
        for name, r in report[key].items():
            if r["psi"] > limit:
                message = f"{kind} {name}: PSI {r['psi']:.3g} > {limit:g} ({r['reading']})"
                alerts.append(
                    {
                        "kind": f"{kind}_psi",
                        "name": name,
                        "value": r["psi"],
                        "threshold": limit,
                        "message": message,
                    }
                )
    limit = limits["unseen_share"]
    for group, r in report["categories"].items():
        if r["unseen_share"] > limit:
            names = ", ".join(r["unseen"][:3])
            message = (
                f"{group}: {r['unseen_share']:.0%} of the new rows' weight is on categories "
                f"unseen in training ({names}) > {limit:.0%}"
            )
            alerts.append(
                {
                    "kind": "unseen_share",
                    "name": group,
                    "value": r["unseen_share"],
                    "threshold": limit,
                    "message": message,
                }
            )
    return alerts


def compare(
    reference: dict,
    X: pd.DataFrame,
    predictions: dict[str, np.ndarray],
    categories: dict[str, dict[str, float]] | None = None,
    thresholds: dict | None = None,
) -> dict:
    """The drift report of ``X``, ``predictions`` and ``categories`` against ``reference``.

    ``features`` / ``predictions``: {name: {psi, reading}}; ``categories``: {group:
    {unseen_share, unseen}}; ``missing``: reference columns not given; ``alerts``: one
    {kind, name, value, threshold, message} per value above its threshold. ``thresholds``
    overrides :data:`DEFAULT_THRESHOLDS` (keys feature_psi, prediction_psi, unseen_share).
    No rows: no PSI and no alerts.
    """
    limits = _thresholds(thresholds)
    report = {
        "rows": int(len(X)),
        "reference_rows": reference["rows"],
        "thresholds": limits,
        "features": {},
        "predictions": {},
        "categories": {},
        "missing": [],
    }
    if len(X) == 0:
        report["alerts"] = []
        return report
    report["features"], absent = _compare_columns(reference["features"], {c: X[c] for c in X.columns})
    report["predictions"], absent_p = _compare_columns(reference["predictions"], predictions)
    report["missing"] = absent + absent_p
    report["categories"] = _unseen(reference.get("categories", {}), _normalized(categories))
    report["alerts"] = _alerts(report, limits)
    return report
